import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { pluginHost } from '#plugins/host'

test.group('Health and bootstrap', () => {
  test('GET /health answers 200 with the database state and version', async ({
    client,
    assert,
  }) => {
    const response = await client.get('/health')
    response.assertStatus(200)
    assert.equal(response.body().status, 'ok')
    assert.equal(response.body().database, 'ok')
    assert.match(response.body().version, /^\d+\.\d+\.\d+/)
    assert.equal(response.body().plugins, 'ok')
  })

  test('GET /health answers 503 within seconds when the database does not answer', async ({
    client,
    assert,
  }) => {
    // A database that never answers (PostgreSQL out of reach: the pool waits a minute).
    const original = db.rawQuery
    ;(db as any).rawQuery = (sql: string, ...rest: unknown[]) =>
      sql === 'select 1' ? new Promise(() => {}) : (original as any).call(db, sql, ...rest)
    try {
      const started = Date.now()
      const response = await client.get('/health')
      response.assertStatus(503)
      assert.equal(response.body().database, 'unreachable')
      assert.isBelow(Date.now() - started, 10_000)
    } finally {
      ;(db as any).rawQuery = original
    }
  }).timeout(20_000)

  test('GET /health answers 503 "starting" until the plugins of this node have started', async ({
    client,
    assert,
  }) => {
    // What a node looks like between listening and its plugins' start(): stop them here.
    await pluginHost.stopServices()
    try {
      const starting = await client.get('/health')
      starting.assertStatus(503)
      assert.equal(starting.body().status, 'starting')
      assert.equal(starting.body().plugins, 'starting')
      assert.equal(starting.body().database, 'ok')
    } finally {
      await pluginHost.startServices({ jobs: false })
    }
    const ready = await client.get('/health')
    ready.assertStatus(200)
    assert.equal(ready.body().status, 'ok')
  })

  test('the REST API refuses requests without a valid token', async ({ client, assert }) => {
    const none = await client.get('/api/v1/cas')
    none.assertStatus(401)
    assert.equal(none.body().error.code, 'E_UNAUTHORIZED')
    const wrong = await client.get('/api/v1/cas').bearerToken('pki_not-a-real-token')
    wrong.assertStatus(401)
  })

  test('the OpenAPI description lists the API', async ({ client, assert }) => {
    const response = await client.get('/api/v1/openapi.json')
    response.assertStatus(200)
    assert.equal(response.body().openapi, '3.1.0')
    assert.properties(response.body().paths, [
      '/cas',
      '/templates/{id}/issue',
      '/certificates/{id}/revoke',
    ])
  })

  test('unknown routes answer a JSON 404', async ({ client, assert }) => {
    const response = await client.get('/api/v1/nothing-here')
    response.assertStatus(404)
    assert.equal(response.body().error.code, 'E_NOT_FOUND')
  })
})
