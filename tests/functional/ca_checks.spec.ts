/*
 * Checks at CA creation and activation: the pasted private key is never sent back by the admin
 * UI, key usage and signature hash are limited by the key type, and an intermediate's chain
 * must respect its issuers' path length, key usage and validity.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { readFile, writeFile } from 'node:fs/promises'
import { webUser } from '#tests/helpers/web'
import {
  adminToken,
  createCa,
  createTemplate,
  issueCertificate,
  unique,
  withFiles,
} from '#tests/helpers/api'
import { opensslSelfSigned, run, toolPath } from '#tests/helpers/external'

const ROOT_FORM = {
  keySource: 'generate',
  keyFamily: 'ecdsa',
  keyType: 'ecdsa-p256',
  validityDays: '3650',
  keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
}

test.group('CA checks · admin UI does not echo the private key', () => {
  test('a failed creation with a pasted key answers 422 without the key', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const gen = await run(toolPath('openssl'), [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
    ])
    assert.equal(gen.code, 0, gen.stderr)
    const keyPem = gen.stdout
    const base64 = keyPem
      .replace(/-----[^-]+-----/g, '')
      .replace(/\s+/g, '')
      .trim()
    assert.isAbove(base64.length, 40)

    const existing = await createCa(client, { name: unique('Taken') })
    const before = await db.from('cas').count('* as n').first()
    for (const htmx of [true, false]) {
      let request = client.post('/admin/cas')
      if (htmx) request = request.header('HX-Request', 'true')
      const response = await request
        .form({ ...ROOT_FORM, name: existing.name, keySource: 'import', importKeyPem: keyPem })
        .withCsrfToken()
        .loginAs(user)
      response.assertStatus(422)
      const html = response.text()
      assert.match(html, /already exists/)
      assert.include(html, 'name="importKeyPem"')
      // neither the whole base64 nor any of its lines
      assert.notInclude(html, base64)
      for (const line of keyPem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-')))
        assert.notInclude(html, line)
      assert.notInclude(html, 'BEGIN PRIVATE KEY-----\n')
      assert.match(html, /paste it \(or choose its file\) again/)
    }
    const after = await db.from('cas').count('* as n').first()
    assert.equal(Number(after.n), Number(before.n))
  }).timeout(60000)
})

test.group('CA checks · key usage by key type', () => {
  test('an ed25519 CA with keyEncipherment is refused', async ({ client, assert }) => {
    const token = await adminToken()
    const name = unique('Ed KU')
    const response = await client
      .post('/api/v1/cas')
      .bearerToken(token)
      .json({ name, keyType: 'ed25519', keyUsage: ['keyCertSign', 'cRLSign', 'keyEncipherment'] })
    response.assertStatus(422)
    assert.equal(response.body().error.code, 'E_VALIDATION')
    assert.include(response.body().error.message, 'keyEncipherment')
    assert.isNull(await db.from('cas').where('name', name).first())
  }).timeout(60000)

  test('an ecdsa-p256 CA with keyEncipherment is refused, also from an imported key', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const name = unique('EC KU')
    const response = await client
      .post('/api/v1/cas')
      .bearerToken(token)
      .json({
        name,
        keyType: 'ecdsa-p256',
        keyUsage: ['keyCertSign', 'cRLSign', 'keyEncipherment'],
      })
    response.assertStatus(422)
    assert.equal(response.body().error.code, 'E_VALIDATION')
    assert.include(response.body().error.message, 'keyEncipherment')
    assert.isNull(await db.from('cas').where('name', name).first())

    const gen = await run(toolPath('openssl'), ['genpkey', '-algorithm', 'ED25519'])
    assert.equal(gen.code, 0, gen.stderr)
    const imported = await client
      .post('/api/v1/cas')
      .bearerToken(token)
      .json({
        name: unique('Imported KU'),
        importKeyPem: gen.stdout,
        keyUsage: ['keyCertSign', 'keyAgreement'],
      })
    imported.assertStatus(422)
    assert.include(imported.body().error.message, 'keyAgreement')

    // encipherOnly without keyAgreement (RSA)
    const rsa = await client
      .post('/api/v1/cas')
      .bearerToken(token)
      .json({
        name: unique('RSA KU'),
        keyType: 'rsa-2048',
        keyUsage: ['keyCertSign', 'keyEncipherment', 'encipherOnly'],
      })
    rsa.assertStatus(422)
    assert.include(rsa.body().error.message, 'encipherOnly')
  }).timeout(60000)

  test('a normal CA is still created', async ({ client, assert }) => {
    const ed = await createCa(client, {
      name: unique('Ed OK'),
      keyType: 'ed25519',
      keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
    })
    assert.equal(ed.status, 'active')
    const rsa = await createCa(client, {
      name: unique('RSA OK'),
      keyType: 'rsa-2048',
      keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature', 'keyEncipherment'],
    })
    assert.equal(rsa.status, 'active')
  }).timeout(60000)
})

test.group('CA checks · signature hash by key type', () => {
  test('creation: the hash must suit the key; Ed25519 stores the default', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    for (const [keyType, hash] of [
      ['ecdsa-p256', 'sha512'],
      ['ecdsa-p384', 'sha256'],
    ]) {
      const name = unique(`Hash ${keyType}`)
      const response = await client
        .post('/api/v1/cas')
        .bearerToken(token)
        .json({ name, keyType, signatureHash: hash })
      response.assertStatus(422)
      assert.equal(response.body().error.code, 'E_VALIDATION')
      assert.include(response.body().error.message, hash)
      assert.include(
        response.body().error.message,
        keyType === 'ecdsa-p256' ? 'allowed: sha256' : 'allowed: sha384'
      )
      assert.isNull(await db.from('cas').where('name', name).first())
    }
    const p384 = await createCa(client, {
      name: unique('Hash ok'),
      keyType: 'ecdsa-p384',
      signatureHash: 'sha384',
    })
    assert.equal(p384.signatureHash, 'sha384')
    const rsa = await createCa(client, {
      name: unique('Hash rsa'),
      keyType: 'rsa-2048',
      signatureHash: 'sha512',
    })
    assert.equal(rsa.signatureHash, 'sha512')
    const ed = await createCa(client, {
      name: unique('Hash ed'),
      keyType: 'ed25519',
      signatureHash: 'sha512',
    })
    assert.equal(ed.signatureHash, 'sha256')
  }).timeout(60000)

  test('PATCH: the hash must suit the key', async ({ client, assert }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Patch hash'), keyType: 'ecdsa-p256' })
    const bad = await client
      .patch(`/api/v1/cas/${ca.id}`)
      .bearerToken(token)
      .json({ signatureHash: 'sha384' })
    bad.assertStatus(422)
    assert.equal(bad.body().error.code, 'E_VALIDATION')
    assert.include(bad.body().error.message, 'allowed: sha256')
    const row = await db.from('cas').where('id', ca.id).first()
    assert.equal(row.signature_hash, 'sha256')

    const ed = await createCa(client, { name: unique('Patch ed'), keyType: 'ed25519' })
    const ignored = await client
      .patch(`/api/v1/cas/${ed.id}`)
      .bearerToken(token)
      .json({ signatureHash: 'sha512' })
    ignored.assertStatus(200)
    assert.equal((await db.from('cas').where('id', ed.id).first()).signature_hash, 'sha256')
  }).timeout(60000)
})

test.group('CA checks · activating an intermediate', () => {
  test('an intermediate below a root with pathlen 0 is refused (issued here or by OpenSSL)', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    // Issued here: root A with pathLength 0 signs CSR-only CA B.
    const rootA = await createCa(client, { name: unique('PL0 Root'), pathLength: 0 })
    const tpl = await createTemplate(client, rootA.id, {
      name: 'Sub CA',
      starter: 'certificate-authority',
    })
    tpl.assertStatus(201)
    const caB = await createCa(client, { name: unique('PL0 Sub'), csrOnly: true })
    const signed = await issueCertificate(client, tpl.body().template.id, { csr: caB.csrPem })
    if (signed.status() === 201) {
      const activate = await client
        .post(`/api/v1/cas/${caB.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: signed.body().certificate.certificatePem })
      assert.equal(activate.status(), 400, activate.text())
      assert.include(activate.body().error.message, 'path length')
    } else {
      // issuance refused it already because of A's path length
      assert.include(signed.text().toLowerCase(), 'path')
    }
    assert.equal((await db.from('cas').where('id', caB.id).first()).status, 'pending')

    // Made by OpenSSL: root (pathlen:0) → intermediate → our CSR-only CA.
    const inter = await createCa(client, { name: unique('PL0 Ext Sub'), csrOnly: true })
    await withFiles({ 'b.csr': inter.csrPem! }, async (p, dir) => {
      const openssl = toolPath('openssl')
      const root = await opensslSelfSigned(dir, {
        subject: '/CN=PL0 External Root',
        name: 'root',
        addext: [
          'basicConstraints=critical,CA:TRUE,pathlen:0',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
      })
      const mid = await opensslSelfSigned(dir, { subject: '/CN=PL0 Mid', name: 'midself' })
      const midCsr = await run(openssl, [
        'x509',
        '-x509toreq',
        '-in',
        mid.certPath,
        '-signkey',
        mid.keyPath,
        '-out',
        `${dir}/mid.csr`,
      ])
      assert.equal(midCsr.code, 0, midCsr.stderr)
      await writeFile(
        `${dir}/ca.cnf`,
        'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
      )
      const sign = async (csr: string, issuer: string, issuerKey: string, out: string) => {
        const made = await run(openssl, [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          issuer,
          '-CAkey',
          issuerKey,
          '-CAcreateserial',
          '-days',
          '20',
          '-extfile',
          `${dir}/ca.cnf`,
          '-out',
          `${dir}/${out}`,
        ])
        assert.equal(made.code, 0, made.stderr)
        return readFile(`${dir}/${out}`, 'utf8')
      }
      const midPem = await sign(`${dir}/mid.csr`, root.certPath, root.keyPath, 'mid.pem')
      const bPem = await sign(p['b.csr'], `${dir}/mid.pem`, mid.keyPath, 'b.pem')

      const refused = await client
        .post(`/api/v1/cas/${inter.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: bPem, chainPem: [midPem, root.certPem] })
      assert.equal(refused.status(), 400, refused.text())
      assert.include(refused.body().error.message, 'path length constraint 0')
      assert.include(refused.body().error.message, 'PL0 External Root')
      assert.equal((await db.from('cas').where('id', inter.id).first()).status, 'pending')
    })
  }).timeout(90000)

  test('a certificate not valid yet, or an issuer without keyCertSign, is refused', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const future = await createCa(client, { name: unique('Future Sub'), csrOnly: true })
    const weakIssuer = await createCa(client, { name: unique('Weak issuer Sub'), csrOnly: true })
    await withFiles({ 'f.csr': future.csrPem!, 'w.csr': weakIssuer.csrPem! }, async (p, dir) => {
      const openssl = toolPath('openssl')
      const root = await opensslSelfSigned(dir, {
        subject: '/CN=Checks Root',
        name: 'root',
        addext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
      })
      const weakRoot = await opensslSelfSigned(dir, {
        subject: '/CN=Checks Weak Root',
        name: 'weakroot',
        addext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature'],
      })
      await writeFile(
        `${dir}/ca.cnf`,
        'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
      )
      // starts in ten days (`x509 -req -not_before` needs OpenSSL 3.4 or later)
      const startsLater = await run(toolPath('openssl35'), [
        'x509',
        '-req',
        '-in',
        p['f.csr'],
        '-CA',
        root.certPath,
        '-CAkey',
        root.keyPath,
        '-CAcreateserial',
        '-not_before',
        new Date(Date.now() + 10 * 86400_000)
          .toISOString()
          .replace(/[-:T]/g, '')
          .replace(/\.\d+Z$/, 'Z')
          .slice(2),
        '-days',
        '30',
        '-extfile',
        `${dir}/ca.cnf`,
        '-out',
        `${dir}/f.pem`,
      ])
      assert.equal(startsLater.code, 0, startsLater.stderr)
      const refused = await client
        .post(`/api/v1/cas/${future.id}/certificate`)
        .bearerToken(token)
        .json({ certificatePem: await readFile(`${dir}/f.pem`, 'utf8'), chainPem: root.certPem })
      assert.equal(refused.status(), 400, refused.text())
      assert.include(refused.body().error.message, 'not valid yet')
      assert.include(refused.body().error.message, 'starts on')

      const weak = await run(openssl, [
        'x509',
        '-req',
        '-in',
        p['w.csr'],
        '-CA',
        weakRoot.certPath,
        '-CAkey',
        weakRoot.keyPath,
        '-CAcreateserial',
        '-days',
        '20',
        '-extfile',
        `${dir}/ca.cnf`,
        '-out',
        `${dir}/w.pem`,
      ])
      assert.equal(weak.code, 0, weak.stderr)
      const refusedWeak = await client
        .post(`/api/v1/cas/${weakIssuer.id}/certificate`)
        .bearerToken(token)
        .json({
          certificatePem: await readFile(`${dir}/w.pem`, 'utf8'),
          chainPem: weakRoot.certPem,
        })
      assert.equal(refusedWeak.status(), 400, refusedWeak.text())
      assert.include(refusedWeak.body().error.message, 'no keyCertSign')
    })
  }).timeout(90000)
})
