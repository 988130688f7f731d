/*
 * The OCSP responder plugin (plugins/ocsp) over HTTP, checked by `openssl ocsp`: pre-signed
 * GET and POST answers signed by the delegated responder the job issued, good / revoked (time
 * and reason) / hold / unknown, RFC 5019 caching headers and 304, revocations visible within a
 * second, the error answers. Jobs are not scheduled in the test process: tests run them.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { adminToken, baseUrl, createCa, unique } from '#tests/helpers/api'
import { opensslText } from '#tests/helpers/external'
import { pluginHost } from '#plugins/host'
import {
  checkResponse,
  getPath,
  ocspGet,
  ocspPost,
  ocspRequest,
  presign,
  responseStatus,
  waitFor,
  ocspSetup,
} from './ocsp_support.js'

const setup = (client: any, keyType = 'ecdsa-p256') => ocspSetup(client, 'OCSP', keyType)

test.group('OCSP responder', () => {
  test('AIA URL, responder issued by the job, GET and POST good, then revoked within a second', async ({
    client,
    assert,
  }) => {
    const { ca, caPem, issue, base } = await setup(client)
    const leaf = await issue('ocsp-leaf.example.com')
    const text = await opensslText(leaf.certificatePem, 'x509')
    assert.include(text, `OCSP - URI:${baseUrl()}${base}`)
    // A row with a serial that is not hex (never the kernel's; a bad import) is left out: it
    // must not stop the CA's other responses.
    const leafRow = await db.from('certificates').where('id', leaf.id).first()
    const copy = { ...leafRow }
    delete copy.id
    await db.table('certificates').insert({
      ...copy,
      serial: 'not-hex-serial',
      fingerprint: `${leafRow.fingerprint.slice(0, 60)}beef`,
    })

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

  test('hold, unrevoke, unknown serial, SHA-256 CertID, several certificates, 304', async ({
    client,
    assert,
  }) => {
    const { caPem, issue, base } = await setup(client)
    const a = await issue('ocsp-a.example.com')
    const b = await issue('ocsp-b.example.com')
    await presign()
    const token = await adminToken()
    const reqA = await ocspRequest({ issuerPem: caPem, certs: [a.certificatePem] })
    const read = async (req: Buffer, certs = [a.certificatePem], digest?: string) => {
      const r = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
      assert.equal(r.status, 200)
      return checkResponse(r.body, { issuerPem: caPem, certs, digest })
    }

    // hold, then unrevoke: both visible at once
    ;(
      await client
        .post(`/api/v1/certificates/${a.id}/revoke`)
        .bearerToken(token)
        .json({ reason: 'certificateHold' })
    ).assertStatus(200)
    const held = await read(reqA)
    assert.isTrue(held.ok, held.text)
    assert.include(held.text, 'Reason: certificateHold')
    ;(await client.post(`/api/v1/certificates/${a.id}/unrevoke`).bearerToken(token)).assertStatus(
      200
    )
    const back = await read(reqA)
    assert.match(back.text, /: good/)

    // a serial the CA never issued: a signed "unknown"
    const unknownReq = await ocspRequest({ issuerPem: caPem, serials: ['0badc0ffee'] })
    const unknown = await ocspGet(baseUrl(), `${base}/${getPath(unknownReq)}`)
    const unknownCheck = await checkResponse(unknown.body, {
      issuerPem: caPem,
      serials: ['0badc0ffee'],
    })
    assert.isTrue(unknownCheck.ok, unknownCheck.text)
    assert.match(unknownCheck.text, /: unknown/)

    // SHA-256 CertID, answered with the same CertID
    const sha256Req = await ocspRequest({
      issuerPem: caPem,
      certs: [a.certificatePem],
      digest: 'sha256',
    })
    const sha256 = await read(sha256Req, [a.certificatePem], 'sha256')
    assert.isTrue(sha256.ok, sha256.text)
    assert.match(sha256.text, /: good/)
    assert.include(sha256.text, 'Hash Algorithm: sha256')

    // two certificates in one request (POST), one revoked
    ;(
      await client
        .post(`/api/v1/certificates/${b.id}/revoke`)
        .bearerToken(token)
        .json({ reason: 'superseded' })
    ).assertStatus(200)
    const both = await ocspRequest({
      issuerPem: caPem,
      certs: [a.certificatePem, b.certificatePem],
    })
    const bothAnswer = await ocspPost(baseUrl(), base, both)
    const bothCheck = await checkResponse(bothAnswer.body, {
      issuerPem: caPem,
      certs: [a.certificatePem, b.certificatePem],
    })
    assert.isTrue(bothCheck.ok, bothCheck.text)
    assert.match(bothCheck.text, /c0\.pem: good/)
    assert.match(bothCheck.text, /c1\.pem: revoked/)
    assert.include(bothCheck.text, 'Reason: superseded')

    // RFC 5019 caching headers, ETag and 304
    const first = await ocspGet(baseUrl(), `${base}/${getPath(reqA)}`)
    const cacheControl = first.headers.get('cache-control')!
    assert.match(cacheControl, /^max-age=\d+, public, no-transform, must-revalidate$/)
    const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)![1])
    assert.isAbove(maxAge, 200)
    assert.isAtMost(maxAge, 300)
    const etag = first.headers.get('etag')!
    assert.match(etag, /^"[0-9a-f]+"$/)
    const lastModified = Date.parse(first.headers.get('last-modified')!)
    const expires = Date.parse(first.headers.get('expires')!)
    assert.isBelow(lastModified, Date.now())
    assert.isAbove(expires, Date.now() + 200_000)
    const notModified = await ocspGet(baseUrl(), `${base}/${getPath(reqA)}`, {
      'if-none-match': etag,
    })
    assert.equal(notModified.status, 304)
    assert.equal(notModified.body.length, 0)
    const changed = await ocspGet(baseUrl(), `${base}/${getPath(reqA)}`, {
      'if-none-match': '"other"',
    })
    assert.equal(changed.status, 200)
  }).timeout(120_000)

  test('GET path forms, content types, and bad input: the right status, never a 5xx', async ({
    client,
    assert,
  }) => {
    const { caPem, issue, base } = await setup(client)
    const leaf = await issue('ocsp-forms.example.com')
    await presign()
    const req = await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem] })
    const b64 = req.toString('base64')
    const good = async (r: { status: number; body: Buffer }, what: string) => {
      assert.equal(r.status, 200, what)
      const c = await checkResponse(r.body, { issuerPem: caPem, certs: [leaf.certificatePem] })
      assert.isTrue(c.ok, `${what}: ${c.text}`)
      assert.match(c.text, /: good/, what)
    }
    await good(await ocspGet(baseUrl(), `${base}/${b64}`), 'raw base64 with / and +')
    await good(await ocspGet(baseUrl(), `${base}//${getPath(req)}`), 'doubled slash')
    await good(await ocspGet(baseUrl(), `/ocsp/${getPath(req)}`), 'without the CA id')
    await good(
      await ocspGet(baseUrl(), `${base}/${b64.replace(/\+/g, '%2B').replace(/\//g, '%2F')}`),
      'partly percent-encoded'
    )
    await good(await ocspGet(baseUrl(), `${base}/${b64.replace(/=+$/, '')}`), 'without padding')
    await good(await ocspPost(baseUrl(), base, req, null), 'POST without a content type')
    await good(
      await ocspPost(baseUrl(), base, req, 'application/octet-stream'),
      'POST as octet-stream'
    )
    await good(await ocspPost(baseUrl(), '/ocsp', req), 'POST to /ocsp')

    const status = async (
      r: { status: number; body: Buffer },
      http: number,
      ocsp: number,
      what: string
    ) => {
      assert.equal(r.status, http, what)
      assert.equal(responseStatus(r.body), ocsp, what)
    }
    // malformedRequest (1)
    await status(await ocspGet(baseUrl(), `${base}/not-base64!!`), 200, 1, 'garbage path')
    await status(
      await ocspGet(baseUrl(), `${base}/${getPath(req.subarray(0, 20))}`),
      200,
      1,
      'truncated'
    )
    await status(
      await ocspGet(baseUrl(), `${base}/${getPath(Buffer.from('c0ffee'.repeat(20), 'hex'))}`),
      200,
      1,
      'random bytes'
    )
    await status(await ocspGet(baseUrl(), `${base}/%E0%A4%A`), 200, 1, 'broken percent-encoding')
    await status(await ocspPost(baseUrl(), base, Buffer.alloc(0)), 200, 1, 'empty POST')
    await status(
      await ocspPost(baseUrl(), base, req.subarray(0, req.length - 3)),
      200,
      1,
      'truncated POST'
    )
    await status(
      await ocspPost(baseUrl(), base, Buffer.alloc(70 * 1024, 0x30)),
      413,
      1,
      'oversized POST'
    )
    await status(await ocspGet(baseUrl(), `${base}/${'A'.repeat(6000)}`), 414, 1, 'oversized GET')
    // unauthorized (6): an issuer we do not serve
    const other = await createCa(client, { name: unique('Other'), keyType: 'ecdsa-p256' })
    const foreign = await ocspRequest({ issuerPem: caPem, serials: ['01'] })
    // swap in another issuer key hash: the same request shape, an issuer nobody serves
    const otherReq = await ocspRequest({ issuerPem: other.certificatePem!, serials: ['01'] })
    await db.from('cas').where('id', other.id).delete()
    await pluginHost.runJob('ocsp', 'presign')
    await new Promise((resolve) => setTimeout(resolve, 400))
    await status(await ocspGet(baseUrl(), `/ocsp/${getPath(otherReq)}`), 200, 6, 'unknown issuer')
    // an unsupported CertID hash (SHA-224 OID 2.16.840.1.101.3.4.2.4 instead of SHA-1)
    const sha1Oid = Buffer.from('06052b0e03021a', 'hex')
    const at = foreign.indexOf(sha1Oid)
    assert.isAbove(at, 0)
    const sha224 = Buffer.concat([
      foreign.subarray(0, at),
      Buffer.from('0609608648016503040204', 'hex'),
      foreign.subarray(at + sha1Oid.length),
    ])
    // fix the lengths of the six enclosing SEQUENCEs (+4 bytes each, all short form here)
    for (const offset of [1, 3, 5, 7, 9, 11]) sha224[offset] += 4
    await status(await ocspPost(baseUrl(), base, sha224), 200, 6, 'unsupported CertID hash')
  }).timeout(120_000)
})
