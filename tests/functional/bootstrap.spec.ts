import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { bootstrapService } from '#services/token_service'

test.group('Bootstrap token', () => {
  test('a one-time token creates the first administrator, once', async ({ client, assert }) => {
    const token = await bootstrapService.issueToken()
    const wrong = await client
      .post('/api/v1/bootstrap')
      .json({ token: 'nope', email: 'first@example.com' })
    wrong.assertStatus(401)
    const bad = await client.post('/api/v1/bootstrap').json({ token, email: 'not an email' })
    bad.assertStatus(422)
    // a failed attempt leaves the token usable and creates nobody
    assert.isNull(await db.from('users').where('email', 'first@example.com').first())

    const ok = await client.post('/api/v1/bootstrap').json({ token, email: 'First@Example.com' })
    ok.assertStatus(201)
    assert.equal(ok.body().user.email, 'first@example.com')
    assert.match(ok.body().apiToken, /^pki_/)

    const me = await client.get('/api/v1/me').bearerToken(ok.body().apiToken)
    me.assertStatus(200)
    assert.isTrue(me.body().isAdmin)

    const again = await client
      .post('/api/v1/bootstrap')
      .json({ token, email: 'second@example.com' })
    again.assertStatus(401)
    assert.isNull(await db.from('users').where('email', 'second@example.com').first())
  })

  test('no token is offered once an administrator exists', async ({ assert }) => {
    await db.from('users').where('is_admin', true).first() // created by the test above or others
    assert.isUndefined(await bootstrapService.ensureToken())
  })
})
