/*
 * Admin UI: the per-CA dashboard — counts, the two SVG charts with their table fallbacks, the
 * next certificates to expire, plugin fragments, and query plans/timing with 100,000
 * certificates.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type { ApiClient } from '@japa/api-client'
import { webUser } from '#tests/helpers/web'
import { adminToken, opensslCsr, unique } from '#tests/helpers/api'
import { uiRegistry } from '#plugins/ui_registry'
import { dashboardStats, DAY } from '#services/dashboard_stats'
import { barChart, niceMax } from '#services/svg_charts'
import type User from '#models/user'

async function caFor(client: ApiClient, user: User, name = unique('Dash CA')) {
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

async function api(client: ApiClient, method: 'post' | 'patch', path: string, body: object) {
  const r = await client[method](`/api/v1${path}`)
    .bearerToken(await adminToken())
    .json(body)
  if (r.status() >= 300) throw new Error(`${path}: ${r.status()} ${r.text()}`)
  return r.body()
}

test.group('Admin UI · Dashboard', (group) => {
  let cleanup: Array<() => void> = []
  group.each.teardown(() => {
    for (const c of cleanup) c()
    cleanup = []
  })

  test('a user with no CA is sent to Create New CA', async ({ client, assert }) => {
    const user = await webUser()
    const r = await client.get('/admin').loginAs(user).redirects(0)
    r.assertStatus(302)
    assert.equal(r.header('location'), '/admin/cas/new')
  })

  test('counts, charts with table fallbacks, next to expire, plugin fragments', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const web = await db.from('templates').where({ ca_id: ca.id, name: 'Web Server' }).first()
    const short = (
      await api(client, 'post', `/cas/${ca.id}/templates`, {
        name: 'Short lived',
        starter: 'client-auth',
        options: { validityDays: 10 },
      })
    ).template
    const issue = async (templateId: number, cn: string) => {
      const { csrPem } = await opensslCsr({ subject: `/CN=${cn}`, sans: [`DNS:${cn}`] })
      return (await api(client, 'post', `/templates/${templateId}/issue`, { csr: csrPem }))
        .certificate
    }
    const long1 = await issue(web.id, 'one.example.com')
    const long2 = await issue(web.id, 'two.example.com')
    await issue(web.id, 'three.example.com')
    await issue(short.id, 'soon-a.example.com')
    await issue(short.id, 'soon-b.example.com')
    await api(client, 'post', `/certificates/${long1.id}/revoke`, { reason: 'keyCompromise' })
    await api(client, 'post', `/certificates/${long2.id}/revoke`, { reason: 'certificateHold' })
    const { csrPem } = await opensslCsr({ subject: '/CN=pending.example.com' })
    await api(client, 'post', `/templates/${web.id}/requests`, { csr: csrPem })

    cleanup.push(
      uiRegistry.addFragment({
        owner: 'dash-test',
        zone: 'dashboard.after',
        isActive: () => true,
        render: ({ caId }) => `<section id="dash-fragment">CA ${caId}</section>`,
      })
    )

    const r = await client.get(`/admin?ca=${ca.id}`).loginAs(user)
    r.assertStatus(200)
    const html = r.text()
    const count = (name: string) =>
      Number(html.match(new RegExp(`data-count="${name}">(\\d+)<`))?.[1])
    assert.equal(count('valid'), 3)
    assert.equal(count('revoked'), 1)
    assert.equal(count('hold'), 1)
    assert.equal(count('expiring30'), 2)
    assert.equal(count('pendingRequests'), 1)

    // Issued chart: an accessible SVG; its table says 5 today
    assert.match(html, /<svg class="chart" id="chart-issued"[^>]*role="img"/)
    assert.include(
      html,
      '<title id="chart-issued-title">Certificates issued per day, last 30 days</title>'
    )
    assert.include(html, '5 certificates issued by')
    const today = new Date().toISOString().slice(0, 10)
    assert.match(html, new RegExp(`<td>${today}</td>\\s*<td>5</td>`))
    assert.include(html, `<title>5 certificates issued on ${today}</title>`)
    // Expiring chart: both short-lived certificates fall in the second week (10 days)
    assert.match(html, /<svg class="chart" id="chart-expiring"/)
    assert.include(html, '2 valid certificates of')
    // Next to expire
    const soon = await db
      .from('certificates')
      .where({ ca_id: ca.id, common_name: 'soon-a.example.com' })
      .first()
    assert.include(html, `href="/admin/certificates?id=${soon.id}"`)
    assert.include(html, 'Short lived')
    assert.include(html, `<section id="dash-fragment">CA ${ca.id}</section>`)

    const weeks = await client.get(`/admin?ca=${ca.id}&range=weeks`).loginAs(user)
    weeks.assertStatus(200)
    assert.include(weeks.text(), 'Certificates issued per week, last 26 weeks')
    assert.equal(weeks.text().match(/<td>week of \d{4}-\d\d-\d\d<\/td>/g)?.length, 26)
  })

  test('names are escaped inside the SVG', async ({ client, assert }) => {
    const user = await webUser()
    const ca = await caFor(client, user, `<b>Evil & Co</b> ${unique('x')}`)
    const r = await client.get(`/admin?ca=${ca.id}`).loginAs(user)
    r.assertStatus(200)
    assert.notInclude(r.text(), '<b>Evil')
    assert.include(r.text(), '&lt;b&gt;Evil &amp; Co&lt;/b&gt;')
    const svg = barChart({
      id: 'x',
      title: 'a<b',
      description: '"q"',
      labels: ['<l>'],
      values: [3],
    })
    assert.include(svg, '<title id="x-title">a&lt;b</title>')
    assert.include(svg, '&lt;l&gt;')
    assert.equal(niceMax(0), 1)
    assert.equal(niceMax(7), 10)
    assert.equal(niceMax(120), 200)
  })

  test('fast with 100,000 certificates: indexed queries, aggregated in SQL', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const ca = await caFor(client, user)
    const template = await db.from('templates').where('ca_id', ca.id).first()
    const now = Date.now()
    const N = 100_000
    const der = Buffer.alloc(32, 7)
    const certs: any[] = []
    const audits: any[] = []
    for (let i = 0; i < N; i++) {
      const created = now - Math.floor((i / N) * 200 * DAY)
      certs.push({
        ca_id: ca.id,
        template_id: template.id,
        serial: `bench${i.toString(16)}`,
        kind: 'end-entity',
        subject_dn: `CN=host${i}.example.com`,
        common_name: `host${i}.example.com`,
        sans: '[]',
        key_type: 'ecdsa-p256',
        not_before: created,
        not_after: created + 365 * DAY,
        status: i % 100 === 0 ? 'revoked' : 'valid',
        der,
        fingerprint: i.toString(16).padStart(64, '0'),
        created_at: created,
      })
      audits.push({
        at: created,
        actor: 'bench',
        action: 'certificate.issue',
        object_type: 'certificate',
        object_id: String(i),
        ca_id: ca.id,
      })
      // (SQLite allows 500 terms in the compound SELECT knex builds)
      if (certs.length === 250 || i === N - 1) {
        try {
          await db.table('certificates').multiInsert(certs.splice(0))
          await db.table('audit_logs').multiInsert(audits.splice(0))
        } catch (error) {
          throw new Error(`seeding failed: ${String((error as Error).message).slice(-300)}`)
        }
      }
    }

    // warm up once, then time the page
    await client.get(`/admin?ca=${ca.id}`).loginAs(user)
    const started = performance.now()
    const r = await client.get(`/admin?ca=${ca.id}`).loginAs(user)
    const ms = performance.now() - started
    r.assertStatus(200)
    assert.match(r.text(), /data-count="revoked">1000</)
    const counts = await dashboardStats.counts(ca.id)
    assert.equal(counts.valid + counts.revoked, N)
    const issued = await dashboardStats.issued(ca.id, 'days')
    // 30 of 200 days, evenly spread: about 15,000
    const total = issued.reduce((a, b) => a + b.count, 0)
    assert.approximately(total, (N * 30) / 200, N / 100)
    console.log(`  dashboard with ${N} certificates: ${ms.toFixed(0)} ms`)
    // Manage Templates counts the template's active certificates (valid, not expired)
    const active = await dashboardStats.activeByTemplate([template.id])
    assert.equal(active.get(template.id), N - N / 100)
    const templates = await client.get(`/admin/templates?ca=${ca.id}`).loginAs(user)
    assert.include(templates.text(), `<td>${N - N / 100}</td>`)
    assert.isBelow(ms, 3000)

    if (db.connection().dialect.name !== 'postgres') {
      // Every query the dashboard runs searches an index; none scans a whole table.
      const seen: Array<{ sql: string; bindings: unknown[] }> = []
      const listener = (q: any) => seen.push({ sql: q.sql, bindings: q.bindings ?? [] })
      const knex = db.connection().getReadClient() as any
      knex.on('query', listener)
      try {
        await dashboardStats.counts(ca.id, now)
        await dashboardStats.issued(ca.id, 'weeks', now)
        await dashboardStats.expiring(ca.id, now)
        await dashboardStats.expiringSoon(ca.id, 90, 10, now)
        await dashboardStats.activeByTemplate([template.id], now)
      } finally {
        knex.removeListener('query', listener)
      }
      assert.isAtLeast(seen.length, 9)
      for (const q of seen) {
        const rows = await db.rawQuery(`EXPLAIN QUERY PLAN ${q.sql}`, q.bindings as any[])
        const plan = (rows as any[]).map((x) => x.detail).join(' | ')
        assert.match(plan, /SEARCH \w+ USING (COVERING )?INDEX/, `${q.sql}: ${plan}`)
        assert.notMatch(plan, /SCAN (certificates|audit_logs|c|t)\b(?! USING)/, `${q.sql}: ${plan}`)
      }
    }
  }).timeout(120_000)
})
