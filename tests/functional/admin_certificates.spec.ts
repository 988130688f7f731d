import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import Template from '#models/template'
import CertificateAuthority from '#models/certificate_authority'
import { caService } from '#services/ca_service'
import { templateService } from '#services/template_service'
import { issuanceService, readCsr } from '#services/issuance_service'
import { flushServiceLogs } from '#services/service_log'
import { backfillCertificateNames } from '#services/certificate_search'
import { uiRegistry } from '#plugins/ui_registry'
import type { Actor } from '#services/actor'
import { webUser } from '#tests/helpers/web'
import { opensslCsr, unique, withFiles } from '#tests/helpers/api'
import { opensslVerify, run, toolPath } from '#tests/helpers/external'
import * as pki from '#pki/index'
import { ApiRequest } from '@japa/api-client'

/** Binary downloads arrive as a Buffer in response.body(). */
function binaryParser(res: any, callback: (error: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = []
  res.on('data', (chunk: Buffer) => chunks.push(chunk))
  res.on('end', () => callback(null, Buffer.concat(chunks)))
}
const BINARY_TYPES = ['application/pkix-cert', 'application/pkcs7-mime']

async function owner() {
  const user = await webUser()
  const actor: Actor = { kind: 'user', label: user.email, userId: user.id, isAdmin: false }
  const ca = await caService.create(actor, { name: unique('Certs CA'), keyType: 'ecdsa-p256' })
  const template = await Template.query().where('ca_id', ca.id).firstOrFail()
  const { csrPem } = await opensslCsr({ subject: '/CN=seed.example.com' })
  return { user, actor, ca, template, csr: await readCsr(csrPem) }
}
type Owner = Awaited<ReturnType<typeof owner>>

async function issue(
  o: Owner,
  cn: string,
  sans: string[] = [cn],
  extra: { validityDays?: number; template?: Template } = {}
) {
  const ca = await CertificateAuthority.findOrFail(o.ca.id)
  return issuanceService.issue({
    ca,
    template: extra.template ?? o.template,
    csr: o.csr,
    overrides: {
      subject: { commonName: cn },
      sans: sans.map((value) => ({ type: 'dns' as const, value })),
      validityDays: extra.validityDays,
    },
    actor: o.actor,
    source: 'test',
  })
}

/** Certificate ids listed in a results fragment, in order. */
const listed = (html: string) =>
  [...html.matchAll(/<tr id="cert-row-(\d+)"/g)].map((m) => Number(m[1]))

function results(client: any, o: Owner, query: string) {
  return client
    .get(`/admin/certificates?${query}`)
    .header('HX-Request', 'true')
    .header('HX-Target', 'cert-results')
    .loginAs(o.user)
}

test.group('Admin UI: issued certificates', (group) => {
  group.setup(() => {
    for (const t of BINARY_TYPES) ApiRequest.addParser(t, binaryParser)
    return () => {
      for (const t of BINARY_TYPES) ApiRequest.removeParser(t)
    }
  })

  test('the list, newest first; htmx filter requests get the results fragment', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const a = await issue(o, 'alpha.example.com')
    const b = await issue(o, 'beta.example.com')
    const page = await client.get(`/admin/certificates?ca=${o.ca.id}`).loginAs(o.user)
    page.assertStatus(200)
    assert.include(page.text(), '<h1>Issued Certificates</h1>')
    assert.include(page.text(), 'Matches the beginning of a common name, a SAN or a serial number')
    assert.include(page.text(), 'hx-push-url="true"')
    assert.deepEqual(listed(page.text()), [b.id, a.id])
    assert.include(page.text(), '2 certificates in this CA')

    const fragment = await results(client, o, 'q=')
    fragment.assertStatus(200)
    assert.notInclude(fragment.text(), '<html')
    assert.match(fragment.text(), /^<div id="cert-results"/)

    const empty = await owner()
    const none = await client.get(`/admin/certificates?ca=${empty.ca.id}`).loginAs(empty.user)
    assert.include(none.text(), 'No certificates yet.')
  })

  test('search: case-insensitive prefix of CN, SAN or serial', async ({ client, assert }) => {
    const o = await owner()
    const web = await issue(o, 'web-01.example.com', ['web-01.example.com', 'alias.example.org'])
    const api = await issue(o, 'api.example.com')
    const other = await issue(o, 'mail.example.net')

    assert.deepEqual(listed((await results(client, o, 'q=WEB-0')).text()), [web.id])
    const bySan = await results(client, o, 'q=alias.ex')
    assert.deepEqual(listed(bySan.text()), [web.id])
    assert.include(bySan.text(), 'matched alias.example.org')
    // Prefix, not substring: "example" starts none of the names.
    assert.deepEqual(listed((await results(client, o, 'q=example')).text()), [])
    assert.include((await results(client, o, 'q=example')).text(), 'No certificate matches')
    // Serial: a prefix, or the full serial in OpenSSL's colon form.
    assert.include(listed((await results(client, o, `q=${api.serial.slice(0, 8)}`)).text()), api.id)
    const colons = api.serial.toUpperCase().match(/../g)!.join(':')
    assert.deepEqual(listed((await results(client, o, `q=${encodeURIComponent(colons)}`)).text()), [
      api.id,
    ])
    // Another CA's certificates never match.
    const stranger = await owner()
    await issue(stranger, 'web-01.example.com')
    assert.deepEqual(listed((await results(client, o, 'q=web')).text()), [web.id])
    assert.notInclude(listed((await results(client, o, 'q=m')).text()), api.id)
    assert.include(listed((await results(client, o, 'q=m')).text()), other.id)
  })

  test('filters: status, expiring within N days, template; bad values are explained', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const second = await templateService.create(o.actor, o.ca.id, {
      name: 'Second',
      starter: 'web-server',
    })
    const valid = await issue(o, 'valid.example.com')
    const soon = await issue(o, 'soon.example.com', undefined, { validityDays: 5 })
    const later = await issue(o, 'later.example.com', undefined, { validityDays: 20 })
    const held = await issue(o, 'held.example.com')
    const revoked = await issue(o, 'revoked.example.com')
    const expired = await issue(o, 'expired.example.com')
    const other = await issue(o, 'other-template.example.com', undefined, { template: second })
    await db.from('certificates').where('id', held.id).update({ status: 'hold' })
    await db.from('certificates').where('id', revoked.id).update({ status: 'revoked' })
    await db
      .from('certificates')
      .where('id', expired.id)
      .update({ not_after: Date.now() - 86400_000 })

    assert.deepEqual(listed((await results(client, o, 'status=hold')).text()), [held.id])
    assert.deepEqual(listed((await results(client, o, 'status=revoked')).text()), [revoked.id])
    const exp = await results(client, o, 'status=expired')
    assert.deepEqual(listed(exp.text()), [expired.id])
    assert.include(exp.text(), 'badge expired')
    assert.sameMembers(listed((await results(client, o, 'status=valid')).text()), [
      valid.id,
      soon.id,
      later.id,
      other.id,
    ])
    // A revoked certificate about to expire is not "expiring" (the dashboard does not count it).
    const revokedSoon = await issue(o, 'revoked-soon.example.com', undefined, { validityDays: 6 })
    await db.from('certificates').where('id', revokedSoon.id).update({ status: 'revoked' })
    const expiring = await results(client, o, 'expiring=30')
    assert.deepEqual(listed(expiring.text()), [soon.id, later.id])
    assert.deepEqual(listed((await results(client, o, 'status=revoked&expiring=30')).text()), [
      revokedSoon.id,
    ])
    assert.include(expiring.text(), 'Soonest expiry first')
    assert.deepEqual(listed((await results(client, o, 'expiring=10')).text()), [soon.id])
    assert.deepEqual(listed((await results(client, o, `template=${second.id}`)).text()), [other.id])
    assert.deepEqual(
      listed((await results(client, o, `template=${o.template.id}&q=held`)).text()),
      [held.id]
    )

    const bad = await results(client, o, 'status=lost&expiring=soon')
    bad.assertStatus(422)
    assert.include(bad.text(), 'Choose valid, revoked, on hold or expired.')
    assert.include(bad.text(), 'Enter a whole number of days between 1 and 3650.')
    const stranger = await owner()
    const foreign = await results(client, o, `template=${stranger.template.id}`)
    foreign.assertStatus(422)
    assert.include(foreign.text(), 'Choose one of this CA’s templates.')
  })

  test('keyset pages: next and previous, a capped count, no duplicates or gaps', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const ids: number[] = []
    for (let i = 0; i < 57; i++) ids.push((await issue(o, `host-${i}.example.com`)).id)
    const newestFirst = [...ids].reverse()

    const first = await results(client, o, '')
    assert.include(first.text(), '57 certificates')
    assert.deepEqual(listed(first.text()), newestFirst.slice(0, 50))
    assert.notInclude(first.text(), 'rel="prev"')
    const next = /href="([^"]+)"[^>]*rel="next"/.exec(first.text())![1].replace(/&amp;/g, '&')
    const second = await client
      .get(next)
      .header('HX-Request', 'true')
      .header('HX-Target', 'cert-results')
      .loginAs(o.user)
    assert.deepEqual(listed(second.text()), newestFirst.slice(50))
    assert.notInclude(second.text(), 'rel="next"')
    const prev = /href="([^"]+)"[^>]*rel="prev"/.exec(second.text())![1].replace(/&amp;/g, '&')
    const back = await client
      .get(prev)
      .header('HX-Request', 'true')
      .header('HX-Target', 'cert-results')
      .loginAs(o.user)
    assert.deepEqual(listed(back.text()), newestFirst.slice(0, 50))

    // Search results page by name too.
    const named = await results(client, o, 'q=host-')
    assert.lengthOf(listed(named.text()), 50)
    assert.include(named.text(), 'rel="next"')

    const broken = await results(client, o, 'after=not-a-cursor')
    broken.assertStatus(422)
    assert.include(broken.text(), 'The page link is not valid')
    // A made-up cursor with an id beyond PostgreSQL's integer, or not whole: refused, not a 500.
    for (const values of [[3_000_000_000], [1.5]]) {
      const cursor = Buffer.from(JSON.stringify(values)).toString('base64url')
      const forged = await results(client, o, `after=${cursor}`)
      assert.equal(forged.status(), 422, JSON.stringify(values))
    }
  })

  test('the certificate modal: details, extensions, downloads, plugin fragments; ?id= opens it', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const cert = await issue(o, 'modal.example.com', ['modal.example.com', 'www.modal.example.com'])
    const off = uiRegistry.addFragment({
      owner: 'test-fragment',
      zone: 'certificate.details.after',
      isActive: () => true,
      render: (ctx) => `<p class="from-plugin">fragment for certificate ${ctx.objectId}</p>`,
    })
    try {
      const modal = await client
        .get(`/admin/certificates/${cert.id}`)
        .header('HX-Request', 'true')
        .loginAs(o.user)
      modal.assertStatus(200)
      const html = modal.text()
      assert.notInclude(html, '<html')
      assert.include(html, 'CN=modal.example.com')
      assert.include(html, 'DNS:www.modal.example.com')
      assert.include(html, cert.serial.match(/../g)!.join(':'))
      assert.include(html, 'SHA-256 fingerprint')
      assert.include(html, 'Key usage')
      assert.include(html, 'serverAuth')
      assert.include(html, 'Web Server')
      assert.include(html, `/admin/certificates/${cert.id}/download/p7b`)
      assert.include(html, `fragment for certificate ${cert.id}`)
      assert.include(html, 'Revocation reason')
    } finally {
      off()
    }
    const full = await client.get(`/admin/certificates/${cert.id}`).loginAs(o.user)
    assert.include(full.text(), '<html')
    assert.include(full.text(), `action="/admin/certificates/${cert.id}/revoke"`)

    const opener = await client.get(`/admin/certificates?id=${cert.id}`).loginAs(o.user)
    assert.include(
      opener.text(),
      `hx-get="/admin/certificates/${cert.id}" hx-target="#modal-body" hx-trigger="load"`
    )
  })

  test('downloads: PEM, DER, chain and PKCS#7, read by OpenSSL', async ({ client, assert }) => {
    const o = await owner()
    const cert = await issue(o, 'dl.example.com')
    const ca = await CertificateAuthority.findOrFail(o.ca.id)
    const caPem = pki.toPem(ca.certificate!, 'CERTIFICATE')
    const get = (format: string) =>
      client.get(`/admin/certificates/${cert.id}/download/${format}`).loginAs(o.user)

    const pem = await get('pem')
    pem.assertStatus(200)
    assert.equal(pem.header('content-type'), 'application/x-pem-file')
    assert.include(pem.header('content-disposition'), 'filename="dl.example.com.pem"')
    const verified = await opensslVerify({ roots: [caPem], cert: pem.text() })
    assert.isTrue(verified.ok, verified.output)

    const der = await get('der')
    assert.equal(der.header('content-type'), 'application/pkix-cert')
    assert.include(der.header('content-disposition'), 'filename="dl.example.com.crt"')
    const derBytes = der.body() as Buffer
    const fromDer = await run(
      toolPath('openssl'),
      ['x509', '-inform', 'DER', '-noout', '-serial'],
      {
        input: derBytes,
      }
    )
    assert.equal(fromDer.code, 0, fromDer.stderr)
    assert.equal(fromDer.stdout.trim().split('=')[1].toLowerCase(), cert.serial)

    const chain = await get('chain')
    assert.include(chain.header('content-disposition'), 'filename="dl.example.com-chain.pem"')
    assert.equal(chain.text().match(/BEGIN CERTIFICATE/g)!.length, 2)

    const p7b = await get('p7b')
    assert.equal(p7b.header('content-type'), 'application/pkcs7-mime')
    assert.include(p7b.header('content-disposition'), 'filename="dl.example.com.p7b"')
    await withFiles({}, async (_paths, dir) => {
      const file = `${dir}/c.p7b`
      await import('node:fs/promises').then((fs) => fs.writeFile(file, p7b.body() as Buffer))
      const printed = await run(toolPath('openssl'), [
        'pkcs7',
        '-inform',
        'DER',
        '-in',
        file,
        '-print_certs',
        '-noout',
      ])
      assert.equal(printed.code, 0, printed.stderr)
      assert.include(printed.stdout, 'subject=CN = dl.example.com')
      assert.include(printed.stdout, `subject=CN = ${o.ca.name}`)
    })

    const unknown = await get('pfx')
    unknown.assertStatus(404)
  })

  test('revocation tab: hold, unrevoke, permanent revoke, keyCompromise change, refusals', async ({
    client,
    assert,
  }) => {
    const o = await owner()
    const cert = await issue(o, 'revoke.example.com')
    const post = (action: string, form: Record<string, string> = {}) =>
      client
        .post(`/admin/certificates/${cert.id}/${action}`)
        .header('HX-Request', 'true')
        .form(form)
        .withCsrfToken()
        .loginAs(o.user)
    const status = async () => db.from('certificates').where('id', cert.id).first()

    const noReason = await post('revoke')
    noReason.assertStatus(422)
    assert.include(noReason.text(), 'Choose a revocation reason.')

    const hold = await post('revoke', { reason: 'certificateHold' })
    hold.assertStatus(200)
    assert.include(hold.text(), 'is on hold; you can unrevoke it')
    assert.include(hold.text(), '>Unrevoke</button>')
    assert.include(hold.text(), `<tr id="cert-row-${cert.id}" hx-swap-oob="true">`)
    assert.equal((await status()).status, 'hold')

    const holdAgain = await post('revoke', { reason: 'certificateHold' })
    holdAgain.assertStatus(409)
    assert.include(holdAgain.text(), 'already on hold')

    const unrevoked = await post('unrevoke')
    unrevoked.assertStatus(200)
    assert.include(unrevoked.text(), 'is valid again')
    assert.equal((await status()).status, 'valid')

    const notHeld = await post('unrevoke')
    notHeld.assertStatus(409)
    assert.include(notHeld.text(), 'only certificates on hold can be unrevoked')

    const superseded = await post('revoke', { reason: 'superseded' })
    superseded.assertStatus(200)
    assert.include(superseded.text(), 'Change reason to keyCompromise')
    assert.deepInclude(await status(), { status: 'revoked', revocation_reason: 'superseded' })

    const cannotUndo = await post('unrevoke')
    cannotUndo.assertStatus(409)
    assert.include(cannotUndo.text(), 'permanently revoked')

    const otherReason = await post('revoke', { reason: 'cessationOfOperation' })
    otherReason.assertStatus(409)
    assert.include(otherReason.text(), 'can only have its reason changed to keyCompromise')

    const compromised = await post('revoke', { reason: 'keyCompromise' })
    compromised.assertStatus(200)
    assert.include(compromised.text(), 'changed to keyCompromise')
    assert.equal((await status()).revocation_reason, 'keyCompromise')
    assert.notInclude(compromised.text(), 'Change reason to keyCompromise')

    const bogus = await post('revoke', { reason: 'removeFromCRL' })
    bogus.assertStatus(422)
    assert.include(bogus.text(), 'removeFromCRL only appears in delta CRLs')

    // Without htmx: redirect back to the certificate page with a flash message.
    const plainCert = await issue(o, 'plain.example.com')
    const plain = await client
      .post(`/admin/certificates/${plainCert.id}/revoke`)
      .form({ reason: 'superseded' })
      .withCsrfToken()
      .loginAs(o.user)
      .redirects(0)
    plain.assertStatus(302)
    assert.equal(plain.header('location'), `/admin/certificates/${plainCert.id}?tab=revocation`)

    await flushServiceLogs()
    const events = await db
      .from('service_logs')
      .where('ca_id', o.ca.id)
      .whereIn('event', ['certificate.revoked', 'certificate.unrevoked'])
      .select('event')
    assert.isAtLeast(events.length, 4)
  })

  test("another user's certificate is a 404 everywhere", async ({ client, assert }) => {
    const o = await owner()
    const stranger = await owner()
    const cert = await issue(o, 'private.example.com')
    for (const url of [
      `/admin/certificates/${cert.id}`,
      `/admin/certificates/${cert.id}/download/pem`,
    ]) {
      const r = await client.get(url).loginAs(stranger.user)
      r.assertStatus(404)
    }
    const revoke = await client
      .post(`/admin/certificates/${cert.id}/revoke`)
      .form({ reason: 'keyCompromise' })
      .withCsrfToken()
      .loginAs(stranger.user)
    revoke.assertStatus(404)
    assert.equal((await db.from('certificates').where('id', cert.id).first()).status, 'valid')
  })

  test('searchable names are stored with each certificate and go with it', async ({ assert }) => {
    const o = await owner()
    const cert = await issue(o, 'Names.Example.com', ['names.example.com', 'alt.example.com'])
    const names = await db
      .from('certificate_names')
      .where('certificate_id', cert.id)
      .orderBy('name')
      .select('name', 'ca_id')
    assert.deepEqual(
      names.map((n: any) => n.name),
      ['alt.example.com', cert.serial, 'names.example.com'].sort()
    )
    assert.isTrue(names.every((n: any) => Number(n.ca_id) === o.ca.id))

    // The migration's backfill names certificates stored before the table existed, once.
    await db.from('certificate_names').where('certificate_id', cert.id).delete()
    assert.isAtLeast(await backfillCertificateNames(), 1)
    assert.equal(await backfillCertificateNames(), 0)
    const again = await db.from('certificate_names').where('certificate_id', cert.id)
    assert.lengthOf(again, 3)

    await db.from('certificates').where('id', cert.id).delete()
    const left = await db.from('certificate_names').where('certificate_id', cert.id)
    assert.lengthOf(left, 0)
  })
})
