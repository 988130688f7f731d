/*
 * Several server nodes on one database: two extra `node bin/start.js` processes share the test
 * run's database (SQLite in WAL mode with a busy timeout, or PostgreSQL) and master key. Issuance
 * from both at once must neither fail, duplicate nor lose a certificate, and a change made through
 * one node must be seen by the other on its next request.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { adminToken, createCa, opensslCsr, unique, webServerTemplate } from '#tests/helpers/api'
import { opensslText, opensslVerify, run, toolPath } from '#tests/helpers/external'
import { freePort, mapLimit, startServer, type ServerProcess } from '#tests/helpers/processes'

const ISSUANCES = 200
const DISTINCT_CSRS = 20
const CONCURRENCY = 16

async function api(
  server: ServerProcess,
  token: string,
  method: string,
  path: string,
  body?: unknown
) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  })
  const text = await response.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, json, text }
}

async function opensslSerialHex(pem: string) {
  const result = await run(toolPath('openssl'), ['x509', '-noout', '-serial'], { input: pem })
  return /serial=([0-9A-F]+)/
    .exec(result.stdout)?.[1]
    ?.toLowerCase()
    .replace(/^(?:00)+/, '')
}

test.group('Cluster: two server processes on one database', () => {
  test('200 issuances in parallel from two server processes on one database: all succeed, all serials unique, none lost', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Cluster Root'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const csrs = await mapLimit(
      Array.from({ length: DISTINCT_CSRS }, (_, i) => i),
      4,
      (i) =>
        opensslCsr({
          key: i % 2 ? 'rsa-2048' : 'ec-p256',
          subject: `/CN=node${i}.cluster.example.com`,
        })
    )

    const servers: ServerProcess[] = []
    let completed = false
    try {
      // The nodes start one after the other: on PostgreSQL, nodes starting at the same moment
      // race for the migration lock and one may fail to start (reported separately).
      // startServer stops a node that does not come up; the finally block stops the others.
      for (let n = 0; n < 2; n++)
        servers.push(await startServer({ port: await freePort(), timeoutMs: 90_000 }))
      const [a, b] = servers

      // Both nodes see the CA created through the in-process server, and accept its token.
      for (const node of [a, b]) {
        const seen = await api(node, token, 'GET', `/api/v1/cas/${ca.id}`)
        assert.equal(seen.status, 200, seen.text)
        assert.equal(seen.json.ca.name, ca.name)
      }

      const t0 = Date.now()
      const results = await mapLimit(
        Array.from({ length: ISSUANCES }, (_, i) => i),
        CONCURRENCY,
        async (i) => {
          const node = i % 2 === 0 ? a : b
          const response = await api(
            node,
            token,
            'POST',
            `/api/v1/templates/${template.id}/issue`,
            { csr: csrs[i % DISTINCT_CSRS].csrPem }
          )
          return { i, node: node.port, ...response }
        }
      )
      const elapsed = Date.now() - t0

      const failed = results.filter((r) => r.status !== 201)
      assert.lengthOf(
        failed,
        0,
        `${failed.length} of ${ISSUANCES} issuances failed, e.g.: ${failed
          .slice(0, 3)
          .map((f) => `#${f.i} on :${f.node} → ${f.status} ${f.text.slice(0, 300)}`)
          .join(' | ')}`
      )
      assert.equal(results.filter((r) => r.node === a.port).length, ISSUANCES / 2)

      const serials = results.map((r) => r.json.certificate.serial as string)
      const ids = results.map((r) => r.json.certificate.id as number)
      assert.equal(new Set(serials).size, ISSUANCES, 'duplicate serial numbers were returned')
      assert.equal(new Set(ids).size, ISSUANCES, 'duplicate certificate ids were returned')

      // None lost: the database holds exactly these certificates for the CA (besides service
      // certificates the nodes' jobs may issue to it, e.g. an OCSP responder's).
      const rows = await db
        .from('certificates')
        .where('ca_id', ca.id)
        .whereNot('kind', 'service')
        .select('id', 'serial', 'status')
      assert.lengthOf(rows, ISSUANCES, `the database holds ${rows.length} certificates for the CA`)
      const stored = new Set(rows.map((r: any) => String(r.serial)))
      const missing = serials.filter((s) => !stored.has(s))
      assert.lengthOf(missing, 0, `returned but not stored: ${missing.slice(0, 5).join(', ')}`)
      assert.isTrue(rows.every((r: any) => r.status === 'valid'))

      // A sample, from both nodes, verifies with OpenSSL and carries the serial it was reported with.
      const sample = results.filter((_, i) => i % 20 === 0 || i % 20 === 1)
      for (const r of sample) {
        const pem = r.json.certificate.certificatePem as string
        const verdict = await opensslVerify({
          roots: [ca.certificatePem!],
          cert: pem,
          purpose: 'sslserver',
        })
        assert.isTrue(verdict.ok, `#${r.i} from :${r.node}: ${verdict.output}`)
        assert.equal(await opensslSerialHex(pem), r.json.certificate.serial.replace(/^(?:00)+/, ''))
      }
      console.log(
        `    ${ISSUANCES} issuances through 2 nodes (concurrency ${CONCURRENCY}, ${db.primaryConnectionName}): ${elapsed} ms, ${Math.round((ISSUANCES * 1000) / elapsed)}/s`
      )

      // A change made through node A is visible on node B's next request (B has read it before).
      const target = results[1] // issued by B
      const before = await api(
        b,
        token,
        'GET',
        `/api/v1/certificates/${target.json.certificate.id}`
      )
      assert.equal(before.status, 200, before.text)
      assert.equal(before.json.certificate.status, 'valid')
      const revoked = await api(
        a,
        token,
        'POST',
        `/api/v1/certificates/${target.json.certificate.id}/revoke`,
        { reason: 'keyCompromise' }
      )
      assert.equal(revoked.status, 200, revoked.text)
      const after = await api(b, token, 'GET', `/api/v1/certificates/${target.json.certificate.id}`)
      assert.equal(after.json.certificate.status, 'revoked', after.text)
      assert.equal(after.json.certificate.revocationReason, 'keyCompromise')
      // ...and on the in-process server
      const here = await client
        .get(`/api/v1/certificates/${target.json.certificate.id}`)
        .bearerToken(token)
      assert.equal(here.body().certificate.status, 'revoked')

      // A CA edit through node A reaches node B's issuance (its per-CA material is cached and warm).
      const cpsUrl = `https://cps.cluster.example.com/${ca.id}`
      const patched = await api(a, token, 'PATCH', `/api/v1/cas/${ca.id}`, { cpsUrl })
      assert.equal(patched.status, 200, patched.text)
      const fresh = await api(b, token, 'POST', `/api/v1/templates/${template.id}/issue`, {
        csr: csrs[0].csrPem,
      })
      assert.equal(fresh.status, 201, fresh.text)
      assert.include(
        await opensslText(fresh.json.certificate.certificatePem, 'x509'),
        cpsUrl,
        'node B issued with stale CA settings'
      )
      completed = true
    } finally {
      const codes = await Promise.all(servers.map((s) => s.stop()))
      // Graceful shutdown on SIGTERM (checked only when nothing failed before, not to hide that failure).
      if (completed)
        codes.forEach((code, i) =>
          assert.equal(
            code,
            0,
            `node :${servers[i].port} exited with ${code} on SIGTERM:\n${servers[i].output().slice(-2000)}`
          )
        )
    }
  }).timeout(300000)
})
