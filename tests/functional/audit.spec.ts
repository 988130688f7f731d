import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'

test.group('Audit log', () => {
  test('security-relevant actions are recorded with who, what, which object, when and from where', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Audited') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=audit.example.com' })
    const cert = (await issueCertificate(client, template.id, { csr: csrPem })).body().certificate
    await client
      .post(`/api/v1/certificates/${cert.id}/revoke`)
      .bearerToken(token)
      .json({ reason: 'keyCompromise' })
    const response = await client.get(`/api/v1/audit?limit=1000`).bearerToken(token)
    const entries = response.body().entries.filter((e: any) => e.caId === ca.id)
    const actions = entries.map((e: any) => e.action)
    assert.includeMembers(actions, ['ca.create', 'certificate.issue', 'certificate.revoke'])
    const revoke = entries.find((e: any) => e.action === 'certificate.revoke')
    assert.match(revoke.actor, /^admin-.*@test.example$/)
    assert.equal(revoke.objectType, 'certificate')
    assert.equal(revoke.objectId, String(cert.id))
    assert.equal(revoke.details.reason, 'keyCompromise')
    assert.match(revoke.ip, /127\.0\.0\.1|::1/)
    assert.isTrue(Date.now() - Date.parse(revoke.at) < 60_000)

    // Paging: `before` leads on; a cursor or limit that is no number is refused (a bad limit
    // read the whole table, a bad cursor gave the first page again), as is a repeated action.
    const page = await client
      .get(`/api/v1/audit?limit=2&before=${revoke.id}&action=certificate.issue`)
      .bearerToken(token)
    page.assertStatus(200)
    assert.isAtMost(page.body().entries.length, 2)
    for (const e of page.body().entries) {
      assert.isBelow(e.id, revoke.id)
      assert.equal(e.action, 'certificate.issue')
    }
    for (const qs of [
      'limit=abc',
      'limit=-1',
      'before=abc',
      'before=1&before=2',
      'action=a&action=b',
    ]) {
      const refused = await client.get(`/api/v1/audit?${qs}`).bearerToken(token)
      assert.equal(refused.status(), 422, qs)
    }
    // Ids beyond any row: a 404, also where PostgreSQL cannot compare them (it was a 500).
    for (const path of [
      '/api/v1/certificates/99999999999999999999',
      '/pki/ca/99999999999999999999.crt',
      '/pki/ca/99999999999999999999/chain.pem',
    ]) {
      const missing = await client.get(path).bearerToken(token)
      assert.equal(missing.status(), 404, path)
    }
  }).timeout(60000)

  test('the database refuses to update or delete audit entries', async ({ assert }) => {
    const row = await db.from('audit_logs').orderBy('id', 'desc').first()
    assert.exists(row)
    await assert.rejects(
      () => db.from('audit_logs').where('id', row.id).update({ action: 'tampered' }),
      /append-only/
    )
    await assert.rejects(() => db.from('audit_logs').where('id', row.id).delete(), /append-only/)
    const again = await db.from('audit_logs').where('id', row.id).first()
    assert.equal(again.action, row.action)
  })

  test('the application has no code path that updates or deletes audit entries', async ({
    assert,
  }) => {
    const { execFileSync } = await import('node:child_process')
    let output = ''
    try {
      output = execFileSync(
        'grep',
        [
          '-rn',
          '-e',
          "audit_logs').*update",
          '-e',
          "audit_logs').*delete",
          '-e',
          "audit_logs').*del(",
          'app',
          'commands',
          'providers',
          'start',
        ],
        { encoding: 'utf8' }
      )
    } catch {
      output = '' // grep exits 1 when nothing matches
    }
    assert.equal(output.trim(), '')
  })
})
