/*
 * Login rate limiting, kept in the database (login_attempts) so every node shares it: five
 * failures for one email, or twenty from one IP, within 15 minutes block that key for 15
 * minutes (429 with the time to retry); a success clears the email's counter.
 * Each test uses its own client IP (X-Forwarded-For from loopback is trusted) so the counters
 * of one test do not leak into another.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { webUser } from '#tests/helpers/web'
import { LOGIN_LIMITS, loginRateLimit } from '#services/login_service'
import { safeTarget } from '#controllers/auth_controller'

const PASSWORD = 'a long enough password'

async function attempt(client: any, email: string, password: string, ip: string) {
  return client
    .post('/login')
    .header('X-Forwarded-For', ip)
    .form({ email, password })
    .withCsrfToken()
    .redirects(0)
}

test.group('Login rate limit', () => {
  test('five failures for one email block it for 15 minutes, even with the right password', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: PASSWORD })
    for (let i = 1; i < LOGIN_LIMITS.perEmail; i++) {
      const wrong = await attempt(client, user.email, 'wrong password !!', '10.10.0.1')
      wrong.assertStatus(302)
      assert.equal(wrong.header('location'), '/login')
    }
    const fifth = await attempt(client, user.email, 'wrong password !!', '10.10.0.1')
    fifth.assertStatus(429)
    assert.include(fifth.text(), 'Too many failed logins. Try again in 15 minutes')
    assert.match(fifth.text(), /after \d\d:\d\d UTC/)

    // the right password from another address: still blocked, with Retry-After
    const right = await attempt(client, user.email.toUpperCase(), PASSWORD, '10.10.0.2')
    right.assertStatus(429)
    const retryAfter = Number(right.header('retry-after'))
    assert.isAbove(retryAfter, 14 * 60)
    assert.isAtMost(retryAfter, 15 * 60)
    assert.include(right.text(), 'Try again in 15 minutes')

    const row = await db.from('login_attempts').where('key', `email:${user.email}`).first()
    assert.equal(Number(row.failures), 5)
    assert.approximately(Number(row.blocked_until), Date.now() + 15 * 60_000, 10_000)
    const audited = await db
      .from('audit_logs')
      .where({ action: 'login.blocked', object_id: `email:${user.email}` })
      .first()
    assert.exists(audited)

    // once the block is over (moved into the past, as 15 minutes would), the password works
    // and the success clears the email's counter
    await db
      .from('login_attempts')
      .where('key', `email:${user.email}`)
      .update({ blocked_until: Date.now() - 1, window_start: Date.now() - 16 * 60_000 })
    const later = await attempt(client, user.email, PASSWORD, '10.10.0.2')
    later.assertStatus(302)
    assert.equal(later.header('location'), '/admin')
    assert.isNull(await db.from('login_attempts').where('key', `email:${user.email}`).first())
  })

  test('a success clears the email counter: failures do not add up across successes', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: PASSWORD })
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < LOGIN_LIMITS.perEmail - 1; i++) {
        const wrong = await attempt(client, user.email, 'not it at all', '10.20.0.1')
        wrong.assertStatus(302)
      }
      const ok = await attempt(client, user.email, PASSWORD, '10.20.0.1')
      ok.assertStatus(302)
      assert.equal(ok.header('location'), '/admin')
    }
    const lastLogin = await db.from('users').where('id', user.id).first()
    assert.isAbove(Number(lastLogin.last_login_at), Date.now() - 60_000)
  })

  test('twenty failures from one IP block that IP for every email; other IPs are not affected', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: PASSWORD })
    const ip = '10.30.0.1'
    for (let i = 1; i < LOGIN_LIMITS.perIp; i++) {
      const wrong = await attempt(client, `nobody-${i}@example.test`, 'whatever password', ip)
      wrong.assertStatus(302)
    }
    const last = await attempt(client, 'nobody-last@example.test', 'whatever password', ip)
    last.assertStatus(429)

    const fromThatIp = await attempt(client, user.email, PASSWORD, ip)
    fromThatIp.assertStatus(429)
    assert.include(fromThatIp.text(), 'Too many failed logins')

    const elsewhere = await attempt(client, user.email, PASSWORD, '10.30.0.2')
    elsewhere.assertStatus(302)
    assert.equal(elsewhere.header('location'), '/admin')
  })

  test('a block written by another node (a row in the shared table) is honoured', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: PASSWORD })
    await db.table('login_attempts').insert({
      key: `email:${user.email}`,
      failures: 5,
      window_start: Date.now() - 60_000,
      blocked_until: Date.now() + 5 * 60_000,
    })
    const blocked = await attempt(client, user.email, PASSWORD, '10.40.0.1')
    blocked.assertStatus(429)
    assert.include(blocked.text(), 'Try again in 5 minutes')
  })
})

test.group('Login rate limit: housekeeping', () => {
  test('prune drops finished windows and keeps counting windows and blocks', async ({ assert }) => {
    const now = Date.now()
    const old = now - 20 * 60_000
    await db.table('login_attempts').multiInsert([
      { key: 'email:prune-old@example.test', failures: 2, window_start: old, blocked_until: null },
      {
        key: 'email:prune-expired-block@example.test',
        failures: 5,
        window_start: old,
        blocked_until: now - 1000,
      },
      {
        key: 'email:prune-blocked@example.test',
        failures: 5,
        window_start: old,
        blocked_until: now + 60_000,
      },
      {
        key: 'email:prune-fresh@example.test',
        failures: 1,
        window_start: now,
        blocked_until: null,
      },
    ])
    await loginRateLimit.prune()
    const keys = (
      await db.from('login_attempts').whereLike('key', 'email:prune-%').orderBy('key')
    ).map((r: any) => r.key)
    assert.deepEqual(keys, ['email:prune-blocked@example.test', 'email:prune-fresh@example.test'])
  })

  test('after the login, the page goes back where the user was going, never to another host', async ({
    assert,
  }) => {
    assert.equal(safeTarget('/admin/certificates?ca=2'), '/admin/certificates?ca=2')
    assert.equal(safeTarget('//evil.example/x'), '/admin')
    assert.equal(safeTarget('/\\evil.example'), '/admin')
    assert.equal(safeTarget('https://evil.example'), '/admin')
    const user = await webUser({ password: PASSWORD })
    // a real round trip: the page asked for before logging in is where the login lands
    const { Browser } = await import('#tests/helpers/oauth_servers')
    const pkiConfig = (await import('#config/pki')).default
    const browser = new Browser()
    const login = await browser.go(`${pkiConfig.publicUrl}/admin/profile`)
    assert.equal(login.url, `${pkiConfig.publicUrl}/login`)
    const csrf = /name=['"]_csrf['"] value=['"]([^'"]+)['"]/.exec(login.text)?.[1]
    const after = await browser.go(`${pkiConfig.publicUrl}/login`, {
      form: { _csrf: csrf!, email: user.email, password: PASSWORD },
    })
    assert.equal(after.url, `${pkiConfig.publicUrl}/admin/profile`)
  })
})
