import { test } from '@japa/runner'
import { request as httpsRequest } from 'node:https'
import db from '@adonisjs/lucid/services/db'
import { adminToken, unique } from '#tests/helpers/api'
import { opensslSelfSigned, withTempDir } from '#tests/helpers/external'
import { freePort, spawnServer, startServer } from '#tests/helpers/processes'

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 2000 }, (res) => {
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
})
