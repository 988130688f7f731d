import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { purgeExpired } from '#services/purge_service'
import { acquireLease, releaseLease } from '#services/scheduler'
import {
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'

test.group('Expired certificate purge', () => {
  test('expired certificates go 30 days after expiry; revoked ones stay until a CRL after expiry listed them', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Purge') })
    const template = await webServerTemplate(client, ca.id)
    const ids: number[] = []
    for (let i = 0; i < 4; i++) {
      const { csrPem } = await opensslCsr({ subject: `/CN=purge-${i}.example.com` })
      ids.push((await issueCertificate(client, template.id, { csr: csrPem })).body().certificate.id)
    }
    const day = 86400_000
    const now = Date.now()
    // 0: expired 31 days ago → purged; 1: expired 10 days ago → kept; 2: revoked, expired 40 days ago,
    // not yet listed after expiry → kept; 3: same but listed → purged
    await db
      .from('certificates')
      .where('id', ids[0])
      .update({ not_after: now - 31 * day })
    await db
      .from('certificates')
      .where('id', ids[1])
      .update({ not_after: now - 10 * day })
    await db
      .from('certificates')
      .where('id', ids[2])
      .update({
        not_after: now - 40 * day,
        status: 'revoked',
        revocation_reason: 'keyCompromise',
        revoked_at: now - 50 * day,
      })
    await db
      .from('certificates')
      .where('id', ids[3])
      .update({
        not_after: now - 40 * day,
        status: 'hold',
        revocation_reason: 'certificateHold',
        revoked_at: now - 50 * day,
        listed_after_expiry: true,
      })
    await purgeExpired(now)
    const left = (await db.from('certificates').where('ca_id', ca.id).select('id')).map(
      (r: any) => r.id
    )
    assert.sameMembers(left, [ids[1], ids[2]])
    // One entry per CA, in that CA's log (its owners see what left their CA).
    const entry = await db
      .from('audit_logs')
      .where('action', 'certificate.purge')
      .where('ca_id', ca.id)
      .orderBy('id', 'desc')
      .first()
    assert.exists(entry)
    assert.equal(JSON.parse(entry.details).count, 2)
  }).timeout(60000)

  test('a job lease is held by one node at a time and expires', async ({ assert }) => {
    const name = `test-lease-${Date.now()}`
    assert.isTrue(await acquireLease(name, 60_000))
    assert.isTrue(await acquireLease(name, 60_000)) // renewal by the holder
    await db.from('job_leases').where('name', name).update({ holder: 'another-node' })
    assert.isFalse(await acquireLease(name, 60_000))
    await db
      .from('job_leases')
      .where('name', name)
      .update({ expires_at: Date.now() - 1 })
    assert.isTrue(await acquireLease(name, 60_000))
    await releaseLease(name)
    assert.isNull(await db.from('job_leases').where('name', name).first())
  })
})
