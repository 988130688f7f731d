import { test } from '@japa/runner'
import { request as httpsRequest } from 'node:https'
import db from '@adonisjs/lucid/services/db'
import { adminToken, unique } from '#tests/helpers/api'
import { opensslSelfSigned, withTempDir } from '#tests/helpers/external'
import { freePort, spawnServer, startServer } from '#tests/helpers/processes'
import { caService } from '#services/ca_service'
import { systemActor } from '#services/actor'

function httpsGet(
  url: string,
  ca: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 2000, headers }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function auditIpOf(caName: string) {
  const ca = await db.from('cas').where('name', caName).first()
  const entry = await db.from('audit_logs').where({ action: 'ca.create', ca_id: ca.id }).first()
  return entry.ip
}

test.group('HTTP server: reverse proxies and HTTPS', () => {
  test('X-Forwarded-For is honoured from a trusted proxy (loopback by default)', async ({
    client,
    assert,
  }) => {
    const name = unique('Proxied')
    const response = await client
      .post('/api/v1/cas')
      .bearerToken(await adminToken())
      .header('X-Forwarded-For', '203.0.113.7')
      .header('X-Forwarded-Proto', 'https')
      .json({ name })
    response.assertStatus(201)
    assert.equal(await auditIpOf(name), '203.0.113.7')
  })

  test('with TRUST_PROXY=false the header is ignored', async ({ assert }) => {
    const server = await startServer({ port: await freePort(), env: { TRUST_PROXY: 'false' } })
    try {
      const name = unique('Not proxied')
      const response = await fetch(`${server.url}/api/v1/cas`, {
        method: 'POST',
        headers: {
          'authorization': `Bearer ${await adminToken()}`,
          'content-type': 'application/json',
          'x-forwarded-for': '203.0.113.8',
        },
        body: JSON.stringify({ name }),
      })
      assert.equal(response.status, 201)
      assert.equal(await auditIpOf(name), '127.0.0.1')
    } finally {
      await server.stop()
    }
  }).timeout(90000)

  test('the server speaks HTTPS itself with TLS_CERT_FILE and TLS_KEY_FILE', async ({ assert }) => {
    await withTempDir(async (dir) => {
      const tls = await opensslSelfSigned(dir, {
        subject: '/CN=127.0.0.1',
        days: 2,
        addext: ['subjectAltName=IP:127.0.0.1'],
      })
      const port = await freePort()
      const server = spawnServer({
        port,
        env: { TLS_CERT_FILE: tls.certPath, TLS_KEY_FILE: tls.keyPath },
      })
      try {
        const ca = tls.certPem
        let answer: { status: number; body: string } | undefined
        // Until it listens and its plugins have started (503 "starting" until then).
        for (let i = 0; i < 240 && answer?.status !== 200; i++) {
          if (server.hasExited()) throw new Error(`server exited: ${server.output()}`)
          answer = await httpsGet(`https://127.0.0.1:${port}/health`, ca).catch(() => undefined)
          if (answer?.status !== 200) await new Promise((r) => setTimeout(r, 250))
        }
        assert.equal(answer?.status, 200, server.output())
        assert.equal(JSON.parse(answer!.body).status, 'ok')
        // Without APP_URL, the URLs it embeds in certificates are https:// too (were http://).
        const ca1 = await caService.create(systemActor, { name: unique('HTTPS URLs CA') })
        const urls = await httpsGet(
          `https://127.0.0.1:${port}/api/v1/cas/${ca1.id}/service-urls`,
          ca,
          {
            authorization: `Bearer ${await adminToken()}`,
          }
        )
        assert.equal(urls.status, 200, urls.body)
        assert.include(urls.body, `https://127.0.0.1:${port}/pki/ca/${ca1.id}`)
        assert.notInclude(urls.body, `http://127.0.0.1:${port}/`)
        // plain HTTP on the same port is not answered as HTTP
        const plain = await fetch(`http://127.0.0.1:${port}/health`)
          .then((r) => r.status)
          .catch(() => 0)
        assert.notEqual(plain, 200)
      } finally {
        await server.stop()
      }
    })
  }).timeout(90000)

  test('SIGINT (Ctrl+C) stops the server as gracefully as SIGTERM', async ({ assert }) => {
    const server = await startServer({ port: await freePort() })
    server.child.kill('SIGINT')
    // Node's default for SIGINT killed it at once (128 + 2), before buffered logs were written.
    assert.equal(await server.exited, 0, server.output())
  }).timeout(90000)

  test('half a TLS configuration, an unreadable file or TRUST_PROXY stops the start with the reason', async ({
    assert,
  }) => {
    await withTempDir(async (dir) => {
      const tls = await opensslSelfSigned(dir, { subject: '/CN=127.0.0.1', days: 2 })
      const cases: Array<[Record<string, string>, string]> = [
        [{ TLS_CERT_FILE: tls.certPath }, 'only TLS_CERT_FILE is set'],
        [{ TLS_KEY_FILE: tls.keyPath }, 'only TLS_KEY_FILE is set'],
        [{ TLS_CERT_FILE: `${dir}/missing.pem`, TLS_KEY_FILE: tls.keyPath }, 'cannot be read'],
        [{ TLS_CERT_FILE: tls.keyPath, TLS_KEY_FILE: tls.certPath }, 'cannot serve HTTPS'],
        // an unreadable TRUST_PROXY was a stack trace that did not name the variable
        [{ TRUST_PROXY: 'proxy.example' }, 'TRUST_PROXY="proxy.example" cannot be read'],
        // a setting the environment schema refuses exited silently (the error printer is async)
        [{ DB_PORT: 'abc' }, '"DB_PORT" env variable must be a number'],
        // a negative purge delay would have deleted certificates that are still valid
        [{ PURGE_EXPIRED_AFTER_DAYS: '-30' }, 'PURGE_EXPIRED_AFTER_DAYS must be a whole number'],
      ]
      for (const [env, reason] of cases) {
        const server = spawnServer({ port: await freePort(), env })
        const code = await Promise.race([
          server.exited,
          new Promise<number>((r) => setTimeout(() => r(-1), 60_000)),
        ])
        if (code === -1) await server.stop()
        assert.equal(code, 1, `${JSON.stringify(env)}: ${server.output()}`)
        assert.include(server.output(), `Cannot start: `)
        assert.include(server.output(), reason)
      }
    })
  }).timeout(240_000)
})
