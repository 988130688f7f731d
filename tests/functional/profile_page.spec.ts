/*
 * Profile page (every user): change the own password (the current one is required), API
 * tokens (list, create shown once in a modal fragment, revoke). Another user's token id is a
 * 404 and changes nothing.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import hash from '@adonisjs/core/services/hash'
import { webUser } from '#tests/helpers/web'
import { tokenService } from '#services/token_service'
import { systemActor } from '#services/actor'

const PASSWORD = 'a long enough password'
const NEW_PASSWORD = 'another long password'

test.group('Profile page', () => {
  test('shows the account and its tokens to every user', async ({ client, assert }) => {
    const user = await webUser({ password: PASSWORD })
    await tokenService.createToken(systemActor, user, 'backup script', 30)
    const page = await client.get('/admin/profile').loginAs(user)
    page.assertStatus(200)
    assert.include(page.text(), user.email)
    assert.include(page.text(), 'backup script')
    assert.include(page.text(), 'Change password')
    assert.notInclude(page.text(), 'pki_')
  })

  test('change password: current password required, strength checked, confirmation matched', async ({
    client,
    assert,
  }) => {
    const user = await webUser({ password: PASSWORD })
    const wrong = await client
      .post('/admin/profile/password')
      .loginAs(user)
      .form({ current: 'not my password', password: NEW_PASSWORD, confirm: NEW_PASSWORD })
      .withCsrfToken()
    wrong.assertStatus(422)
    assert.include(wrong.text(), 'The current password is wrong.')
    // The CA switcher of a page shown for a POST goes to its section (this path has no GET).
    assert.include(wrong.text(), 'action="/admin/profile" class="ca-switcher"')

    const short = await client
      .post('/admin/profile/password')
      .loginAs(user)
      .form({ current: PASSWORD, password: 'short', confirm: 'short' })
      .withCsrfToken()
    short.assertStatus(422)
    assert.include(short.text(), 'at least 12 characters')

    const mismatch = await client
      .post('/admin/profile/password')
      .loginAs(user)
      .form({ current: PASSWORD, password: NEW_PASSWORD, confirm: NEW_PASSWORD + 'x' })
      .withCsrfToken()
    mismatch.assertStatus(422)
    assert.include(mismatch.text(), 'The two new passwords differ.')
    let row = await db.from('users').where('id', user.id).first()
    assert.isTrue(await hash.use('argon').verify(row.password, PASSWORD))

    const ok = await client
      .post('/admin/profile/password')
      .loginAs(user)
      .form({ current: PASSWORD, password: NEW_PASSWORD, confirm: NEW_PASSWORD })
      .withCsrfToken()
      .redirects(0)
    ok.assertStatus(302)
    row = await db.from('users').where('id', user.id).first()
    assert.isTrue(await hash.use('argon').verify(row.password, NEW_PASSWORD))
    assert.match(row.password, /^\$argon2id\$/)
    assert.exists(
      await db
        .from('audit_logs')
        .where({ action: 'user.change-password', object_id: String(user.id) })
        .first()
    )

    const forged = await client
      .post('/admin/profile/password')
      .loginAs(user)
      .form({ current: NEW_PASSWORD, password: PASSWORD, confirm: PASSWORD, _csrf: 'forged' })
    forged.assertStatus(403)
  })

  test('a user without a local password is told so and cannot set one here', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const page = await client.get('/admin/profile').loginAs(user)
    assert.include(page.text(), 'no local password')
    const attempt = await client
      .post('/admin/profile/password')
      .loginAs(user)
      .form({ current: '', password: NEW_PASSWORD, confirm: NEW_PASSWORD })
      .withCsrfToken()
    attempt.assertStatus(422)
    assert.isNull((await db.from('users').where('id', user.id).first()).password)
  })

  test('create a token in the modal: shown once, copyable, works against the API; list updated out of band', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const form = await client
      .get('/admin/profile/tokens/new')
      .loginAs(user)
      .header('HX-Request', 'true')
    form.assertStatus(200)
    assert.include(form.text(), 'New API token')
    assert.notInclude(form.text(), '<html')

    const invalid = await client
      .post('/admin/profile/tokens')
      .loginAs(user)
      .header('HX-Request', 'true')
      .form({ name: '', expires: '90' })
      .withCsrfToken()
    invalid.assertStatus(422)
    assert.include(invalid.text(), 'Name the token')
    assert.notInclude(invalid.text(), '<html')

    const created = await client
      .post('/admin/profile/tokens')
      .loginAs(user)
      .header('HX-Request', 'true')
      .form({ name: 'ci pipeline', expires: '30' })
      .withCsrfToken()
    created.assertStatus(200)
    const html = created.text()
    const token = /value="(pki_[A-Za-z0-9_-]+)"/.exec(html)?.[1]
    assert.exists(token)
    assert.include(html, 'shown only once')
    assert.include(html, 'navigator.clipboard.writeText')
    assert.include(html, 'id="token-list" hx-swap-oob="outerHTML"')
    assert.include(html, 'ci pipeline')

    const row = await db.from('api_tokens').where({ user_id: user.id, name: 'ci pipeline' }).first()
    assert.notEqual(row.token_hash, token)
    assert.approximately(Number(row.expires_at), Date.now() + 30 * 86400_000, 60_000)
    ;(await client.get('/api/v1/cas').bearerToken(token!)).assertStatus(200)

    // never shown again
    const page = await client.get('/admin/profile').loginAs(user)
    assert.notInclude(page.text(), token!)
    assert.include(page.text(), 'ci pipeline')

    // without htmx: a page with the form, and the profile page shows the new token once
    const formPage = await client.get('/admin/profile/tokens/new').loginAs(user)
    assert.include(formPage.text(), '<html')
    assert.notInclude(formPage.text(), 'hx-post="/admin/profile/tokens"')
    const plain = await client
      .post('/admin/profile/tokens')
      .loginAs(user)
      .form({ name: 'no js', expires: 'never' })
      .withCsrfToken()
    plain.assertStatus(200)
    assert.match(plain.text(), /value="pki_[A-Za-z0-9_-]+"/)
    const noJs = await db.from('api_tokens').where({ user_id: user.id, name: 'no js' }).first()
    assert.isNull(noJs.expires_at)
  })

  test("revoke: own token gone (fragment for htmx); another user's token id is a 404", async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const other = await webUser()
    const token = await tokenService.createToken(systemActor, user, 'to revoke')
    const othersToken = await tokenService.createToken(systemActor, other, 'not yours')
    const mine = await db.from('api_tokens').where({ user_id: user.id, name: 'to revoke' }).first()
    const theirs = await db.from('api_tokens').where({ user_id: other.id }).first()

    const refused = await client
      .post(`/admin/profile/tokens/${theirs.id}/revoke`)
      .loginAs(user)
      .withCsrfToken()
    refused.assertStatus(404)
    assert.exists(await db.from('api_tokens').where('id', theirs.id).first())
    ;(await client.get('/api/v1/cas').bearerToken(othersToken)).assertStatus(200)

    const revoked = await client
      .post(`/admin/profile/tokens/${mine.id}/revoke`)
      .loginAs(user)
      .header('HX-Request', 'true')
      .withCsrfToken()
    revoked.assertStatus(200)
    assert.include(revoked.text(), 'id="token-list"')
    assert.notInclude(revoked.text(), 'to revoke')
    assert.isNull(await db.from('api_tokens').where('id', mine.id).first())
    ;(await client.get('/api/v1/cas').bearerToken(token)).assertStatus(401)
    assert.exists(
      await db
        .from('audit_logs')
        .where({ action: 'token.revoke', object_id: String(mine.id) })
        .first()
    )
  })
})
