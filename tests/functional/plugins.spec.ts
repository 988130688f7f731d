/*
 * The plugin host, through the example third-party plugin (examples/pki-plugin-example,
 * installed by scripts/test.sh with PKI_PLUGINS): the Plugins page, enable/disable from the UI,
 * device and admin routes, nav, template and CA tabs, settings (schema errors, secrets), the
 * validateIssue veto in the API, afterIssue, jobs, service URLs, extension points.
 */
import { createHash } from 'node:crypto'
import { test } from '@japa/runner'
import { Readable } from 'node:stream'
import db from '@adonisjs/lucid/services/db'
import { PluginHost, pluginHost } from '#plugins/host'
import { webUser } from '#tests/helpers/web'
import {
  adminToken,
  baseUrl,
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  userToken,
  webServerTemplate,
} from '#tests/helpers/api'

const ID = 'example'

async function setEnabled(enabled: boolean) {
  await pluginHost.setEnabled(ID, enabled, { kind: 'system', label: 'tests', isAdmin: true })
}

/** `count` chunks of `size` bytes, 50 ms apart (the server sees them one by one). */
async function* slowChunks(size: number, count: number) {
  for (let i = 0; i < count; i++) {
    yield Buffer.alloc(size)
    await new Promise((r) => setTimeout(r, 50))
  }
}

test.group('Plugins: the example plugin', (group) => {
  group.each.setup(async () => {
    await setEnabled(false)
    return () => setEnabled(false)
  })

  test('the example plugin is installed, disabled on a new install, with its tables', async ({
    assert,
  }) => {
    const rec = pluginHost.get(ID)
    assert.exists(rec, 'PKI_PLUGINS must list pki-plugin-example (scripts/test.sh exports it)')
    assert.isNull(rec!.failed)
    const migrations = await db.from('plugin_migrations').where('plugin_id', ID)
    assert.deepEqual(
      migrations.map((m: any) => m.name),
      ['0001_example_tables']
    )
    assert.isArray(await db.from('example_greetings').limit(1))
  })

  test('the Plugins page is for install administrators only', async ({ client, assert }) => {
    const user = await webUser()
    const denied = await client.get('/admin/plugins').loginAs(user)
    assert.oneOf(denied.status(), [403, 404])
    assert.notInclude(denied.text(), 'pki-plugin-example')
    const post = await client.post(`/admin/plugins/${ID}/enable`).loginAs(user).withCsrfToken()
    assert.oneOf(post.status(), [403, 404])
    assert.isFalse(pluginHost.isActive(ID))

    const admin = await webUser({ isAdmin: true })
    const page = await client.get('/admin/plugins').loginAs(admin)
    page.assertStatus(200)
    assert.include(page.text(), '<h1>Plugins</h1>')
    assert.include(page.text(), 'pki-plugin-example')
    assert.include(page.text(), '1.0.0')
    assert.match(page.text(), /badge disabled">disabled/)
    assert.include(page.text(), `hx-post="/admin/plugins/${ID}/enable"`)
  })

  test('enable and disable from the Plugins page (htmx row swap, HX-Trigger) hold from the next request', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    assert.equal((await client.get('/example/hello')).status(), 404)

    const on = await client
      .post(`/admin/plugins/${ID}/enable`)
      .header('HX-Request', 'true')
      .loginAs(admin)
      .withCsrfToken()
    on.assertStatus(200)
    assert.match(on.text(), /^<tr id="plugin-example">/)
    assert.include(on.text(), 'badge enabled')
    assert.include(on.text(), `hx-post="/admin/plugins/${ID}/disable"`)
    assert.deepInclude(JSON.parse(on.header('hx-trigger')!), {
      pluginChanged: { id: ID, enabled: true },
    })
    const hello = await client.get('/example/hello')
    hello.assertStatus(200)
    assert.deepEqual(hello.body(), { message: 'Hello, world!' })
    assert.isTrue(Boolean((await db.from('plugin_states').where('plugin_id', ID).first()).enabled))

    // Enabling an enabled plugin is harmless.
    const again = await client
      .post(`/admin/plugins/${ID}/enable`)
      .header('HX-Request', 'true')
      .loginAs(admin)
      .withCsrfToken()
    again.assertStatus(200)
    assert.include(JSON.parse(again.header('hx-trigger')!).notice, 'already enabled')

    // Without htmx: a redirect back to the page with a notice.
    const off = await client
      .post(`/admin/plugins/${ID}/disable`)
      .loginAs(admin)
      .withCsrfToken()
      .redirects(0)
    off.assertStatus(302)
    assert.equal(off.header('location'), '/admin/plugins')
    assert.equal((await client.get('/example/hello')).status(), 404)

    const audit = await db
      .from('audit_logs')
      .where('object_id', ID)
      .whereIn('action', ['plugin.enable', 'plugin.disable'])
      .where('actor', admin.email)
    assert.lengthOf(audit, 2)

    const unknown = await client.post('/admin/plugins/nope/enable').loginAs(admin).withCsrfToken()
    unknown.assertStatus(404)
  })

  test('a disabled plugin: device routes 404, admin page shows "disabled", nav entry gone', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const device = await client.get('/example/hello/Ada')
    device.assertStatus(404)
    assert.equal(device.body().error.code, 'E_NOT_FOUND')

    const adminPage = await client.get('/admin/p/example').loginAs(admin)
    adminPage.assertStatus(404)
    assert.include(adminPage.text(), 'is <span class="badge disabled">disabled</span>')
    const plugins = await client.get('/admin/plugins').loginAs(admin)
    assert.notInclude(plugins.text(), 'href="/admin/p/example"')

    await setEnabled(true)
    const page = await client.get('/admin/p/example').loginAs(admin)
    page.assertStatus(200)
    assert.include(page.text(), '<h1>Greetings</h1>')
    assert.include(page.text(), 'Recent greetings')
    const nav = await client.get('/admin/plugins').loginAs(admin)
    assert.include(nav.text(), 'href="/admin/p/example"')
    assert.include(nav.text(), '<div class="nav-heading">Example</div>')

    // Admin routes of a plugin need a login like every admin page.
    const anonymous = await client.get('/admin/p/example').redirects(0)
    anonymous.assertStatus(302)
  })

  test('device routes: no CSRF, raw binary bodies, extension points used by the plugin itself', async ({
    client,
    assert,
  }) => {
    await setEnabled(true)
    const bytes = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00, 0xff])
    const echo = await fetch(`${baseUrl()}/example/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: bytes,
    })
    assert.equal(echo.status, 200)
    assert.equal(echo.headers.get('content-type'), 'application/octet-stream')
    assert.deepEqual(Buffer.from(await echo.arrayBuffer()), bytes)
    // Whatever the content type says (curl's default is a form), the bytes arrive untouched.
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    for (const type of ['application/x-www-form-urlencoded', 'application/json', 'text/plain']) {
      const echoed = await fetch(`${baseUrl()}/example/echo`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: binary,
      })
      assert.equal(echoed.status, 200, type)
      assert.deepEqual(Buffer.from(await echoed.arrayBuffer()), binary, type)
    }

    const ok = await client.get('/example/hello/Ada')
    ok.assertStatus(200)
    assert.equal(ok.body().message, 'Hello, Ada!')
    const refused = await client.get('/example/hello/R2D2')
    refused.assertStatus(422)
    assert.include(refused.body().error.message, 'letters, spaces')
    assert.lengthOf(pluginHost.get(ID)!.runtime!.extensions('example.greeting-validators'), 1)
    assert.isNotNull(await db.from('example_greetings').where('name', 'Ada').first())
  })

  test('early device routes: body read by the host, client address, own 413, 500 on a throw, 404 when disabled', async ({
    assert,
  }) => {
    await setEnabled(true)
    const body = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256))
    const digest = await fetch(`${baseUrl()}/example/fast/digest`, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json', 'x-forwarded-for': '203.0.113.9' },
      body,
    })
    assert.equal(digest.status, 200)
    const answer = (await digest.json()) as any
    assert.equal(answer.method, 'POST')
    assert.equal(answer.length, 300)
    assert.equal(answer.sha256, createHash('sha256').update(body).digest('hex'))
    // The test client is on loopback, a trusted proxy by default: X-Forwarded-For is honoured.
    assert.equal(answer.ip, '203.0.113.9')
    assert.isNumber(answer.greetings)
    // Another method on the same path is not taken by the route: the router answers (404).
    assert.equal((await fetch(`${baseUrl()}/example/fast/digest`)).status, 404)

    const big = await fetch(`${baseUrl()}/example/fast/digest`, {
      method: 'PUT',
      body: Buffer.alloc(5000),
    })
    assert.equal(big.status, 413)
    assert.deepEqual(await big.json(), { error: 'body over 4096 bytes' })
    // Without a Content-Length (chunked), the limit is found while reading: the same answer.
    const chunked = await fetch(`${baseUrl()}/example/fast/digest`, {
      method: 'PUT',
      body: Readable.toWeb(Readable.from(slowChunks(3000, 4))) as any,
      duplex: 'half',
    } as RequestInit)
    assert.equal(chunked.status, 413)
    assert.deepEqual(await chunked.json(), { error: 'body over 4096 bytes' })

    const failed = await fetch(`${baseUrl()}/example/fast/digest?fail=1`, {
      method: 'POST',
      body: 'x',
    })
    assert.equal(failed.status, 500)
    assert.notInclude(await failed.text(), 'asked to fail')

    // Without an own `tooLarge`: the kernel's JSON 413, naming the route's limit.
    const small = await fetch(`${baseUrl()}/example/fast/size/a%20b`, {
      method: 'POST',
      body: Buffer.alloc(1000),
    })
    assert.deepEqual(await small.json(), { label: 'a b', length: 1000 })
    const over = await fetch(`${baseUrl()}/example/fast/size/x`, {
      method: 'POST',
      body: Buffer.alloc(1025),
    })
    assert.equal(over.status, 413)
    assert.equal(over.headers.get('connection'), 'close')
    assert.deepEqual(await over.json(), {
      error: {
        code: 'E_REQUEST_ENTITY_TOO_LARGE',
        message: 'The request body is larger than 1 KiB.',
      },
    })

    await setEnabled(false)
    const disabled = await fetch(`${baseUrl()}/example/fast/digest`, { method: 'POST', body: 'x' })
    assert.equal(disabled.status, 404)
  })

  test('install settings: schema message on invalid input (old kept); secrets stored encrypted, never rendered back', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const save = (form: Record<string, string>) =>
      client
        .post(`/admin/plugins/${ID}/settings`)
        .header('HX-Request', 'true')
        .form(form)
        .loginAs(admin)
        .withCsrfToken()

    const secret = `s3cret-${unique('t').slice(2)}`
    const ok = await save({ greeting: 'Howdy', webhookToken: secret })
    ok.assertStatus(200)
    assert.include(ok.text(), 'Settings saved.')
    assert.notInclude(ok.text(), secret)
    assert.include(ok.text(), 'unchanged (a secret is stored)')
    const row = await db.from('plugin_states').where('plugin_id', ID).first()
    assert.notInclude(row.settings, secret)
    assert.match(JSON.parse(row.settings).webhookToken.$enc, /^v1\./)
    assert.equal((await pluginHost.readSettings(ID, 'install', 0)).webhookToken, secret)

    const bad = await save({ greeting: 'x'.repeat(41), webhookToken: '' })
    bad.assertStatus(422)
    assert.include(bad.text(), 'The greeting word needs 1 to 40 characters.')
    assert.include(bad.text(), 'has-error')
    const kept = await pluginHost.readSettings(ID, 'install', 0)
    assert.equal(kept.greeting, 'Howdy')
    assert.equal(kept.webhookToken, secret, 'an empty secret input keeps the stored secret')

    const page = await client.get(`/admin/plugins/${ID}`).loginAs(admin)
    page.assertStatus(200)
    assert.include(page.text(), 'type="password"')
    assert.notInclude(page.text(), secret)

    await setEnabled(true)
    assert.equal((await client.get('/example/hello')).body().message, 'Howdy, world!')
    await save({ greeting: 'Hello', webhookToken: '' })
  })

  test('template tab: generated form, schema errors next to the field, veto in the REST API, hook silent when disabled', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const ca = await createCa(client, { name: unique('Plugin veto') })
    const template = await webServerTemplate(client, ca.id)
    const url = `/admin/plugin-tabs/template/${template.id}/${ID}`

    // Disabled: the tab is gone.
    assert.equal((await client.get(url).loginAs(admin)).status(), 404)

    await setEnabled(true)
    const tab = await client.get(url).header('HX-Request', 'true').loginAs(admin)
    tab.assertStatus(200)
    assert.include(tab.text(), 'id="plugin-tab-example"')
    assert.include(tab.text(), 'Refuse names containing')
    assert.include(tab.text(), `hx-post="${url}"`)
    assert.include(tab.text(), 'No word is refused for this template.')

    const bad = await client
      .post(url)
      .header('HX-Request', 'true')
      .form({ blockedWord: 'no spaces allowed' })
      .loginAs(admin)
      .withCsrfToken()
    bad.assertStatus(422)
    assert.include(bad.text(), 'Use letters, digits and dashes only (at most 30 characters).')
    assert.deepEqual(await pluginHost.readSettings(ID, 'template', template.id), {
      blockedWord: '',
    })

    const saved = await client
      .post(url)
      .header('HX-Request', 'true')
      .form({ blockedWord: 'forbidden' })
      .loginAs(admin)
      .withCsrfToken()
    saved.assertStatus(200)
    assert.include(saved.text(), 'Settings saved.')
    assert.include(saved.text(), 'are refused')

    const { csrPem } = await opensslCsr({ subject: '/CN=forbidden.example.com' })
    const refused = await issueCertificate(client, template.id, { csr: csrPem })
    refused.assertStatus(403)
    assert.equal(refused.body().error.code, 'E_POLICY_DENIED')
    assert.include(refused.body().error.message, '"forbidden.example.com" contains "forbidden"')
    assert.include(refused.body().error.message, "template's Example tab")

    // The same refusal in the admin UI: approving a pending request renders the message.
    const submitted = await client
      .post(`/api/v1/templates/${template.id}/requests`)
      .bearerToken(await adminToken())
      .json({ csr: csrPem })
    submitted.assertStatus(201)
    const requestId = submitted.body().request.id
    const approve = await client
      .post(`/admin/requests/${requestId}/approve`)
      .header('HX-Request', 'true')
      .form({})
      .loginAs(admin)
      .withCsrfToken()
    approve.assertStatus(403)
    assert.include(approve.text(), 'contains &quot;forbidden&quot;, which template')
    const still = await db.from('certificate_requests').where('id', requestId).first()
    assert.equal(still.status, 'pending')

    const fine = await opensslCsr({ subject: '/CN=allowed.example.com' })
    const issued = await issueCertificate(client, template.id, { csr: fine.csrPem })
    issued.assertStatus(201)
    // afterIssue recorded it in the plugin's own table
    const seen = await db
      .from('example_issued')
      .where({ ca_id: ca.id, serial: issued.body().certificate.serial })
      .first()
    assert.exists(seen)

    // Disabled: the hook no longer fires.
    await setEnabled(false)
    const after = await issueCertificate(client, template.id, { csr: csrPem })
    after.assertStatus(201)
    assert.notExists(
      await db
        .from('example_issued')
        .where({ ca_id: ca.id, serial: after.body().certificate.serial })
        .first()
    )
  })

  test("plugin tabs: another user's template or CA answers 404; CA tab saves CA settings", async ({
    client,
    assert,
  }) => {
    await setEnabled(true)
    const ca = await createCa(client, { name: unique('Plugin tab CA') })
    const template = await webServerTemplate(client, ca.id)
    const outsider = await webUser()
    for (const url of [
      `/admin/plugin-tabs/template/${template.id}/${ID}`,
      `/admin/plugin-tabs/ca/${ca.id}/${ID}`,
    ]) {
      const get = await client.get(url).loginAs(outsider)
      get.assertStatus(404)
      const post = await client
        .post(url)
        .form({ contact: 'x', blockedWord: 'x' })
        .loginAs(outsider)
        .withCsrfToken()
      post.assertStatus(404)
    }
    assert.deepEqual((await pluginHost.readSettings(ID, 'template', template.id)).blockedWord, '')

    const admin = await webUser({ isAdmin: true })
    const url = `/admin/plugin-tabs/ca/${ca.id}/${ID}`
    const tab = await client.get(url).loginAs(admin)
    tab.assertStatus(200)
    assert.include(tab.text(), 'Contact for this CA')
    assert.include(tab.text(), 'type="checkbox"')
    assert.include(tab.text(), 'saw 0 certificate(s)')
    const saved = await client
      .post(url)
      .header('HX-Request', 'true')
      .form({ contact: 'pki@example.com' })
      .loginAs(admin)
      .withCsrfToken()
    saved.assertStatus(200)
    assert.deepEqual(await pluginHost.readSettings(ID, 'ca', ca.id), {
      contact: 'pki@example.com',
      showInfoPage: false,
    })
    const stored = await db.from('cas').where('id', ca.id).first()
    assert.deepEqual(JSON.parse(stored.plugin_settings)[ID].values, {
      contact: 'pki@example.com',
      showInfoPage: false,
    })
    // the CA info device route reads the CA setting (unpublished now)
    assert.equal((await client.get(`/example/ca/${ca.id}/info`)).status(), 404)
    await client
      .post(url)
      .form({ contact: 'pki@example.com', showInfoPage: 'on' })
      .loginAs(admin)
      .withCsrfToken()
    const info = await client.get(`/example/ca/${ca.id}/info`)
    info.assertStatus(200)
    assert.equal(info.body().contact, 'pki@example.com')
  })

  test("CA and template settings are read again when the record's version changes, not before", async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Plugin settings cache') })
    const template = await webServerTemplate(client, ca.id)
    await setEnabled(true)
    const read = () => pluginHost.readSettings(ID, 'template', template.id)
    assert.deepEqual(await read(), { blockedWord: '' })

    // What the caller does with its copy stays with it.
    const copy = await read()
    copy.blockedWord = 'changed-by-caller'
    assert.deepEqual(await read(), { blockedWord: '' })

    // Another node's write: the column and the version change in one statement.
    const writeColumn = async (word: string, bump: boolean) => {
      const row = await db.from('templates').where('id', template.id).first()
      const all = JSON.parse(row.plugin_settings ?? '{}')
      all[ID] = { version: 1, values: { blockedWord: word } }
      await db
        .from('templates')
        .where('id', template.id)
        .update({
          plugin_settings: JSON.stringify(all),
          ...(bump ? { updated_at: Number(row.updated_at) + 1 } : {}),
        })
    }
    await writeColumn('other-node', true)
    assert.deepEqual(await read(), { blockedWord: 'other-node' })

    // A change that skips the version (never done by the settings store) is not looked at:
    // the version is what a read checks.
    await writeColumn('unversioned', false)
    assert.deepEqual(await read(), { blockedWord: 'other-node' })
    await writeColumn('unversioned', true)
    assert.deepEqual(await read(), { blockedWord: 'unversioned' })

    // Invalid stored settings fail every read, and are not kept.
    await writeColumn('not valid!', true)
    await assert.rejects(read)
    await assert.rejects(read)
    await writeColumn('valid-again', true)
    assert.deepEqual(await read(), { blockedWord: 'valid-again' })
  })

  test('service URLs appear while enabled; jobs run only while enabled; fragments follow the state', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Plugin urls') })
    const token = await adminToken()
    const urls = async () =>
      (await client.get(`/api/v1/cas/${ca.id}/service-urls`).bearerToken(token)).body()
        .serviceUrls as Array<{ kind: string; urls: string[] }>

    assert.notInclude(
      (await urls()).map((u) => u.kind),
      'example-ca-info'
    )
    assert.equal(await pluginHost.runJob(ID, 'tally'), 'inactive')

    await setEnabled(true)
    const entry = (await urls()).find((u) => u.kind === 'example-ca-info')
    assert.exists(entry)
    assert.match(entry!.urls[0], new RegExp(`/example/ca/${ca.id}/info$`))

    const before = Number((await db.from('example_job_runs').count('* as n'))[0].n)
    assert.equal(await pluginHost.runJob(ID, 'tally'), 'ran')
    const after = Number((await db.from('example_job_runs').count('* as n'))[0].n)
    assert.equal(after, before + 1)

    const { uiRegistry } = await import('#plugins/ui_registry')
    const admin = { kind: 'user' as const, label: 'a', isAdmin: true }
    assert.include(
      await uiRegistry.fragments('dashboard.after', { actor: admin, caId: ca.id }),
      'Example plugin'
    )
    // (Other enabled plugins, e.g. ACME, may have template tabs and fragments too.)
    assert.include(
      uiRegistry.tabs('template').map((t) => t.owner),
      ID
    )
    await setEnabled(false)
    assert.notInclude(
      await uiRegistry.fragments('dashboard.after', { actor: admin, caId: ca.id }),
      'Example plugin'
    )
    assert.notInclude(
      uiRegistry.tabs('template').map((t) => t.owner),
      ID
    )
  })

  test('install settings of an older version go through upgrade()', async ({ assert }) => {
    const before = await db.from('plugin_states').where('plugin_id', ID).first()
    try {
      await db
        .from('plugin_states')
        .where('plugin_id', ID)
        .update({ settings: JSON.stringify({ salutation: 'Greetings' }), settings_version: 1 })
      await pluginHost.refresh(true)
      assert.deepEqual(await pluginHost.readSettings(ID, 'install', 0), {
        greeting: 'Greetings',
        webhookToken: '',
      })
    } finally {
      await db
        .from('plugin_states')
        .where('plugin_id', ID)
        .update({ settings: before.settings, settings_version: before.settings_version })
      await pluginHost.refresh(true)
    }
  })

  test('the kernel port keeps a plugin to its own tables', async ({ assert }) => {
    const runtime = pluginHost.get(ID)!.runtime!
    assert.throws(() => runtime.table('users'), /only use its own tables/)
    assert.throws(() => runtime.table('exampleusers'), /only use its own tables/)
    assert.isArray(await runtime.table('example_greetings').select('id').limit(1))
  })

  test('API tokens of non-admins do not reach plugin admin pages or settings', async ({
    client,
    assert,
  }) => {
    const { token } = await userToken()
    const r = await client.get('/admin/plugins').bearerToken(token).redirects(0)
    assert.oneOf(r.status(), [302, 401, 403, 404])
  })
})

test.group('Plugins: loading rules', () => {
  test('a new install enables only plugins on by default; failed checks keep the reason', async ({
    assert,
  }) => {
    const tag =
      Math.random()
        .toString(36)
        .replace(/[^a-z]/g, '')
        .slice(0, 6) || 'abc'
    const base = { name: 'Synthetic', version: '1.0.0', apiVersion: 1, kernel: '^0.1.0' }
    const host = new PluginHost()
    await host.load([
      {
        source: 'test',
        definition: { ...base, id: `on-${tag}`, enabledByDefault: true, setup() {} },
      },
      { source: 'test', definition: { ...base, id: `off-${tag}`, setup() {} } },
      {
        source: 'test',
        definition: {
          ...base,
          id: `bad-settings-${tag}`,
          settings: {
            install: {
              version: 1,
              schema: {
                type: 'object',
                properties: { n: { type: 'integer', minimum: 1, default: 0 } },
              },
            },
          },
          setup() {},
        },
      },
      {
        source: 'test',
        definition: { ...base, id: `needs-${tag}`, requires: ['absent-plugin'], setup() {} },
      },
      { source: 'test', definition: { ...base, id: `api-${tag}`, apiVersion: 2, setup() {} } },
      { source: 'test', definition: { ...base, id: 'admin', setup() {} } },
      {
        source: 'test',
        definition: {
          ...base,
          id: `throws-${tag}`,
          setup() {
            throw new Error('nope')
          },
        },
      },
      {
        source: 'test',
        definition: {
          ...base,
          id: `early-admin-${tag}`,
          setup(api: any) {
            api.routes({ surface: 'admin', early: true, register() {} })
          },
        },
      },
      {
        source: 'test',
        definition: {
          ...base,
          id: `early-limit-${tag}`,
          setup(api: any) {
            api.routes({ surface: 'device', early: true, bodyLimit: -1, register() {} })
          },
        },
      },
      {
        source: 'test',
        definition: {
          ...base,
          id: `early-wild-${tag}`,
          setup(api: any) {
            api.routes({
              surface: 'device',
              early: true,
              register(r: any) {
                r.get('/*', () => 'x')
              },
            })
          },
        },
      },
      { source: 'test', error: 'it cannot be found (no such package)' },
    ])
    await host.syncStates()
    const states = await db.from('plugin_states').whereIn('plugin_id', [`on-${tag}`, `off-${tag}`])
    const enabled = Object.fromEntries(states.map((r: any) => [r.plugin_id, Boolean(r.enabled)]))
    assert.deepEqual(enabled, { [`on-${tag}`]: true, [`off-${tag}`]: false })
    assert.isTrue(host.isActive(`on-${tag}`))
    assert.isFalse(host.isActive(`off-${tag}`))

    const reason = (id: string) => host.get(id)?.failed
    assert.include(
      reason(`bad-settings-${tag}`),
      'defaults of its install settings do not validate'
    )
    assert.equal(
      reason(`needs-${tag}`),
      'it requires the plugin "absent-plugin", which is not installed'
    )
    assert.include(reason(`api-${tag}`), 'plugin API version 2; this kernel offers version 1')
    assert.include(reason('admin'), 'is a kernel URL prefix')
    assert.equal(reason(`throws-${tag}`), 'setup() failed: nope')
    assert.include(reason(`early-admin-${tag}`), 'early routes are device routes')
    assert.include(reason(`early-limit-${tag}`), 'bodyLimit must be a positive whole number')
    assert.include(reason(`early-wild-${tag}`), 'plain paths with :params only')
    assert.equal(reason('test'), 'it cannot be found (no such package)')
    for (const id of [`bad-settings-${tag}`, `needs-${tag}`, 'admin']) {
      assert.equal(host.status(host.get(id)!), 'failed')
    }
    await db
      .from('plugin_states')
      .whereIn('plugin_id', [`on-${tag}`, `off-${tag}`])
      .delete()
  })
})
