import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { adminToken, createCa, opensslCsr, unique, webServerTemplate } from '#tests/helpers/api'
import { opensslText, opensslVerify } from '#tests/helpers/external'
import { requestService } from '#services/request_service'
import { systemActor } from '#services/actor'

test.group('Pending requests', () => {
  test('a submitted CSR waits, then is signed with overridden subject, SANs and validity', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Approvals') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=requested.example.com/O=Requested Org' })

    const submitted = await client
      .post(`/api/v1/templates/${template.id}/requests`)
      .bearerToken(token)
      .json({ csr: csrPem })
    submitted.assertStatus(201)
    const request = submitted.body().request
    assert.equal(request.status, 'pending')
    assert.equal(request.subjectDn, 'O=Requested Org,CN=requested.example.com') // RFC 4514: last RDN first

    const pending = await client.get(`/api/v1/cas/${ca.id}/requests`).bearerToken(token)
    assert.deepEqual(
      pending.body().requests.map((r: any) => r.id),
      [request.id]
    )
    assert.equal(
      Number((await db.from('certificates').where('ca_id', ca.id).count('* as n').first()).n),
      0
    )

    const approved = await client
      .post(`/api/v1/requests/${request.id}/approve`)
      .bearerToken(token)
      .json({
        subject: { commonName: 'approved.example.com', organization: null },
        sans: [
          { type: 'dns', value: 'approved.example.com' },
          { type: 'dns', value: 'alt.example.com' },
        ],
        validityDays: 30,
      })
    approved.assertStatus(201)
    const cert = approved.body().certificate
    assert.equal(cert.subjectDn, 'CN=approved.example.com')
    assert.equal(cert.requestId, request.id)
    assert.approximately((Date.parse(cert.notAfter) - Date.now()) / 86400_000, 30, 0.01)
    const text = await opensslText(cert.certificatePem, 'x509')
    assert.match(text, /DNS:approved.example.com, DNS:alt.example.com/)
    assert.notMatch(text, /Requested Org/)
    const verdict = await opensslVerify({ roots: [ca.certificatePem!], cert: cert.certificatePem })
    assert.isTrue(verdict.ok, verdict.output)

    const after = await client.get(`/api/v1/requests/${request.id}`).bearerToken(token)
    assert.equal(after.body().request.status, 'issued')
    assert.equal(after.body().request.certificateId, cert.id)
    const twice = await client
      .post(`/api/v1/requests/${request.id}/approve`)
      .bearerToken(token)
      .json({})
    twice.assertStatus(409)
  }).timeout(60000)

  test('an approval that fails leaves the request pending; decline is final', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Decline'), validityDays: 20 })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=decline.example.com' })
    const request = (
      await client
        .post(`/api/v1/templates/${template.id}/requests`)
        .bearerToken(token)
        .json({ csr: csrPem })
    ).body().request
    const tooLong = await client
      .post(`/api/v1/requests/${request.id}/approve`)
      .bearerToken(token)
      .json({ validityDays: 100 })
    tooLong.assertStatus(422)
    assert.equal(
      (await client.get(`/api/v1/requests/${request.id}`).bearerToken(token)).body().request.status,
      'pending'
    )
    const declined = await client
      .post(`/api/v1/requests/${request.id}/decline`)
      .bearerToken(token)
      .json({ reason: 'not ours' })
    declined.assertStatus(200)
    assert.equal(declined.body().request.status, 'declined')
    assert.equal(declined.body().request.declineReason, 'not ours')
    ;(
      await client.post(`/api/v1/requests/${request.id}/approve`).bearerToken(token).json({})
    ).assertStatus(409)
    assert.equal(
      Number((await db.from('certificates').where('ca_id', ca.id).count('* as n').first()).n),
      0
    )
  }).timeout(60000)

  test('requests are approved and declined in bulk, each on its own', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Bulk') })
    const template = await webServerTemplate(client, ca.id)
    const ids: number[] = []
    for (let i = 0; i < 3; i++) {
      const { csrPem } = await opensslCsr({ subject: `/CN=bulk-${i}.example.com` })
      ids.push(
        (
          await client
            .post(`/api/v1/templates/${template.id}/requests`)
            .bearerToken(token)
            .json({ csr: csrPem })
        ).body().request.id
      )
    }
    await client.post(`/api/v1/requests/${ids[2]}/decline`).bearerToken(token).json({})
    const bulk = await client
      .post('/api/v1/requests/bulk')
      .bearerToken(token)
      .json({ action: 'approve', ids })
    bulk.assertStatus(200)
    const results = bulk.body().results
    assert.isTrue(results[0].ok)
    assert.isTrue(results[1].ok)
    assert.isFalse(results[2].ok)
    assert.equal(results[2].error.code, 'E_CONFLICT')
    const { csrPem } = await opensslCsr({ subject: '/CN=bulk-decline.example.com' })
    const last = (
      await client
        .post(`/api/v1/templates/${template.id}/requests`)
        .bearerToken(token)
        .json({ csr: csrPem })
    ).body().request.id
    const declineAll = await client
      .post('/api/v1/requests/bulk')
      .bearerToken(token)
      .json({ action: 'decline', ids: [last], reason: 'batch' })
    assert.isTrue(declineAll.body().results[0].ok)
    ;(
      await client
        .post('/api/v1/requests/bulk')
        .bearerToken(token)
        .json({ action: 'explode', ids: [last] })
    ).assertStatus(422)
    ;(
      await client
        .post('/api/v1/requests/bulk')
        .bearerToken(token)
        .json({ action: 'approve', ids: [] })
    ).assertStatus(422)
  }).timeout(60000)

  test('a decline reason must be text; a decline racing an approval writes nothing', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Race') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=race.example.com' })
    const submit = async () =>
      (
        await client
          .post(`/api/v1/templates/${template.id}/requests`)
          .bearerToken(token)
          .json({ csr: csrPem })
      ).body().request.id as number

    const first = await submit()
    for (const reason of [{ why: 'x' }, ['a'], 42, 'x'.repeat(501)]) {
      const refused = await client
        .post(`/api/v1/requests/${first}/decline`)
        .bearerToken(token)
        .json({ reason })
      assert.equal(refused.status(), 422, JSON.stringify(reason).slice(0, 40))
      assert.equal(refused.body().error.code, 'E_VALIDATION')
    }
    const bulkRefused = await client
      .post('/api/v1/requests/bulk')
      .bearerToken(token)
      .json({ action: 'decline', ids: [first], reason: { x: 1 } })
    bulkRefused.assertStatus(422)
    assert.equal(
      (await client.get(`/api/v1/requests/${first}`).bearerToken(token)).body().request.status,
      'pending'
    )

    // An approver claims the request between the decline's read and its write: the decline
    // fails with 409 and writes no audit entry and no log line (both were written before).
    const original = requestService.find
    requestService.find = async function (actor, id) {
      const found = await original.call(this, actor, id)
      await db
        .from('certificate_requests')
        .where('id', id)
        .update({ status: 'signing', decided_at: Date.now() })
      return found
    }
    let raced: unknown
    try {
      await requestService.decline(systemActor, first, 'racing')
    } catch (error) {
      raced = error
    } finally {
      requestService.find = original
    }
    assert.equal((raced as any)?.code, 'E_CONFLICT')
    const row = await db.from('certificate_requests').where('id', first).first()
    assert.equal(row.status, 'signing')
    assert.isNull(row.decline_reason)
    const audited = await db
      .from('audit_logs')
      .where({ action: 'request.decline', object_id: String(first) })
    assert.lengthOf(audited, 0)
    const logged = await db
      .from('service_logs')
      .where('event', 'request.declined')
      .whereLike('message', `Request #${first} %`)
    assert.lengthOf(logged, 0)
  }).timeout(60000)

  test('a request left in signing by a dead process can be approved after five minutes', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Abandoned') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=abandoned.example.com' })
    const request = (
      await client
        .post(`/api/v1/templates/${template.id}/requests`)
        .bearerToken(token)
        .json({ csr: csrPem })
    ).body().request
    // a fresh claim by someone else is respected
    await db
      .from('certificate_requests')
      .where('id', request.id)
      .update({ status: 'signing', decided_at: Date.now() })
    ;(
      await client.post(`/api/v1/requests/${request.id}/approve`).bearerToken(token).json({})
    ).assertStatus(409)
    // an old one is taken over
    await db
      .from('certificate_requests')
      .where('id', request.id)
      .update({ decided_at: Date.now() - 6 * 60_000 })
    const approved = await client
      .post(`/api/v1/requests/${request.id}/approve`)
      .bearerToken(token)
      .json({})
    approved.assertStatus(201)
    assert.equal(
      (await client.get(`/api/v1/requests/${request.id}`).bearerToken(token)).body().request.status,
      'issued'
    )
  }).timeout(60000)

  test('a bad CSR is not queued', async ({ client, assert }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Queue') })
    const template = await webServerTemplate(client, ca.id)
    for (const csr of [
      '',
      'garbage',
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----',
    ]) {
      const response = await client
        .post(`/api/v1/templates/${template.id}/requests`)
        .bearerToken(token)
        .json({ csr })
      response.assertStatus(400)
    }
    assert.equal(
      Number(
        (await db.from('certificate_requests').where('ca_id', ca.id).count('* as n').first()).n
      ),
      0
    )
  })
})
