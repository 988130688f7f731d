import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { bootstrapService, tokenService } from '#services/token_service'
import { systemActor } from '#services/actor'
import { withoutAdministrators } from '#tests/helpers/api'

test.group('Bootstrap token', () => {
  test('a one-time token creates the first administrator, once', async ({ client, assert }) =>
    withoutAdministrators(async () => {
      await firstAdministrator(client, assert)
    }))

  test('an administrator made another way retires the token (it may sit in a log)', async ({
    client,
    assert,
  }) => {
    const token = await bootstrapService.issueToken()
    await tokenService.createUser(systemActor, {
      email: `ace-admin-${Date.now()}@example.com`,
      isAdmin: true,
    })
    const late = await client
      .post('/api/v1/bootstrap')
      .json({ token, email: 'intruder@example.com' })
    late.assertStatus(401)
    assert.include(late.body().error.message, 'administrator exists already')
    assert.isNull(await db.from('users').where('email', 'intruder@example.com').first())
    assert.isNull(await db.from('kernel_meta').where('key', 'bootstrap_token').first())
  })

  test('no token is offered once an administrator exists', async ({ assert }) => {
    await db.from('users').where('is_admin', true).first() // created by the test above or others
    assert.isUndefined(await bootstrapService.ensureToken())
  })
})

async function firstAdministrator(client: any, assert: any) {
  {
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
  }
}
