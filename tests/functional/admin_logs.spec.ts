import { test } from '@japa/runner'
import { closeCertificateStore } from '#services/certificate_store'
import db from '@adonisjs/lucid/services/db'
import { caService } from '#services/ca_service'
import {
  countServiceHit,
  flushServiceCounters,
  flushServiceLogs,
  queueServiceLog,
  writeServiceLog,
} from '#services/service_log'
import { purgeServiceLogs, getRetentionDays } from '#services/log_retention'
import type { Actor } from '#services/actor'
import { webUser } from '#tests/helpers/web'
import { unique } from '#tests/helpers/api'

async function owner(isAdmin = false) {
  const user = await webUser({ isAdmin })
  const actor: Actor = { kind: 'user', label: user.email, userId: user.id, isAdmin }
  const ca = await caService.create(actor, { name: unique('Logs CA'), keyType: 'ecdsa-p256' })
  return { user, actor, ca }
}

const messages = (html: string) =>
  [...html.matchAll(/<tr id="log-\d+" class="log-\w+">[\s\S]*?<\/tr>/g)].map((m) => m[0])

function results(client: any, user: any, query: string) {
  return client
    .get(`/admin/logs?${query}`)
    .header('HX-Request', 'true')
    .header('HX-Target', 'log-results')
    .loginAs(user)
}

test.group('Admin UI: logs', (group) => {
  group.each.setup(async () => {
    await flushServiceLogs()
  })

  test('entries of the CAs a user can access only; kernel events are logged', async ({
    client,
    assert,
  }) => {
    const mine = await owner()
    const theirs = await owner()
    await writeServiceLog({
      service: 'kernel',
      caId: theirs.ca.id,
      level: 'error',
      event: 'test.secret',
      message: 'secret entry of another CA',
    })
    await writeServiceLog({
      service: 'kernel',
      caId: null,
      level: 'info',
      event: 'test.install',
      message: 'install-wide entry',
    })
    const page = await client.get('/admin/logs').loginAs(mine.user)
    page.assertStatus(200)
    assert.include(page.text(), '<h1>Logs</h1>')
    assert.include(page.text(), `CA &quot;${mine.ca.name}&quot; created by ${mine.user.email}`)
    assert.notInclude(page.text(), 'secret entry of another CA')
    assert.notInclude(page.text(), 'install-wide entry')
    assert.notInclude(page.text(), 'name="retentionDays"')
    assert.include(page.text(), 'Service logs are kept for')

    const forbidden = await client.get(`/admin/logs?ca_filter=${theirs.ca.id}`).loginAs(mine.user)
    forbidden.assertStatus(404)

    const admin = await webUser({ isAdmin: true })
    const all = await client.get('/admin/logs').loginAs(admin)
    assert.include(all.text(), 'secret entry of another CA')
    assert.include(all.text(), 'install-wide entry')
    assert.include(all.text(), 'name="retentionDays"')

    // Deleting a CA is an install-wide entry: only install administrators see it.
    const adminActor: Actor = { kind: 'user', label: admin.email, userId: admin.id, isAdmin: true }
    await caService.delete(adminActor, theirs.ca.id)
    const deleted = await db
      .from('service_logs')
      .where('event', 'ca.deleted')
      .orderBy('id', 'desc')
      .first()
    assert.isNull(deleted.ca_id)
    assert.include(deleted.message, theirs.ca.name)
  })

  test('filters by CA, service, level and day; htmx gets the results alone', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const second = await caService.create(o.actor, {
      name: unique('Second'),
      keyType: 'ecdsa-p256',
    })
    for (const [service, level, caId, message] of [
      ['kernel', 'info', o.ca.id, 'first kernel info'],
      ['acme', 'warn', o.ca.id, 'acme warning here'],
      ['acme', 'error', second.id, 'acme error on second'],
    ] as const) {
      await writeServiceLog({ service, level, caId, event: 'test.entry', message })
    }
    const byService = await results(client, o.user, 'service=acme')
    byService.assertStatus(200)
    assert.match(byService.text(), /^<div id="log-results"/)
    assert.lengthOf(messages(byService.text()), 2)

    const byLevel = await results(client, o.user, 'level=error')
    assert.deepEqual(
      messages(byLevel.text()).map((m) => m.includes('acme error on second')),
      [true]
    )
    const byCa = await results(client, o.user, `ca_filter=${second.id}&service=acme`)
    assert.lengthOf(messages(byCa.text()), 1)
    assert.include(byCa.text(), 'acme error on second')

    const today = new Date().toISOString().slice(0, 10)
    const tomorrow = new Date(Date.now() + 86400_000).toISOString().slice(0, 10)
    assert.include(
      (await results(client, o.user, `from=${today}&to=${today}`)).text(),
      'first kernel info'
    )
    assert.notInclude(
      (await results(client, o.user, `from=${tomorrow}`)).text(),
      'first kernel info'
    )
    const bad = await results(client, o.user, 'level=loud&from=yesterday')
    bad.assertStatus(422)
    assert.include(bad.text(), 'Choose info, warn or error.')
    assert.include(bad.text(), 'Enter a date (YYYY-MM-DD).')
  })

  test('keyset pages, newest first', async ({ client, assert }) => {
    const o = await owner()
    for (let i = 0; i < 65; i++) {
      await writeServiceLog({
        service: 'paging',
        caId: o.ca.id,
        level: 'info',
        event: 'test.page',
        message: `entry number ${i}.`,
      })
    }
    const first = await results(client, o.user, 'service=paging')
    const rows = messages(first.text())
    assert.lengthOf(rows, 50)
    assert.include(rows[0], 'entry number 64.')
    const next = /href="([^"]+)"[^>]*rel="next"/.exec(first.text())![1].replace(/&amp;/g, '&')
    const second = await client
      .get(next)
      .header('HX-Request', 'true')
      .header('HX-Target', 'log-results')
      .loginAs(o.user)
    const rest = messages(second.text())
    assert.lengthOf(rest, 15)
    assert.include(rest[14], 'entry number 0.')
    assert.include(second.text(), 'rel="prev"')
    assert.notInclude(second.text(), 'rel="next"')
  })

  test("today's counters of the user's CAs", async ({ client, assert }) => {
    const o = await owner()
    const other = await owner()
    const day = new Date().toISOString().slice(0, 10)
    await db.table('service_counters').multiInsert([
      { service: 'ocsp', ca_id: o.ca.id, name: 'responses-mine', day, count: 1234 },
      { service: 'ocsp', ca_id: other.ca.id, name: 'responses-theirs', day, count: 99 },
    ])
    const page = await client.get('/admin/logs').loginAs(o.user)
    assert.include(page.text(), 'responses-mine')
    assert.include(page.text(), '1,234')
    assert.notInclude(page.text(), 'responses-theirs')
  })

  test('retention: install admins set it; the purge deletes older entries only', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const user = (await owner()).user

    const refused = await client
      .post('/admin/logs/retention')
      .form({ retentionDays: '5' })
      .withCsrfToken()
      .loginAs(user)
    refused.assertStatus(403)

    const invalid = await client
      .post('/admin/logs/retention')
      .header('HX-Request', 'true')
      .form({ retentionDays: 'forever' })
      .withCsrfToken()
      .loginAs(admin)
    invalid.assertStatus(422)
    assert.include(invalid.text(), 'whole number of days between 1 and 3650')
    assert.equal(await getRetentionDays(), 90)

    const saved = await client
      .post('/admin/logs/retention')
      .header('HX-Request', 'true')
      .form({ retentionDays: '30' })
      .withCsrfToken()
      .loginAs(admin)
    saved.assertStatus(200)
    assert.include(saved.text(), 'kept for 30 days')
    assert.equal(await getRetentionDays(), 30)

    const now = Date.now()
    const [oldId] = await db
      .table('service_logs')
      .insert({
        at: now - 31 * 86400_000,
        service: 'kernel',
        ca_id: null,
        level: 'info',
        event: 'test.old',
        message: 'old',
      })
      .returning('id')
    const [freshId] = await db
      .table('service_logs')
      .insert({
        at: now - 29 * 86400_000,
        service: 'kernel',
        ca_id: null,
        level: 'info',
        event: 'test.fresh',
        message: 'fresh',
      })
      .returning('id')
    const idOf = (r: any) => Number(typeof r === 'object' ? r.id : r)
    assert.isAtLeast(await purgeServiceLogs(now), 1)
    assert.isNull(await db.from('service_logs').where('id', idOf(oldId)).first())
    assert.isNotNull(await db.from('service_logs').where('id', idOf(freshId)).first())

    // Back to the default for the other tests.
    await db.from('kernel_meta').where('key', 'service_logs.retention_days').delete()
  })
})

test.group('Service log writes', (group) => {
  group.each.setup(async () => {
    await flushServiceLogs()
    await flushServiceCounters()
  })

  test('flushServiceLogs resolves only once a flush already under way is committed', async ({
    assert,
  }) => {
    const event = unique('test.burst').slice(0, 80)
    // The 500th entry starts a flush that nobody awaits (as on a busy node)...
    for (let i = 0; i < 500; i++) {
      queueServiceLog({ service: 'kernel', level: 'info', event, message: `entry ${i}` })
    }
    // ...and the next call finds nothing queued: it must still wait for that flush (shutdown).
    await flushServiceLogs()
    const [{ n }] = await db.from('service_logs').where('event', event).count('* as n')
    assert.equal(Number(n), 500)
    // the 100-row inserts keep the entries in order
    const first = await db.from('service_logs').where('event', event).orderBy('id').first()
    assert.equal(first.message, 'entry 0')
  })

  test('an entry sent to the store just before it closes is committed, not rolled back', async ({
    assert,
  }) => {
    const event = unique('test.closing').slice(0, 80)
    // Sent (on SQLite: posted to the store worker) and not awaited, as at shutdown...
    const writing = writeServiceLog({ service: 'kernel', level: 'info', event, message: 'last' })
    // ...the store closes: it must finish what it was sent. A later write starts a new one.
    await closeCertificateStore()
    await writing
    assert.isNotNull(await db.from('service_logs').where('event', event).first())
  })

  test('service counters: summed per day in one flush, and added to what is stored', async ({
    assert,
  }) => {
    const name = unique('test.hits')
    countServiceHit('kernel', name, 0, 2)
    countServiceHit('kernel', name, 0, 3)
    countServiceHit('kernel', `${name}.other`, 0, 1)
    await flushServiceCounters()
    countServiceHit('kernel', name, 0, 4)
    await flushServiceCounters()
    const rows = await db
      .from('service_counters')
      .whereIn('name', [name, `${name}.other`])
      .orderBy('name')
      .select('name', 'count')
    assert.deepEqual(
      rows.map((r: any) => [r.name, Number(r.count)]),
      [
        [name, 9],
        [`${name}.other`, 1],
      ]
    )
  })
})
