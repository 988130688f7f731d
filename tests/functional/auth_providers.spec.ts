/*
 * External logins over real HTTP: our server (the test run's, on TEST_PORT) and, on loopback,
 * a real OpenID Provider (oidc-provider) and stand-ins for GitHub and Google that speak their
 * endpoints and JSON. A cookie-keeping client follows redirect → provider → callback.
 *
 * Who gets in: a user an administrator created or invited (by email, then by the linked
 * identity), or anyone in an email domain the administrator allowed for that provider (a
 * non-administrator is created). Everyone else, unverified emails, disabled users and answers
 * whose state does not match are refused with a message on the login page.
 */
import { test } from '@japa/runner'
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import db from '@adonisjs/lucid/services/db'
import pkiConfig from '#config/pki'
import { masterKeyRing } from '#services/master_key'
import { accountService } from '#services/token_service'
import { callbackUrl, updateProvider, getProvider } from '#services/login_providers'
import { systemActor } from '#services/actor'
import { webUser } from '#tests/helpers/web'
import { describeAce, freePort, runAce, type EnvOverrides } from '#tests/helpers/processes'
import { verifyIdToken } from '#services/oidc_driver'
import { MasterKeyRing, parseMasterKey } from '../../hsm/master_key.js'
import {
  Browser,
  interactionAction,
  startGithub,
  startGoogle,
  startOidcProvider,
  type Page,
} from '#tests/helpers/oauth_servers'

const app = pkiConfig.publicUrl
const PASSWORD = 'idp password 123'

async function createViaUi(client: any, admin: any, form: Record<string, string>) {
  const response = await client
    .post('/admin/login-providers')
    .loginAs(admin)
    .form({ enabled: 'on', ...form })
    .withCsrfToken()
    .redirects(0)
  response.assertStatus(302)
  const id = Number(/\/admin\/login-providers\/(\d+)\/edit/.exec(response.header('location'))?.[1])
  return id
}

/** Who the app says is logged in (the Profile page), or null. */
async function loggedInAs(browser: Browser) {
  const page = await browser.go(`${app}/admin/profile`)
  if (!page.url.endsWith('/admin/profile') || page.status !== 200) return null
  return /<dt>Email<\/dt>\s*<dd>([^<]+)<\/dd>/.exec(page.text)?.[1] ?? null
}

const decode = (html: string) =>
  html
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')

function refusal(page: Page) {
  return decode(/<div class="flash error" role="alert">([^<]*)<\/div>/.exec(page.text)?.[1] ?? '')
}

test.group('External login: OpenID Connect (real oidc-provider)', (group) => {
  let oidc: Awaited<ReturnType<typeof startOidcProvider>>
  let providerId: number
  group.setup(async () => {
    oidc = await startOidcProvider({
      clientId: 'pki-admin',
      clientSecret: 'oidc client secret value',
      redirectUri: `${app}/auth/0/callback`,
      accounts: [
        { id: 'alice', password: PASSWORD, email: 'alice@corp.test', email_verified: true },
        { id: 'bob', password: PASSWORD, email: 'bob@elsewhere.test', email_verified: true },
        { id: 'carol', password: PASSWORD, email: 'carol@partner.test', email_verified: true },
        { id: 'dave', password: PASSWORD, email: 'dave@corp.test', email_verified: false },
        { id: 'erin', password: PASSWORD, email: 'erin@corp.test' },
      ],
    })
    return () => oidc.close()
  })

  /** Starts a login at our server and signs in at the provider as `login`. */
  async function oidcLogin(browser: Browser, login: string, until?: (url: string) => boolean) {
    const form = await browser.go(`${app}/auth/${providerId}/redirect`)
    assertOn(form.url, oidc.issuer)
    return browser.go(interactionAction(form), { form: { login, password: PASSWORD }, until })
  }

  test('an administrator adds the provider: discovery checked, secret encrypted and never shown', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const bad = await client
      .post('/admin/login-providers')
      .loginAs(admin)
      .form({
        kind: 'oidc',
        name: 'Broken SSO',
        issuer: 'http://127.0.0.1:9/realms/none',
        clientId: 'x',
        clientSecret: 'y',
      })
      .withCsrfToken()
    bad.assertStatus(422)
    assert.include(
      bad.text(),
      'Cannot reach the discovery document at http://127.0.0.1:9/realms/none'
    )
    assert.isNull(await db.from('login_providers').where('name', 'Broken SSO').first())

    providerId = await createViaUi(client, admin, {
      kind: 'oidc',
      name: 'Corp SSO',
      issuer: oidc.issuer,
      clientId: 'pki-admin',
      clientSecret: 'oidc client secret value',
    })
    const row = await db.from('login_providers').where('id', providerId).first()
    const config = JSON.parse(row.config)
    assert.match(config.clientSecret, /^v1\./)
    assert.notInclude(row.config, 'oidc client secret value')
    assert.equal(
      masterKeyRing()
        .decrypt(config.clientSecret, `login-provider:${providerId}:client-secret`)
        .toString(),
      'oidc client secret value'
    )
    // bound to its row: the blob does not decrypt as another provider's secret
    assert.throws(() =>
      masterKeyRing().decrypt(config.clientSecret, `login-provider:${providerId + 1}:client-secret`)
    )

    const edit = await client.get(`/admin/login-providers/${providerId}/edit`).loginAs(admin)
    edit.assertStatus(200)
    assert.notInclude(edit.text(), 'oidc client secret value')
    assert.include(edit.text(), callbackUrl(providerId))

    // saving with a blank secret keeps the secret
    const saved = await client
      .post(`/admin/login-providers/${providerId}`)
      .loginAs(admin)
      .form({
        name: 'Corp SSO',
        issuer: oidc.issuer,
        clientId: 'pki-admin',
        clientSecret: '',
        enabled: 'on',
      })
      .withCsrfToken()
      .redirects(0)
    saved.assertStatus(302)
    const after = JSON.parse(
      (await db.from('login_providers').where('id', providerId).first()).config
    )
    assert.equal(after.clientSecret, config.clientSecret)

    const login = await client.get('/login')
    assert.include(login.text(), 'Continue with Corp SSO')
    assert.include(login.text(), `/auth/${providerId}/redirect`)
    oidc.setRedirectUri(callbackUrl(providerId))
  })

  test('an invited user logs in; the identity is linked and the login audited', async ({
    assert,
  }) => {
    const invited = await accountService.createUser(systemActor, { email: 'Alice@corp.test' })
    const browser = new Browser()
    const page = await oidcLogin(browser, 'alice')
    assert.isTrue(page.url.startsWith(`${app}/admin`), `ended at ${page.url}: ${refusal(page)}`)
    assert.equal(await loggedInAs(browser), 'alice@corp.test')
    // the code went through our callback with the provider's state
    assert.isTrue(page.chain.some((u) => u.startsWith(`${app}/auth/${providerId}/callback?code=`)))

    const identity = await db
      .from('user_identities')
      .where({ provider_id: providerId, subject: 'alice' })
      .first()
    assert.equal(identity.user_id, invited.id)
    const user = await db.from('users').where('id', invited.id).first()
    assert.isAbove(Number(user.last_login_at), Date.now() - 60_000)
    const audited = await db
      .from('audit_logs')
      .where({ action: 'user.login', object_id: String(invited.id) })
      .first()
    assert.include(audited.details, 'Corp SSO')

    // the second login goes through the link (even after the address changed at the provider)
    await db.from('users').where('id', invited.id).update({ email: 'alice.renamed@corp.test' })
    const again = new Browser()
    const second = await oidcLogin(again, 'alice')
    assert.isTrue(second.url.startsWith(`${app}/admin`))
    assert.equal(await loggedInAs(again), 'alice.renamed@corp.test')
  })

  test('an unknown email is refused with a message; an allowed domain creates a user', async ({
    assert,
  }) => {
    const bob = await oidcLogin(new Browser(), 'bob')
    assert.equal(bob.url, `${app}/login`)
    assert.include(refusal(bob), 'bob@elsewhere.test has no access to this server')
    assert.isNull(await db.from('users').where('email', 'bob@elsewhere.test').first())
    const logged = await db
      .from('service_logs')
      .where({ event: 'login.refused' })
      .whereLike('message', '%bob@elsewhere.test%')
      .first()
    assert.equal(logged.level, 'warn')

    const carolRefused = await oidcLogin(new Browser(), 'carol')
    assert.include(refusal(carolRefused), 'has no access')

    await updateProvider(systemActor, providerId, {
      name: 'Corp SSO',
      issuer: oidc.issuer,
      clientId: 'pki-admin',
      allowedDomains: 'partner.test',
      enabled: 'on',
    })
    assert.deepEqual((await getProvider(providerId)).allowedDomains, ['partner.test'])
    const browser = new Browser()
    const carol = await oidcLogin(browser, 'carol')
    assert.isTrue(carol.url.startsWith(`${app}/admin`), refusal(carol))
    assert.equal(await loggedInAs(browser), 'carol@partner.test')
    const created = await db.from('users').where('email', 'carol@partner.test').first()
    assert.isFalse(Boolean(created.is_admin))
    assert.isNull(created.password)
    // a created user sees no CA: not an administrator
    const cas = await browser.go(`${app}/admin/users`)
    assert.equal(cas.status, 403)
  })

  test('unverified emails, disabled users and a forged state are refused', async ({ assert }) => {
    await accountService.createUser(systemActor, { email: 'dave@corp.test' })
    const dave = await oidcLogin(new Browser(), 'dave')
    assert.equal(dave.url, `${app}/login`)
    assert.include(refusal(dave), 'dave@corp.test is not verified')
    assert.isNull(await db.from('user_identities').where('subject', 'dave').first())

    // a provider that says nothing about verification (Entra ID) is trusted for the address
    const erin = await accountService.createUser(systemActor, { email: 'erin@corp.test' })
    const erinPage = await oidcLogin(new Browser(), 'erin')
    assert.isTrue(erinPage.url.startsWith(`${app}/admin`), refusal(erinPage))

    await accountService.setDisabled(systemActor, erin.id, true)
    const disabled = await oidcLogin(new Browser(), 'erin')
    assert.equal(disabled.url, `${app}/login`)
    assert.include(refusal(disabled), 'This account is disabled')

    // the provider's answer comes back with another state: refused, nobody logged in
    await accountService.setDisabled(systemActor, erin.id, false)
    const browser = new Browser()
    const stopped = await oidcLogin(browser, 'erin', (url) => url.includes('/callback?'))
    const forged = new URL(stopped.url)
    forged.searchParams.set('state', 'forged-state-value')
    const result = await browser.go(forged.toString())
    assert.equal(result.url, `${app}/login`)
    assert.include(refusal(result), 'does not belong to a login started here')
    assert.isNull(await loggedInAs(browser))

    // and an answer arriving in a browser that never started the login (login CSRF)
    const other = new Browser()
    const stopped2 = await oidcLogin(new Browser(), 'erin', (url) => url.includes('/callback?'))
    const csrf = await other.go(stopped2.url)
    assert.include(refusal(csrf), 'does not belong to a login started here')
    assert.isNull(await loggedInAs(other))
  })

  test('a disabled provider is not offered and its routes refuse', async ({ assert }) => {
    const provider = await getProvider(providerId)
    await db.from('login_providers').where('id', provider.id).update({ enabled: false })
    const browser = new Browser()
    const login = await browser.go(`${app}/login`)
    assert.notInclude(login.text, 'Continue with Corp SSO')
    const start = await browser.go(`${app}/auth/${providerId}/redirect`)
    assert.equal(start.url, `${app}/login`)
    assert.include(refusal(start), 'not available')
    await db.from('login_providers').where('id', provider.id).update({ enabled: true })
  })
})

function assertOn(url: string, origin: string) {
  if (!url.startsWith(origin)) throw new Error(`expected to be at ${origin}, but at ${url}`)
}

test.group('External login: GitHub (stand-in on loopback)', (group) => {
  let github: Awaited<ReturnType<typeof startGithub>>
  group.setup(async () => {
    github = await startGithub({ clientId: 'Iv1.gh-client', clientSecret: 'gh secret' })
    return () => github.close()
  })

  test('invited user with a private email (read from /user/emails) gets in; strangers do not; forged state refused', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const id = await createViaUi(client, admin, {
      kind: 'github',
      name: 'GitHub',
      clientId: 'Iv1.gh-client',
      clientSecret: 'gh secret',
      ...github.endpoints,
    })
    const invited = await accountService.createUser(systemActor, { email: 'octo@corp.test' })

    github.signIn({
      id: 583231,
      login: 'octocat',
      name: 'The Octocat',
      publicEmail: null,
      emails: [
        { email: 'octo-old@corp.test', primary: false, verified: false },
        { email: 'octo@corp.test', primary: true, verified: true },
      ],
    })
    const browser = new Browser()
    const page = await browser.go(`${app}/auth/${id}/redirect`)
    assert.isTrue(page.url.startsWith(`${app}/admin`), `${page.url}: ${refusal(page)}`)
    assert.equal(await loggedInAs(browser), 'octo@corp.test')
    const identity = await db.from('user_identities').where({ provider_id: id }).first()
    assert.equal(identity.subject, '583231')
    assert.equal(identity.user_id, invited.id)
    // the driver asked GitHub the way GitHub expects
    const tokenCall = github.requests.find((r) => r.path === '/login/oauth/access_token')!
    assert.include(tokenCall.body!, 'client_secret=gh+secret')
    assert.match(github.requests.find((r) => r.path === '/user')!.authorization!, /^token gho_/)
    assert.exists(github.requests.find((r) => r.path === '/user/emails'))

    github.signIn({
      id: 1,
      login: 'mallory',
      name: null,
      publicEmail: 'mallory@evil.test',
      emails: [{ email: 'mallory@evil.test', primary: true, verified: true }],
    })
    const stranger = await new Browser().go(`${app}/auth/${id}/redirect`)
    assert.equal(stranger.url, `${app}/login`)
    assert.include(refusal(stranger), 'mallory@evil.test has no access to this server')

    // an unverified primary address does not match the invited user
    await accountService.createUser(systemActor, { email: 'unverified@corp.test' })
    github.signIn({
      id: 2,
      login: 'newbie',
      name: null,
      publicEmail: null,
      emails: [{ email: 'unverified@corp.test', primary: true, verified: false }],
    })
    const unverified = await new Browser().go(`${app}/auth/${id}/redirect`)
    assert.include(refusal(unverified), 'is not verified')

    github.signIn({
      id: 583231,
      login: 'octocat',
      name: 'The Octocat',
      publicEmail: 'octo@corp.test',
      emails: [],
    })
    const forgedBrowser = new Browser()
    const stopped = await forgedBrowser.go(`${app}/auth/${id}/redirect`, {
      until: (url) => url.includes('/callback?'),
    })
    const forged = new URL(stopped.url)
    forged.searchParams.set('state', 'x'.repeat(32))
    const result = await forgedBrowser.go(forged.toString())
    assert.include(refusal(result), 'does not belong to a login started here')
    assert.isNull(await loggedInAs(forgedBrowser))
  })
})

test.group('External login: Google (stand-in on loopback)', (group) => {
  let google: Awaited<ReturnType<typeof startGoogle>>
  group.setup(async () => {
    google = await startGoogle({
      clientId: '1234-abc.apps.googleusercontent.com',
      clientSecret: 'GOCSPX-secret',
    })
    return () => google.close()
  })

  test('an allowed domain creates a user; an unverified or unknown address is refused; state checked', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const id = await createViaUi(client, admin, {
      kind: 'google',
      name: 'Google',
      clientId: '1234-abc.apps.googleusercontent.com',
      clientSecret: 'GOCSPX-secret',
      allowedDomains: 'example-corp.test, @second.test',
      ...google.endpoints,
    })
    assert.deepEqual((await getProvider(id)).allowedDomains, ['example-corp.test', 'second.test'])

    google.signIn({
      sub: '110169484474386276334',
      email: 'jane@example-corp.test',
      email_verified: true,
      name: 'Jane Doe',
      hd: 'example-corp.test',
    })
    const browser = new Browser()
    const page = await browser.go(`${app}/auth/${id}/redirect`)
    assert.isTrue(page.url.startsWith(`${app}/admin`), `${page.url}: ${refusal(page)}`)
    assert.equal(await loggedInAs(browser), 'jane@example-corp.test')
    const jane = await db.from('users').where('email', 'jane@example-corp.test').first()
    assert.isFalse(Boolean(jane.is_admin))
    assert.equal(jane.full_name, 'Jane Doe')
    const created = await db
      .from('audit_logs')
      .where({ action: 'user.create', object_id: String(jane.id) })
      .first()
    assert.include(created.details, 'example-corp.test')

    google.signIn({
      sub: '2',
      email: 'joe@example-corp.test',
      email_verified: false,
      name: 'Joe',
    })
    const unverified = await new Browser().go(`${app}/auth/${id}/redirect`)
    assert.include(refusal(unverified), 'joe@example-corp.test is not verified')
    assert.isNull(await db.from('users').where('email', 'joe@example-corp.test').first())

    google.signIn({ sub: '3', email: 'someone@gmail.test', email_verified: true, name: 'S' })
    const unknown = await new Browser().go(`${app}/auth/${id}/redirect`)
    assert.include(refusal(unknown), 'someone@gmail.test has no access to this server')

    google.signIn({
      sub: '110169484474386276334',
      email: 'jane@example-corp.test',
      email_verified: true,
      name: 'Jane Doe',
    })
    const forgedBrowser = new Browser()
    const stopped = await forgedBrowser.go(`${app}/auth/${id}/redirect`, {
      until: (url) => url.includes('/callback?'),
    })
    const forged = new URL(stopped.url)
    forged.searchParams.set('state', 'not-the-state')
    const result = await forgedBrowser.go(forged.toString())
    assert.include(refusal(result), 'does not belong to a login started here')
    assert.isNull(await loggedInAs(forgedBrowser))
  })
})

test.group('External login: client secrets and master key rotation', (group) => {
  let root: string
  group.setup(async () => {
    root = await mkdtemp(join(tmpdir(), 'open-pki-auth-rotate-'))
    return () => rm(root, { recursive: true, force: true })
  })

  test('key:rotate re-encrypts login provider and plugin secrets under the new key, still bound to their row', async ({
    assert,
  }) => {
    // a fresh SQLite install of its own: the rotation must not touch this run's key
    const dataDir = join(root, 'data')
    const env = (extra: EnvOverrides = {}): EnvOverrides => ({
      DATA_DIR: dataDir,
      DB_CONNECTION: 'sqlite',
      DB_DATABASE: undefined,
      PKI_MASTER_KEY_FILE: undefined,
      PKI_MASTER_KEY: undefined,
      PKI_PREVIOUS_MASTER_KEYS: undefined,
      ...extra,
    })
    const init = await runAce(['ca:list'], { env: env() })
    assert.equal(init.code, 0, describeAce(init))
    const oldKey = (await readFile(join(dataDir, 'master.key'), 'utf8')).trim()
    const oldRing = new MasterKeyRing(parseMasterKey(oldKey, 'old'))
    const sqlite = new Database(join(dataDir, 'pki.sqlite3'))
    try {
      const now = Date.now()
      const insert = sqlite.prepare(
        `INSERT INTO login_providers (id, kind, name, enabled, config, allowed_domains, created_at, updated_at)
         VALUES (?, 'github', ?, 1, ?, '', ?, ?)`
      )
      for (const id of [7, 8]) {
        const secret = oldRing.encrypt(
          Buffer.from(`secret ${id}`),
          `login-provider:${id}:client-secret`
        )
        insert.run(
          id,
          `GitHub ${id}`,
          JSON.stringify({ clientId: 'c', clientSecret: secret, scopes: [] }),
          now,
          now
        )
      }
      // a plugin's install-scope secret setting, encrypted the way the settings store does
      sqlite
        .prepare(
          'INSERT INTO plugin_states (plugin_id, enabled, settings, settings_version, updated_at) VALUES (?, 0, ?, 2, ?)'
        )
        .run(
          'rotation-fixture',
          JSON.stringify({
            greeting: 'Hello',
            webhookToken: {
              $enc: oldRing.encrypt(
                Buffer.from('plugin secret'),
                'plugin-setting:rotation-fixture:install:0:webhookToken'
              ),
            },
          }),
          now
        )
    } finally {
      sqlite.close()
    }

    const newKey = randomBytes(32).toString('base64')
    const rotated = await runAce(['key:rotate'], {
      env: env({ PKI_MASTER_KEY: newKey, PKI_PREVIOUS_MASTER_KEYS: oldKey }),
    })
    assert.equal(rotated.code, 0, describeAce(rotated))

    const newRing = new MasterKeyRing(parseMasterKey(newKey, 'new'))
    const check = new Database(join(dataDir, 'pki.sqlite3'), { readonly: true })
    try {
      const rows = check
        .prepare('SELECT id, config FROM login_providers ORDER BY id')
        .all() as any[]
      assert.lengthOf(rows, 2)
      for (const row of rows) {
        const blob = JSON.parse(row.config).clientSecret
        assert.isTrue(blob.startsWith(`v1.${newRing.currentKeyId}.`), blob.slice(0, 24))
        assert.equal(
          newRing.decrypt(blob, `login-provider:${row.id}:client-secret`).toString(),
          `secret ${row.id}`
        )
        assert.throws(() => oldRing.decrypt(blob, `login-provider:${row.id}:client-secret`))
      }
      const audit = check
        .prepare("SELECT details FROM audit_logs WHERE action = 'master-key.rotate'")
        .get() as any
      assert.include(audit.details, '"loginProviderSecrets":2')
      assert.include(audit.details, '"pluginSecrets":1')
      const plugin = check
        .prepare("SELECT settings FROM plugin_states WHERE plugin_id = 'rotation-fixture'")
        .get() as any
      const settings = JSON.parse(plugin.settings)
      assert.equal(settings.greeting, 'Hello')
      assert.isTrue(settings.webhookToken.$enc.startsWith(`v1.${newRing.currentKeyId}.`))
      assert.equal(
        newRing
          .decrypt(
            settings.webhookToken.$enc,
            'plugin-setting:rotation-fixture:install:0:webhookToken'
          )
          .toString(),
        'plugin secret'
      )
    } finally {
      check.close()
    }
  }).timeout(120000)
})

test.group('External login: OpenID Connect ID token checks', (group) => {
  let server: Server
  let jwksUri: string
  const good = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  group.setup(async () => {
    const jwk = { ...good.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'ES256' }
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    const port = await freePort()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    jwksUri = `http://127.0.0.1:${port}/jwks`
    return () => new Promise<void>((resolve) => server.close(() => resolve()))
  })

  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  function token(claims: Record<string, unknown>, key = good.privateKey, header: any = {}) {
    const signing = `${b64({ alg: 'ES256', kid: 'k1', ...header })}.${b64(claims)}`
    const signature = sign('sha256', Buffer.from(signing), { key, dsaEncoding: 'ieee-p1363' })
    return `${signing}.${signature.toString('base64url')}`
  }
  const now = () => Math.floor(Date.now() / 1000)
  const valid = () => ({
    iss: 'https://idp.example',
    aud: 'client-1',
    sub: 'user-1',
    nonce: 'n-1',
    iat: now(),
    exp: now() + 300,
  })
  const expected = () => ({
    metadata: {
      issuer: 'https://idp.example',
      authorization_endpoint: 'https://idp.example/auth',
      token_endpoint: 'https://idp.example/token',
      jwks_uri: jwksUri,
    },
    clientId: 'client-1',
    nonce: 'n-1',
  })

  test('a valid token is accepted; signature, issuer, audience, expiry and nonce are enforced', async ({
    assert,
  }) => {
    const claims = await verifyIdToken(token(valid()), expected())
    assert.equal(claims.sub, 'user-1')

    await assert.rejects(
      () => verifyIdToken(token(valid(), other.privateKey), expected()),
      /signature is not valid/
    )
    const [h, , s] = token(valid()).split('.')
    const tampered = `${h}.${b64({ ...valid(), sub: 'admin' })}.${s}`
    await assert.rejects(() => verifyIdToken(tampered, expected()), /signature is not valid/)
    await assert.rejects(
      () => verifyIdToken(token({ ...valid(), iss: 'https://evil.example' }), expected()),
      /issued by "https:\/\/evil.example"/
    )
    await assert.rejects(
      () => verifyIdToken(token({ ...valid(), aud: 'client-2' }), expected()),
      /another client/
    )
    await assert.rejects(
      () => verifyIdToken(token({ ...valid(), exp: now() - 3600 }), expected()),
      /expired/
    )
    await assert.rejects(
      () => verifyIdToken(token({ ...valid(), nonce: 'replayed' }), expected()),
      /nonce/
    )
    await assert.rejects(
      () => verifyIdToken(token(valid()), { ...expected(), nonce: null as any }),
      /nonce/
    )
    const unsigned = `${b64({ alg: 'none' })}.${b64(valid())}.`
    await assert.rejects(() => verifyIdToken(unsigned, expected()), /does not accept/)
    await assert.rejects(
      () => verifyIdToken(token(valid(), good.privateKey, { kid: 'unknown' }), expected()),
      /no key "unknown"/
    )
  })
})
