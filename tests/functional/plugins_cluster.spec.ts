/*
 * The plugin host across processes, the way an operator meets it: a real server node spawned
 * next to the test server (same database), `node ace plugin:*` commands, plugins that fail to
 * load (kernel range) and plugins whose hooks throw or hang.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { pluginHost } from '#plugins/host'
import { webUser } from '#tests/helpers/web'
import { adminToken, createCa, opensslCsr, unique, webServerTemplate } from '#tests/helpers/api'
import { describeAce, freePort, runAce, startServer } from '#tests/helpers/processes'

const FIXTURES = './tests/fixtures/plugins'
const WITH_FIXTURES = {
  PKI_PLUGINS: `pki-plugin-example,${FIXTURES}/kernel-mismatch,${FIXTURES}/faulty-hooks`,
}

/** Logs in on a spawned server with fetch and a tiny cookie jar; returns a GET helper. */
async function browserSession(base: string, email: string, password: string) {
  const jar = new Map<string, string>()
  const keep = (response: Response) => {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const eq = pair.indexOf('=')
      jar.set(pair.slice(0, eq), pair.slice(eq + 1))
    }
  }
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
  const form = await fetch(`${base}/login`, { redirect: 'manual' })
  keep(form)
  const csrf = /name=["']_csrf["']\s+value=["']([^"']+)["']/.exec(await form.text())?.[1]
  if (!csrf) throw new Error('no CSRF field on the login page')
  const login = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cookie': cookie() },
    body: new URLSearchParams({ email, password, _csrf: csrf }),
  })
  keep(login)
  if (login.status !== 302 || login.headers.get('location') !== '/admin') {
    throw new Error(`login failed: ${login.status} ${login.headers.get('location')}`)
  }
  return async (path: string) => {
    const response = await fetch(`${base}${path}`, { headers: { cookie: cookie() } })
    keep(response)
    return { status: response.status, text: await response.text() }
  }
}

test.group('Plugins across processes', (group) => {
  group.each.setup(async () => {
    await pluginHost.setEnabled('example', false, { kind: 'system', label: 't', isAdmin: true })
  })

  test('plugin:enable / plugin:disable return once running nodes applied them', async ({
    assert,
  }) => {
    const server = await startServer({ port: await freePort() })
    try {
      assert.equal((await fetch(`${server.url}/example/hello`)).status, 404)

      const on = await runAce(['plugin:enable', 'example'])
      assert.equal(on.code, 0, describeAce(on))
      assert.match(on.stdout, /^example: enabled; applied on \d+ running server node\(s\)/)
      // at once, on the other node, with no restart
      const hello = await fetch(`${server.url}/example/hello`)
      assert.equal(hello.status, 200)
      assert.deepEqual(await hello.json(), { message: 'Hello, world!' })
      // the fast route, answered before the router
      const ping = await fetch(`${server.url}/example/fast/ping`)
      assert.equal(ping.status, 200)
      assert.equal(await ping.text(), 'pong\n')
      // and the in-process test node follows too
      assert.isTrue(pluginHost.isActive('example'))

      const again = await runAce(['plugin:enable', 'example'])
      assert.equal(again.code, 0, describeAce(again))
      assert.match(again.stdout, /^example: already enabled/)

      // An admin's click on this node (the Plugins page calls the same method) reaches the
      // other node within a second.
      await pluginHost.setEnabled('example', false, { kind: 'system', label: 't', isAdmin: true })
      const clicked = Date.now()
      let status = 200
      while (status !== 404 && Date.now() - clicked < 1000) {
        status = (await fetch(`${server.url}/example/hello`)).status
      }
      assert.equal(status, 404, 'the other node applied the change within 1 s')
      await pluginHost.setEnabled('example', true, { kind: 'system', label: 't', isAdmin: true })
      const reenabled = Date.now()
      while (status !== 200 && Date.now() - reenabled < 1000) {
        status = (await fetch(`${server.url}/example/hello`)).status
      }
      assert.equal(status, 200)

      const off = await runAce(['plugin:disable', 'example'])
      assert.equal(off.code, 0, describeAce(off))
      assert.equal((await fetch(`${server.url}/example/hello`)).status, 404)
      assert.equal((await fetch(`${server.url}/example/fast/ping`)).status, 404)

      const list = await runAce(['plugin:list'])
      assert.equal(list.code, 0, describeAce(list))
      assert.match(list.stdout, /^example\t1\.0\.0\tdisabled\tExample$/m)

      const unknown = await runAce(['plugin:enable', 'nope'])
      assert.equal(unknown.code, 1)
      assert.include(unknown.stderr + unknown.stdout, 'No installed plugin has the id "nope"')
    } finally {
      await server.stop()
    }
  }).timeout(120_000)

  test('a plugin whose kernel range does not match is failed with the reason; the server runs on', async ({
    assert,
  }) => {
    const server = await startServer({ port: await freePort(), env: WITH_FIXTURES })
    try {
      const list = await runAce(['plugin:list', '--json'], { env: WITH_FIXTURES })
      assert.equal(list.code, 0, describeAce(list))
      const rows = JSON.parse(list.stdout) as Array<{ id: string; status: string; reason: string }>
      const broken = rows.find((r) => r.id === 'kernel-mismatch')
      assert.equal(broken?.status, 'failed')
      assert.equal(broken?.reason, 'it needs kernel >=99.0.0, but this kernel is 0.1.0')
      assert.equal(rows.find((r) => r.id === 'example')?.status, 'disabled')

      assert.equal((await fetch(`${server.url}/health`)).status, 200)
      assert.equal((await fetch(`${server.url}/kernel-mismatch/hello`)).status, 404)
      const refused = await runAce(['plugin:enable', 'kernel-mismatch'], { env: WITH_FIXTURES })
      assert.equal(refused.code, 1)
      assert.include(refused.stderr + refused.stdout, 'failed to load and cannot be enabled')

      const admin = await webUser({ isAdmin: true, password: 'a long enough password' })
      const get = await browserSession(server.url, admin.email, 'a long enough password')
      const page = await get('/admin/plugins')
      assert.equal(page.status, 200)
      assert.include(page.text, 'Kernel mismatch (fixture)')
      assert.include(page.text, 'badge failed')
      assert.include(page.text, 'it needs kernel &gt;=99.0.0, but this kernel is 0.1.0')
    } finally {
      await server.stop()
    }
  }).timeout(120_000)

  test("a hook that throws or hangs does not break issuance; failures land in the plugin's service log", async ({
    client,
    assert,
  }) => {
    const server = await startServer({ port: await freePort(), env: WITH_FIXTURES })
    try {
      const on = await runAce(['plugin:enable', 'faulty-hooks'], { env: WITH_FIXTURES })
      assert.equal(on.code, 0, describeAce(on))
      const ca = await createCa(client, { name: unique('Faulty hooks') })
      const template = await webServerTemplate(client, ca.id)
      const { csrPem } = await opensslCsr({ subject: '/CN=still-issued.example.com' })
      const started = Date.now()
      const response = await fetch(`${server.url}/api/v1/templates/${template.id}/issue`, {
        method: 'POST',
        headers: {
          'authorization': `Bearer ${await adminToken()}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ csr: csrPem }),
      })
      const elapsed = Date.now() - started
      assert.equal(response.status, 201, await response.clone().text())
      assert.isBelow(elapsed, 5000, 'the hung hook is cut off by its 300 ms timeout')
      const body = (await response.json()) as any
      assert.match(body.certificate.certificatePem, /BEGIN CERTIFICATE/)

      let logs: any[] = []
      for (let i = 0; i < 40 && logs.length < 3; i++) {
        logs = await db
          .from('service_logs')
          .where({ service: 'faulty-hooks', event: 'hook.failed' })
          .where('at', '>=', started)
        await new Promise((r) => setTimeout(r, 100))
      }
      const messages = logs.map((l) => l.message).join('\n')
      assert.include(messages, 'validateIssue exploded')
      assert.include(messages, 'did not answer within 300 ms')
      assert.include(messages, 'afterIssue exploded')
    } finally {
      await runAce(['plugin:disable', 'faulty-hooks'], { env: WITH_FIXTURES })
      await server.stop()
    }
  }).timeout(120_000)
})
