/*
 * Refusals reach the Logs page even when they happen before the issuance cycle starts: a CSR
 * sent to the REST API that cannot be read is answered 400 and written to the service log.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { flushServiceLogs } from '#services/service_log'
import { createCa, issueCertificate, unique, webServerTemplate } from '#tests/helpers/api'

test.group('Issuance refusals in the service log', () => {
  test('an unreadable or missing CSR in the REST API is logged as a refusal', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Logged'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)

    const garbage = await issueCertificate(client, template.id, { csr: 'not a CSR' })
    garbage.assertStatus(400)
    assert.equal(garbage.body().error.code, 'E_INVALID_CSR')
    const missing = await issueCertificate(client, template.id, {})
    missing.assertStatus(400)

    await flushServiceLogs()
    const rows = await db
      .from('service_logs')
      .where({ ca_id: ca.id, event: 'issuance.refused' })
      .orderBy('id')
      .select('level', 'message', 'details')
    assert.lengthOf(rows, 2)
    assert.equal(rows[0].level, 'warn')
    assert.include(rows[0].message, 'template "Web Server"')
    assert.include(rows[1].message, 'Give the PEM certificate signing request')
    assert.equal(JSON.parse(rows[0].details).code, 'E_INVALID_CSR')
    assert.equal(JSON.parse(rows[0].details).source, 'api')
  })
})
