/*
 * Admin UI: Create New CA, Manage CAs, the CA page (details, CSR + Import Signed Certificate,
 * edit, delete, service URLs, downloads, plugin tabs and fragments).
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { join } from 'node:path'
import { readFile, writeFile } from 'node:fs/promises'
import { ApiRequest, type ApiClient } from '@japa/api-client'
import { webUser } from '#tests/helpers/web'
import { createCa, issueCertificate, opensslCsr, unique } from '#tests/helpers/api'
import {
  opensslReqVerify,
  opensslText,
  opensslVerify,
  run,
  toolPath,
  withTempDir,
} from '#tests/helpers/external'
import { uiRegistry } from '#plugins/ui_registry'
import type User from '#models/user'
import * as pki from '#pki/index'

const ROOT_FORM = {
  keySource: 'generate',
  keyFamily: 'ecdsa',
  keyType: 'ecdsa-p256',
  validityDays: '3650',
  keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
}

/** Creates a CA through the Create New CA form (htmx) as `user`; returns its row. */
async function createCaInUi(client: ApiClient, user: User, fields: Record<string, unknown> = {}) {
  const name = (fields.name as string) ?? unique('UI CA')
  const response = await client
    .post('/admin/cas')
    .header('HX-Request', 'true')
    .form({ ...ROOT_FORM, ...fields, name })
    .withCsrfToken()
    .loginAs(user)
  if (response.status() !== 201)
    throw new Error(`create failed ${response.status()}: ${response.text()}`)
  return db.from('cas').where('name', name).first()
}

function pem(der: Uint8Array) {
  return pki.toPem(der, 'CERTIFICATE')
}

/** Download types whose bytes the tests read as they are (registered for this file only). */
const DOWNLOAD_TYPES = [
  'application/pkix-cert',
  'application/pkcs7-mime',
  'application/x-pem-file',
  'application/pkcs10',
]

function rawBody(res: any, done: (error: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = []
  res.on('data', (c: Buffer) => chunks.push(c))
  res.on('end', () => done(null, Buffer.concat(chunks)))
  res.on('error', (e: Error) => done(e, Buffer.alloc(0)))
}

test.group('Admin UI · Create New CA', (group) => {
  group.setup(() => {
    for (const type of DOWNLOAD_TYPES) ApiRequest.addParser(type, rawBody)
  })
  group.teardown(() => {
    for (const type of DOWNLOAD_TYPES) ApiRequest.removeParser(type)
  })

  test('the form offers every kernel option; a user with no CA lands on it', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const home = await client.get('/admin').loginAs(user).redirects(0)
    assert.equal(home.header('location'), '/admin/cas/new')
    const page = await client.get('/admin/cas/new').loginAs(user)
    page.assertStatus(200)
    const html = page.text()
    assert.include(html, '<h1>Create New CA</h1>')
    for (const name of [
      'name="name"',
      'name="organization"',
      'name="organizationalUnit"',
      'name="country"',
      'name="state"',
      'name="locality"',
      'name="email"',
      'name="keyFamily"',
      'name="signatureHash"',
      'name="validityDays"',
      'name="pathLength"',
      'name="keyUsage[]"',
      'name="extKeyUsage[]"',
      'name="csrOnly"',
      'name="importKeyPem"',
      'name="importKeyFile"',
      'name="importKeyPassword"',
    ]) {
      assert.include(html, name)
    }
    for (const keyType of [
      'rsa-2048',
      'rsa-3072',
      'rsa-4096',
      'ecdsa-p256',
      'ecdsa-p384',
      'ecdsa-p521',
      'ed25519',
      'ml-dsa-44',
      'ml-dsa-65',
      'ml-dsa-87',
      'slh-dsa-sha2-128s',
      'slh-dsa-sha2-192s',
      'slh-dsa-sha2-256s',
    ]) {
      assert.include(html, `value="${keyType}"`)
    }
    // ML-DSA's parameter set defaults to 65 (manual §3.2.1)
    assert.match(html, /<option value="ml-dsa-65" selected>/)
  })

  test('creates a root CA with its subject, hash, validity and path length; it becomes current', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const name = unique('Root')
    const response = await client
      .post('/admin/cas')
      .header('HX-Request', 'true')
      .form({
        ...ROOT_FORM,
        name,
        organization: 'Example Org',
        organizationalUnit: 'PKI',
        country: 'de',
        state: 'Berlin',
        locality: 'Berlin',
        email: 'pki@example.com',
        keyFamily: 'ecdsa',
        keyType: 'ecdsa-p384',
        // the hash that goes with P-384 (allowedHashes: the usual curve/hash pairing)
        signatureHash: 'sha384',
        validityDays: '1000',
        pathLength: '1',
      })
      .withCsrfToken()
      .loginAs(user)
    response.assertStatus(201)
    assert.equal(response.header('hx-redirect'), '/admin/cas')
    const row = await db.from('cas').where('name', name).first()
    assert.equal(row.status, 'active')
    assert.equal(row.key_type, 'ecdsa-p384')
    assert.equal(row.signature_hash, 'sha384')
    assert.equal(row.path_length, 1)
    const member = await db.from('ca_members').where({ ca_id: row.id, user_id: user.id }).first()
    assert.equal(member.role, 'owner')
    const text = await opensslText(pem(row.certificate), 'x509')
    assert.match(text, /O ?= ?Example Org/)
    assert.match(text, /C ?= ?DE/)
    assert.include(text, 'pathlen:1')
    assert.include(text, 'ecdsa-with-SHA384')

    const list = await client.get('/admin/cas').loginAs(user)
    list.assertStatus(200)
    assert.include(list.text(), name)
    assert.include(list.text(), 'ECDSA P-384')
    assert.include(list.text(), 'Certificates')
    // the new CA is the current one in the dropdown
    assert.match(list.text(), new RegExp(`<option value="${row.id}" selected>`))
  })

  test('post-quantum and Ed25519 CAs', async ({ client, assert }) => {
    const user = await webUser()
    for (const [family, keyType] of [
      ['ml-dsa', 'ml-dsa-65'],
      ['ed25519', 'ed25519'],
    ]) {
      const row = await createCaInUi(client, user, { keyFamily: family, keyType })
      assert.equal(row.key_type, keyType)
      assert.equal(row.status, 'active')
    }
  })

  test('bad input: errors next to their fields, nothing created', async ({ client, assert }) => {
    const user = await webUser()
    const before = await db.from('cas').count('* as n').first()
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ country: 'Germany' }, 'country', /two-letter ISO 3166/],
      [{ validityDays: '0' }, 'validityDays', /between 1 and 36500/],
      [{ pathLength: '99' }, 'pathLength', /0 to 32/],
      [{ keyUsage: ['digitalSignature'] }, 'keyUsage', /keyCertSign/],
      [{ cpsUrl: 'ftp://x' }, 'cpsUrl', /http/],
      [{ policyOid: 'not-an-oid' }, 'policyOid', /dotted object identifier/],
      [{ keyType: 'rsa-1024' }, 'keyFamily', /not supported/],
      // without JavaScript the key size may not match the chosen key type
      [{ keyFamily: 'rsa' }, 'keyFamily', /Choose the key size for RSA/],
    ]
    for (const [fields, field, message] of cases) {
      const name = unique('Bad')
      const response = await client
        .post('/admin/cas')
        .header('HX-Request', 'true')
        .form({ ...ROOT_FORM, name, ...fields })
        .withCsrfToken()
        .loginAs(user)
      response.assertStatus(422)
      const html = response.text()
      assert.notInclude(html, '<html', 'an htmx fragment, not a page')
      assert.include(html, 'id="ca-form"')
      // the message sits inside the field's own block
      const block = fieldBlock(html, field)
      assert.include(block, 'has-error', `${field} marked`)
      assert.match(block, message)
      assert.isNull(await db.from('cas').where('name', name).first())
    }
    // the submitted values are kept
    const kept = await client
      .post('/admin/cas')
      .header('HX-Request', 'true')
      .form({ ...ROOT_FORM, name: 'Keep me', organization: 'Kept Org', country: 'XXX' })
      .withCsrfToken()
      .loginAs(user)
    assert.include(kept.text(), 'value="Kept Org"')

    // empty name, as a plain form post: the whole page with the error
    const empty = await client
      .post('/admin/cas')
      .form({ ...ROOT_FORM, name: '' })
      .withCsrfToken()
      .loginAs(user)
    empty.assertStatus(422)
    assert.include(empty.text(), '<html')
    assert.match(fieldBlock(empty.text(), 'name'), /name \(1–200 characters\) is required/)

    // a duplicate name
    const existing = await createCaInUi(client, user)
    const dup = await client
      .post('/admin/cas')
      .header('HX-Request', 'true')
      .form({ ...ROOT_FORM, name: existing.name })
      .withCsrfToken()
      .loginAs(user)
    dup.assertStatus(422)
    assert.match(fieldBlock(dup.text(), 'name'), /already exists/)

    const after = await db.from('cas').count('* as n').first()
    assert.equal(Number(after.n), Number(before.n) + 1)
  })

  test('imports an encrypted PKCS#8 key from a file; a wrong password is shown next to the password', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    await withTempDir(async (dir) => {
      const keyFile = join(dir, 'key.pem')
      const gen = await run(toolPath('openssl'), [
        'genpkey',
        '-algorithm',
        'EC',
        '-pkeyopt',
        'ec_paramgen_curve:P-384',
        '-aes-256-cbc',
        '-pass',
        'pass:correct horse',
        '-out',
        keyFile,
      ])
      assert.equal(gen.code, 0, gen.stderr)

      const wrongName = unique('Imported')
      const wrong = await client
        .post('/admin/cas')
        .header('HX-Request', 'true')
        .field('name', wrongName)
        .field('keySource', 'import')
        .field('validityDays', '365')
        .field('keyUsage[]', ['keyCertSign', 'cRLSign'])
        .field('importKeyPassword', 'wrong')
        .file('importKeyFile', keyFile)
        .withCsrfToken()
        .loginAs(user)
      wrong.assertStatus(422)
      assert.match(fieldBlock(wrong.text(), 'importKeyPassword'), /password/)
      assert.isNull(await db.from('cas').where('name', wrongName).first())

      const name = unique('Imported')
      const ok = await client
        .post('/admin/cas')
        .header('HX-Request', 'true')
        .field('name', name)
        .field('keySource', 'import')
        .field('validityDays', '365')
        .field('keyUsage[]', ['keyCertSign', 'cRLSign'])
        .field('importKeyPassword', 'correct horse')
        .file('importKeyFile', keyFile)
        .withCsrfToken()
        .loginAs(user)
      ok.assertStatus(201)
      const row = await db.from('cas').where('name', name).first()
      assert.equal(row.key_type, 'ecdsa-p384')
      // the certificate carries the imported key
      const certFile = join(dir, 'ca.pem')
      await writeFile(certFile, pem(row.certificate))
      const fromCert = await run(toolPath('openssl'), [
        'x509',
        '-in',
        certFile,
        '-noout',
        '-pubkey',
      ])
      const fromKey = await run(toolPath('openssl'), [
        'pkey',
        '-in',
        keyFile,
        '-passin',
        'pass:correct horse',
        '-pubout',
      ])
      assert.equal(fromCert.stdout, fromKey.stdout)

      // garbage pasted as the key
      const bad = await client
        .post('/admin/cas')
        .header('HX-Request', 'true')
        .form({ ...ROOT_FORM, name: unique('Bad key'), keySource: 'import', importKeyPem: 'nope' })
        .withCsrfToken()
        .loginAs(user)
      bad.assertStatus(422)
      assert.include(fieldBlock(bad.text(), 'importKeyPem'), 'has-error')
    })
  })
})

test.group('Admin UI · CSR-only intermediate', (group) => {
  group.setup(() => {
    for (const type of DOWNLOAD_TYPES) ApiRequest.addParser(type, rawBody)
  })
  group.teardown(() => {
    for (const type of DOWNLOAD_TYPES) ApiRequest.removeParser(type)
  })

  test('CSR page, download, and Import Signed Certificate with clear errors', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const name = unique('Intermediate')
    const created = await client
      .post('/admin/cas')
      .header('HX-Request', 'true')
      .form({ ...ROOT_FORM, name, csrOnly: 'on', pathLength: '0' })
      .withCsrfToken()
      .loginAs(user)
    created.assertStatus(201)
    const row = await db.from('cas').where('name', name).first()
    assert.equal(row.status, 'pending')
    assert.equal(created.header('hx-redirect'), `/admin/cas/${row.id}/csr`)

    const page = await client.get(`/admin/cas/${row.id}/csr`).loginAs(user)
    page.assertStatus(200)
    assert.include(page.text(), 'BEGIN CERTIFICATE REQUEST')
    assert.include(page.text(), 'Import Signed Certificate')

    const download = await client.get(`/admin/cas/${row.id}/csr.pem`).loginAs(user)
    download.assertStatus(200)
    assert.equal(download.header('content-type'), 'application/pkcs10')
    assert.match(download.header('content-disposition') ?? '', /attachment; filename=".+\.csr"/)
    const csrPem = Buffer.from(download.body()).toString('utf8')
    assert.isTrue(await opensslReqVerify(csrPem))

    // No certificate downloads before activation
    const early = await client.get(`/admin/cas/${row.id}/download?format=pem`).loginAs(user)
    early.assertStatus(409)

    // An external root (OpenSSL) signs the CSR
    await withTempDir(async (dir) => {
      const o = toolPath('openssl')
      const f = (n: string) => join(dir, n)
      await writeFile(f('req.pem'), csrPem)
      await writeFile(
        f('ext.cnf'),
        'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
      )
      let r = await run(o, [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        f('root.key'),
        '-subj',
        '/CN=External Root',
        '-days',
        '30',
        '-out',
        f('root.pem'),
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ])
      assert.equal(r.code, 0, r.stderr)
      r = await run(o, [
        'x509',
        '-req',
        '-in',
        f('req.pem'),
        '-CA',
        f('root.pem'),
        '-CAkey',
        f('root.key'),
        '-CAcreateserial',
        '-days',
        '20',
        '-extfile',
        f('ext.cnf'),
        '-out',
        f('int.pem'),
      ])
      assert.equal(r.code, 0, r.stderr)
      r = await run(o, ['x509', '-in', f('int.pem'), '-outform', 'DER', '-out', f('int.der')])
      assert.equal(r.code, 0, r.stderr)
      const rootPem = await readFile(f('root.pem'), 'utf8')

      // a certificate for another key
      const other = await readFile(f('root.pem'), 'utf8')
      const mismatch = await client
        .post(`/admin/cas/${row.id}/certificate`)
        .header('HX-Request', 'true')
        .header('HX-Target', 'tab-panel')
        .form({ certificatePem: other })
        .withCsrfToken()
        .loginAs(user)
      mismatch.assertStatus(422)
      assert.match(fieldBlock(mismatch.text(), 'certificatePem'), /not the key of CA/)

      // the right certificate, as a DER file, but no chain to a root
      const noChain = await client
        .post(`/admin/cas/${row.id}/certificate`)
        .header('HX-Request', 'true')
        .header('HX-Target', 'tab-panel')
        .file('certificateFile', f('int.der'))
        .withCsrfToken()
        .loginAs(user)
      noChain.assertStatus(422)
      assert.match(fieldBlock(noChain.text(), 'chainPem'), /No chain to a root/)

      // garbage in the chain field
      const badChain = await client
        .post(`/admin/cas/${row.id}/certificate`)
        .header('HX-Request', 'true')
        .header('HX-Target', 'tab-panel')
        .field('chainPem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
        .file('certificateFile', f('int.der'))
        .withCsrfToken()
        .loginAs(user)
      badChain.assertStatus(422)
      assert.include(fieldBlock(badChain.text(), 'chainPem'), 'has-error')
      assert.equal((await db.from('cas').where('id', row.id).first()).status, 'pending')

      const ok = await client
        .post(`/admin/cas/${row.id}/certificate`)
        .header('HX-Request', 'true')
        .field('chainPem', rootPem)
        .file('certificateFile', f('int.der'))
        .withCsrfToken()
        .loginAs(user)
      ok.assertStatus(204)
      assert.equal(ok.header('hx-redirect'), `/admin/cas/${row.id}`)
      assert.equal((await db.from('cas').where('id', row.id).first()).status, 'active')

      // chain downloads hold the intermediate and the external root; openssl verifies
      const chain = await client.get(`/admin/cas/${row.id}/download?format=chain`).loginAs(user)
      chain.assertStatus(200)
      const chainPem = Buffer.from(chain.body()).toString('utf8')
      assert.equal(chainPem.match(/BEGIN CERTIFICATE/g)?.length, 2)
      const intPem = await readFile(f('int.pem'), 'utf8')
      const verified = await opensslVerify({ roots: [rootPem], cert: intPem })
      assert.isTrue(verified.ok, verified.output)
    })
  })
})

test.group('Admin UI · CA page', (group) => {
  group.setup(() => {
    for (const type of DOWNLOAD_TYPES) ApiRequest.addParser(type, rawBody)
  })
  group.teardown(() => {
    for (const type of DOWNLOAD_TYPES) ApiRequest.removeParser(type)
  })
  let cleanup: Array<() => void> = []
  group.each.teardown(() => {
    for (const c of cleanup) c()
    cleanup = []
  })

  test('details tab, htmx tab fragments, plugin tabs and fragments', async ({ client, assert }) => {
    const user = await webUser()
    const ca = await createCaInUi(client, user)
    cleanup.push(
      uiRegistry.addTab({
        owner: 'test-plugin',
        scope: 'ca',
        id: 'test',
        label: 'Test Plugin Tab',
        isActive: () => true,
      }),
      uiRegistry.addTab({
        owner: 'off-plugin',
        scope: 'ca',
        id: 'off',
        label: 'Disabled Plugin Tab',
        isActive: () => false,
      }),
      uiRegistry.addFragment({
        owner: 'test-plugin',
        zone: 'ca.details.after',
        isActive: () => true,
        render: ({ caId }) => `<p id="plugin-fragment">fragment for CA ${caId}</p>`,
      })
    )
    const page = await client.get(`/admin/cas/${ca.id}`).loginAs(user)
    page.assertStatus(200)
    const html = page.text()
    assert.include(html, ca.subject_dn)
    assert.include(html, 'SHA-256 fingerprint')
    assert.include(html, `hx-get="/admin/plugin-tabs/ca/${ca.id}/test-plugin"`)
    assert.include(html, 'Test Plugin Tab')
    assert.notInclude(html, 'Disabled Plugin Tab')
    assert.include(html, `<p id="plugin-fragment">fragment for CA ${ca.id}</p>`)
    assert.include(html, `hx-get="/admin/cas/${ca.id}/edit"`)

    const fragment = await client
      .get(`/admin/cas/${ca.id}/edit`)
      .header('HX-Request', 'true')
      .header('HX-Target', 'tab-panel')
      .loginAs(user)
    fragment.assertStatus(200)
    assert.notInclude(fragment.text(), '<html')
    assert.include(fragment.text(), 'id="ca-edit-form"')
    // the same URL without htmx is the whole page with that tab
    const full = await client.get(`/admin/cas/${ca.id}/edit`).loginAs(user)
    assert.include(full.text(), '<html')
    assert.include(full.text(), 'id="ca-edit-form"')
  })

  test('edit: errors next to fields, then saved and audited', async ({ client, assert }) => {
    const user = await webUser()
    // RSA: any of the three hashes may be chosen (an ECDSA key has one, its curve's)
    const ca = await createCaInUi(client, user, { keyFamily: 'rsa', keyType: 'rsa-2048' })
    const bad = await client
      .post(`/admin/cas/${ca.id}/edit`)
      .header('HX-Request', 'true')
      .header('HX-Target', 'tab-panel')
      .form({ name: ca.name, cpsUrl: 'not a url', policyOid: '', signatureHash: 'sha256' })
      .withCsrfToken()
      .loginAs(user)
    bad.assertStatus(422)
    assert.match(fieldBlock(bad.text(), 'cpsUrl'), /http:\/\/ or https:\/\//)
    assert.include(bad.text(), 'value="not a url"')
    assert.isNull((await db.from('cas').where('id', ca.id).first()).cps_url)

    const newName = unique('Renamed')
    const ok = await client
      .post(`/admin/cas/${ca.id}/edit`)
      .header('HX-Request', 'true')
      .form({
        name: newName,
        cpsUrl: 'https://pki.example.com/cps',
        policyOid: '1.3.6.1.4.1.99999.1',
        signatureHash: 'sha384',
        serviceKeyType: 'rsa-3072',
        serviceHash: 'sha512',
      })
      .withCsrfToken()
      .loginAs(user)
    ok.assertStatus(204)
    assert.equal(ok.header('hx-redirect'), `/admin/cas/${ca.id}/edit`)
    const row = await db.from('cas').where('id', ca.id).first()
    assert.equal(row.name, newName)
    assert.equal(row.cps_url, 'https://pki.example.com/cps')
    assert.equal(row.policy_oid, '1.3.6.1.4.1.99999.1')
    assert.equal(row.signature_hash, 'sha384')
    assert.deepEqual(JSON.parse(row.service_settings), { keyType: 'rsa-3072', hash: 'sha512' })
    const audit = await db.from('audit_logs').where({ ca_id: ca.id, action: 'ca.update' }).first()
    assert.isNotNull(audit)

    const page = await client.get(`/admin/cas/${ca.id}/edit`).loginAs(user)
    assert.include(page.text(), `value="${newName}"`)
    assert.match(page.text(), /<option value="rsa-3072" selected>/)
  })

  test('downloads: PEM, DER, chain, PKCS#7 with the right types, read by openssl', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await createCaInUi(client, user)
    const modal = await client
      .get(`/admin/cas/${ca.id}/downloads`)
      .header('HX-Request', 'true')
      .loginAs(user)
    modal.assertStatus(200)
    for (const format of ['pem', 'der', 'chain', 'p7b']) {
      assert.include(modal.text(), `/admin/cas/${ca.id}/download?format=${format}`)
    }
    const safe = ca.name.replace(/[^A-Za-z0-9._-]+/g, '_')
    const expected: Record<string, [string, string]> = {
      pem: ['application/x-pem-file', `${safe}.pem`],
      der: ['application/pkix-cert', `${safe}.crt`],
      chain: ['application/x-pem-file', `${safe}-chain.pem`],
      p7b: ['application/pkcs7-mime', `${safe}.p7b`],
    }
    await withTempDir(async (dir) => {
      for (const [format, [type, filename]] of Object.entries(expected)) {
        const r = await client.get(`/admin/cas/${ca.id}/download?format=${format}`).loginAs(user)
        r.assertStatus(200)
        assert.equal(r.header('content-type'), type)
        assert.equal(r.header('content-disposition'), `attachment; filename="${filename}"`)
        const file = join(dir, filename)
        await writeFile(file, Buffer.from(r.body()))
        const args =
          format === 'p7b'
            ? ['pkcs7', '-inform', 'DER', '-in', file, '-print_certs', '-noout']
            : [
                'x509',
                '-inform',
                format === 'der' ? 'DER' : 'PEM',
                '-in',
                file,
                '-noout',
                '-subject',
              ]
        const out = await run(toolPath('openssl'), args)
        assert.equal(out.code, 0, out.stderr)
        assert.include(out.stdout, ca.name)
      }
      const der = await readFile(join(dir, `${safe}.crt`))
      assert.deepEqual(new Uint8Array(der), new Uint8Array(ca.certificate))
    })
    const unknown = await client.get(`/admin/cas/${ca.id}/download?format=zip`).loginAs(user)
    unknown.assertStatus(422)
  })

  test('Show CA Service URLs modal', async ({ client, assert }) => {
    const user = await webUser()
    const ca = await createCaInUi(client, user)
    const r = await client
      .get(`/admin/cas/${ca.id}/service-urls`)
      .header('HX-Request', 'true')
      .loginAs(user)
    r.assertStatus(200)
    assert.include(r.text(), 'id="modal-title"')
    assert.include(r.text(), `/pki/ca/${ca.id}.crt`)
    assert.include(r.text(), `/pki/ca/${ca.id}/chain.pem`)
  })

  test('delete: a confirmation naming templates and certificates; audited', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await createCaInUi(client, user)
    const template = await db.from('templates').where('ca_id', ca.id).first()
    const { csrPem } = await opensslCsr({ sans: ['DNS:host.example.com'] })
    const issued = await issueCertificate(client, template.id, { csr: csrPem })
    issued.assertStatus(201)

    const confirm = await client
      .get(`/admin/cas/${ca.id}/delete`)
      .header('HX-Request', 'true')
      .loginAs(user)
    confirm.assertStatus(200)
    assert.include(confirm.text(), '1 certificate template;')
    assert.include(confirm.text(), '1 issued certificate (1 valid')
    assert.include(confirm.text(), 'cannot be undone')

    const wrong = await client
      .post(`/admin/cas/${ca.id}/delete`)
      .header('HX-Request', 'true')
      .form({ confirmName: 'something else' })
      .withCsrfToken()
      .loginAs(user)
    wrong.assertStatus(422)
    assert.match(fieldBlock(wrong.text(), 'confirmName'), /Type the CA name exactly/)
    assert.isNotNull(await db.from('cas').where('id', ca.id).first())

    const ok = await client
      .post(`/admin/cas/${ca.id}/delete`)
      .header('HX-Request', 'true')
      .form({ confirmName: ca.name })
      .withCsrfToken()
      .loginAs(user)
    ok.assertStatus(204)
    assert.equal(ok.header('hx-redirect'), '/admin/cas')
    assert.isNull(await db.from('cas').where('id', ca.id).first())
    assert.isNull(await db.from('templates').where('ca_id', ca.id).first())
    assert.isNull(await db.from('certificates').where('ca_id', ca.id).first())
    const audit = await db
      .from('audit_logs')
      .where({ action: 'ca.delete', object_id: String(ca.id) })
      .first()
    assert.include(audit.details, '"certificates":1')
  })

  test("another user's CA is not found on every CA page and action", async ({ client, assert }) => {
    const owner = await webUser()
    const other = await webUser()
    const ca = await createCaInUi(client, owner)
    await createCaInUi(client, other)
    for (const path of [
      `/admin/cas/${ca.id}`,
      `/admin/cas/${ca.id}/csr`,
      `/admin/cas/${ca.id}/csr.pem`,
      `/admin/cas/${ca.id}/edit`,
      `/admin/cas/${ca.id}/delete`,
      `/admin/cas/${ca.id}/service-urls`,
      `/admin/cas/${ca.id}/downloads`,
      `/admin/cas/${ca.id}/download?format=pem`,
    ]) {
      const r = await client.get(path).loginAs(other)
      assert.equal(r.status(), 404, path)
    }
    for (const [path, form] of [
      [`/admin/cas/${ca.id}/edit`, { name: 'stolen' }],
      [`/admin/cas/${ca.id}/delete`, { confirmName: ca.name }],
      [`/admin/cas/${ca.id}/certificate`, { certificatePem: 'x' }],
    ] as const) {
      const r = await client.post(path).form(form).withCsrfToken().loginAs(other)
      assert.equal(r.status(), 404, path)
    }
    const row = await db.from('cas').where('id', ca.id).first()
    assert.equal(row.name, ca.name)
    // and the list shows only their own CA
    const list = await client.get('/admin/cas').loginAs(other)
    assert.notInclude(list.text(), ca.name)
    // an install administrator reaches it
    const admin = await webUser({ isAdmin: true })
    ;(await client.get(`/admin/cas/${ca.id}`).loginAs(admin)).assertStatus(200)
  })

  test('an API-created CSR-only CA shows in the list as waiting', async ({ client, assert }) => {
    const admin = await webUser({ isAdmin: true })
    const ca = await createCa(client, { name: unique('API pending'), csrOnly: true })
    const list = await client.get('/admin/cas').loginAs(admin)
    assert.include(list.text(), ca.name)
    assert.include(list.text(), `/admin/cas/${ca.id}/csr`)
  })
})

/**
 * The HTML of the form field holding the input named `name`: from the enclosing
 * `<div class="field ...">` to the next field, so assertions see that field's own error.
 */
function fieldBlock(html: string, name: string): string {
  const at = html.search(new RegExp(`name="${name.replace(/[[\]]/g, '\\$&')}(\\[\\])?"`))
  if (at < 0) throw new Error(`no input named ${name}`)
  const start = html.lastIndexOf('class="field', at)
  const next = html.indexOf('class="field', at)
  return html.slice(start, next < 0 ? undefined : next)
}
