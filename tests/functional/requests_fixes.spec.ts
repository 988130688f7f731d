import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { adminToken, createCa, opensslCsr, unique, webServerTemplate } from '#tests/helpers/api'
import { requestService } from '#services/request_service'
import { hooks } from '#services/hooks'
import { systemActor } from '#services/actor'
import type { ApiClient } from '@japa/api-client'

async function pendingRequest(client: ApiClient, prefix: string) {
  const token = await adminToken()
  const ca = await createCa(client, { name: unique(prefix) })
  const template = await webServerTemplate(client, ca.id)
  const { csrPem } = await opensslCsr({ subject: '/CN=claim.example.com' })
  const submitted = await client
    .post(`/api/v1/templates/${template.id}/requests`)
    .bearerToken(token)
    .json({ csr: csrPem })
  submitted.assertStatus(201)
  return { token, ca, template, request: submitted.body().request as { id: number } }
}

const certificatesOf = async (requestId: number) =>
  db.from('certificates').where('request_id', requestId).select('id')

/** A claim that looks abandoned: claimed (signing) ten minutes ago. */
const makeStale = (id: number) =>
  db
    .from('certificate_requests')
    .where('id', id)
    .update({ decided_at: Date.now() - 10 * 60_000 })

test.group('Request fixes: claims', () => {
  test('an approver whose stale claim was taken over cannot store a second certificate', async ({
    client,
    assert,
  }) => {
    const { token, ca, request } = await pendingRequest(client, 'Claim takeover')
    let takeover: { id: number } | undefined
    let inside = false
    const off = hooks.register('beforeIssue', {
      owner: 'test-claim-takeover',
      handler: async (ctx) => {
        if (ctx.caId !== ca.id || inside) return
        inside = true
        // The first approver is slow: its claim goes stale, a second approver takes over and issues.
        await makeStale(request.id)
        takeover = await requestService.approve(systemActor, request.id)
      },
    })
    let first
    try {
      first = await client
        .post(`/api/v1/requests/${request.id}/approve`)
        .bearerToken(token)
        .json({})
    } finally {
      off()
    }
    assert.exists(takeover)
    first.assertStatus(409)
    assert.equal(first.body().error.code, 'E_CONFLICT')
    const certs = await certificatesOf(request.id)
    assert.deepEqual(
      certs.map((c: any) => Number(c.id)),
      [takeover!.id]
    )
    const row = await db.from('certificate_requests').where('id', request.id).first()
    assert.equal(row.status, 'issued')
    assert.equal(Number(row.certificate_id), takeover!.id)
  }).timeout(60000)

  test("a failing approver does not put back another approver's claim", async ({
    client,
    assert,
  }) => {
    const { ca, request } = await pendingRequest(client, 'Claim reset')
    const otherClaim = Date.now() + 1000
    const off = hooks.register('validateIssue', {
      owner: 'test-claim-reset',
      handler: async (ctx) => {
        if (ctx.caId !== ca.id) return
        // Meanwhile another approver took the (stale) claim over; then this approval fails.
        await db
          .from('certificate_requests')
          .where('id', request.id)
          .update({ status: 'signing', decided_at: otherClaim })
        throw new Error('refused for the test')
      },
    })
    try {
      await assert.rejects(() => requestService.approve(systemActor, request.id))
    } finally {
      off()
    }
    const row = await db.from('certificate_requests').where('id', request.id).first()
    assert.equal(row.status, 'signing')
    assert.equal(Number(row.decided_at), otherClaim)
    assert.lengthOf(await certificatesOf(request.id), 0)
  }).timeout(60000)

  test('a request being approved answers 409 "being approved by someone else right now"', async ({
    client,
    assert,
  }) => {
    const { token, request } = await pendingRequest(client, 'Claim message')
    await db
      .from('certificate_requests')
      .where('id', request.id)
      .update({ status: 'signing', decided_at: Date.now() })
    for (const action of ['approve', 'decline']) {
      const answer = await client
        .post(`/api/v1/requests/${request.id}/${action}`)
        .bearerToken(token)
        .json({})
      answer.assertStatus(409)
      assert.match(answer.body().error.message, /being approved by someone else right now/)
      assert.notMatch(answer.body().error.message, /already signing/)
    }
  }).timeout(60000)
})

test.group('Request fixes: template rules at submission', () => {
  for (const [label, csrOptions, status] of [
    ['an RSA-1024 key', { key: 'rsa-1024', subject: '/CN=weak.example.com' }, 403],
    [
      'an email SAN',
      { subject: '/CN=mail.example.com', sans: ['DNS:mail.example.com', 'email:a@example.com'] },
      403,
    ],
  ] as const) {
    test(`a CSR with ${label} is refused at submission to the Web Server template`, async ({
      client,
      assert,
    }) => {
      const token = await adminToken()
      const ca = await createCa(client, { name: unique('Submit rules') })
      const template = await webServerTemplate(client, ca.id)
      const { csrPem } = await opensslCsr(csrOptions as any)
      const answer = await client
        .post(`/api/v1/templates/${template.id}/requests`)
        .bearerToken(token)
        .json({ csr: csrPem })
      answer.assertStatus(status)
      assert.equal(answer.body().error.code, 'E_POLICY_DENIED')
      const rows = await db.from('certificate_requests').where('template_id', template.id)
      assert.lengthOf(rows, 0)
    }).timeout(60000)
  }

  test('a CSR the template accepts is still queued', async ({ client, assert }) => {
    const { request } = await pendingRequest(client, 'Submit ok')
    const row = await db.from('certificate_requests').where('id', request.id).first()
    assert.equal(row.status, 'pending')
  }).timeout(60000)
})

test.group('Request fixes: validity overrides', () => {
  test('validityDays must be a whole number, not true, [30] or "30.5"', async ({
    client,
    assert,
  }) => {
    const { token, request } = await pendingRequest(client, 'Validity shape')
    for (const validityDays of [true, [30], '30.5', '', { days: 30 }, 1.5]) {
      const answer = await client
        .post(`/api/v1/requests/${request.id}/approve`)
        .bearerToken(token)
        .json({ validityDays })
      answer.assertStatus(422)
      assert.equal(answer.body().error.code, 'E_VALIDATION')
      assert.match(answer.body().error.message, /validityDays must be a whole number/)
    }
    assert.lengthOf(await certificatesOf(request.id), 0)
    const ok = await client
      .post(`/api/v1/requests/${request.id}/approve`)
      .bearerToken(token)
      .json({ validityDays: '30' })
    ok.assertStatus(201)
    assert.approximately(
      (Date.parse(ok.body().certificate.notAfter) - Date.now()) / 86400_000,
      30,
      0.01
    )
  }).timeout(60000)

  test('validityDays together with a notBefore/notAfter window is refused as ambiguous', async ({
    client,
    assert,
  }) => {
    const { token, request } = await pendingRequest(client, 'Validity both')
    const notBefore = new Date(Date.now() + 86400_000).toISOString()
    const notAfter = new Date(Date.now() + 10 * 86400_000).toISOString()
    const answer = await client
      .post(`/api/v1/requests/${request.id}/approve`)
      .bearerToken(token)
      .json({ validityDays: 30, notBefore, notAfter })
    answer.assertStatus(422)
    assert.equal(answer.body().error.code, 'E_VALIDATION')
    assert.match(answer.body().error.message, /either validityDays or a notBefore\/notAfter/)
    assert.lengthOf(await certificatesOf(request.id), 0)
    assert.equal(
      (await db.from('certificate_requests').where('id', request.id).first()).status,
      'pending'
    )
  }).timeout(60000)
})
