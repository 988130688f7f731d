import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { bootstrapService } from '#services/token_service'
import { webUser } from '#tests/helpers/web'
import { withoutAdministrators } from '#tests/helpers/api'

test.group('Admin UI login', () => {
  test('pages need a login; a logged-in user reaches them', async ({ client, assert }) => {
    const anonymous = await client.get('/admin').redirects(0)
    anonymous.assertStatus(302)
    assert.equal(anonymous.header('location'), '/login')

    const hx = await client.get('/admin').header('HX-Request', 'true').redirects(0)
    hx.assertStatus(401)
    assert.equal(hx.header('hx-redirect'), '/login')
    // After logging in again: the page asked for, or for an htmx fragment (which alone is a
    // bare page) the page it was asked from.
    assert.equal(
      (await client.get('/admin/certificates?status=valid').redirects(0)).session().afterLogin,
      '/admin/certificates?status=valid'
    )
    const fragment = await client
      .get('/admin/cas/1/service-urls')
      .header('HX-Request', 'true')
      .header('HX-Current-URL', 'http://127.0.0.1/admin/certificates?ca=7')
      .redirects(0)
    fragment.assertStatus(401)
    assert.equal(fragment.session().afterLogin, '/admin/certificates?ca=7')

    const user = await webUser()
    // a user with no CA is sent to CA creation (manual §1.2)
    const noCa = await client.get('/admin').loginAs(user).redirects(0)
    noCa.assertStatus(302)
    assert.equal(noCa.header('location'), '/admin/cas/new')
  })

  test('local login with an argon2id password; wrong passwords are refused', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: 'a long enough password' })
    const row = await db.from('users').where('id', user.id).first()
    assert.match(row.password, /^\$argon2id\$/)

    const wrong = await client
      .post('/login')
      .form({ email: user.email, password: 'not the password' })
      .withCsrfToken()
      .redirects(0)
    wrong.assertStatus(302)
    assert.equal(wrong.header('location'), '/login')

    const ok = await client
      .post('/login')
      .form({ email: user.email.toUpperCase(), password: 'a long enough password' })
      .withCsrfToken()
      .redirects(0)
    ok.assertStatus(302)
    assert.equal(ok.header('location'), '/admin')
  })

  test('a forged CSRF token is refused with a page that says what to do', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: 'a long enough password' })
    const forged = await client
      .post('/login')
      .form({ email: user.email, password: 'a long enough password', _csrf: 'forged' })
    forged.assertStatus(403)
    assert.include(forged.text(), 'Reload the page')
  })

  test('the setup page redeems the bootstrap token once and logs the administrator in', async ({
    client,
    assert,
  }) =>
    withoutAdministrators(async () => {
      const token = await bootstrapService.issueToken()
      const short = await client
        .post('/setup')
        .form({ token, email: 'setup@example.com', password: 'short' })
        .withCsrfToken()
      short.assertStatus(422)
      assert.include(short.text(), 'at least 12 characters')
      assert.isNull(await db.from('users').where('email', 'setup@example.com').first())

      const ok = await client
        .post('/setup')
        .form({ token, email: 'setup@example.com', password: 'a long enough password' })
        .withCsrfToken()
        .redirects(0)
      ok.assertStatus(302)
      const created = await db.from('users').where('email', 'setup@example.com').first()
      assert.isTrue(Boolean(created.is_admin))

      const again = await client
        .post('/setup')
        .form({ token, email: 'setup2@example.com', password: 'a long enough password' })
        .withCsrfToken()
        .redirects(0)
      assert.oneOf(again.status(), [302, 401])
      assert.isNull(await db.from('users').where('email', 'setup2@example.com').first())
    }))
})
