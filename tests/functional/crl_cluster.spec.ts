/*
 * Two server processes on one database (`node bin/start.js`, with their jobs: the cluster-
 * singleton refresh and the per-node poll): a revocation made through one node is in the CRLs the
 * other serves (full or delta) within seconds, and both serve the same bytes (same ETag).
 */
import { test } from '@japa/runner'
import { adminToken, createCa, unique, webServerTemplate } from '#tests/helpers/api'
import { freePort, startServer, type ServerProcess } from '#tests/helpers/processes'
import {
  fetchCrl,
  issueLeaf,
  readCrl,
  serialsIn,
  upperSerial,
  waitFor,
  type IssuedCert,
} from './crl_support.js'

async function revokeOn(node: ServerProcess, cert: IssuedCert, reason: string) {
  const response = await fetch(`${node.url}/api/v1/certificates/${cert.id}/revoke`, {
    method: 'POST',
    headers: {
      'authorization': `Bearer ${await adminToken()}`,
      'content-type': 'application/json',
      'accept': 'application/json',
    },
    body: JSON.stringify({ reason }),
  })
  if (response.status !== 200) throw new Error(`revoke on ${node.url}: ${await response.text()}`)
}

test.group('CRL plugin across processes', () => {
  test('a revocation through one node is in the CRL served by the other', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL cluster'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const first = await issueLeaf(client, template.id, 'a.cluster.example')
    const second = await issueLeaf(client, template.id, 'b.cluster.example')
    const servers: ServerProcess[] = []
    try {
      for (let n = 0; n < 2; n++) {
        servers.push(await startServer({ port: await freePort(), timeoutMs: 90_000 }))
      }
      const [a, b] = servers
      const path = `/crl/${ca.id}.crl`
      // What a client using delta CRLs sees: the full CRL and its delta together. (A busy
      // install may defer a full CRL that needs a slow read of the certificates; its delta
      // carries the change within seconds meanwhile.)
      const listedOn = (node: ServerProcess, certs: IssuedCert[]) =>
        waitFor(
          `${certs.length} revocation(s) in the CRLs served by ${node.url}`,
          async () => {
            const crl = await fetchCrl(path, {}, node.url)
            if (crl.status !== 200) return null
            const serials = serialsIn((await readCrl(ca.certificatePem!, crl.bytes)).text)
            const delta = await fetchCrl(`/crl/${ca.id}-delta.crl`, {}, node.url)
            if (delta.status === 200) {
              serials.push(...serialsIn((await readCrl(ca.certificatePem!, delta.bytes)).text))
            }
            return certs.every((c) => serials.includes(upperSerial(c.serial))) ? crl : null
          },
          // No fixed bound in the issue for CRLs (OCSP has one second): the refresh job may be
          // in the middle of another CA (an SLH-DSA signature takes seconds) in a shared database.
          90_000
        )

      await revokeOn(a, first, 'keyCompromise')
      const onB = await listedOn(b, [first])
      assert.equal(onB.headers.get('content-type'), 'application/pkix-crl')

      await revokeOn(b, second, 'superseded')
      const onA = await listedOn(a, [first, second])
      // within a second of being stored, both nodes serve the same CRL
      const same = await waitFor('both nodes serving the same CRL', async () => {
        const fromB = await fetchCrl(path, {}, b.url)
        const fromA = await fetchCrl(path, {}, a.url)
        return fromA.headers.get('etag') === fromB.headers.get('etag') ? fromB : null
      })
      assert.deepEqual(same.bytes.length > 0, true)
      assert.isTrue((await readCrl(ca.certificatePem!, onA.bytes)).ok)
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
    }
  }).timeout(300_000)
})
