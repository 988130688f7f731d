/*
 * Login providers for the external-login tests, all on loopback with free ports:
 *
 * - a real OpenID Provider (the `oidc-provider` package, the certified implementation) with one
 *   confidential client and one account, and a minimal login page for its interactions;
 * - a GitHub stand-in speaking GitHub's OAuth endpoints and JSON shapes (/login/oauth/authorize,
 *   /login/oauth/access_token, the REST API's /user and /user/emails);
 * - a Google stand-in (accounts authorize, oauth2 token, openidconnect userinfo).
 *
 * And a small browser (`Browser`): fetch with a cookie jar per origin that follows redirects
 * itself, so a test drives redirect → provider → callback over real HTTP.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { generateKeyPairSync, randomBytes, randomUUID, createSign } from 'node:crypto'
import { freePort } from './processes.js'

/* ---------------------------------------------------------------------------------------- */
/* A cookie-keeping client                                                                  */
/* ---------------------------------------------------------------------------------------- */

export interface Page {
  status: number
  url: string
  text: string
  /** Every URL visited, in order (the redirect chain). */
  chain: string[]
}

export class Browser {
  #jar = new Map<string, Map<string, string>>()

  #cookieHeader(url: URL) {
    const cookies = this.#jar.get(url.origin)
    if (!cookies?.size) return undefined
    return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  #store(url: URL, response: Response) {
    const set = response.headers.getSetCookie()
    if (!set.length) return
    let cookies = this.#jar.get(url.origin)
    if (!cookies) this.#jar.set(url.origin, (cookies = new Map()))
    for (const line of set) {
      const [pair, ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const expired = attributes.some((a) => {
        const [k, v] = a.split('=').map((s) => s.trim().toLowerCase())
        return (
          (k === 'max-age' && Number(v) <= 0) || (k === 'expires' && Date.parse(v) < Date.now())
        )
      })
      if (expired || value === '') cookies.delete(name)
      else cookies.set(name, value)
    }
  }

  /** Cookies currently held for an origin (tests tamper with them). */
  cookies(origin: string) {
    let cookies = this.#jar.get(new URL(origin).origin)
    if (!cookies) this.#jar.set(new URL(origin).origin, (cookies = new Map()))
    return cookies
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}) {
    const target = new URL(url)
    const headers: Record<string, string> = { accept: 'text/html' }
    const cookie = this.#cookieHeader(target)
    if (cookie) headers.cookie = cookie
    let body: string | undefined
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(init.form).toString()
    }
    const response = await fetch(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
    })
    this.#store(target, response)
    return response
  }

  /** GETs (or POSTs) `url` and follows redirects like a browser (303 and 302 become GET). */
  async go(
    url: string,
    init: { form?: Record<string, string>; until?: (url: string) => boolean } = {}
  ): Promise<Page> {
    const chain: string[] = []
    let current = url
    let form = init.form
    for (let hops = 0; hops < 20; hops++) {
      chain.push(current)
      const response = await this.request(current, { form })
      const location = response.headers.get('location')
      if (response.status >= 300 && response.status < 400 && location) {
        await response.arrayBuffer()
        current = new URL(location, current).toString()
        form = undefined
        if (init.until?.(current)) return { status: response.status, url: current, text: '', chain }
        continue
      }
      return { status: response.status, url: current, text: await response.text(), chain }
    }
    throw new Error(`Too many redirects: ${chain.join(' → ')}`)
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Helpers for the stand-in servers                                                         */
/* ---------------------------------------------------------------------------------------- */

async function readBody(req: IncomingMessage) {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8` })
  res.end(text)
}

function redirect(res: ServerResponse, location: string, status = 302) {
  res.writeHead(status, { location })
  res.end()
}

async function listen(server: Server) {
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return port
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections?.()
    server.close(() => resolve())
  })

function bearer(req: IncomingMessage, schemes = ['bearer']) {
  const match = /^(\w+)\s+(\S+)$/.exec(req.headers.authorization ?? '')
  return match && schemes.includes(match[1].toLowerCase()) ? match[2] : undefined
}

/** What both stand-ins keep about an authorization until the code is redeemed. */
interface PendingCode {
  clientId: string
  redirectUri: string
  scope: string
  userKey: string
}

/* ---------------------------------------------------------------------------------------- */
/* GitHub                                                                                   */
/* ---------------------------------------------------------------------------------------- */

export interface GithubAccount {
  id: number
  login: string
  name: string | null
  /** The public profile email (GitHub shows only a verified address there), or null. */
  publicEmail: string | null
  emails: Array<{ email: string; primary: boolean; verified: boolean }>
}

export async function startGithub(options: { clientId: string; clientSecret: string }) {
  const codes = new Map<string, PendingCode>()
  const tokens = new Map<string, { userKey: string; scope: string }>()
  const accounts = new Map<string, GithubAccount>()
  /** The account "logged in at github.com" in the browser; set by the test. */
  const state: { current: string | null } = { current: null }
  const requests: Array<{ path: string; body?: string; authorization?: string }> = []

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const body = req.method === 'POST' ? await readBody(req) : undefined
    requests.push({ path: url.pathname, body, authorization: req.headers.authorization })

    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const clientId = url.searchParams.get('client_id')
      const redirectUri = url.searchParams.get('redirect_uri') ?? ''
      if (clientId !== options.clientId) return send(res, 404, 'Not Found', 'text/html')
      if (!state.current) return send(res, 200, '<h1>Sign in to GitHub</h1>', 'text/html')
      const code = randomBytes(10).toString('hex')
      codes.set(code, {
        clientId,
        redirectUri,
        scope: url.searchParams.get('scope') ?? '',
        userKey: state.current,
      })
      const back = new URL(redirectUri)
      back.searchParams.set('code', code)
      if (url.searchParams.has('state'))
        back.searchParams.set('state', url.searchParams.get('state')!)
      return redirect(res, back.toString())
    }

    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const form = new URLSearchParams(body)
      const json = (req.headers.accept ?? '').includes('application/json')
      const reply = (payload: Record<string, string>) =>
        json
          ? send(res, 200, payload)
          : send(
              res,
              200,
              new URLSearchParams(payload).toString(),
              'application/x-www-form-urlencoded'
            )
      if (
        form.get('client_id') !== options.clientId ||
        form.get('client_secret') !== options.clientSecret
      ) {
        return reply({
          error: 'incorrect_client_credentials',
          error_description: 'The client_id and/or client_secret passed are incorrect.',
          error_uri:
            'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials',
        })
      }
      const pending = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      if (
        !pending ||
        (form.get('redirect_uri') && form.get('redirect_uri') !== pending.redirectUri)
      ) {
        return reply({
          error: 'bad_verification_code',
          error_description: 'The code passed is incorrect or expired.',
          error_uri:
            'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code',
        })
      }
      const token = `gho_${randomBytes(18).toString('base64url')}`
      tokens.set(token, { userKey: pending.userKey, scope: pending.scope.split(' ').join(',') })
      return reply({
        access_token: token,
        token_type: 'bearer',
        scope: pending.scope.split(' ').join(','),
      })
    }

    if (req.method === 'GET' && (url.pathname === '/user' || url.pathname === '/user/emails')) {
      const grant = tokens.get(bearer(req, ['token', 'bearer']) ?? '')
      const account = grant && accounts.get(grant.userKey)
      if (!grant || !account) {
        return send(res, 401, {
          message: 'Bad credentials',
          documentation_url: 'https://docs.github.com/rest',
          status: '401',
        })
      }
      if (url.pathname === '/user') {
        return send(res, 200, {
          login: account.login,
          id: account.id,
          node_id: `U_${account.id}`,
          avatar_url: `https://avatars.githubusercontent.com/u/${account.id}?v=4`,
          html_url: `https://github.com/${account.login}`,
          type: 'User',
          site_admin: false,
          name: account.name,
          company: null,
          blog: '',
          location: null,
          email: account.publicEmail,
          bio: null,
          created_at: '2015-01-01T00:00:00Z',
          updated_at: '2026-01-01T00:00:00Z',
        })
      }
      const scopes = grant.scope.split(',')
      if (!scopes.includes('user:email') && !scopes.includes('user')) {
        return send(res, 404, {
          message: 'Not Found',
          documentation_url:
            'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user',
          status: '404',
        })
      }
      return send(
        res,
        200,
        account.emails.map((e) => ({ ...e, visibility: e.primary ? 'private' : null }))
      )
    }
    send(res, 404, { message: 'Not Found' })
  })
  const port = await listen(server)
  const base = `http://127.0.0.1:${port}`
  return {
    base,
    requests,
    /** Adds an account and makes it the one logged in at "github.com". */
    signIn(account: GithubAccount) {
      accounts.set(account.login, account)
      state.current = account.login
    },
    endpoints: {
      authorizeUrl: `${base}/login/oauth/authorize`,
      accessTokenUrl: `${base}/login/oauth/access_token`,
      userInfoUrl: `${base}/user`,
      userEmailUrl: `${base}/user/emails`,
    },
    close: () => close(server),
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Google                                                                                   */
/* ---------------------------------------------------------------------------------------- */

export interface GoogleAccount {
  sub: string
  email: string
  email_verified: boolean
  name: string
  hd?: string
}

export async function startGoogle(options: { clientId: string; clientSecret: string }) {
  const codes = new Map<string, PendingCode>()
  const tokens = new Map<string, string>()
  const accounts = new Map<string, GoogleAccount>()
  const state: { current: string | null } = { current: null }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = randomUUID()
  let base = ''

  const idToken = (account: GoogleAccount) => {
    const now = Math.floor(Date.now() / 1000)
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const signing = `${part({ alg: 'RS256', kid, typ: 'JWT' })}.${part({
      iss: 'https://accounts.google.com',
      azp: options.clientId,
      aud: options.clientId,
      sub: account.sub,
      email: account.email,
      email_verified: account.email_verified,
      iat: now,
      exp: now + 3600,
    })}`
    return `${signing}.${createSign('RSA-SHA256').update(signing).sign(privateKey).toString('base64url')}`
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (req.method === 'GET' && url.pathname === '/o/oauth2/v2/auth') {
      const clientId = url.searchParams.get('client_id') ?? ''
      const redirectUri = url.searchParams.get('redirect_uri') ?? ''
      if (clientId !== options.clientId) {
        return send(
          res,
          401,
          '<h1>Error 401: invalid_client</h1><p>The OAuth client was not found.</p>',
          'text/html'
        )
      }
      if (url.searchParams.get('response_type') !== 'code') {
        return send(res, 400, '<h1>Error 400: invalid_request</h1>', 'text/html')
      }
      if (!state.current) return send(res, 200, '<h1>Sign in with Google</h1>', 'text/html')
      const code = `4/0${randomBytes(20).toString('base64url')}`
      codes.set(code, {
        clientId,
        redirectUri,
        scope: url.searchParams.get('scope') ?? '',
        userKey: state.current,
      })
      const back = new URL(redirectUri)
      if (url.searchParams.has('state'))
        back.searchParams.set('state', url.searchParams.get('state')!)
      back.searchParams.set('code', code)
      back.searchParams.set('scope', url.searchParams.get('scope') ?? '')
      back.searchParams.set('authuser', '0')
      back.searchParams.set('prompt', 'consent')
      return redirect(res, back.toString())
    }

    if (req.method === 'POST' && url.pathname === '/token') {
      const form = new URLSearchParams(await readBody(req))
      if (
        form.get('client_id') !== options.clientId ||
        form.get('client_secret') !== options.clientSecret
      ) {
        return send(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' })
      }
      const pending = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      if (
        form.get('grant_type') !== 'authorization_code' ||
        !pending ||
        form.get('redirect_uri') !== pending.redirectUri
      ) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'Bad Request' })
      }
      const token = `ya29.${randomBytes(24).toString('base64url')}`
      tokens.set(token, pending.userKey)
      return send(res, 200, {
        access_token: token,
        expires_in: 3599,
        scope: pending.scope,
        token_type: 'Bearer',
        id_token: idToken(accounts.get(pending.userKey)!),
      })
    }

    if (req.method === 'GET' && url.pathname === '/v1/userinfo') {
      const account = accounts.get(tokens.get(bearer(req) ?? '') ?? '')
      if (!account) {
        res.setHeader(
          'www-authenticate',
          'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        )
        return send(res, 401, {
          error: 'invalid_request',
          error_description: 'Invalid Credentials',
        })
      }
      const [given, ...family] = account.name.split(' ')
      return send(res, 200, {
        sub: account.sub,
        name: account.name,
        given_name: given,
        family_name: family.join(' '),
        picture: 'https://lh3.googleusercontent.com/a/default-user=s96-c',
        email: account.email,
        email_verified: account.email_verified,
        ...(account.hd ? { hd: account.hd } : {}),
      })
    }
    send(res, 404, { error: 'not_found' })
  })
  const port = await listen(server)
  base = `http://127.0.0.1:${port}`
  return {
    base,
    signIn(account: GoogleAccount) {
      accounts.set(account.sub, account)
      state.current = account.sub
    },
    endpoints: {
      authorizeUrl: `${base}/o/oauth2/v2/auth`,
      accessTokenUrl: `${base}/token`,
      userInfoUrl: `${base}/v1/userinfo`,
    },
    close: () => close(server),
  }
}

/* ---------------------------------------------------------------------------------------- */
/* OpenID Connect: the real oidc-provider                                                   */
/* ---------------------------------------------------------------------------------------- */

export interface OidcAccount {
  id: string
  password: string
  email: string
  email_verified?: boolean
  name?: string
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/**
 * Starts `oidc-provider` on a free loopback port with one confidential client (client secret,
 * client_secret_basic, PKCE required) whose redirect URI is `redirectUri`, and the given
 * accounts. Its interactions are a plain login form (`login`, `password`) and an automatic
 * consent for this first-party client.
 */
export async function startOidcProvider(options: {
  clientId: string
  clientSecret: string
  redirectUri: string
  accounts: OidcAccount[]
}) {
  const { default: Provider } = (await import('oidc-provider' as string)) as any
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const accounts = new Map(options.accounts.map((a) => [a.id, a]))
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomUUID(),
    use: 'sig',
    alg: 'RS256',
  }
  const cookieKey = randomBytes(16).toString('hex')

  const make = (redirectUri: string) => {
    const instance = new Provider(issuer, {
      clients: [
        {
          client_id: options.clientId,
          client_secret: options.clientSecret,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [cookieKey] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      features: { devInteractions: { enabled: false } },
      pkce: { required: () => true },
      ttl: {
        AccessToken: 600,
        AuthorizationCode: 60,
        Grant: 3600,
        IdToken: 600,
        Interaction: 600,
        Session: 3600,
      },
      interactions: { url: (_ctx: unknown, interaction: any) => `/interaction/${interaction.uid}` },
      async findAccount(_ctx: unknown, id: string) {
        const account = accounts.get(id)
        if (!account) return undefined
        return {
          accountId: id,
          async claims() {
            return {
              sub: id,
              email: account.email,
              ...(account.email_verified === undefined
                ? {}
                : { email_verified: account.email_verified }),
              name: account.name ?? id,
            }
          },
        }
      },
    })
    instance.on('server_error', (_ctx: unknown, error: Error) =>
      console.error('oidc-provider:', error)
    )
    return { provider: instance, handler: instance.callback() }
  }
  let current = make(options.redirectUri)

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', issuer)
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname)
    const { provider, handler } = current
    if (!match) return handler(req, res)
    try {
      const details = await provider.interactionDetails(req, res)
      if (match[2] && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req))
        const account = accounts.get(form.get('login') ?? '')
        if (!account || account.password !== form.get('password')) {
          return send(res, 200, loginPage(details.uid, 'Invalid login or password.'), 'text/html')
        }
        return provider.interactionFinished(
          req,
          res,
          { login: { accountId: account.id } },
          { mergeWithLastSubmission: false }
        )
      }
      if (details.prompt.name === 'login') {
        return send(res, 200, loginPage(details.uid), 'text/html')
      }
      // consent: a first-party client gets every scope and claim it asked for
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({
            accountId: details.session.accountId,
            clientId: details.params.client_id,
          })
      const missing = details.prompt.details
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
      if (missing.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
          grant.addResourceScope(indicator, (scopes as string[]).join(' '))
        }
      }
      const grantId = await grant.save()
      return provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true }
      )
    } catch (error: any) {
      send(
        res,
        400,
        `<h1>Interaction error</h1><p>${escapeHtml(String(error?.message))}</p>`,
        'text/html'
      )
    }
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    issuer,
    /**
     * Registers the client's redirect URI, as an administrator does at the provider once our
     * login-provider page shows it (same issuer, keys and port).
     */
    setRedirectUri(uri: string) {
      current = make(uri)
    },
    close: () => close(server),
  }
}

function loginPage(uid: string, error?: string) {
  return `<!DOCTYPE html><title>Sign in</title><h1>Sign in</h1>${
    error ? `<p class="error">${escapeHtml(error)}</p>` : ''
  }<form method="post" action="/interaction/${uid}/login"><input name="login"><input name="password" type="password"><button>Sign in</button></form>`
}

/** The login form's action on an oidc-provider interaction page. */
export function interactionAction(page: Page) {
  const match = /action="([^"]+\/login)"/.exec(page.text)
  if (!match) throw new Error(`Not a login page (${page.url}): ${page.text.slice(0, 300)}`)
  return new URL(match[1], page.url).toString()
}
