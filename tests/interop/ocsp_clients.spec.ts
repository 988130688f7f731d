/*
 * The OCSP responder against clients we did not write: `openssl ocsp -url` (POST, with and
 * without a nonce, the delegated signer verified against the CA), GnuTLS `ocsptool --ask`,
 * OpenSSL 3.5 for ML-DSA and SLH-DSA CAs (their delegated ML-DSA responders), and zlint on a
 * Web Server certificate, which now carries the OCSP URL in its AIA.
 */
import { test } from '@japa/runner'
import { adminToken, baseUrl, withFiles, type CsrKey } from '#tests/helpers/api'
import { run, toolPath, zlint, type OpensslBinary } from '#tests/helpers/external'
import { ocspSetup, presign } from '../functional/ocsp_support.js'

async function setup(client: any, keyType: string, csrKey: CsrKey = 'ec-p256') {
  const { ca, caPem, issue } = await ocspSetup(client, 'OCSP interop', keyType)
  const leaf = await issue('interop.example.com', csrKey)
  await presign()
  return { ca, caPem, leaf, url: `${baseUrl()}/ocsp/${ca.id}` }
}

/** `openssl ocsp -url` (POST): exit code and output. */
async function opensslAsk(
  binary: OpensslBinary,
  caPem: string,
  certPem: string,
  url: string,
  nonce: boolean
) {
  return withFiles({ 'ca.pem': caPem, 'cert.pem': certPem }, async (p) => {
    const args = ['ocsp', '-url', url, '-issuer', p['ca.pem'], '-cert', p['cert.pem']]
    args.push('-CAfile', p['ca.pem'], '-resp_text')
    if (!nonce) args.push('-no_nonce')
    const r = await run(toolPath(binary), args, { timeoutMs: 60_000 })
    return { code: r.code, text: r.stdout + r.stderr }
  })
}

const revoke = async (client: any, id: number, reason: string) =>
  (
    await client
      .post(`/api/v1/certificates/${id}/revoke`)
      .bearerToken(await adminToken())
      .json({ reason })
  ).assertStatus(200)

test.group('OCSP interop', () => {
  test('openssl ocsp -url: good, then revoked; with and without a nonce', async ({
    client,
    assert,
  }) => {
    const { caPem, leaf, url } = await setup(client, 'ecdsa-p256')
    const plain = await opensslAsk('openssl', caPem, leaf.certificatePem, url, false)
    assert.equal(plain.code, 0, plain.text)
    assert.include(plain.text, 'Response verify OK')
    assert.match(plain.text, /cert\.pem: good/)
    assert.include(plain.text, 'OCSP Signing')

    // a nonce the responder does not echo (pre-signed, RFC 5019): openssl warns and goes on
    const withNonce = await opensslAsk('openssl', caPem, leaf.certificatePem, url, true)
    assert.equal(withNonce.code, 0, withNonce.text)
    assert.include(withNonce.text, 'WARNING: no nonce in response')
    assert.include(withNonce.text, 'Response verify OK')

    await revoke(client, leaf.id, 'keyCompromise')
    const revoked = await opensslAsk('openssl', caPem, leaf.certificatePem, url, false)
    assert.include(revoked.text, 'Response verify OK')
    assert.match(revoked.text, /cert\.pem: revoked/)
    assert.include(revoked.text, 'Reason: keyCompromise')
  }).timeout(120_000)

  test('GnuTLS ocsptool --ask: good and revoked, signature verified', async ({
    client,
    assert,
  }) => {
    const { caPem, leaf, url } = await setup(client, 'rsa-2048', 'rsa-2048')
    const ask = () =>
      withFiles({ 'ca.pem': caPem, 'cert.pem': leaf.certificatePem }, async (p) => {
        const r = await run(
          'ocsptool',
          [
            `--ask=${url}`,
            `--load-issuer=${p['ca.pem']}`,
            `--load-cert=${p['cert.pem']}`,
            `--load-trust=${p['ca.pem']}`,
            '--no-nonce',
          ],
          { timeoutMs: 60_000 }
        )
        return r.stdout + r.stderr
      })
    const good = await ask()
    assert.match(good, /Certificate Status: good/, good)
    assert.match(good, /Verifying OCSP Response: Success/, good)
    await revoke(client, leaf.id, 'superseded')
    const revoked = await ask()
    assert.match(revoked, /Certificate Status: revoked/, revoked)
    assert.match(revoked, /Verifying OCSP Response: Success/, revoked)
  }).timeout(120_000)

  test('OpenSSL 3.5: an ML-DSA CA and an SLH-DSA CA, delegated ML-DSA responders', async ({
    client,
    assert,
  }) => {
    for (const keyType of ['ml-dsa-65', 'slh-dsa-sha2-128s']) {
      const { caPem, leaf, url } = await setup(client, keyType, 'ml-dsa-44')
      const answer = await opensslAsk('openssl35', caPem, leaf.certificatePem, url, false)
      assert.equal(answer.code, 0, `${keyType}: ${answer.text}`)
      assert.include(answer.text, 'Response verify OK', keyType)
      assert.match(answer.text, /cert\.pem: good/, keyType)
      assert.match(answer.text, /Signature Algorithm: ML-DSA-65/i, keyType)
    }
  }).timeout(300_000)

  test('zlint: a Web Server certificate of a new install has no error-level finding', async ({
    client,
    assert,
  }) => {
    const { leaf } = await setup(client, 'ecdsa-p256')
    const lint = await zlint(leaf.certificatePem)
    assert.deepEqual(
      lint.errors,
      [],
      JSON.stringify(lint.findings.filter((f) => lint.errors.includes(f.lint)))
    )
  }).timeout(60_000)
})
