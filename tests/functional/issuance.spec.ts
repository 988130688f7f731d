import { test } from '@japa/runner'
import crypto from 'node:crypto'
import {
  dnsSanExtension,
  p256Request,
  rdn,
  requestInfo,
  requestPem,
  RSA_SHA256,
  tlv,
} from '#tests/helpers/der'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
  withFiles,
} from '#tests/helpers/api'
import {
  opensslText,
  run,
  toolPath,
  opensslVerify,
  zlint,
  ZLINT_ML_DSA_EXCLUDE_NAMES,
} from '#tests/helpers/external'

/** zlint findings the OCSP plugin resolves (it brings the OCSP URL); everything else must pass. */
const OCSP_RELATED = /ocsp/i

async function countRows(table: string, caId: number) {
  return Number((await db.from(table).where('ca_id', caId).count('* as n').first()).n)
}

test.group('Issuance: direct', () => {
  test('a Web Server certificate verifies strictly, has the expected extensions and passes zlint', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, {
      name: unique('Web CA'),
      keyType: 'ecdsa-p256',
      subject: { organization: 'Example', country: 'US' },
    })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({
      key: 'ec-p256',
      subject: '/CN=www.example.com',
      sans: ['DNS:www.example.com', 'DNS:example.com', 'IP:8.8.8.8'],
    })
    const response = await issueCertificate(client, template.id, { csr: csrPem })
    response.assertStatus(201)
    const pem = response.body().certificate.certificatePem
    const verdict = await opensslVerify({
      roots: [ca.certificatePem!],
      cert: pem,
      purpose: 'sslserver',
    })
    assert.isTrue(verdict.ok, verdict.output)
    const text = await opensslText(pem, 'x509')
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/) // EC key: no keyEncipherment
    assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/)
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/)
    assert.match(text, /DNS:www.example.com, DNS:example.com, IP Address:8.8.8.8/)
    assert.match(text, /X509v3 Subject Key Identifier/)
    assert.match(text, /X509v3 Authority Key Identifier/)
    assert.match(text, /CA Issuers - URI:http:\/\/.*\/pki\/ca\/\d+\.crt/)
    assert.match(text, /Policy: 2.23.140.1.2.1/)
    const days = (Date.parse(response.body().certificate.notAfter) - Date.now()) / 86400_000
    assert.isAtMost(days, 397)
    assert.isAbove(days, 396)
    // serial: positive, at least 64 bits of entropy (we use 128)
    assert.match(response.body().certificate.serial, /^[0-7][0-9a-f]{31}$|^[0-9a-f]{30,32}$/)

    const lint = await zlint(pem)
    const errors = lint.errors.filter((name) => !OCSP_RELATED.test(name))
    assert.deepEqual(
      errors,
      [],
      JSON.stringify(lint.findings.filter((f) => errors.includes(f.lint)))
    )
  }).timeout(60000)

  test('an RSA key gets keyEncipherment too; the CN is copied into the SAN', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('RSA CA'), keyType: 'rsa-2048' })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ key: 'rsa-2048', subject: '/CN=rsa.example.com' })
    const response = await issueCertificate(client, template.id, { csr: csrPem })
    response.assertStatus(201)
    const text = await opensslText(response.body().certificate.certificatePem, 'x509')
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/)
    assert.match(text, /DNS:rsa.example.com/)
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/)
    const lint = await zlint(response.body().certificate.certificatePem)
    assert.deepEqual(
      lint.errors.filter((n) => !OCSP_RELATED.test(n)),
      []
    )
  }).timeout(60000)

  test('an IPv6 common name copied into the SANs is one SAN with the same address in any spelling', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('IPv6 CA'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=2001:db8:0::1', sans: ['IP:2001:db8::1'] })
    const response = await issueCertificate(client, template.id, { csr: csrPem })
    response.assertStatus(201)
    const text = await opensslText(response.body().certificate.certificatePem, 'x509')
    assert.lengthOf(text.match(/IP Address:2001:DB8:0:0:0:0:0:1/g) ?? [], 1, text)
    // an approver's override in another spelling is the same address too
    const override = await issueCertificate(client, template.id, {
      csr: csrPem,
      sans: [{ type: 'ip', value: '2001:0db8::0:1' }],
    })
    override.assertStatus(201)
    const overridden = await opensslText(override.body().certificate.certificatePem, 'x509')
    assert.lengthOf(overridden.match(/IP Address:/g) ?? [], 1, overridden)
  }).timeout(60000)

  test('Ed25519 and ML-DSA CSRs are issued; OpenSSL 3.5 verifies an all-ML-DSA chain', async ({
    client,
    assert,
  }) => {
    const ec = await createCa(client, { name: unique('EC for Ed'), keyType: 'ecdsa-p384' })
    const ed = await opensslCsr({ key: 'ed25519', subject: '/CN=ed.example.com' })
    const edCert = await issueCertificate(client, (await webServerTemplate(client, ec.id)).id, {
      csr: ed.csrPem,
    })
    edCert.assertStatus(201)
    const edOk = await opensslVerify({
      roots: [ec.certificatePem!],
      cert: edCert.body().certificate.certificatePem,
    })
    assert.isTrue(edOk.ok, edOk.output)
    assert.match(
      await opensslText(edCert.body().certificate.certificatePem, 'x509'),
      /Signature Algorithm: ecdsa-with-SHA384/
    )

    const pq = await createCa(client, { name: unique('ML-DSA CA'), keyType: 'ml-dsa-65' })
    const mlCsr = await opensslCsr({ key: 'ml-dsa-65', subject: '/CN=pq.example.com' })
    const pqCert = await issueCertificate(client, (await webServerTemplate(client, pq.id)).id, {
      csr: mlCsr.csrPem,
    })
    pqCert.assertStatus(201)
    const pqPem = pqCert.body().certificate.certificatePem
    const pqOk = await opensslVerify({
      roots: [pq.certificatePem!],
      cert: pqPem,
      binary: 'openssl35',
    })
    assert.isTrue(pqOk.ok, pqOk.output)
    assert.match(await opensslText(pqPem, 'x509', 'openssl35'), /Public Key Algorithm: ML-DSA-65/)
    const lint = await zlint(pqPem, { excludeNames: [...ZLINT_ML_DSA_EXCLUDE_NAMES] })
    assert.deepEqual(
      lint.errors.filter((n) => !OCSP_RELATED.test(n)),
      []
    )

    // an SLH-DSA leaf key (OpenSSL 3.5 signs its CSR natively; we verify that signature)
    const slh = await opensslCsr({ key: 'slh-dsa-sha2-128s', subject: '/CN=slh-leaf.example.com' })
    const slhCert = await issueCertificate(client, (await webServerTemplate(client, ec.id)).id, {
      csr: slh.csrPem,
    })
    slhCert.assertStatus(201)
    const slhOk = await opensslVerify({
      roots: [ec.certificatePem!],
      cert: slhCert.body().certificate.certificatePem,
      binary: 'openssl35',
    })
    assert.isTrue(slhOk.ok, slhOk.output)

    // ML-DSA-44 and -87 leaf keys under a classical CA
    for (const key of ['ml-dsa-44', 'ml-dsa-87'] as const) {
      const csr = await opensslCsr({ key, subject: `/CN=${key}.example.com` })
      const cert = await issueCertificate(client, (await webServerTemplate(client, ec.id)).id, {
        csr: csr.csrPem,
      })
      cert.assertStatus(201)
      const ok = await opensslVerify({
        roots: [ec.certificatePem!],
        cert: cert.body().certificate.certificatePem,
        binary: 'openssl35',
      })
      assert.isTrue(ok.ok, ok.output)
    }
  }).timeout(120000)

  test('validity can be set in days or as an explicit window, never beyond the CA', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Short CA'), validityDays: 30 })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=valid.example.com' })
    // default validity (397 days) is capped at the CA's end
    const capped = await issueCertificate(client, template.id, { csr: csrPem })
    capped.assertStatus(201)
    assert.isAtMost(Date.parse(capped.body().certificate.notAfter), Date.parse(ca.notAfter))
    // null dates are "not given" (a client sending every optional field), as null subject/sans
    const tenDays = await issueCertificate(client, template.id, {
      csr: csrPem,
      validityDays: 10,
      notBefore: null,
      notAfter: null,
    })
    tenDays.assertStatus(201)
    assert.isAtLeast(
      Date.parse(tenDays.body().certificate.notBefore),
      Date.parse(ca.notBefore),
      'never before the CA'
    )
    assert.approximately(
      (Date.parse(tenDays.body().certificate.notAfter) - Date.now()) / 86400_000,
      10,
      0.01
    )
    const start = new Date(Date.now() + 86400_000 * 2)
    const end = new Date(Date.now() + 86400_000 * 5)
    const window = await issueCertificate(client, template.id, {
      csr: csrPem,
      notBefore: start.toISOString(),
      notAfter: end.toISOString(),
    })
    window.assertStatus(201)
    assert.equal(
      Date.parse(window.body().certificate.notBefore),
      Math.floor(start.getTime() / 1000) * 1000
    )

    const before = await countRows('certificates', ca.id)
    const beyond = await issueCertificate(client, template.id, { csr: csrPem, validityDays: 60 })
    beyond.assertStatus(422)
    assert.include(beyond.body().error.message, 'CA itself expires')
    const reversed = await issueCertificate(client, template.id, {
      csr: csrPem,
      notBefore: end.toISOString(),
      notAfter: start.toISOString(),
    })
    reversed.assertStatus(422)
    const half = await issueCertificate(client, template.id, {
      csr: csrPem,
      notBefore: start.toISOString(),
    })
    half.assertStatus(422)
    assert.equal(await countRows('certificates', ca.id), before)
  }).timeout(60000)

  test("a start in the past does not make room for a longer end: the template's maximum counts from notBefore", async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    // An issuing CA whose certificate started in 2023, signed by a root made with OpenSSL 3.5
    // (the distribution's 3.0 has no -not_before).
    const inter = await createCa(client, { name: unique('Old Issuing'), csrOnly: true })
    await withFiles({ 'inter.csr': inter.csrPem! }, async (p, dir) => {
      const openssl = toolPath('openssl35')
      const { writeFile, readFile } = await import('node:fs/promises')
      const root = await run(openssl, [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${dir}/root.key`,
        '-out',
        `${dir}/root.pem`,
        '-subj',
        '/CN=Old Root',
        '-not_before',
        '20220101000000Z',
        '-not_after',
        '20400101000000Z',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ])
      assert.equal(root.code, 0, root.stderr)
      await writeFile(
        `${dir}/ca.cnf`,
        'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
      )
      const made = await run(openssl, [
        'x509',
        '-req',
        '-in',
        p['inter.csr'],
        '-CA',
        `${dir}/root.pem`,
        '-CAkey',
        `${dir}/root.key`,
        '-CAcreateserial',
        '-not_before',
        '20230101000000Z',
        '-not_after',
        '20330101000000Z',
        '-extfile',
        `${dir}/ca.cnf`,
        '-out',
        `${dir}/inter.pem`,
      ])
      assert.equal(made.code, 0, made.stderr)
      const activated = await client
        .post(`/api/v1/cas/${inter.id}/certificate`)
        .bearerToken(token)
        .json({
          certificatePem: await readFile(`${dir}/inter.pem`, 'utf8'),
          chainPem: await readFile(`${dir}/root.pem`, 'utf8'),
        })
      assert.equal(activated.status(), 200, activated.text())
    })
    const template = await webServerTemplate(client, inter.id)
    const max = template.options.maxValidityDays as number
    const { csrPem } = await opensslCsr({ subject: '/CN=backdated.example.com' })
    const before = await countRows('certificates', inter.id)
    const refused = await issueCertificate(client, template.id, {
      csr: csrPem,
      notBefore: '2023-06-01T00:00:00Z',
      notAfter: new Date(Date.now() + (max - 1) * 86400_000).toISOString(),
    })
    assert.equal(refused.status(), 422, refused.text())
    assert.include(refused.body().error.message, `at most ${max} days`)
    assert.equal(await countRows('certificates', inter.id), before)
    // A window within the maximum that started in the past is still issued as asked.
    const start = new Date(Date.now() - 10 * 86400_000)
    const ok = await issueCertificate(client, template.id, {
      csr: csrPem,
      notBefore: start.toISOString(),
      notAfter: new Date(start.getTime() + (max - 1) * 86400_000).toISOString(),
    })
    assert.equal(ok.status(), 201, ok.text())
  }).timeout(60000)

  test('key usages follow the key type; a host name in the CN follows the SAN rules; numeric and Unicode DNS names are explained', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Usage CA') })
    const template = await webServerTemplate(client, ca.id)
    const patch = async (options: Record<string, unknown>) =>
      (
        await client.patch(`/api/v1/templates/${template.id}`).bearerToken(token).json({ options })
      ).assertStatus(200)
    // keyAgreement is dropped for an RSA key when usages follow the key type (it was a 422).
    await patch({ keyUsage: ['digitalSignature', 'keyAgreement'], keyUsageByKeyType: true })
    const rsa = await opensslCsr({ key: 'rsa-2048', subject: '/CN=rsa.example.com' })
    const issued = await issueCertificate(client, template.id, { csr: rsa.csrPem })
    assert.equal(issued.status(), 201, issued.text())
    const text = await opensslText(issued.body().certificate.certificatePem, 'x509')
    assert.match(text, /Key Usage: critical\s+Digital Signature\s/)
    const ec = await opensslCsr({ subject: '/CN=ec.example.com' })
    const ecIssued = await issueCertificate(client, template.id, { csr: ec.csrPem })
    assert.equal(ecIssued.status(), 201, ecIssued.text())
    assert.match(
      await opensslText(ecIssued.body().certificate.certificatePem, 'x509'),
      /Key Agreement/
    )

    const before = await countRows('certificates', ca.id)
    // A DNS name in the CN while the template allows IP SANs only: refused, not issued SAN-less.
    await patch({ sans: { allowed: ['ip'], required: false, copyCommonName: true } })
    const host = await issueCertificate(client, template.id, { csr: ec.csrPem })
    assert.equal(host.status(), 403, host.text())
    assert.include(host.body().error.message, 'is a DNS name, which this template does not allow')
    await patch({ sans: { allowed: ['dns'], required: false, copyCommonName: true } })
    const numeric = await issueCertificate(client, template.id, {
      csr: ec.csrPem,
      sans: [{ type: 'dns', value: '10.0.0.1' }],
    })
    assert.equal(numeric.status(), 422, numeric.text())
    assert.include(numeric.body().error.message, 'give it as an IP SAN')
    const unicode = await issueCertificate(client, template.id, {
      csr: ec.csrPem,
      sans: [{ type: 'dns', value: 'bücher.example' }],
    })
    assert.equal(unicode.status(), 422, unicode.text())
    assert.include(unicode.body().error.message, 'xn--')
    assert.equal(await countRows('certificates', ca.id), before)
  }).timeout(60000)

  test('a SAN of a kind this CA does not issue (a UPN) is refused, not dropped; explicit SANs replace it', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('UPN CA') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({
      subject: '/CN=upn.example.com',
      sans: ['otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@corp.test', 'DNS:upn.example.com'],
    })
    const before = await countRows('certificates', ca.id)
    const refused = await issueCertificate(client, template.id, { csr: csrPem })
    assert.equal(refused.status(), 403, refused.text())
    assert.include(refused.body().error.message, 'otherName such as a Windows UPN')
    assert.equal(await countRows('certificates', ca.id), before)
    const explicit = await issueCertificate(client, template.id, {
      csr: csrPem,
      sans: [{ type: 'dns', value: 'upn.example.com' }],
    })
    assert.equal(explicit.status(), 201, explicit.text())
  }).timeout(60000)

  test('bad input is refused with a clear 4xx and nothing is stored', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Strict CA') })
    const template = await webServerTemplate(client, ca.id)
    const token = await adminToken()
    const { csrPem } = await opensslCsr({ subject: '/CN=ok.example.com' })
    const weak = await opensslCsr({ key: 'rsa-1024', subject: '/CN=weak.example.com' })
    const email = await opensslCsr({
      subject: '/CN=mail.example.com',
      sans: ['email:someone@example.com'],
    })
    const noName = await opensslCsr({ subject: '/O=No Name Inc' })
    // flip one byte inside the signature
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
    der[der.length - 5] ^= 0x01
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`

    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ['missing CSR', {}, 400, /csr/i],
      [
        'malformed PEM',
        {
          csr: '-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----',
        },
        400,
        /CSR|certificate signing request/i,
      ],
      ['random text', { csr: 'hello world' }, 400, /certificate signing request/i],
      ['a certificate instead of a CSR', { csr: ca.certificatePem }, 400, /./],
      ['bad signature', { csr: tampered }, 400, /signature/i],
      ['RSA 1024 below the template minimum', { csr: weak.csrPem }, 403, /at least 2048/],
      ['an email SAN the template forbids', { csr: email.csrPem }, 403, /EMAIL/],
      ['no name at all', { csr: noName.csrPem }, 403, /subject alternative name/],
      [
        'a malformed SAN override',
        { csr: csrPem, sans: [{ type: 'dns', value: 'bad name!' }] },
        422,
        /well-formed/,
      ],
      [
        'an unknown SAN type',
        { csr: csrPem, sans: [{ type: 'x400', value: 'x' }] },
        422,
        /SAN type/,
      ],
      [
        'a bad date',
        { csr: csrPem, notBefore: 'yesterday', notAfter: 'tomorrow' },
        422,
        /not a valid date/,
      ],
      [
        'validity beyond the template maximum',
        { csr: csrPem, validityDays: 800 },
        422,
        /at most 397 days|CA itself/,
      ],
      [
        'validity of ten billion days (no valid date at all)',
        { csr: csrPem, validityDays: 1e10 },
        422,
        /at most 397 days/,
      ],
      [
        'a date that is not text',
        { csr: csrPem, notBefore: 0, notAfter: new Date(Date.now() + 9 * 86400_000).toISOString() },
        422,
        /notBefore must be a date in ISO 8601 text/,
      ],
      [
        'a start before the CA certificate (was signed as given, even from 1970)',
        {
          csr: csrPem,
          notBefore: '2001-01-01T00:00:00Z',
          notAfter: new Date(Date.now() + 9 * 86400_000).toISOString(),
        },
        422,
        /before the CA's own certificate starts/,
      ],
    ]
    const before = await countRows('certificates', ca.id)
    for (const [label, body, status, message] of cases) {
      const response = await issueCertificate(client, template.id, body)
      assert.equal(response.status(), status, `${label}: ${response.text()}`)
      assert.match(response.body().error.message, message, label)
    }
    const unknownTemplate = await client
      .post('/api/v1/templates/999999/issue')
      .bearerToken(token)
      .json({ csr: csrPem })
    unknownTemplate.assertStatus(404)
    const unknownCa = await client.get('/api/v1/cas/no-such-ca').bearerToken(token)
    unknownCa.assertStatus(404)
    // Templates have ids; a name alone (unique per CA only) finds none (it was a 500).
    for (const path of ['/api/v1/templates/no-such-template', '/api/v1/templates/1.5']) {
      const byName = await client.get(path).bearerToken(token)
      byName.assertStatus(404)
      assert.equal(byName.body().error.code, 'E_TEMPLATE_NOT_FOUND', path)
    }
    assert.equal(await countRows('certificates', ca.id), before)
  }).timeout(60000)

  test('a CSR whose key anyone can sign for (RSA e = 1, a small-order Ed25519 point) is refused', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Exponent CA') })
    const template = await webServerTemplate(client, ca.id)
    // Any modulus with e = 1: the "signature" of the request is its padded digest, which
    // anyone can compute, so it verifies (node's verify says true) without a private key.
    const modulus = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
    const forged = (e: string) => {
      const jwk = modulus.export({ format: 'jwk' })
      const spki = crypto
        .createPublicKey({ key: { kty: 'RSA', n: jwk.n!, e }, format: 'jwk' })
        .export({ type: 'spki', format: 'der' })
      const info = requestInfo('forged.example.com', spki, [
        dnsSanExtension(['forged.example.com']),
      ])
      // EMSA-PKCS1-v1_5 (RFC 8017 §9.2) of SHA-256(info), 256 bytes: with e = 1 the signature
      const digestInfo = Buffer.concat([
        Buffer.from('3031300d060960864801650304020105000420', 'hex'),
        crypto.createHash('sha256').update(info).digest(),
      ])
      const em = Buffer.concat([
        Buffer.from([0, 1]),
        Buffer.alloc(256 - 3 - digestInfo.length, 0xff),
        Buffer.from([0]),
        digestInfo,
      ])
      return requestPem(info, RSA_SHA256, em)
    }
    const before = await countRows('certificates', ca.id)
    for (const e of ['AQ', 'Ag']) {
      const response = await issueCertificate(client, template.id, { csr: forged(e) })
      assert.equal(response.status(), 400, response.text())
      assert.equal(response.body().error.code, 'E_INVALID_CSR')
      assert.include(response.body().error.message, 'public exponent')
    }
    // The same with Ed25519: the identity point as the key, R = identity and S = 0 as the
    // signature, which verifies for any message.
    const identity = Buffer.alloc(32)
    identity[0] = 1
    const edInfo = requestInfo(
      'forged.example.com',
      Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), identity]),
      [dnsSanExtension(['forged.example.com'])]
    )
    const edForged = requestPem(
      edInfo,
      Buffer.from('300506032b6570', 'hex'),
      Buffer.concat([identity, Buffer.alloc(32)])
    )
    const ed = await issueCertificate(client, template.id, { csr: edForged })
    assert.equal(ed.status(), 400, ed.text())
    assert.include(ed.body().error.message, 'small order')
    assert.equal(await countRows('certificates', ca.id), before)
  }).timeout(60000)

  test('a CSR asking for one extension twice: the same twice counts once, two different are refused', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Twice CA') })
    const template = await webServerTemplate(client, ca.id)
    const a = dnsSanExtension(['a.example.com'])
    const same = await issueCertificate(client, template.id, {
      csr: p256Request('a.example.com', [a, a]),
    })
    same.assertStatus(201)
    // Only the last SAN list was kept: b.example.com was certified, a.example.com dropped.
    const different = await issueCertificate(client, template.id, {
      csr: p256Request('a.example.com', [a, dnsSanExtension(['b.example.com'])]),
    })
    different.assertStatus(400)
    assert.include(different.body().error.message, 'requested twice with different contents')
  }).timeout(60000)

  test('a CSR subject attribute that is no string is refused, not issued as the text "#…"', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Hexstring CA') })
    const template = await webServerTemplate(client, ca.id)
    const before = await countRows('certificates', ca.id)
    // serialNumber (2.5.4.5) as an INTEGER instead of a PrintableString
    const csr = p256Request(
      'hex.example.com',
      [dnsSanExtension(['hex.example.com'])],
      [rdn('550405', tlv(0x02, Buffer.from('12345678', 'hex')))]
    )
    const refused = await issueCertificate(client, template.id, { csr })
    assert.equal(refused.status(), 422, refused.text())
    assert.include(refused.body().error.message, 'serialNumber has a value that is no string')
    assert.equal(await countRows('certificates', ca.id), before)
  }).timeout(60000)

  test('a disabled template issues nothing; allowed key types are enforced', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Policy CA') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=policy.example.com' })
    ;(
      await client
        .patch(`/api/v1/templates/${template.id}`)
        .bearerToken(token)
        .json({ options: { keys: { allowed: ['rsa'] } } })
    ).assertStatus(200)
    const ec = await issueCertificate(client, template.id, { csr: csrPem })
    ec.assertStatus(403)
    assert.include(ec.body().error.message, 'does not accept')
    ;(
      await client
        .patch(`/api/v1/templates/${template.id}`)
        .bearerToken(token)
        .json({ options: { enabled: false, keys: { allowed: ['ec'] } } })
    ).assertStatus(200)
    const disabled = await issueCertificate(client, template.id, { csr: csrPem })
    disabled.assertStatus(409)
    assert.include(disabled.body().error.message, 'disabled')
  })

  test('certificates are listed, found by serial in any spelling, and downloaded', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('List CA') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=listed.example.com' })
    const issued = (await issueCertificate(client, template.id, { csr: csrPem })).body().certificate
    const list = await client.get(`/api/v1/cas/${ca.id}/certificates?q=listed`).bearerToken(token)
    list.assertStatus(200)
    assert.equal(list.body().certificates[0].serial, issued.serial)
    const colons = `00:${issued.serial.toUpperCase().match(/../g).join(':')}`
    const found = await client
      .get(`/api/v1/cas/${ca.id}/certificates/${encodeURIComponent(colons)}`)
      .bearerToken(token)
    assert.equal(found.status(), 200, found.text())
    assert.equal(found.body().certificate.id, issued.id)
    const der = await client.get(`/api/v1/certificates/${issued.id}?format=pem`).bearerToken(token)
    assert.equal(der.text(), issued.certificatePem)
    const bad = await client.get(`/api/v1/cas/${ca.id}/certificates/not-hex`).bearerToken(token)
    bad.assertStatus(422)
    // A query given twice or a page size that is no number is refused (they were a 500 and a
    // list of every certificate); a page size over 500 is 500.
    for (const qs of ['q=a&q=b', 'q[x]=1', 'perPage=abc', 'page=1e20', 'page=-1']) {
      const refused = await client.get(`/api/v1/cas/${ca.id}/certificates?${qs}`).bearerToken(token)
      assert.equal(refused.status(), 422, qs)
      assert.equal(refused.body().error.code, 'E_VALIDATION', qs)
    }
    // Search by text with `_` in it (it was dropped), and by serial as OpenSSL prints it.
    const org = await opensslCsr({ subject: '/O=Team_A/CN=team.example.com' })
    const teamCert = (await issueCertificate(client, template.id, { csr: org.csrPem })).body()
      .certificate
    const byText = await client.get(`/api/v1/cas/${ca.id}/certificates?q=m_a`).bearerToken(token)
    assert.deepEqual(
      byText.body().certificates.map((c: any) => c.id),
      [teamCert.id]
    )
    const noWildcard = await client
      .get(`/api/v1/cas/${ca.id}/certificates?q=%25`)
      .bearerToken(token)
    assert.lengthOf(noWildcard.body().certificates, 0)
    const bySerial = await client
      .get(`/api/v1/cas/${ca.id}/certificates?q=${encodeURIComponent(colons)}`)
      .bearerToken(token)
    assert.deepEqual(
      bySerial.body().certificates.map((c: any) => c.id),
      [issued.id]
    )
    const big = await client
      .get(`/api/v1/cas/${ca.id}/certificates?perPage=9999`)
      .bearerToken(token)
    big.assertStatus(200)
    assert.equal(big.body().meta.perPage, 500)
  })
})
