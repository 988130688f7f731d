/*
 * Admin UI login hardening, over real HTTP:
 *
 * - an external login's callback needs the state our redirect set (cookie) and the same `state`
 *   parameter: a bare `?code=` (someone else's authorization code) logs nobody in;
 * - concurrent wrong passwords for one email are counted before the password is checked, so the
 *   limit holds however many arrive at once;
 * - logging out ends the session: an old copy of the session cookie (the cookie store of
 *   production, on a server process of its own) no longer opens admin pages;
 * - a user without a password (invited, SSO only) gets the same answer as an unknown email.
 */
import { test } from '@japa/runner'
import hash from '@adonisjs/core/services/hash'
import User from '#models/user'
import { LOGIN_LIMITS } from '#services/login_service'
import pkiConfig from '#config/pki'
import { accountService } from '#services/token_service'
import { systemActor } from '#services/actor'
import { webUser } from '#tests/helpers/web'
import { Browser, startGithub, type Page } from '#tests/helpers/oauth_servers'
import { freePort, startServer, type ServerProcess } from '#tests/helpers/processes'

const app = pkiConfig.publicUrl

/** Who the app says is logged in (the Profile page), or null. */
async function loggedInAs(browser: Browser, base = app) {
  const page = await browser.go(`${base}/admin/profile`)
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

test.group('Login security: external login state', (group) => {
  let github: Awaited<ReturnType<typeof startGithub>>
  group.setup(async () => {
    github = await startGithub({ clientId: 'Iv1.sec-client', clientSecret: 'sec secret' })
    return () => github.close()
  })

  test('a callback with a code but no state (no login started here) logs nobody in', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const created = await client
      .post('/admin/login-providers')
      .loginAs(admin)
      .form({
        enabled: 'on',
        kind: 'github',
        name: 'GitHub (state test)',
        clientId: 'Iv1.sec-client',
        clientSecret: 'sec secret',
        ...github.endpoints,
      })
      .withCsrfToken()
      .redirects(0)
    created.assertStatus(302)
    const id = Number(
      /\/admin\/login-providers\/(\d+)\/edit/.exec(created.header('location') ?? '')?.[1]
    )
    const attacker = await accountService.createUser(systemActor, {
      email: 'attacker-state@corp.test',
    })
    github.signIn({
      id: 777001,
      login: 'attacker',
      name: null,
      publicEmail: 'attacker-state@corp.test',
      emails: [{ email: 'attacker-state@corp.test', primary: true, verified: true }],
    })

    // the attacker gets a fresh code for their own account, and stops before our callback
    const stopped = await new Browser().go(`${app}/auth/${id}/redirect`, {
      until: (url) => url.includes('/callback?'),
    })
    const link = new URL(stopped.url)
    assert.isTrue(link.searchParams.has('code'))
    link.searchParams.delete('state')

    // the victim's browser never started a login: no state cookie, no state parameter
    const victim = new Browser()
    const result = await victim.go(link.toString())
    assert.equal(result.url, `${app}/login`)
    assert.include(refusal(result), 'does not belong to a login started here')
    assert.isNull(await loggedInAs(victim))
    // the code was not even redeemed
    assert.isUndefined(
      github.requests.find(
        (r) =>
          r.path === '/login/oauth/access_token' && r.body?.includes(link.searchParams.get('code')!)
      )
    )
    assert.exists(attacker)
  })
})

test.group('Login security: attempt limit under concurrency', () => {
  test('concurrent wrong passwords for one email: at most the limit is verified, then blocked', async ({
    client,
    assert,
  }) => {
    const password = 'a long enough password'
    const user = await webUser({ password })
    // count the argon2 operations (the test server runs in this process), each a little slower,
    // as on a busy server: every attempt arrives while the others are being checked
    let answers: any[] = []
    const verified = await countingArgon(150, async () => {
      answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          client
            .post('/login')
            .header('X-Forwarded-For', '10.77.0.1')
            .form({ email: user.email, password: 'wrong password !!' })
            .withCsrfToken()
            .redirects(0)
        )
      )
    })
    const statuses = answers.map((a) => a.status())
    assert.isAtMost(verified, LOGIN_LIMITS.perEmail, `verified ${verified}: ${statuses}`)
    assert.isAtMost(
      statuses.filter((s) => s !== 429).length,
      LOGIN_LIMITS.perEmail,
      `statuses ${statuses}`
    )
    assert.isTrue(
      statuses.every((s) => s === 302 || s === 429),
      `statuses ${statuses}`
    )

    const right = await client
      .post('/login')
      .header('X-Forwarded-For', '10.77.0.2')
      .form({ email: user.email, password })
      .withCsrfToken()
      .redirects(0)
    right.assertStatus(429)
    assert.include(right.text(), 'Too many failed logins')
  })
})

/** Runs `fn` and returns how many argon2 hashes and verifications it made (each delayed). */
async function countingArgon(delayMs: number, fn: () => Promise<void>) {
  const argon = hash.use('argon')
  const make = argon.make
  const verify = argon.verify
  let count = 0
  const slow = async () => {
    count++
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs))
  }
  argon.make = async function (this: typeof argon, ...args: Parameters<typeof make>) {
    await slow()
    return make.apply(this, args)
  }
  argon.verify = async function (this: typeof argon, ...args: Parameters<typeof verify>) {
    await slow()
    return verify.apply(this, args)
  }
  try {
    await fn()
  } finally {
    argon.make = make
    argon.verify = verify
  }
  return count
}

const csrfOf = (html: string) => /name=['"]_csrf['"] value=['"]([^'"]+)['"]/.exec(html)?.[1] ?? ''

test.group('Login security: logging out ends the session (cookie store)', (group) => {
  // a server process of its own keeps sessions in encrypted cookies, as in production
  let server: ServerProcess
  group.setup(async () => {
    server = await startServer({ port: await freePort() })
    return () => server.stop().then(() => undefined)
  })

  async function logIn(browser: Browser, email: string, password: string) {
    const login = await browser.go(`${server.url}/login`)
    const after = await browser.go(`${server.url}/login`, {
      form: { _csrf: csrfOf(login.text), email, password },
    })
    return after
  }

  test('an old copy of the session cookie no longer opens admin pages after POST /logout', async ({
    assert,
  }) => {
    const password = 'a long enough password'
    const user = await webUser({ password })
    const browser = new Browser()
    const landed = await logIn(browser, user.email, password)
    assert.isTrue(landed.url.startsWith(`${server.url}/admin`), landed.url)
    const profile = await browser.go(`${server.url}/admin/profile`)
    assert.equal(await loggedInAs(browser, server.url), user.email)
    // the attacker's copy of the cookies, taken while logged in
    const copy = new Map(browser.cookies(server.url))
    assert.isTrue([...copy.keys()].includes('pki-session'))

    const out = await browser.go(`${server.url}/logout`, {
      form: { _csrf: csrfOf(profile.text) },
    })
    assert.equal(out.url, `${server.url}/login`)
    assert.isNull(await loggedInAs(browser, server.url))

    const replay = new Browser()
    for (const [name, value] of copy) replay.cookies(server.url).set(name, value)
    const page = await replay.request(`${server.url}/admin/profile`)
    assert.equal(page.status, 302)
    assert.equal(page.headers.get('location'), '/login')
    assert.isNull(await loggedInAs(replay, server.url))
  })

  test('a password change ends the other sessions and keeps the one that changed it', async ({
    assert,
  }) => {
    const password = 'a long enough password'
    const user = await webUser({ password })
    const here = new Browser()
    const elsewhere = new Browser()
    await logIn(here, user.email, password)
    await logIn(elsewhere, user.email, password)
    assert.equal(await loggedInAs(elsewhere, server.url), user.email)
    const profile = await here.go(`${server.url}/admin/profile`)
    const copy = new Map(here.cookies(server.url))

    const changed = await here.go(`${server.url}/admin/profile/password`, {
      form: {
        _csrf: csrfOf(profile.text),
        current: password,
        password: 'another long password',
        confirm: 'another long password',
      },
    })
    assert.equal(changed.url, `${server.url}/admin/profile`)
    assert.equal(await loggedInAs(here, server.url), user.email)
    assert.isNull(await loggedInAs(elsewhere, server.url))
    const replay = new Browser()
    for (const [name, value] of copy) replay.cookies(server.url).set(name, value)
    assert.isNull(await loggedInAs(replay, server.url))
  })
})

test.group('Login security: no account enumeration', () => {
  /** One login from a fresh browser: where it ends, the message, and the argon2 work done. */
  async function tryLogin(email: string, password: string) {
    const browser = new Browser()
    const login = await browser.go(`${app}/login`)
    let page: Page | undefined
    const work = await countingArgon(0, async () => {
      page = await browser.go(`${app}/login`, {
        form: { _csrf: csrfOf(login.text), email, password },
      })
    })
    return { url: page!.url, status: page!.status, message: refusal(page!), work }
  }

  test('a user without a password, a disabled user and an unknown email get the same answer at the same cost', async ({
    assert,
  }) => {
    const invited = await webUser()
    const password = 'a long enough password'
    const disabled = await webUser({ password })
    await User.query().where('id', disabled.id).update({ disabled: true })

    const unknown = await tryLogin(`nobody-${invited.id}@test.example`, password)
    assert.equal(unknown.url, `${app}/login`)
    assert.equal(unknown.message, 'The email or password is wrong.')
    assert.equal(unknown.work, 1)

    assert.deepEqual(await tryLogin(invited.email, password), unknown)
    assert.deepEqual(await tryLogin(disabled.email, 'not the password at all'), unknown)
    // even with the right password, a disabled account is not told apart
    assert.deepEqual(await tryLogin(disabled.email, password), unknown)
  })
})
