import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  baseUrl,
  createCa,
  createTemplate,
  issueCertificate,
  opensslCsr,
  unique,
  userToken,
  webServerTemplate,
  withFiles,
} from '#tests/helpers/api'
import {
  opensslReqVerify,
  opensslSelfSigned,
  opensslText,
  opensslVerify,
  run,
  toolPath,
} from '#tests/helpers/external'

const CLASSICAL = ['rsa-2048', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519'] as const
const POST_QUANTUM = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const

test.group('Certificate authorities: roots', () => {
  for (const keyType of CLASSICAL) {
    test(`a ${keyType} root is self-signed, strict-valid and carries CA extensions`, async ({
      client,
      assert,
    }) => {
      const ca = await createCa(client, {
        name: unique(`Root ${keyType}`),
        keyType,
        subject: {
          organization: 'Example Org',
          organizationalUnit: 'PKI',
          country: 'de',
          state: 'Berlin',
          locality: 'Berlin',
          email: 'pki@example.com',
        },
        validityDays: 3650,
        pathLength: 1,
      })
      assert.equal(ca.status, 'active')
      assert.equal(ca.keyType, keyType)
      const verdict = await opensslVerify({ roots: [ca.certificatePem!], cert: ca.certificatePem! })
      assert.isTrue(verdict.ok, verdict.output)
      const text = await opensslText(ca.certificatePem!, 'x509')
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/)
      assert.match(
        text,
        /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/
      )
      assert.match(text, /X509v3 Subject Key Identifier/)
      assert.match(text, /C\s*=\s*DE/)
      assert.match(text, /O\s*=\s*Example Org/)
    }).timeout(60000)
  }

  for (const keyType of POST_QUANTUM) {
    test(`a ${keyType} root verifies with OpenSSL 3.5`, async ({ client, assert }) => {
      const ca = await createCa(client, { name: unique(`Root ${keyType}`), keyType })
      const verdict = await opensslVerify({
        roots: [ca.certificatePem!],
        cert: ca.certificatePem!,
        binary: 'openssl35',
      })
      assert.isTrue(verdict.ok, verdict.output)
      const text = await opensslText(ca.certificatePem!, 'x509', 'openssl35')
      assert.match(text, new RegExp(`Signature Algorithm: ${keyType.toUpperCase()}`, 'i'))
    }).timeout(60000)
  }

  test('a CSR-only ML-DSA-65 CA produces a CSR that OpenSSL 3.5 verifies', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, {
      name: unique('PQ Issuing'),
      keyType: 'ml-dsa-65',
      csrOnly: true,
    })
    assert.equal(ca.status, 'pending')
    assert.isTrue(await opensslReqVerify(ca.csrPem!, 'openssl35'))
    const text = await opensslText(ca.csrPem!, 'req', 'openssl35')
    assert.match(text, /ML-DSA-65/)
    assert.match(text, /CA:TRUE/)
  }).timeout(60000)

  test('a CSR-only SLH-DSA-SHA2-128s CA produces a CSR that OpenSSL 3.5 verifies', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, {
      name: unique('SLH Issuing'),
      keyType: 'slh-dsa-sha2-128s',
      csrOnly: true,
    })
    assert.isTrue(await opensslReqVerify(ca.csrPem!, 'openssl35'))
    assert.match(await opensslText(ca.csrPem!, 'req', 'openssl35'), /SLH-DSA-SHA2-128s/i)
  }).timeout(120000)

  test('ML-DSA-65 is the default parameter set offered; the default key type is ECDSA P-256', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Default') })
    assert.equal(ca.keyType, 'ecdsa-p256')
    assert.equal(ca.signatureHash, 'sha256')
    const p384 = await createCa(client, { name: unique('P384'), keyType: 'ecdsa-p384' })
    assert.equal(p384.signatureHash, 'sha384')
  })

  test('an SLH-DSA-SHA2-128s root issues a certificate that OpenSSL 3.5 verifies', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, {
      name: unique('Root SLH-DSA'),
      keyType: 'slh-dsa-sha2-128s',
    })
    const rootOk = await opensslVerify({
      roots: [ca.certificatePem!],
      cert: ca.certificatePem!,
      binary: 'openssl35',
    })
    assert.isTrue(rootOk.ok, rootOk.output)
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ key: 'ec-p256', subject: '/CN=slh.example.com' })
    const issued = await issueCertificate(client, template.id, { csr: csrPem })
    issued.assertStatus(201)
    const verdict = await opensslVerify({
      roots: [ca.certificatePem!],
      cert: issued.body().certificate.certificatePem,
      binary: 'openssl35',
    })
    assert.isTrue(verdict.ok, verdict.output)
  }).timeout(180000)

  test('CA names are unique per install', async ({ client, assert }) => {
    const name = unique('Unique')
    await createCa(client, { name })
    const again = await client
      .post('/api/v1/cas')
      .bearerToken(await adminToken())
      .json({ name })
    again.assertStatus(409)
    assert.include(again.body().error.message, 'already exists')
  })

  test('bad CA input is refused with a clear message and nothing is stored', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const before = await db.from('cas').count('* as n').first()
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ name: unique('x'), keyType: 'rsa-1024' }, 422, 'not supported'],
      [{ name: '' }, 422, 'name'],
      [{ name: unique('x'), validityDays: 0 }, 422, 'validity'],
      [{ name: unique('x'), subject: { country: 'Germany' } }, 422, 'two-letter'],
      [{ name: unique('x'), pathLength: -1 }, 422, 'Path length'],
      [{ name: unique('x'), signatureHash: 'md5' }, 422, 'sha256'],
      [{ name: unique('x'), importKeyPem: 'garbage' }, 400, ''],
      [{ name: unique('x'), keyUsage: ['digitalSignature'] }, 422, 'keyCertSign'],
      // all digits would be read as a CA id ("DELETE /cas/7" is CA #7)
      [{ name: '2024' }, 422, 'only digits'],
      [{ name: 42 }, 422, 'must be text'],
      [{ name: unique('x'), subject: { commonName: 123 } }, 422, 'must be text'],
      [{ name: unique('x'), subject: ['CN=x'] }, 422, 'subject must be an object'],
      [{ name: unique('x'), importKeyPem: 'garbage', importKeyPassword: 123 }, 422, 'password'],
    ]
    for (const [body, status, message] of cases) {
      const response = await client.post('/api/v1/cas').bearerToken(token).json(body)
      assert.equal(response.status(), status, `${JSON.stringify(body)} → ${response.text()}`)
      assert.include(response.body().error.message, message)
    }
    const after = await db.from('cas').count('* as n').first()
    assert.equal(Number(after.n), Number(before.n))
  })
})

test.group('Certificate authorities: imported keys', () => {
  const forms: Array<[string, string[], string[] | null, string]> = [
    ['PKCS#1 RSA', ['genrsa', '-traditional', '2048'], null, 'rsa-2048'],
    [
      'PKCS#8 EC',
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
      null,
      'ecdsa-p384',
    ],
    ['SEC1 EC', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'], null, 'ecdsa-p256'],
    [
      'encrypted PKCS#8',
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'],
      ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:s3cret'],
      'rsa-3072',
    ],
  ]
  for (const [label, genArgs, wrapArgs, keyType] of forms) {
    test(`a CA can be created from an imported ${label} key`, async ({ client, assert }) => {
      const openssl = toolPath('openssl')
      const gen = await run(openssl, genArgs)
      assert.equal(gen.code, 0, gen.stderr)
      let pem = gen.stdout
      if (wrapArgs) {
        const wrapped = await run(openssl, wrapArgs, { input: pem })
        assert.equal(wrapped.code, 0, wrapped.stderr)
        pem = wrapped.stdout
      }
      const ca = await createCa(client, {
        name: unique(`Imported ${label}`),
        importKeyPem: pem,
        importKeyPassword: wrapArgs ? 's3cret' : undefined,
      })
      assert.equal(ca.keyType, keyType)
      // the certificate carries the imported key
      const pub = await run(
        openssl,
        ['pkey', '-pubout', ...(wrapArgs ? ['-passin', 'pass:s3cret'] : [])],
        { input: pem }
      )
      const certPub = await run(openssl, ['x509', '-noout', '-pubkey'], {
        input: ca.certificatePem!,
      })
      assert.equal(certPub.stdout.trim(), pub.stdout.trim())
    }).timeout(60000)
  }

  test('a wrong password or an unsupported key is refused', async ({ client, assert }) => {
    const openssl = toolPath('openssl')
    const gen = await run(openssl, [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
    ])
    const enc = await run(
      openssl,
      ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:right'],
      { input: gen.stdout }
    )
    const token = await adminToken()
    const wrong = await client
      .post('/api/v1/cas')
      .bearerToken(token)
      .json({ name: unique('Wrong pw'), importKeyPem: enc.stdout, importKeyPassword: 'wrong' })
    wrong.assertStatus(400)
    assert.match(wrong.body().error.message, /password/i)
    const small = await run(openssl, ['genrsa', '1024'])
    const weak = await client
      .post('/api/v1/cas')
      .bearerToken(token)
      .json({ name: unique('Weak'), importKeyPem: small.stdout })
    weak.assertStatus(400)
  })
})

test.group('Certificate authorities: CSR-only intermediates', () => {
  test('an intermediate signed by our root is activated and issues a chain OpenSSL accepts', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const root = await createCa(client, { name: unique('Chain Root'), keyType: 'ecdsa-p384' })
    const caTemplate = await createTemplate(client, root.id, {
      name: 'Intermediate CA',
      starter: 'certificate-authority',
    })
    caTemplate.assertStatus(201)

    const inter = await createCa(client, {
      name: unique('Issuing CA'),
      keyType: 'ecdsa-p256',
      csrOnly: true,
    })
    assert.equal(inter.status, 'pending')
    assert.match(inter.csrPem!, /BEGIN CERTIFICATE REQUEST/)
    // an inactive CA cannot issue
    const interTemplate = await webServerTemplate(client, inter.id)
    const { csrPem: leafCsr } = await opensslCsr({ subject: '/CN=leaf.example.com' })
    const early = await issueCertificate(client, interTemplate.id, { csr: leafCsr })
    early.assertStatus(409)

    const csrDownload = await client.get(`/api/v1/cas/${inter.id}/csr`).bearerToken(token)
    csrDownload.assertStatus(200)
    const signed = await issueCertificate(client, caTemplate.body().template.id, {
      csr: csrDownload.text(),
    })
    signed.assertStatus(201)
    const interPem = signed.body().certificate.certificatePem

    // a certificate for another key is refused
    const other = await createCa(client, { name: unique('Other') })
    const mismatch = await client
      .post(`/api/v1/cas/${inter.id}/certificate`)
      .bearerToken(token)
      .json({ certificatePem: other.certificatePem })
    mismatch.assertStatus(400)
    assert.include(mismatch.body().error.message, 'public key')

    const imported = await client
      .post(`/api/v1/cas/${inter.id}/certificate`)
      .bearerToken(token)
      .json({ certificatePem: interPem })
    imported.assertStatus(200)
    assert.equal(imported.body().ca.status, 'active')
    // Plugins see the chain above the intermediate (what ACME sends after the CA certificate).
    const { pluginHost } = await import('#plugins/host')
    const info = await pluginHost.get('example')!.runtime!.getCa(inter.id)
    assert.deepEqual(
      info!.chainPems.map((p) => p.replace(/\s/g, '')),
      [root.certificatePem!.replace(/\s/g, '')]
    )
    assert.deepEqual((await pluginHost.get('example')!.runtime!.getCa(root.id))!.chainPems, [])

    const leaf = await issueCertificate(client, interTemplate.id, { csr: leafCsr })
    leaf.assertStatus(201)
    const chain = await client.get(`/api/v1/cas/${inter.id}/chain`).bearerToken(token)
    assert.equal((chain.text().match(/BEGIN CERTIFICATE/g) ?? []).length, 2)
    const verdict = await opensslVerify({
      roots: [root.certificatePem!],
      untrusted: [interPem],
      cert: leaf.body().certificate.certificatePem,
      purpose: 'sslserver',
    })
    assert.isTrue(verdict.ok, verdict.output)
  }).timeout(60000)

  test('an externally signed intermediate needs a chain to a root', async ({ client, assert }) => {
    const token = await adminToken()
    const inter = await createCa(client, {
      name: unique('External Issuing'),
      keyType: 'rsa-2048',
      csrOnly: true,
    })
    // An "external" root made by OpenSSL signs the CSR.
    await withFiles({ 'inter.csr': inter.csrPem! }, async (p, dir) => {
      const openssl = toolPath('openssl')
      const root = await opensslSelfSigned(dir, {
        subject: '/CN=External Root',
        name: 'root',
        addext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
      })
      await run('sh', [
        '-c',
        `printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > ${dir}/ext.cnf`,
      ])
      const sign = await run(openssl, [
        'x509',
        '-req',
        '-in',
        p['inter.csr'],
        '-CA',
        `${dir}/root.pem`,
        '-CAkey',
        `${dir}/root.key`,
        '-CAcreateserial',
        '-days',
        '20',
        '-extfile',
        `${dir}/ext.cnf`,
        '-out',
        `${dir}/inter.pem`,
      ])
      assert.equal(sign.code, 0, sign.stderr)
      const { readFile } = await import('node:fs/promises')
      const interPem = await readFile(`${dir}/inter.pem`, 'utf8')
      const rootPem = root.certPem

      const noChain = await client
        .post(`/api/v1/cas/${inter.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: interPem })
      noChain.assertStatus(400)
      assert.include(noChain.body().error.message, 'chain')
      const garbage = await client
        .post(`/api/v1/cas/${inter.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: 'not a certificate' })
      garbage.assertStatus(400)

      const ok = await client
        .post(`/api/v1/cas/${inter.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: interPem, chainPem: rootPem })
      ok.assertStatus(200)
      const chain = await client.get(`/api/v1/cas/${inter.id}/chain`).bearerToken(token)
      assert.equal((chain.text().match(/BEGIN CERTIFICATE/g) ?? []).length, 2)

      const tpl = await webServerTemplate(client, inter.id)
      const { csrPem } = await opensslCsr({ key: 'rsa-2048', subject: '/CN=ext-leaf.example.com' })
      const leaf = await issueCertificate(client, tpl.id, { csr: csrPem })
      leaf.assertStatus(201)
      const verdict = await opensslVerify({
        roots: [rootPem],
        untrusted: [interPem],
        cert: leaf.body().certificate.certificatePem,
      })
      assert.isTrue(verdict.ok, verdict.output)
    })
  }).timeout(60000)
})

test.group('Certificate authorities: chains with cross-certificates', () => {
  test("a chain holding the root's cross-certificate before the root is accepted; a CA certificate without keyCertSign is not", async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const inter = await createCa(client, { name: unique('Cross Issuing'), csrOnly: true })
    const weak = await createCa(client, { name: unique('No keyCertSign'), csrOnly: true })
    await withFiles({ 'inter.csr': inter.csrPem!, 'weak.csr': weak.csrPem! }, async (p, dir) => {
      const openssl = toolPath('openssl')
      const caExt = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']
      // R is a root; X another root that cross-signs R (same name and key as R).
      const root = await opensslSelfSigned(dir, {
        subject: '/CN=R Root',
        name: 'root',
        addext: caExt,
      })
      await opensslSelfSigned(dir, { subject: '/CN=X Root', name: 'xroot', addext: caExt })
      const { writeFile, readFile } = await import('node:fs/promises')
      const ext = (usage: string) =>
        `basicConstraints=critical,CA:TRUE\nkeyUsage=critical,${usage}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`
      await writeFile(`${dir}/ca.cnf`, ext('keyCertSign,cRLSign'))
      await writeFile(`${dir}/weak.cnf`, ext('digitalSignature,cRLSign'))
      const sign = async (csr: string, issuer: string, cnf: string, out: string) => {
        const made = await run(openssl, [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          `${dir}/${issuer}.pem`,
          '-CAkey',
          `${dir}/${issuer}.key`,
          '-CAcreateserial',
          '-days',
          '20',
          '-extfile',
          `${dir}/${cnf}`,
          '-out',
          `${dir}/${out}`,
        ])
        assert.equal(made.code, 0, made.stderr)
        return readFile(`${dir}/${out}`, 'utf8')
      }
      const rootCsr = await run(openssl, [
        'x509',
        '-x509toreq',
        '-in',
        root.certPath,
        '-signkey',
        root.keyPath,
        '-out',
        `${dir}/root.csr`,
      ])
      assert.equal(rootCsr.code, 0, rootCsr.stderr)
      const cross = await sign(`${dir}/root.csr`, 'xroot', 'ca.cnf', 'cross.pem')
      const interPem = await sign(p['inter.csr'], 'root', 'ca.cnf', 'inter.pem')
      const weakPem = await sign(p['weak.csr'], 'root', 'weak.cnf', 'weak.pem')

      // The cross-certificate comes first and leads to X, which is not given: the builder goes
      // back and takes R itself (this was "No chain to a root can be built").
      const ok = await client
        .post(`/api/v1/cas/${inter.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: interPem, chainPem: [cross, root.certPem] })
      assert.equal(ok.status(), 200, ok.text())
      const tpl = await webServerTemplate(client, inter.id)
      const { csrPem } = await opensslCsr({ subject: '/CN=cross-leaf.example.com' })
      const leaf = await issueCertificate(client, tpl.id, { csr: csrPem })
      leaf.assertStatus(201)
      const verdict = await opensslVerify({
        roots: [root.certPem],
        untrusted: [interPem],
        cert: leaf.body().certificate.certificatePem,
      })
      assert.isTrue(verdict.ok, verdict.output)

      const refused = await client
        .post(`/api/v1/cas/${weak.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: weakPem, chainPem: root.certPem })
      refused.assertStatus(400)
      assert.include(refused.body().error.message, 'keyCertSign')
      const notText = await client
        .post(`/api/v1/cas/${weak.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: weakPem, chainPem: [42] })
      notText.assertStatus(422)
      const still = await client.get(`/api/v1/cas/${weak.id}`).bearerToken(token)
      assert.equal(still.body().ca.status, 'pending')
    })
  }).timeout(60000)
})

test.group('Certificate authorities: edit, download, delete, access', () => {
  test('downloads in PEM, DER and PKCS#7 are read by OpenSSL', async ({ client, assert }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Downloads') })
    const der = await client.get(`/api/v1/cas/${ca.id}/certificate?format=der`).bearerToken(token)
    der.assertStatus(200)
    assert.equal(der.header('content-type'), 'application/pkix-cert')
    const p7 = await client.get(`/api/v1/cas/${ca.id}/chain?format=p7b`).bearerToken(token)
    p7.assertStatus(200)
    const openssl = toolPath('openssl')
    const publicDer = await fetch(`${baseUrl()}/pki/ca/${ca.id}.crt`)
    assert.equal(publicDer.status, 200)
    const bytes = Buffer.from(await publicDer.arrayBuffer())
    const parsed = await run(openssl, ['x509', '-inform', 'DER', '-noout', '-subject'], {
      input: bytes,
    })
    assert.equal(parsed.code, 0, parsed.stderr)
    assert.include(parsed.stdout, 'Downloads')
    const p7raw = Buffer.from(
      await (
        await fetch(`${baseUrl()}/api/v1/cas/${ca.id}/chain?format=p7b`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).arrayBuffer()
    )
    const certs = await run(openssl, ['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], {
      input: p7raw,
    })
    assert.equal(certs.code, 0, certs.stderr)
    assert.include(certs.stdout, 'Downloads')
    const pem = await client.get(`/api/v1/cas/${ca.id}/certificate`).bearerToken(token)
    assert.equal(pem.text(), ca.certificatePem)
  })

  test('CPS URL, policy OID and service settings can be edited; other fields cannot', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Editable') })
    const edited = await client
      .patch(`/api/v1/cas/${ca.id}`)
      .bearerToken(token)
      .json({
        cpsUrl: 'https://pki.example.com/cps',
        policyOid: '1.3.6.1.4.1.55555.1.1',
        serviceSettings: { keyType: 'ecdsa-p384', hash: 'sha384' },
      })
    edited.assertStatus(200)
    assert.equal(edited.body().ca.cpsUrl, 'https://pki.example.com/cps')
    assert.deepEqual(edited.body().ca.serviceSettings, { keyType: 'ecdsa-p384', hash: 'sha384' })
    const refused = await client
      .patch(`/api/v1/cas/${ca.id}`)
      .bearerToken(token)
      .json({ keyType: 'rsa-2048' })
    refused.assertStatus(422)
    const badOid = await client
      .patch(`/api/v1/cas/${ca.id}`)
      .bearerToken(token)
      .json({ policyOid: 'not-an-oid' })
    badOid.assertStatus(422)
    const badKey = await client
      .patch(`/api/v1/cas/${ca.id}`)
      .bearerToken(token)
      .json({ serviceSettings: { keyType: 'dsa-1024' } })
    badKey.assertStatus(422)
  })

  test('deleting a CA removes its templates and certificates and is audited', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Doomed') })
    const tpl = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=doomed.example.com' })
    ;(await issueCertificate(client, tpl.id, { csr: csrPem })).assertStatus(201)
    const del = await client.delete(`/api/v1/cas/${ca.id}`).bearerToken(token)
    del.assertStatus(204)
    ;(await client.get(`/api/v1/cas/${ca.id}`).bearerToken(token)).assertStatus(404)
    assert.equal(
      Number((await db.from('templates').where('ca_id', ca.id).count('* as n').first()).n),
      0
    )
    assert.equal(
      Number((await db.from('certificates').where('ca_id', ca.id).count('* as n').first()).n),
      0
    )
    const entry = await db
      .from('audit_logs')
      .where({ action: 'ca.delete', object_id: String(ca.id) })
      .first()
    assert.exists(entry)
    assert.include(JSON.parse(entry.details).name, 'Doomed')
  })

  test('a user sees only the CAs they own', async ({ client, assert }) => {
    const alice = await userToken()
    const bob = await userToken()
    const created = await client
      .post('/api/v1/cas')
      .bearerToken(alice.token)
      .json({ name: unique('Alice CA') })
    created.assertStatus(201)
    const id = created.body().ca.id
    ;(await client.get(`/api/v1/cas/${id}`).bearerToken(alice.token)).assertStatus(200)
    ;(await client.get(`/api/v1/cas/${id}`).bearerToken(bob.token)).assertStatus(404)
    const list = await client.get('/api/v1/cas').bearerToken(bob.token)
    assert.notInclude(
      list.body().cas.map((c: any) => c.id),
      id
    )
    ;(await client.delete(`/api/v1/cas/${id}`).bearerToken(bob.token)).assertStatus(404)
  })

  test('service URLs include the CA certificate URL', async ({ client, assert }) => {
    const ca = await createCa(client, { name: unique('Urls') })
    const response = await client
      .get(`/api/v1/cas/${ca.id}/service-urls`)
      .bearerToken(await adminToken())
    const kinds = response.body().serviceUrls.map((u: any) => u.kind)
    assert.include(kinds, 'ca-certificate')
  })
})

test.group('Certificate authorities: races', () => {
  test('two concurrent creations of one CA name: one wins, the other gets a 409', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const name = unique('Race')
    const [a, b] = await Promise.all([
      client.post('/api/v1/cas').bearerToken(token).json({ name }),
      client.post('/api/v1/cas').bearerToken(token).json({ name }),
    ])
    assert.sameMembers([a.status(), b.status()], [201, 409])
    assert.equal(Number((await db.from('cas').where('name', name).count('* as n').first()).n), 1)
  }).timeout(60000)
})
