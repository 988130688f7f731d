import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import Template from '#models/template'
import { caService } from '#services/ca_service'
import { requestService } from '#services/request_service'
import { hooks } from '#services/hooks'
import { flushServiceLogs } from '#services/service_log'
import type { Actor } from '#services/actor'
import { webUser } from '#tests/helpers/web'
import { opensslCsr, unique } from '#tests/helpers/api'
import { opensslText, opensslVerify } from '#tests/helpers/external'
import * as pki from '#pki/index'

/** A user who owns a fresh CA (with its "Web Server" template). */
async function owner() {
  const user = await webUser()
  const actor: Actor = { kind: 'user', label: user.email, userId: user.id, isAdmin: false }
  const ca = await caService.create(actor, { name: unique('Requests CA'), keyType: 'ecdsa-p256' })
  const template = await Template.query().where('ca_id', ca.id).firstOrFail()
  return { user, actor, ca, template }
}

async function pending(
  o: Awaited<ReturnType<typeof owner>>,
  subject = '/CN=app.example.com',
  sans = ['DNS:app.example.com']
) {
  const { csrPem } = await opensslCsr({ subject, sans })
  return requestService.submit(o.actor, o.template, csrPem, 'ui')
}

async function logEvents(caId: number) {
  await flushServiceLogs()
  const rows = await db.from('service_logs').where('ca_id', caId).orderBy('id').select('event')
  return rows.map((r: any) => r.event as string)
}

test.group('Admin UI: pending requests', () => {
  test('the page lists the current CA pending requests; htmx gets the table alone', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const r = await pending(o)
    const page = await client.get(`/admin/requests?ca=${o.ca.id}`).loginAs(o.user)
    page.assertStatus(200)
    assert.include(page.text(), '<h1>Pending Requests</h1>')
    assert.include(page.text(), `name="ids" value="${r.id}"`)
    assert.include(page.text(), 'CN=app.example.com')
    assert.include(page.text(), 'Approve selected')

    const fragment = await client
      .get('/admin/requests?status=pending')
      .header('HX-Request', 'true')
      .header('HX-Target', 'requests-table')
      .loginAs(o.user)
    fragment.assertStatus(200)
    assert.notInclude(fragment.text(), '<html')
    assert.match(fragment.text(), /^<div id="requests-table">/)

    // ?id=N (linked from Submit CSR) opens that request's modal on load.
    const opener = await client.get(`/admin/requests?id=${r.id}`).loginAs(o.user)
    assert.include(
      opener.text(),
      `hx-get="/admin/requests/${r.id}" hx-target="#modal-body" hx-trigger="load"`
    )

    // An empty CA says so.
    const other = await owner()
    const empty = await client.get(`/admin/requests?ca=${other.ca.id}`).loginAs(other.user)
    assert.include(empty.text(), 'No pending requests.')
  })

  test('the request modal shows details, CSR and the override tabs; a page without htmx', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const r = await pending(o, '/CN=modal.example.com/O=Example Org', [
      'DNS:modal.example.com',
      'IP:10.1.2.3',
    ])
    const modal = await client
      .get(`/admin/requests/${r.id}`)
      .header('HX-Request', 'true')
      .loginAs(o.user)
    modal.assertStatus(200)
    const html = modal.text()
    assert.notInclude(html, '<html')
    assert.include(html, `Request #${r.id}`)
    assert.include(html, 'CN=modal.example.com')
    assert.include(html, 'IP:10.1.2.3')
    assert.include(html, 'ecdsa-p256')
    assert.include(html, 'BEGIN CERTIFICATE REQUEST')
    assert.include(html, 'Requested Attributes')
    assert.include(html, 'Override requested attributes')
    assert.include(html, 'Override validity time')
    assert.include(html, 'value="Example Org"')
    assert.include(html, `hx-post="/admin/requests/${r.id}/approve"`)

    const full = await client.get(`/admin/requests/${r.id}`).loginAs(o.user)
    full.assertStatus(200)
    assert.include(full.text(), '<html')
    assert.include(full.text(), `action="/admin/requests/${r.id}/approve"`)
    assert.notInclude(full.text(), 'hx-post="/admin/requests')
  })

  test("a template with a fixed subject fills the override form with it, not with the requester's", async ({
    client,
    assert,
  }) => {
    const o = await owner()
    await Template.query()
      .where('id', o.template.id)
      .update({
        options: JSON.stringify({
          ...o.template.options,
          subject: { fromCsr: false, defaults: { organization: 'Acme', country: 'US' } },
        }),
        updated_at: Date.now(),
      })
    const r = await pending(o, '/CN=fixed.example.com/O=Evil', ['DNS:fixed.example.com'])
    const modal = await client
      .get(`/admin/requests/${r.id}`)
      .header('HX-Request', 'true')
      .loginAs(o.user)
    modal.assertStatus(200)
    const html = modal.text()
    assert.match(html, /name="subject_organization"[^>]*value="Acme"/)
    assert.match(html, /name="subject_country"[^>]*value="US"/)
    assert.match(html, /name="subject_commonName"[^>]*value="fixed.example.com"/)
    assert.notMatch(html, /name="subject_organization"[^>]*value="Evil"/)
  })

  test('approve with an overridden SAN and validity: the issued certificate carries them', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const r = await pending(o)
    const notBefore = new Date(Date.now() + 86400_000).toISOString().slice(0, 16)
    const notAfter = new Date(Date.now() + 20 * 86400_000).toISOString().slice(0, 16)
    const response = await client
      .post(`/admin/requests/${r.id}/approve`)
      .header('HX-Request', 'true')
      .form({
        overrideAttributes: 'on',
        subject_commonName: 'override.example.com',
        subject_organization: 'Overridden Org',
        sanType: ['dns', 'dns'],
        sanValue: ['override.example.com', 'second.example.com'],
        overrideValidity: 'on',
        validityMode: 'window',
        notBefore,
        notAfter,
      })
      .withCsrfToken()
      .loginAs(o.user)
    response.assertStatus(200)
    assert.equal(response.header('hx-trigger'), 'closeModal')
    assert.equal(response.header('hx-retarget'), '#requests-table')
    assert.include(response.text(), 'hx-swap-oob="true"')
    assert.include(response.text(), `Request #${r.id} approved`)

    const row = await db.from('certificate_requests').where('id', r.id).first()
    assert.equal(row.status, 'issued')
    const cert = await db.from('certificates').where('id', row.certificate_id).first()
    const pem = pki.toPem(cert.der, 'CERTIFICATE')
    const text = await opensslText(pem, 'x509')
    assert.include(text, 'DNS:override.example.com')
    assert.include(text, 'DNS:second.example.com')
    assert.notInclude(text, 'DNS:app.example.com')
    assert.match(text, /Subject:.*O\s*=\s*Overridden Org/)
    assert.equal(cert.not_before, Date.parse(`${notBefore}:00Z`))
    assert.equal(cert.not_after, Date.parse(`${notAfter}:00Z`))
    const ca = await caService.find(o.actor, o.ca.id)
    const verified = await opensslVerify({
      roots: [pki.toPem(ca.certificate!, 'CERTIFICATE')],
      cert: pem,
      atTime: new Date(Date.now() + 2 * 86400_000),
    })
    assert.isTrue(verified.ok, verified.output)

    assert.includeMembers(await logEvents(o.ca.id), [
      'request.submitted',
      'certificate.issued',
      'request.approved',
    ])
  })

  test('approve with validity in days; bad override values are shown next to the field', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const r = await pending(o)
    const bad = await client
      .post(`/admin/requests/${r.id}/approve`)
      .header('HX-Request', 'true')
      .form({ overrideValidity: 'on', validityMode: 'days', validityDays: 'soon' })
      .withCsrfToken()
      .loginAs(o.user)
    bad.assertStatus(422)
    assert.include(bad.text(), 'Enter a whole number of days')
    assert.include(bad.text(), "tab: 'validity'")
    assert.equal(
      (await db.from('certificate_requests').where('id', r.id).first()).status,
      'pending'
    )

    const ok = await client
      .post(`/admin/requests/${r.id}/approve`)
      .header('HX-Request', 'true')
      .form({ overrideValidity: 'on', validityMode: 'days', validityDays: '7' })
      .withCsrfToken()
      .loginAs(o.user)
    ok.assertStatus(200)
    const row = await db.from('certificate_requests').where('id', r.id).first()
    const cert = await db.from('certificates').where('id', row.certificate_id).first()
    const days = (cert.not_after - Date.now()) / 86400_000
    assert.isAbove(days, 6.9)
    assert.isBelow(days, 7.01)
  })

  test('a plugin veto and a policy refusal are shown in the modal; the request stays pending', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const r = await pending(o)
    const off = hooks.register('validateIssue', {
      owner: 'test-veto',
      handler: (ctx) => {
        if (ctx.caId === o.ca.id) throw new Error('hosts under example.com need a ticket number')
      },
    })
    try {
      const vetoed = await client
        .post(`/admin/requests/${r.id}/approve`)
        .header('HX-Request', 'true')
        .form({})
        .withCsrfToken()
        .loginAs(o.user)
      vetoed.assertStatus(403)
      assert.include(vetoed.text(), 'role="alert"')
      assert.include(vetoed.text(), 'need a ticket number')
      assert.include(vetoed.text(), `Request #${r.id}`)
      assert.isUndefined(vetoed.header('hx-trigger'))
    } finally {
      off()
    }
    assert.equal(
      (await db.from('certificate_requests').where('id', r.id).first()).status,
      'pending'
    )

    // The Web Server template allows DNS and IP SANs only.
    const refused = await client
      .post(`/admin/requests/${r.id}/approve`)
      .header('HX-Request', 'true')
      .form({
        overrideAttributes: 'on',
        subject_commonName: 'x.example.com',
        sanType: 'email',
        sanValue: 'someone@example.com',
      })
      .withCsrfToken()
      .loginAs(o.user)
    refused.assertStatus(403)
    assert.include(refused.text(), 'does not allow EMAIL subject alternative names')
    assert.equal(
      (await db.from('certificate_requests').where('id', r.id).first()).status,
      'pending'
    )

    const logged = await db
      .from('service_logs')
      .where({ ca_id: o.ca.id, event: 'issuance.refused' })
      .select('message')
    await flushServiceLogs()
    const refusals = await db
      .from('service_logs')
      .where({ ca_id: o.ca.id, event: 'issuance.refused' })
      .select('message', 'level')
    assert.isAtLeast(refusals.length, 2, JSON.stringify(logged))
    assert.isTrue(refusals.some((l: any) => l.message.includes('need a ticket number')))
    assert.equal(refusals[0].level, 'warn')
  })

  test('decline with a reason closes the modal and updates the table', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const r = await pending(o)
    const response = await client
      .post(`/admin/requests/${r.id}/decline`)
      .header('HX-Request', 'true')
      .form({ reason: 'Not one of our hosts' })
      .withCsrfToken()
      .loginAs(o.user)
    response.assertStatus(200)
    assert.equal(response.header('hx-trigger'), 'closeModal')
    assert.include(response.text(), 'declined: Not one of our hosts')
    assert.notInclude(response.text(), `name="ids" value="${r.id}"`)
    const row = await db.from('certificate_requests').where('id', r.id).first()
    assert.equal(row.status, 'declined')
    assert.equal(row.decline_reason, 'Not one of our hosts')
    assert.include(await logEvents(o.ca.id), 'request.declined')

    // Deciding again is refused with the reason, in the modal.
    const again = await client
      .post(`/admin/requests/${r.id}/approve`)
      .header('HX-Request', 'true')
      .form({})
      .withCsrfToken()
      .loginAs(o.user)
    again.assertStatus(409)
    assert.include(again.text(), 'already declined')

    // Without htmx: redirect with a flash message.
    const r2 = await pending(o)
    const plain = await client
      .post(`/admin/requests/${r2.id}/decline`)
      .form({ reason: '' })
      .withCsrfToken()
      .loginAs(o.user)
      .redirects(0)
    plain.assertStatus(302)
    assert.equal(plain.header('location'), '/admin/requests')
  })

  test('bulk approve and decline of the checked requests', async ({ client, assert }) => {
    const o = await owner()
    const a = await pending(o, '/CN=a.example.com', ['DNS:a.example.com'])
    const b = await pending(o, '/CN=b.example.com', ['DNS:b.example.com'])
    const c = await pending(o, '/CN=c.example.com', ['DNS:c.example.com'])
    const stranger = await owner()
    const foreign = await pending(stranger)

    const approved = await client
      .post('/admin/requests/bulk')
      .header('HX-Request', 'true')
      .form({ action: 'approve', ids: [String(a.id), String(b.id), String(foreign.id)] })
      .withCsrfToken()
      .loginAs(o.user)
    approved.assertStatus(200)
    assert.include(approved.text(), '2 requests approved. 1 failed')
    // Only the shown CA's requests are acted on (a stale tab may post another CA's ids).
    assert.include(approved.text(), `#${foreign.id}: not a request of ${o.ca.name}`)
    const statuses = await db
      .from('certificate_requests')
      .whereIn('id', [a.id, b.id, c.id, foreign.id])
      .orderBy('id')
      .select('id', 'status')
    assert.deepEqual(
      statuses.map((s: any) => s.status),
      ['issued', 'issued', 'pending', 'pending']
    )

    // The user's own second CA: its requests are not acted on from the first CA's page.
    const second = await caService.create(o.actor, {
      name: unique('Second CA'),
      keyType: 'ecdsa-p256',
    })
    const secondTemplate = await Template.query().where('ca_id', second.id).firstOrFail()
    const secondCsr = await opensslCsr({
      subject: '/CN=second.example.com',
      sans: ['DNS:second.example.com'],
    })
    const elsewhere = await requestService.submit(o.actor, secondTemplate, secondCsr.csrPem, 'ui')
    const stale = await client
      .post(`/admin/requests/bulk?ca=${o.ca.id}`)
      .header('HX-Request', 'true')
      .form({ action: 'approve', ids: [String(elsewhere.id)] })
      .withCsrfToken()
      .loginAs(o.user)
    assert.include(stale.text(), `#${elsewhere.id}: not a request of ${o.ca.name}`)
    const untouched = await db.from('certificate_requests').where('id', elsewhere.id).first()
    assert.equal(untouched.status, 'pending')

    const declined = await client
      .post('/admin/requests/bulk')
      .header('HX-Request', 'true')
      .form({ action: 'decline', ids: String(c.id), reason: 'duplicate' })
      .withCsrfToken()
      .loginAs(o.user)
    assert.include(declined.text(), '1 request declined.')
    const row = await db.from('certificate_requests').where('id', c.id).first()
    assert.equal(row.status, 'declined')
    assert.equal(row.decline_reason, 'duplicate')

    const none = await client
      .post('/admin/requests/bulk')
      .header('HX-Request', 'true')
      .form({ action: 'approve' })
      .withCsrfToken()
      .loginAs(o.user)
    assert.include(none.text(), 'Select at least one request first.')

    // A whole page ticked: more than 20 ids (the form parser made an object of them, and
    // nothing was declined: "Select at least one request first").
    const { csrPem } = await opensslCsr({ subject: '/CN=many.example.com' })
    const many: number[] = []
    for (let i = 0; i < 25; i++) {
      many.push((await requestService.submit(o.actor, o.template, csrPem, 'ui')).id)
    }
    const all = await client
      .post('/admin/requests/bulk')
      .header('HX-Request', 'true')
      .form({ action: 'decline', ids: many.map(String), reason: 'page' })
      .withCsrfToken()
      .loginAs(o.user)
    assert.include(all.text(), '25 requests declined.')
    const left = await db
      .from('certificate_requests')
      .whereIn('id', many)
      .where('status', 'pending')
    assert.lengthOf(left, 0)
  })

  test("another user's request is a 404; forms need a CSRF token", async ({ client, assert }) => {
    const o = await owner()
    const stranger = await owner()
    const r = await pending(o)
    const shown = await client.get(`/admin/requests/${r.id}`).loginAs(stranger.user)
    shown.assertStatus(404)
    const approve = await client
      .post(`/admin/requests/${r.id}/approve`)
      .form({})
      .withCsrfToken()
      .loginAs(stranger.user)
    approve.assertStatus(404)
    const decline = await client
      .post(`/admin/requests/${r.id}/decline`)
      .header('HX-Request', 'true')
      .form({})
      .withCsrfToken()
      .loginAs(stranger.user)
    decline.assertStatus(404)
    const forged = await client
      .post(`/admin/requests/${r.id}/approve`)
      .form({ _csrf: 'forged' })
      .loginAs(o.user)
    forged.assertStatus(403)
    assert.equal(
      (await db.from('certificate_requests').where('id', r.id).first()).status,
      'pending'
    )
  })
})
