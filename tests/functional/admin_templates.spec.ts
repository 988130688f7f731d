/*
 * Admin UI: Create Template (from a starter), Manage Templates, the edit page's kernel tabs
 * (every option of the schema) and plugin tabs, delete, the template menu (Submit CSR,
 * Show Template Service URLs, plugin entries).
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type { ApiClient } from '@japa/api-client'
import { join } from 'node:path'
import { webUser } from '#tests/helpers/web'
import { adminToken, opensslCsr, unique, withFiles } from '#tests/helpers/api'
import { run, toolPath } from '#tests/helpers/external'
import { uiRegistry } from '#plugins/ui_registry'
import {
  STARTER_TEMPLATES,
  starterOptions,
  templateOptionsSchema,
} from '#services/template_options'
import { TEMPLATE_TABS } from '#controllers/admin/templates_controller'
import type User from '#models/user'

async function caFor(client: ApiClient, user: User) {
  const name = unique('Tpl CA')
  const r = await client
    .post('/admin/cas')
    .header('HX-Request', 'true')
    .form({
      name,
      keySource: 'generate',
      keyType: 'ecdsa-p256',
      validityDays: '3650',
      keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
    })
    .withCsrfToken()
    .loginAs(user)
  if (r.status() !== 201) throw new Error(r.text())
  return db.from('cas').where('name', name).first()
}

async function createTemplate(client: ApiClient, user: User, caId: number, starter: string) {
  const name = unique('Tpl')
  const r = await client
    .post(`/admin/templates?ca=${caId}`)
    .header('HX-Request', 'true')
    .form({ name, starter })
    .withCsrfToken()
    .loginAs(user)
  if (r.status() !== 201) throw new Error(`${r.status()} ${r.text()}`)
  const row = await db.from('templates').where({ ca_id: caId, name }).first()
  return { ...row, options: JSON.parse(row.options), location: r.header('hx-redirect') }
}

async function saveTab(
  client: ApiClient,
  user: User,
  id: number,
  tab: string,
  form: Record<string, unknown>
) {
  return client
    .post(`/admin/templates/${id}/tabs/${tab}`)
    .header('HX-Request', 'true')
    .header('HX-Target', 'tab-panel')
    .form(form)
    .withCsrfToken()
    .loginAs(user)
}

const optionsOf = async (id: number) =>
  JSON.parse((await db.from('templates').where('id', id).first()).options)

/** Every leaf option path of the JSON schema. */
function schemaLeaves(schema: any, prefix = ''): string[] {
  if (schema.type === 'object' && schema.properties && prefix !== 'subject.defaults.') {
    return Object.entries(schema.properties).flatMap(([k, v]) => schemaLeaves(v, `${prefix}${k}.`))
  }
  if (prefix === 'subject.defaults.')
    return Object.keys(schema.properties).map((k) => `${prefix}${k}`)
  return [prefix.slice(0, -1)]
}

test.group('Admin UI · Create Template', () => {
  test('offers the ten starters; creates one and opens its edit page', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const page = await client.get(`/admin/templates/new?ca=${ca.id}`).loginAs(user)
    page.assertStatus(200)
    assert.equal(Object.keys(STARTER_TEMPLATES).length, 10)
    for (const [id, s] of Object.entries(STARTER_TEMPLATES)) {
      assert.include(page.text(), `value="${id}"`)
      assert.include(page.text(), s.label)
    }
    for (const starter of ['certificate-authority', 'email-protection']) {
      const t = await createTemplate(client, user, ca.id, starter)
      assert.equal(t.location, `/admin/templates/${t.id}`)
      assert.equal(t.starter, starter)
      assert.deepEqual(t.options, JSON.parse(JSON.stringify(starterOptions(starter))))
      const edit = await client.get(t.location).loginAs(user)
      edit.assertStatus(200)
      assert.include(edit.text(), t.name)
    }
  })

  test('bad input: errors next to the name or starter; no row left', async ({ client, assert }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const count = async () =>
      Number((await db.from('templates').where('ca_id', ca.id).count('* as n').first()).n)
    const before = await count()
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ name: '', starter: 'web-server' }, 'name', /name \(1–200 characters\) is required/],
      [{ name: 'Web Server', starter: 'web-server' }, 'name', /already has a template named/],
      [{ name: unique('x'), starter: 'nope' }, 'starter', /Unknown starter template/],
      [{ name: unique('x'), starter: '' }, 'starter', /Choose a starter/],
    ]
    for (const [form, field, message] of cases) {
      const r = await client
        .post(`/admin/templates?ca=${ca.id}`)
        .header('HX-Request', 'true')
        .form(form)
        .withCsrfToken()
        .loginAs(user)
      r.assertStatus(422)
      assert.notInclude(r.text(), '<html')
      assert.match(fieldBlock(r.text(), field), message)
    }
    assert.equal(await count(), before)
  })
})

test.group('Admin UI · Edit Template', (group) => {
  let cleanup: Array<() => void> = []
  group.each.teardown(() => {
    for (const c of cleanup) c()
    cleanup = []
  })

  test('the kernel tabs show every option of the schema', async ({ client, assert }) => {
    const onTabs = TEMPLATE_TABS.flatMap((t) => t.fields.map((f) => f.path)).sort()
    assert.deepEqual(onTabs, schemaLeaves(templateOptionsSchema).sort())

    const user = await webUser()
    const ca = await caFor(client, user)
    const t = await createTemplate(client, user, ca.id, 'web-server')
    for (const tab of TEMPLATE_TABS) {
      const r = await client
        .get(`/admin/templates/${t.id}/tabs/${tab.id}`)
        .header('HX-Request', 'true')
        .header('HX-Target', 'tab-panel')
        .loginAs(user)
      r.assertStatus(200)
      assert.notInclude(r.text(), '<html')
      for (const f of tab.fields) {
        const name = f.path
        assert.match(r.text(), new RegExp(`name="${name.replace(/\./g, '\\.')}(\\[\\])?"`), name)
      }
    }
    // the CRL / OCSP / AIA / CPS tab says which URLs go into certificates now
    const urls = await client.get(`/admin/templates/${t.id}/tabs/revocation`).loginAs(user)
    assert.include(urls.text(), 'URLs in certificates issued now')
    assert.include(urls.text(), `/pki/ca/${ca.id}.crt`)
    const full = await client.get(`/admin/templates/${t.id}/tabs/keys`).loginAs(user)
    assert.include(full.text(), '<html')
    assert.match(full.text(), /id="tab-keys"[^>]*aria-selected="true"/)
    ;(await client.get(`/admin/templates/${t.id}/tabs/nope`).loginAs(user)).assertStatus(404)
  })

  test('saving tabs: values stored, errors next to fields, nothing saved on error', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const t = await createTemplate(client, user, ca.id, 'web-server')

    // General
    const general = await saveTab(client, user, t.id, 'general', {
      'name': `${t.name} v2`,
      'enabled': 'on',
      'description': 'Internal web servers',
      'allowUnsolicited': 'on',
      'renewal.allowWithValidCertificate': 'on',
      'renewal.withinDays': '30',
      'signatureHash': 'sha384',
      'validityDays': '90',
      'maxValidityDays': '',
    })
    general.assertStatus(204)
    assert.equal(general.header('hx-redirect'), `/admin/templates/${t.id}/tabs/general`)
    let o = await optionsOf(t.id)
    assert.equal(o.validityDays, 90)
    assert.isNull(o.maxValidityDays)
    assert.isTrue(o.allowUnsolicited)
    assert.isTrue(o.renewal.allowWithValidCertificate)
    assert.isFalse(o.renewal.revokeOld)
    assert.isFalse(o.renewal.copySubjectAndSans)
    assert.equal(o.renewal.withinDays, 30)
    assert.equal(o.signatureHash, 'sha384')
    assert.equal(o.description, 'Internal web servers')
    assert.equal((await db.from('templates').where('id', t.id).first()).name, `${t.name} v2`)

    const bad = await saveTab(client, user, t.id, 'general', {
      name: `${t.name} v3`,
      enabled: 'on',
      validityDays: '0',
      maxValidityDays: 'abc',
    })
    bad.assertStatus(422)
    assert.notInclude(bad.text(), '<html')
    assert.match(fieldBlock(bad.text(), 'validityDays'), /Must be at least 1/)
    assert.match(fieldBlock(bad.text(), 'maxValidityDays'), /Must be a whole number/)
    assert.include(bad.text(), `value="${t.name} v3"`, 'the typed values are kept')
    o = await optionsOf(t.id)
    assert.equal(o.validityDays, 90)
    assert.equal((await db.from('templates').where('id', t.id).first()).name, `${t.name} v2`)

    // Subject: a cleared default is removed
    ;(
      await saveTab(client, user, t.id, 'subject', {
        'subject.defaults.organization': 'Example',
        'subject.defaults.country': 'FR',
      })
    ).assertStatus(204)
    o = await optionsOf(t.id)
    assert.isFalse(o.subject.fromCsr)
    assert.deepEqual(o.subject.defaults, { organization: 'Example', country: 'FR' })
    ;(
      await saveTab(client, user, t.id, 'subject', {
        'subject.fromCsr': 'on',
        'subject.defaults.country': 'FR',
      })
    ).assertStatus(204)
    assert.deepEqual((await optionsOf(t.id)).subject, {
      fromCsr: true,
      defaults: { country: 'FR' },
    })
    const badCountry = await saveTab(client, user, t.id, 'subject', {
      'subject.defaults.country': 'France',
    })
    badCountry.assertStatus(422)
    assert.match(fieldBlock(badCountry.text(), 'subject.defaults.country'), /two-letter/)

    // Key usage
    const ku = await saveTab(client, user, t.id, 'key-usage', {
      'keyUsage[]': ['digitalSignature', 'keyCertSign'],
      'extKeyUsage[]': ['serverAuth'],
      'customEkuOids': '',
    })
    ku.assertStatus(422)
    assert.match(
      fieldBlock(ku.text(), 'keyUsage'),
      /keyCertSign needs &quot;Certificate Authority&quot;/
    )
    const eku = await saveTab(client, user, t.id, 'key-usage', {
      'keyUsage[]': ['digitalSignature'],
      'customEkuOids': '1.2.3.4, banana',
    })
    eku.assertStatus(422)
    assert.match(fieldBlock(eku.text(), 'customEkuOids'), /dotted OID/)
    ;(
      await saveTab(client, user, t.id, 'key-usage', {
        'keyUsage[]': ['digitalSignature'],
        'keyUsageByKeyType': 'on',
        'extKeyUsage[]': ['serverAuth', 'clientAuth'],
        'customEkuOids': '1.3.6.1.4.1.311.20.2.2, 1.3.6.1.5.5.7.3.17',
      })
    ).assertStatus(204)
    o = await optionsOf(t.id)
    assert.deepEqual(o.keyUsage, ['digitalSignature'])
    assert.deepEqual(o.extKeyUsage, ['serverAuth', 'clientAuth'])
    assert.deepEqual(o.customEkuOids, ['1.3.6.1.4.1.311.20.2.2', '1.3.6.1.5.5.7.3.17'])

    // Basic constraints
    ;(
      await saveTab(client, user, t.id, 'basic-constraints', {
        'basicConstraints.ca': 'on',
        'basicConstraints.pathLength': '2',
      })
    ).assertStatus(204)
    assert.deepEqual((await optionsOf(t.id)).basicConstraints, { ca: true, pathLength: 2 })
    const badPath = await saveTab(client, user, t.id, 'basic-constraints', {
      'basicConstraints.ca': 'on',
      'basicConstraints.pathLength': '40',
    })
    badPath.assertStatus(422)
    assert.match(fieldBlock(badPath.text(), 'basicConstraints.pathLength'), /Must be at most 32/)

    // Keys & SANs
    const noKeys = await saveTab(client, user, t.id, 'keys', { 'keys.minRsaBits': '2048' })
    noKeys.assertStatus(422)
    assert.match(fieldBlock(noKeys.text(), 'keys.allowed'), /Choose at least 1/)
    ;(
      await saveTab(client, user, t.id, 'keys', {
        'keys.allowed[]': ['rsa', 'ml-dsa'],
        'keys.minRsaBits': '3072',
        'keys.ecCurves[]': ['P-384'],
        'sans.allowed[]': ['dns'],
        'sans.required': 'on',
      })
    ).assertStatus(204)
    o = await optionsOf(t.id)
    assert.deepEqual(o.keys, { allowed: ['rsa', 'ml-dsa'], minRsaBits: 3072, ecCurves: ['P-384'] })
    assert.deepEqual(o.sans, { allowed: ['dns'], required: true, copyCommonName: false })

    // CRL / OCSP / AIA / CPS
    const badUrl = await saveTab(client, user, t.id, 'revocation', {
      'aia.include': 'on',
      'aia.customUrl': 'ldap://x',
    })
    badUrl.assertStatus(422)
    assert.match(fieldBlock(badUrl.text(), 'aia.customUrl'), /http:\/\/ or https:\/\//)
    const badPolicy = await saveTab(client, user, t.id, 'revocation', {
      'cps.include': 'on',
      'cps.policy': 'custom',
      'cpsPolicyCustom': 'not-an-oid',
    })
    badPolicy.assertStatus(422)
    assert.match(fieldBlock(badPolicy.text(), 'cps.policy'), /dotted OID/)
    ;(
      await saveTab(client, user, t.id, 'revocation', {
        'aia.include': 'on',
        'aia.customUrl': 'https://pki.example.com/ca.crt',
        'includeCrl': 'on',
        'cps.include': 'on',
        'cps.policy': 'custom',
        'cpsPolicyCustom': '1.3.6.1.4.1.99999.7',
      })
    ).assertStatus(204)
    o = await optionsOf(t.id)
    assert.deepEqual(o.aia, { include: true, customUrl: 'https://pki.example.com/ca.crt' })
    assert.isFalse(o.includeOcsp)
    assert.isTrue(o.includeCrl)
    assert.deepEqual(o.cps, { include: true, policy: '1.3.6.1.4.1.99999.7' })
    const revocationTab = await client
      .get(`/admin/templates/${t.id}/tabs/revocation`)
      .header('HX-Request', 'true')
      .header('HX-Target', 'tab-panel')
      .loginAs(user)
    assert.include(revocationTab.text(), 'value="1.3.6.1.4.1.99999.7"')
    ;(
      await saveTab(client, user, t.id, 'revocation', { 'cps.policy': 'organization-validated' })
    ).assertStatus(204)
    assert.equal((await optionsOf(t.id)).cps.policy, 'organization-validated')

    const audits = await db
      .from('audit_logs')
      .where({ action: 'template.update', object_id: String(t.id) })
      .count('* as n')
      .first()
    assert.isAbove(Number(audits.n), 5)
  })

  test('plugin tabs and template menu entries from the UI registry', async ({ client, assert }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const t = await createTemplate(client, user, ca.id, 'client-auth')
    cleanup.push(
      uiRegistry.addTab({
        owner: 'demo',
        scope: 'template',
        id: 'demo',
        label: 'Demo Plugin',
        isActive: () => true,
      }),
      uiRegistry.addTab({
        owner: 'sleeping',
        scope: 'template',
        id: 'sleeping',
        label: 'Sleeping Plugin',
        isActive: () => false,
      }),
      uiRegistry.addFragment({
        owner: 'demo',
        zone: 'template.menu',
        isActive: () => true,
        render: ({ objectId }) => `<a class="btn small" href="/demo/${objectId}">Demo action</a>`,
      })
    )
    const edit = await client.get(`/admin/templates/${t.id}`).loginAs(user)
    assert.include(edit.text(), `hx-get="/admin/plugin-tabs/template/${t.id}/demo"`)
    assert.include(edit.text(), 'hx-target="#tab-panel"')
    assert.notInclude(edit.text(), 'Sleeping Plugin')
    assert.include(edit.text(), `<a class="btn small" href="/demo/${t.id}">Demo action</a>`)
    const list = await client.get(`/admin/templates?ca=${ca.id}`).loginAs(user)
    assert.include(list.text(), `<a class="btn small" href="/demo/${t.id}">Demo action</a>`)
    assert.include(list.text(), `/admin/templates/${t.id}/submit`)
    assert.include(list.text(), `hx-get="/admin/templates/${t.id}/service-urls"`)
  })

  test('Manage Templates lists the current CA only; service URLs modal', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const a = await caFor(client, user)
    const b = await caFor(client, user)
    const ta = await createTemplate(client, user, a.id, 'user')
    const tb = await createTemplate(client, user, b.id, 'computer')
    const listA = await client.get(`/admin/templates?ca=${a.id}`).loginAs(user)
    assert.include(listA.text(), ta.name)
    assert.notInclude(listA.text(), tb.name)
    assert.include(listA.text(), 'Web Server')
    const modal = await client
      .get(`/admin/templates/${ta.id}/service-urls`)
      .header('HX-Request', 'true')
      .loginAs(user)
    modal.assertStatus(200)
    assert.include(modal.text(), `Service URLs · ${ta.name}`)
  })
})

test.group('Admin UI · Delete Template', () => {
  test('refused with the kernel message while certificates are active, then deleted', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const t = await createTemplate(client, user, ca.id, 'web-server')
    const { csrPem } = await opensslCsr({ sans: ['DNS:host.example.com'] })
    const issued = await client
      .post(`/api/v1/templates/${t.id}/issue`)
      .bearerToken(await adminToken())
      .json({ csr: csrPem })
    issued.assertStatus(201)

    const refused = await client
      .post(`/admin/templates/${t.id}/delete`)
      .header('HX-Request', 'true')
      .withCsrfToken()
      .loginAs(user)
    refused.assertStatus(409)
    assert.equal(refused.header('hx-retarget'), '#flash')
    assert.include(refused.text(), 'still has 1 active certificate(s)')
    assert.isNotNull(await db.from('templates').where('id', t.id).first())

    const plain = await client
      .post(`/admin/templates/${t.id}/delete`)
      .withCsrfToken()
      .loginAs(user)
      .redirects(0)
    plain.assertStatus(302)
    assert.equal(plain.header('location'), `/admin/templates/${t.id}`)

    const cert = issued.body().certificate
    ;(
      await client
        .post(`/api/v1/certificates/${cert.id}/revoke`)
        .bearerToken(await adminToken())
        .json({ reason: 'superseded' })
    ).assertStatus(200)
    const ok = await client
      .post(`/admin/templates/${t.id}/delete`)
      .header('HX-Request', 'true')
      .withCsrfToken()
      .loginAs(user)
    ok.assertStatus(204)
    assert.equal(ok.header('hx-redirect'), '/admin/templates')
    assert.isNull(await db.from('templates').where('id', t.id).first())
    assert.isNotNull(
      await db
        .from('audit_logs')
        .where({ action: 'template.delete', object_id: String(t.id) })
        .first()
    )
  })
})

test.group('Admin UI · Submit CSR', () => {
  test('a pasted CSR becomes a pending request; "Sign now" issues it', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const t = await createTemplate(client, user, ca.id, 'web-server')
    const page = await client.get(`/admin/templates/${t.id}/submit`).loginAs(user)
    page.assertStatus(200)
    assert.include(page.text(), 'name="csr"')

    const { csrPem } = await opensslCsr({
      subject: '/CN=app.example.com',
      sans: ['DNS:app.example.com'],
    })
    const pending = await client
      .post(`/admin/templates/${t.id}/submit`)
      .header('HX-Request', 'true')
      .form({ csr: csrPem })
      .withCsrfToken()
      .loginAs(user)
    pending.assertStatus(201)
    const request = await db
      .from('certificate_requests')
      .where('template_id', t.id)
      .orderBy('id', 'desc')
      .first()
    assert.equal(request.status, 'pending')
    assert.equal(request.source, 'admin-ui')
    assert.include(pending.text(), `/admin/requests?id=${request.id}`)
    assert.include(pending.text(), 'pending approval')

    const signed = await client
      .post(`/admin/templates/${t.id}/submit`)
      .form({ csr: csrPem, signNow: 'on' })
      .withCsrfToken()
      .loginAs(user)
    signed.assertStatus(201)
    assert.include(signed.text(), '<html')
    const cert = await db
      .from('certificates')
      .where('template_id', t.id)
      .orderBy('id', 'desc')
      .first()
    assert.equal(cert.common_name, 'app.example.com')
    assert.include(signed.text(), `/admin/certificates?id=${cert.id}`)
    assert.include(signed.text(), 'Certificate issued')
  })

  test('a DER CSR file; bad CSRs are refused next to the field with nothing stored', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const t = await createTemplate(client, user, ca.id, 'client-auth')
    const count = async () =>
      Number(
        (await db.from('certificate_requests').where('template_id', t.id).count('* as n').first()).n
      )
    for (const csr of [
      '',
      'not a csr',
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----',
    ]) {
      const r = await client
        .post(`/admin/templates/${t.id}/submit`)
        .header('HX-Request', 'true')
        .form({ csr })
        .withCsrfToken()
        .loginAs(user)
      r.assertStatus(422)
      assert.notInclude(r.text(), '<html')
      assert.include(fieldBlock(r.text(), 'csr'), 'has-error')
    }
    assert.equal(await count(), 0)

    const { csrPem } = await opensslCsr({ subject: '/CN=der.example.com' })
    await withFiles({ 'req.pem': csrPem }, async (paths, dir) => {
      const der = join(dir, 'req.der')
      const r = await run(toolPath('openssl'), [
        'req',
        '-in',
        paths['req.pem'],
        '-outform',
        'DER',
        '-out',
        der,
      ])
      assert.equal(r.code, 0, r.stderr)
      const ok = await client
        .post(`/admin/templates/${t.id}/submit`)
        .header('HX-Request', 'true')
        .file('csrFile', der)
        .withCsrfToken()
        .loginAs(user)
      ok.assertStatus(201)
    })
    assert.equal(await count(), 1)

    // a disabled template refuses, with the kernel's message
    await saveTab(client, user, t.id, 'general', { name: t.name, validityDays: '365' })
    const disabled = await client
      .post(`/admin/templates/${t.id}/submit`)
      .header('HX-Request', 'true')
      .form({ csr: csrPem })
      .withCsrfToken()
      .loginAs(user)
    disabled.assertStatus(422)
    assert.include(disabled.text(), 'is disabled')
    assert.equal(await count(), 1)
  })
})

test.group('Admin UI · template access', () => {
  test("another user's template is not found on every template page and action", async ({
    client,
    assert,
  }) => {
    const owner = await webUser()
    const other = await webUser()
    const ca = await caFor(client, owner)
    await caFor(client, other)
    const t = await createTemplate(client, owner, ca.id, 'web-server')
    for (const path of [
      `/admin/templates/${t.id}`,
      `/admin/templates/${t.id}/tabs/general`,
      `/admin/templates/${t.id}/service-urls`,
      `/admin/templates/${t.id}/submit`,
    ]) {
      assert.equal((await client.get(path).loginAs(other)).status(), 404, path)
    }
    for (const [path, form] of [
      [`/admin/templates/${t.id}/tabs/general`, { name: 'stolen', validityDays: '1' }],
      [`/admin/templates/${t.id}/delete`, {}],
      [`/admin/templates/${t.id}/submit`, { csr: 'x' }],
    ] as const) {
      const r = await client.post(path).form(form).withCsrfToken().loginAs(other)
      assert.equal(r.status(), 404, path)
    }
    // creating a template in someone else's CA through ?ca= falls back to one's own CA
    const name = unique('Sneaky')
    await client
      .post(`/admin/templates?ca=${ca.id}`)
      .form({ name, starter: 'user' })
      .withCsrfToken()
      .loginAs(other)
    const sneaky = await db.from('templates').where('name', name).first()
    assert.notEqual(sneaky?.ca_id, ca.id)
    assert.equal((await db.from('templates').where('id', t.id).first()).name, t.name)
  })
})

/** The HTML of the form field holding the input named `name` (up to the next field). */
function fieldBlock(html: string, name: string): string {
  const at = html.search(new RegExp(`name="${name.replace(/[.[\]]/g, '\\$&')}(\\[\\])?"`))
  if (at < 0) throw new Error(`no input named ${name}`)
  const start = html.lastIndexOf('class="field', at)
  const next = html.indexOf('class="field', at)
  return html.slice(start, next < 0 ? undefined : next)
}
