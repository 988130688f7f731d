/*
 * The OCSP responder plugin (plugins/ocsp) over HTTP, checked by `openssl ocsp`: pre-signed
 * GET and POST answers signed by the delegated responder the job issued, good / revoked (time
 * and reason) / hold / unknown, RFC 5019 caching headers and 304, revocations visible within a
 * second, the error answers. Jobs are not scheduled in the test process: tests run them.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  baseUrl,
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'
import { opensslText } from '#tests/helpers/external'
import {
  checkResponse,
  getPath,
  ocspGet,
  ocspPost,
  ocspRequest,
  presign,
  responseStatus,
  waitFor,
} from './ocsp_support.js'

async function setup(client: any, keyType = 'ecdsa-p256') {
  const ca = await createCa(client, { name: unique('OCSP'), keyType })
  const template = await webServerTemplate(client, ca.id)
  const issue = async (cn: string) => {
    const { csrPem } = await opensslCsr({ subject: `/CN=${cn}` })
    const response = await issueCertificate(client, template.id, { csr: csrPem })
    response.assertStatus(201)
    return response.body().certificate as { id: number; serial: string; certificatePem: string }
  }
  return { ca, caPem: ca.certificatePem!, template, issue, base: `/ocsp/${ca.id}` }
}

test.group('OCSP responder', () => {
  test('AIA URL, responder issued by the job, GET and POST good, then revoked within a second', async ({
    client,
    assert,
  }) => {
    const { ca, caPem, issue, base } = await setup(client)
    const leaf = await issue('ocsp-leaf.example.com')
    const text = await opensslText(leaf.certificatePem, 'x509')
    assert.include(text, `OCSP - URI:${baseUrl()}${base}`)

    await presign()
    const responder = await db.from('ocsp_cas').where('ca_id', ca.id).first()
    assert.isAbove(Number(responder.signer_id), 0)
    const responderCert = await db.from('certificates').where('id', responder.signer_id).first()
    assert.equal(responderCert.kind, 'service')

    const req = await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem] })
    const get = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
    assert.equal(get.status, 200)
    assert.equal(get.headers.get('content-type'), 'application/ocsp-response')
    const good = await checkResponse(get.body, { issuerPem: caPem, certs: [leaf.certificatePem] })
    assert.isTrue(good.ok, good.text)
    assert.match(good.text, /: good/)
    assert.include(good.text, 'OCSP Signing')
    assert.notInclude(good.text, 'Nonce')

    const post = await ocspPost(baseUrl(), base, req)
    assert.equal(post.status, 200)
    const postCheck = await checkResponse(post.body, {
      issuerPem: caPem,
      certs: [leaf.certificatePem],
    })
    assert.isTrue(postCheck.ok, postCheck.text)
    assert.match(postCheck.text, /: good/)

    const revoked = await client
      .post(`/api/v1/certificates/${leaf.id}/revoke`)
      .bearerToken(await adminToken())
      .json({ reason: 'keyCompromise' })
    revoked.assertStatus(200)
    const started = Date.now()
    const seen = await waitFor('the revocation in OCSP', async () => {
      const r = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
      const c = await checkResponse(r.body, { issuerPem: caPem, certs: [leaf.certificatePem] })
      return /: revoked/.test(c.text) ? c : null
    })
    assert.isBelow(Date.now() - started, 1000)
    assert.isTrue(seen.ok, seen.text)
    assert.include(seen.text, 'Reason: keyCompromise')
    assert.match(seen.text, /Revocation Time: /)
    assert.equal(responseStatus(get.body), 0)
  }).timeout(120_000)
})
