/*
 * Kernel port calls added for the revocation plugins and for plugins with secrets or commands:
 * delegated service certificates (checked by OpenSSL), certificate statuses, revoked entries and
 * "listed after expiry", plugin secrets, and ace commands declared by plugins.
 */
import { readerStats, readerWorker } from '#services/revoked_pages'
import { test } from '@japa/runner'
import { X509Certificate, verify as verifySignature } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import { pluginHost } from '#plugins/host'
import { createRuntime } from '#plugins/kernel_port'
import { systemActor } from '#services/actor'
import { serviceKeyType } from '#services/service_certificate_service'
import { purgeExpired } from '#services/purge_service'
import * as pki from '#pki/index'
import {
  adminToken,
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'
import { opensslText, opensslVerify } from '#tests/helpers/external'
import { describeAce, runAce } from '#tests/helpers/processes'

const DAY = 86_400_000

function runtimeOf(id = 'example') {
  const rec = pluginHost.get(id)
  if (!rec?.runtime) throw new Error(`plugin ${id} is not loaded`)
  return rec.runtime
}

async function issue(client: any, templateId: number, cn: string) {
  const { csrPem } = await opensslCsr({ subject: `/CN=${cn}`, sans: [`DNS:${cn}`] })
  const response = await issueCertificate(client, templateId, { csr: csrPem })
  if (response.status() !== 201) throw new Error(`issue failed: ${response.text()}`)
  return response.body().certificate as { id: number; serial: string }
}

async function revoke(client: any, id: number, reason: string) {
  const response = await client
    .post(`/api/v1/certificates/${id}/revoke`)
    .bearerToken(await adminToken())
    .json({ reason })
  if (response.status() !== 200) throw new Error(`revoke failed: ${response.text()}`)
}

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = []
  for await (const page of pages) all.push(...page)
  return all
}

test.group('Kernel port: service certificates', () => {
  test('an OCSP responder certificate: EKU, nocheck, chain, signer, reload', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Svc'), keyType: 'ecdsa-p256' })
    const runtime = runtimeOf()
    const issued = await runtime.issueServiceCertificate(ca.id, {
      purpose: 'ocsp-signing',
      validityMs: 7 * DAY,
    })
    assert.equal(issued.caId, ca.id)
    assert.equal(issued.keyType, 'ecdsa-p256')
    assert.approximately(issued.notAfter - Date.now(), 7 * DAY, 60_000)
    const pem = pki.toPem(issued.der, 'CERTIFICATE')
    const text = await opensslText(pem, 'x509')
    assert.include(text, 'OCSP Signing')
    assert.include(text, 'OCSP No Check')
    assert.match(text, /Subject: CN\s*=\s*Svc [0-9a-f]+ OCSP Responder/)
    assert.match(text, /Digital Signature/)
    assert.notInclude(text, 'CRL Distribution Points')
    const verified = await opensslVerify({
      roots: [ca.certificatePem!],
      cert: pem,
      purpose: 'ocsphelper',
    })
    assert.isTrue(verified.ok, verified.output)

    // Its signer signs with the certificate's key (checked with the certificate's public key).
    const data = Buffer.from('to be signed')
    const publicKey = new X509Certificate(Buffer.from(issued.der)).publicKey
    assert.isTrue(verifySignature('sha256', data, publicKey, await issued.sign(data)))
    const stream = issued.stream!('sha256')
    stream.update(data.subarray(0, 5))
    stream.update(data.subarray(5))
    assert.isTrue(verifySignature('sha256', data, publicKey, await stream.sign()))

    // Any node can load it again; it shows in Issued Certificates as a service certificate.
    const again = await runtime.serviceCertificate(issued.certificateId)
    assert.equal(again?.serial, issued.serial)
    assert.isTrue(verifySignature('sha256', data, publicKey, await again!.sign(data)))
    const row = await db.from('certificates').where('id', issued.certificateId).first()
    assert.equal(row.kind, 'service')
    assert.isNull(row.template_id)
    const key = await db.from('service_keys').where('certificate_id', issued.certificateId).first()
    assert.notInclude(String(key.key_material), 'PRIVATE KEY')
    const auditRow = await db
      .from('audit_logs')
      .where({ action: 'certificate.issue-service', object_id: String(issued.certificateId) })
      .first()
    assert.exists(auditRow)
    assert.isNull(await runtime.serviceCertificate(999_999_999))
  })

  test('bad requests are refused and write nothing', async ({ client, assert }) => {
    const ca = await createCa(client, { name: unique('Svc bad'), keyType: 'ed25519' })
    const runtime = runtimeOf()
    const before = await db.from('certificates').where('ca_id', ca.id).count('* as n')
    await assert.rejects(
      () => runtime.issueServiceCertificate(ca.id, { purpose: 'ocsp-signing', validityMs: 1000 }),
      /at least 10 minutes/
    )
    await assert.rejects(
      () => runtime.issueServiceCertificate(ca.id, { purpose: 'nope' as any, validityMs: DAY }),
      /not a service certificate purpose/
    )
    await assert.rejects(
      () => runtime.issueServiceCertificate(987_654, { purpose: 'ocsp-signing', validityMs: DAY }),
      /No CA/
    )
    const after = await db.from('certificates').where('ca_id', ca.id).count('* as n')
    assert.equal(Number(after[0].n), Number(before[0].n))
  })

  test('key type: the CA settings, else the CA algorithm, ML-DSA-65 for SLH-DSA CAs', ({
    assert,
  }) => {
    assert.equal(serviceKeyType({ keyType: 'rsa-3072', serviceSettings: null as any }), 'rsa-3072')
    assert.equal(
      serviceKeyType({
        keyType: 'slh-dsa-sha2-128s',
        serviceSettings: { keyType: null, hash: null },
      }),
      'ml-dsa-65'
    )
    assert.equal(
      serviceKeyType({
        keyType: 'rsa-2048',
        serviceSettings: { keyType: 'ecdsa-p384', hash: null },
      }),
      'ecdsa-p384'
    )
  })
})

test.group('Kernel port: statuses and revoked entries', () => {
  test('certificateStatuses pages every certificate; revokedEntries drops those listed after expiry', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Statuses'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const a = await issue(client, template.id, 'a.example.com')
    const b = await issue(client, template.id, 'b.example.com')
    const c = await issue(client, template.id, 'c.example.com')
    await revoke(client, b.id, 'keyCompromise')
    await revoke(client, c.id, 'certificateHold')
    const runtime = runtimeOf()

    // (Other plugins, e.g. the OCSP responder, may have issued service certificates of the CA.)
    const ours = new Set([a.id, b.id, c.id])
    const statuses = (await collect(runtime.certificateStatuses(ca.id, { pageSize: 2 }))).filter(
      (s) => ours.has(s.certificateId)
    )
    assert.deepEqual(
      statuses.map((s) => [s.certificateId, s.status, s.reason]),
      [
        [a.id, 'valid', null],
        [b.id, 'revoked', 'keyCompromise'],
        [c.id, 'hold', 'certificateHold'],
      ]
    )
    assert.isNumber(statuses[1].revokedAt)
    const afterA = await collect(runtime.certificateStatuses(ca.id, { afterId: a.id }))
    assert.isTrue(afterA.every((s) => s.certificateId > a.id))
    assert.includeMembers(
      afterA.map((s) => s.certificateId),
      [b.id, c.id]
    )

    let revoked = await collect(runtime.revokedEntries(ca.id, 1))
    assert.deepEqual(
      revoked.map((r) => [r.certificateId, r.serial, r.reason]),
      [
        [b.id, b.serial, 'keyCompromise'],
        [c.id, c.serial, 'certificateHold'],
      ]
    )

    // b expired 40 days ago; a CRL issued now has listed it after its expiry.
    await db
      .from('certificates')
      .where('id', b.id)
      .update({ not_after: Date.now() - 40 * DAY })
    assert.equal(await runtime.markListedAfterExpiry(ca.id, Date.now() - 41 * DAY), 0)
    // Not listed yet: the purge keeps it.
    await purgeExpired()
    assert.exists(await db.from('certificates').where('id', b.id).first())
    assert.equal(await runtime.markListedAfterExpiry(ca.id, Date.now()), 1)
    revoked = await collect(runtime.revokedEntries(ca.id))
    assert.deepEqual(
      revoked.map((r) => r.certificateId),
      [c.id]
    )
    await purgeExpired()
    assert.notExists(await db.from('certificates').where('id', b.id).first())
  })

  test('revokedEntryPages visits the same rows as revokedEntries, across pages, and stops early', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Pages'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const reasons = ['keyCompromise', 'certificateHold', 'unspecified', 'superseded']
    const issued = []
    for (let i = 0; i < 8; i++) issued.push(await issue(client, template.id, `p${i}.example.com`))
    for (const [i, cert] of issued.entries()) {
      if (i !== 3) await revoke(client, cert.id, reasons[i % reasons.length])
    }
    // A few thousand more rows (written directly) so that the reader fills several pages.
    const base = issued[0]
    const row = await db.from('certificates').where('id', base.id).first()
    const extra = Array.from({ length: 7000 }, (_, i) => {
      const { id: omitted, ...rest } = row
      void omitted
      return {
        ...rest,
        serial: `7e${String(i).padStart(30, '0')}`,
        status: 'revoked',
        revoked_at: 1_700_000_000_000 + i * 1000,
        revocation_reason: i % 2 ? 'cessationOfOperation' : null,
        fingerprint: `${'f'.repeat(32)}${String(i).padStart(32, '0')}`,
      }
    })
    for (let i = 0; i < extra.length; i += 500) {
      await db.table('certificates').multiInsert(extra.slice(i, i + 500))
    }
    const runtime = runtimeOf()

    const expected = (await collect(runtime.revokedEntries(ca.id, 5000))).map((r) => [
      r.serial,
      r.revokedAt,
      r.reason,
    ])
    assert.lengthOf(expected, 7 + 7000)
    const workerPagesBefore = readerStats.workerPages
    const seen: unknown[][] = []
    let pages = 0
    for await (const page of runtime.revokedEntryPages(ca.id)) {
      pages++
      let n = 0
      page.forEach((serial, revokedAt, reason) => {
        seen.push([serial, revokedAt, reason])
        n++
      })
      assert.equal(n, page.count)
    }
    assert.isAbove(pages, 1)
    assert.deepEqual(seen, expected)
    // SQLite: the first 5,000 rows on this thread, the rest from the reader worker.
    if (db.connection().dialect.name === 'better-sqlite3') {
      assert.isAbove(readerStats.workerPages, workerPagesBefore)
    }

    // Leaving early stops the reader; a new read starts over.
    for await (const page of runtime.revokedEntryPages(ca.id)) {
      assert.isAbove(page.count, 0)
      break
    }
    let again = 0
    for await (const page of runtime.revokedEntryPages(ca.id)) again += page.count
    assert.equal(again, expected.length)

    // A reader worker that cannot start leaves the rows to this thread: the same rows, in order.
    const script = readerWorker.url
    readerWorker.url = new URL('./no_such_reader_worker.js', script)
    try {
      const workerPagesNow = readerStats.workerPages
      const fallback: unknown[][] = []
      for await (const page of runtime.revokedEntryPages(ca.id)) {
        page.forEach((serial, revokedAt, reason) => fallback.push([serial, revokedAt, reason]))
      }
      assert.deepEqual(fallback, expected)
      assert.equal(readerStats.workerPages, workerPagesNow)
    } finally {
      readerWorker.url = script
    }
    await db.from('certificates').where('ca_id', ca.id).whereLike('serial', '7e%').delete()
  })
})

test.group('Kernel port: plugin secrets', () => {
  test('put, get, delete; encrypted at rest; another plugin cannot read it', async ({ assert }) => {
    const example = runtimeOf('example')
    // Another plugin's runtime (the same port, another id).
    const other = createRuntime('other-plugin', pluginHost)
    const handle = await example.secrets.put('hmac key value')
    assert.match(handle, /^ps_/)
    const row = await db.from('plugin_secrets').where('id', handle).first()
    assert.notInclude(String(row.material), 'hmac key value')
    assert.equal(await example.secrets.get(handle), 'hmac key value')
    assert.isNull(await other.secrets.get(handle))
    assert.isNull(await example.secrets.get('not a handle'))
    await other.secrets.delete(handle)
    assert.equal(await example.secrets.get(handle), 'hmac key value')
    await example.secrets.delete(handle)
    assert.isNull(await example.secrets.get(handle))
  })
})

test.group('Kernel port: service logs', () => {
  test('written at once, or queued and written with the next batch', async ({ assert }) => {
    const runtime = runtimeOf('example')
    const { flushServiceLogs } = await import('#services/service_log')
    const now = `now-${Date.now()}`
    await runtime.writeServiceLog({ level: 'info', event: 'test.now', message: now })
    assert.exists(await db.from('service_logs').where('message', now).first())
    const later = `queued-${Date.now()}`
    await runtime.writeServiceLog(
      { level: 'warn', event: 'test.queued', message: later },
      { queue: true }
    )
    await flushServiceLogs()
    const row = await db.from('service_logs').where('message', later).first()
    assert.equal(row?.service, 'example')
    assert.equal(row?.level, 'warn')
  })
})

test.group('Kernel port: transactions', () => {
  test('all of it commits (audit entries too), or none of it when the function throws; own tables only', async ({
    assert,
  }) => {
    const runtime = runtimeOf('example')
    const name = `tx-${Date.now()}`
    await assert.rejects(
      () =>
        runtime.transaction(async (tx) => {
          await tx.table('example_greetings').insert({ name, at: 1 })
          await tx.audit({ action: 'example.tx', objectId: name, details: { at: 1 } })
          throw new Error('changed my mind')
        }),
      /changed my mind/
    )
    assert.notExists(await runtime.table('example_greetings').where('name', name).first())
    const audited = () =>
      db.from('audit_logs').where('action', 'example.tx').where('object_id', name).select('*')
    assert.lengthOf(await audited(), 0, 'the audit entry went with the rollback')
    const id = await runtime.transaction(async (tx) => {
      await tx.table('example_greetings').insert({ name, at: 2 })
      await tx.audit({ action: 'example.tx', objectId: name, details: { at: 2 } })
      const row = await tx.table('example_greetings').where('name', name).first()
      return row.id
    })
    assert.isNumber(id)
    assert.exists(await runtime.table('example_greetings').where('name', name).first())
    const entries = await audited()
    assert.lengthOf(entries, 1)
    assert.equal(entries[0].actor, 'plugin:example')
    assert.deepInclude(JSON.parse(entries[0].details), { plugin: 'example', at: 2 })
    await assert.rejects(
      () => runtime.transaction(async (tx) => tx.table('certificates').first()),
      /may only use its own tables/
    )
  })
})

test.group('Kernel port: write batches', () => {
  test('queries and audits commit together (off the event loop on SQLite), or not at all', async ({
    assert,
  }) => {
    const runtime = runtimeOf('example')
    const name = `wb-${Date.now()}`
    const results = await runtime.writeBatch([
      runtime.table('example_greetings').insert({ name, at: 1 }),
      runtime.table('example_greetings').insert({ name, at: 2 }),
      { audit: { action: 'example.batch', objectId: name, details: { n: 2 } } },
      runtime.table('example_greetings').where('name', name).where('at', 2).update({ at: 3 }),
    ])
    assert.lengthOf(results, 4)
    assert.deepEqual(
      results.map((r) => r.changes),
      [1, 1, 1, 1]
    )
    const rows = await runtime.table('example_greetings').where('name', name).orderBy('at')
    assert.deepEqual(
      rows.map((r: any) => Number(r.at)),
      [1, 3]
    )
    if (db.connection().dialect.name === 'better-sqlite3') {
      assert.equal(results[0].lastId, rows[0].id)
    }
    const audits = await db
      .from('audit_logs')
      .where('action', 'example.batch')
      .where('object_id', name)
    assert.lengthOf(audits, 1)
    assert.equal(audits[0].actor, 'plugin:example')
    assert.deepInclude(JSON.parse(audits[0].details), { plugin: 'example', n: 2 })

    // A failing statement (NOT NULL) rolls the whole batch back, audit included.
    const failed = `wb-failed-${Date.now()}`
    await assert.rejects(() =>
      runtime.writeBatch([
        runtime.table('example_greetings').insert({ name: failed, at: 1 }),
        { audit: { action: 'example.batch', objectId: failed } },
        runtime.table('example_greetings').insert({ name: failed, at: null }),
      ])
    )
    assert.notExists(await runtime.table('example_greetings').where('name', failed).first())
    assert.notExists(
      await db
        .from('audit_logs')
        .where('action', 'example.batch')
        .where('object_id', failed)
        .first()
    )

    // Only the plugin's own queries: not another builder, not raw SQL dressed up as one.
    await assert.rejects(
      () => runtime.writeBatch([db.from('certificates').where('id', 0).delete() as any]),
      /runtime\.table\(\)/
    )
    await assert.rejects(
      () =>
        runtime.writeBatch([{ toSQL: () => ({ sql: 'DELETE FROM cas', bindings: [] }) } as any]),
      /runtime\.table\(\)/
    )
    assert.deepEqual(await runtime.writeBatch([]), [])
  })
})

test.group('Plugin ace commands', () => {
  test('a command runs while its plugin is enabled and refuses while it is disabled', async ({
    assert,
  }) => {
    const wasEnabled = pluginHost.get('example')!.enabled
    await pluginHost.setEnabled('example', false, systemActor)
    try {
      const disabled = await runAce(['example:greetings', '--limit', '2'])
      assert.equal(disabled.code, 1, describeAce(disabled))
      assert.include(disabled.stderr + disabled.stdout, 'node ace plugin:enable example')

      await pluginHost.setEnabled('example', true, systemActor)
      await runtimeOf().table('example_greetings').insert({ name: 'Ada', at: Date.now() })
      const ok = await runAce(['example:greetings', '--limit', '1'])
      assert.equal(ok.code, 0, describeAce(ok))
      assert.match(ok.stdout.trim().split('\n').at(-1)!, /^Ada\t\d{4}-\d\d-\d\dT/)

      const bad = await runAce(['example:greetings', '--limit', '0'])
      assert.equal(bad.code, 2, describeAce(bad))
      assert.include(bad.stderr, '--limit must be a whole number')

      const list = await runAce(['list'])
      assert.match(list.stdout, /example:greetings\s+Print the most recent greetings/)
    } finally {
      await pluginHost.setEnabled('example', wasEnabled, systemActor)
    }
  })

  test('plugin:settings shows install settings and changes them, validated, secrets kept', async ({
    assert,
    cleanup,
  }) => {
    await pluginHost.saveSettings(
      'example',
      'install',
      0,
      { greeting: 'Hello', webhookToken: 'sekrit-token' },
      systemActor
    )
    cleanup(async () => {
      // Other tests expect the example plugin's defaults (a stored secret is only cleared here).
      await db.from('plugin_states').where('plugin_id', 'example').update({ settings: '{}' })
      await pluginHost.refresh(true)
    })
    const shown = await runAce(['plugin:settings', 'example'])
    assert.equal(shown.code, 0, describeAce(shown))
    assert.include(shown.stdout, 'greeting\t"Hello"')
    assert.include(shown.stdout, 'webhookToken\t"(set)"')
    assert.notInclude(shown.stdout, 'sekrit-token')

    const changed = await runAce(['plugin:settings', 'example', '--set', 'greeting=Howdy'])
    assert.equal(changed.code, 0, describeAce(changed))
    assert.include(changed.stdout, 'greeting\t"Howdy"')
    await pluginHost.refresh(true)
    const stored = await pluginHost.readSettings('example', 'install', 0)
    assert.equal(stored.greeting, 'Howdy')
    assert.equal(stored.webhookToken, 'sekrit-token', 'the secret is kept')

    const refused = await runAce([
      'plugin:settings',
      'example',
      '--set',
      'greeting='.padEnd(60, 'x'),
    ])
    assert.equal(refused.code, 1, describeAce(refused))
    assert.include(refused.stderr + refused.stdout, 'The greeting word needs 1 to 40 characters.')
    const unknown = await runAce(['plugin:settings', 'example', '--set', 'colour=red'])
    assert.equal(unknown.code, 1)
    assert.include(unknown.stderr + unknown.stdout, 'one of: greeting, webhookToken')
    await pluginHost.refresh(true)
    assert.equal((await pluginHost.readSettings('example', 'install', 0)).greeting, 'Howdy')
  })
})
