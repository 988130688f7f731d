/*
 * A generic OpenID Connect login driver for @adonisjs/ally (Entra ID, Keycloak, Okta, Auth0,
 * Dex, …): authorization code flow with PKCE (S256), `state` and `nonce` kept in encrypted
 * cookies, client authentication by the method the provider's discovery document prefers
 * (client_secret_basic, else client_secret_post), and an ID token whose signature (from the
 * provider's JWKS), issuer, audience, expiry and nonce are checked before anything in it is
 * believed. The email comes from the ID token, or from the userinfo endpoint when the ID token
 * has none (its `sub` must match).
 */
import { createHash, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto'
import type { HttpContext } from '@adonisjs/core/http'
import { Oauth2Driver } from '@adonisjs/ally'
import type {
  AllyUserContract,
  ApiRequestContract,
  Oauth2DriverConfig,
  RedirectRequestContract,
} from '@adonisjs/ally/types'

/** The parts of an OpenID Provider's discovery document this driver uses. */
export interface OidcMetadata {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri: string
  userinfo_endpoint?: string
  token_endpoint_auth_methods_supported?: string[]
  id_token_signing_alg_values_supported?: string[]
}

export type OidcDriverConfig = Oauth2DriverConfig & {
  metadata: OidcMetadata
  scopes?: string[]
  /** Distinguishes the cookies of several OIDC providers in one browser. */
  cookiePrefix: string
}

export interface OidcToken {
  token: string
  type: string
  idToken: string
  expiresIn?: number
  expiresAt?: Date
  refreshToken?: string
}

export class OidcError extends Error {}

const HTTP_TIMEOUT_MS = 10_000
const CLOCK_SKEW_S = 120

/* ------------------------------- discovery and keys ------------------------------------- */

const discoveryCache = new Map<string, { at: number; metadata: OidcMetadata }>()
const jwksCache = new Map<string, { at: number; keys: any[] }>()
const CACHE_MS = 10 * 60_000

async function getJson(url: string, what: string, init: RequestInit = {}): Promise<any> {
  let response: Response
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
  } catch (error: any) {
    throw new OidcError(
      `Cannot reach the ${what} at ${url}: ${error?.cause?.code ?? error?.message}`
    )
  }
  if (!response.ok) {
    throw new OidcError(`The ${what} at ${url} answered HTTP ${response.status}.`)
  }
  try {
    return await response.json()
  } catch {
    throw new OidcError(`The ${what} at ${url} did not answer JSON.`)
  }
}

const trimSlash = (url: string) => url.replace(/\/+$/, '')

/**
 * Reads `<issuer>/.well-known/openid-configuration` (cached for ten minutes) and checks that it
 * describes this issuer and has the endpoints the code flow needs.
 */
export async function discover(issuer: string, fresh = false): Promise<OidcMetadata> {
  const key = trimSlash(issuer)
  const cached = discoveryCache.get(key)
  if (!fresh && cached && Date.now() - cached.at < CACHE_MS) return cached.metadata
  const url = `${key}/.well-known/openid-configuration`
  const doc = await getJson(url, 'discovery document')
  if (!doc || typeof doc !== 'object' || trimSlash(String(doc.issuer ?? '')) !== key) {
    throw new OidcError(
      `The discovery document at ${url} is for issuer "${doc?.issuer}", not "${issuer}".`
    )
  }
  for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
    if (typeof doc[field] !== 'string') {
      throw new OidcError(`The discovery document at ${url} has no ${field}.`)
    }
  }
  discoveryCache.set(key, { at: Date.now(), metadata: doc })
  return doc
}

async function signingKey(jwksUri: string, header: { kid?: string; alg: string }) {
  const pick = (keys: any[]) =>
    keys.find(
      (k) =>
        (header.kid === undefined || k.kid === header.kid) &&
        (k.use === undefined || k.use === 'sig') &&
        (k.alg === undefined || k.alg === header.alg)
    )
  const cached = jwksCache.get(jwksUri)
  let found = cached && Date.now() - cached.at < CACHE_MS ? pick(cached.keys) : undefined
  if (!found) {
    // unknown key id: the provider may have rotated its keys
    const doc = await getJson(jwksUri, 'key set (JWKS)')
    const keys = Array.isArray(doc?.keys) ? doc.keys : []
    jwksCache.set(jwksUri, { at: Date.now(), keys })
    found = pick(keys)
  }
  if (!found)
    throw new OidcError(`The provider's key set has no key "${header.kid}" for ${header.alg}.`)
  return createPublicKey({ key: found, format: 'jwk' })
}

/* ------------------------------------ ID token ------------------------------------------ */

const ALGORITHMS: Record<string, { hash: string | null; options?: Record<string, unknown> }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', options: { padding: 6, saltLength: 32 } },
  PS384: { hash: 'sha384', options: { padding: 6, saltLength: 48 } },
  PS512: { hash: 'sha512', options: { padding: 6, saltLength: 64 } },
  ES256: { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { hash: 'sha384', options: { dsaEncoding: 'ieee-p1363' } },
  ES512: { hash: 'sha512', options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { hash: null },
  Ed25519: { hash: null },
}

const decodePart = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))

/** Verifies an ID token (OpenID Connect Core §3.1.3.7) and returns its claims. */
export async function verifyIdToken(
  idToken: string,
  expected: { metadata: OidcMetadata; clientId: string; nonce: string | null }
): Promise<Record<string, any>> {
  const parts = String(idToken ?? '').split('.')
  if (parts.length !== 3) throw new OidcError('The provider sent no valid ID token.')
  let header: any
  let claims: any
  try {
    header = decodePart(parts[0])
    claims = decodePart(parts[1])
  } catch {
    throw new OidcError('The provider sent an ID token that cannot be decoded.')
  }
  const alg = ALGORITHMS[header?.alg]
  if (!alg) {
    throw new OidcError(
      `The ID token is signed with ${header?.alg}, which this server does not accept (use RS256, PS256, ES256 or EdDSA).`
    )
  }
  const key = await signingKey(expected.metadata.jwks_uri, header)
  const ok = verifySignature(
    alg.hash,
    Buffer.from(`${parts[0]}.${parts[1]}`),
    alg.options ? ({ key, ...alg.options } as any) : key,
    Buffer.from(parts[2], 'base64url')
  )
  if (!ok) throw new OidcError('The ID token signature is not valid.')

  const now = Math.floor(Date.now() / 1000)
  if (trimSlash(String(claims.iss ?? '')) !== trimSlash(expected.metadata.issuer)) {
    throw new OidcError(`The ID token was issued by "${claims.iss}", not by the configured issuer.`)
  }
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (!audience.includes(expected.clientId)) {
    throw new OidcError('The ID token was issued for another client.')
  }
  if (audience.length > 1 && claims.azp !== undefined && claims.azp !== expected.clientId) {
    throw new OidcError('The ID token was issued to another authorized party.')
  }
  if (typeof claims.exp !== 'number' || claims.exp + CLOCK_SKEW_S < now) {
    throw new OidcError('The ID token has expired; log in again.')
  }
  if (typeof claims.iat === 'number' && claims.iat - CLOCK_SKEW_S > now) {
    throw new OidcError('The ID token was issued in the future; check the server clocks.')
  }
  if (!expected.nonce || claims.nonce !== expected.nonce) {
    throw new OidcError('The ID token does not match this login attempt (nonce); log in again.')
  }
  if (typeof claims.sub !== 'string' || !claims.sub) {
    throw new OidcError('The ID token does not say who logged in (no sub).')
  }
  return claims
}

/* ------------------------------------- driver ------------------------------------------- */

export class OidcDriver extends Oauth2Driver<OidcToken, string> {
  protected accessTokenUrl: string
  protected authorizeUrl: string
  protected codeParamName = 'code'
  protected errorParamName = 'error'
  protected stateCookieName: string
  protected stateParamName = 'state'
  protected scopeParamName = 'scope'
  protected scopesSeparator = ' '

  #nonceCookie: string
  #verifierCookie: string
  #nonce: string | null = null
  #verifier: string | null = null

  constructor(
    ctx: HttpContext,
    public config: OidcDriverConfig
  ) {
    super(ctx, config)
    this.authorizeUrl = config.metadata.authorization_endpoint
    this.accessTokenUrl = config.metadata.token_endpoint
    this.stateCookieName = `${config.cookiePrefix}_state`
    this.#nonceCookie = `${config.cookiePrefix}_nonce`
    this.#verifierCookie = `${config.cookiePrefix}_verifier`
    this.loadState()
  }

  /** Reads state, nonce and PKCE verifier from their cookies and clears them (one use). */
  protected loadState() {
    super.loadState()
    if (this.isStateless) return
    this.#nonce = this.ctx.request.encryptedCookie(this.#nonceCookie) ?? null
    this.#verifier = this.ctx.request.encryptedCookie(this.#verifierCookie) ?? null
    this.ctx.response.clearCookie(this.#nonceCookie)
    this.ctx.response.clearCookie(this.#verifierCookie)
  }

  protected configureRedirectRequest(request: RedirectRequestContract<string>) {
    const scopes = new Set(this.config.scopes?.length ? this.config.scopes : ['email', 'profile'])
    scopes.add('openid')
    request.scopes([...scopes])
    request.param('response_type', 'code')
    const nonce = randomBytes(24).toString('base64url')
    const verifier = randomBytes(32).toString('base64url')
    request.param('nonce', nonce)
    request.param('code_challenge', createHash('sha256').update(verifier).digest('base64url'))
    request.param('code_challenge_method', 'S256')
    const cookie = { sameSite: 'lax' as const, httpOnly: true, maxAge: '15m' }
    this.ctx.response.encryptedCookie(this.#nonceCookie, nonce, cookie)
    this.ctx.response.encryptedCookie(this.#verifierCookie, verifier, cookie)
  }

  protected configureAccessTokenRequest(request: ApiRequestContract) {
    if (this.#verifier) request.field('code_verifier', this.#verifier)
    const methods = this.config.metadata.token_endpoint_auth_methods_supported ?? [
      'client_secret_basic',
    ]
    if (methods.includes('client_secret_basic') || !methods.includes('client_secret_post')) {
      // RFC 6749 §2.3.1: both parts form-urlencoded, then Basic
      const user = encodeURIComponent(this.config.clientId)
      const secret = encodeURIComponent(this.config.clientSecret)
      request.header(
        'Authorization',
        `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`
      )
      request.clearField('client_secret')
    }
  }

  accessDenied() {
    return this.getError() === 'access_denied'
  }

  async accessToken(callback?: (request: ApiRequestContract) => void): Promise<OidcToken> {
    const token: any = await super.accessToken(callback)
    return { ...token, idToken: token.id_token }
  }

  async user(
    callback?: (request: ApiRequestContract) => void
  ): Promise<AllyUserContract<OidcToken>> {
    const token = await this.accessToken(callback)
    const claims = await verifyIdToken(token.idToken, {
      metadata: this.config.metadata,
      clientId: this.config.clientId,
      nonce: this.#nonce,
    })
    let profile: Record<string, any> = claims
    if (!claims.email && this.config.metadata.userinfo_endpoint) {
      const info = await getJson(this.config.metadata.userinfo_endpoint, 'userinfo endpoint', {
        headers: { Authorization: `Bearer ${token.token}`, Accept: 'application/json' },
      })
      if (info?.sub !== claims.sub) {
        throw new OidcError('The userinfo endpoint answered for another user than the ID token.')
      }
      profile = { ...claims, ...info }
    }
    return {
      id: String(claims.sub),
      nickName: profile.preferred_username ?? profile.name ?? '',
      name: profile.name ?? profile.preferred_username ?? '',
      email: typeof profile.email === 'string' ? profile.email : null,
      emailVerificationState:
        profile.email_verified === undefined
          ? 'unsupported'
          : profile.email_verified === true || profile.email_verified === 'true'
            ? 'verified'
            : 'unverified',
      avatarUrl: profile.picture ?? null,
      original: profile,
      token,
    }
  }

  async userFromToken(): Promise<never> {
    throw new OidcError('Logging in from a bare access token is not supported for OpenID Connect.')
  }
}
