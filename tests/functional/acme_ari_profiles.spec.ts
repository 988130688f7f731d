/*
 * ACME Renewal Information (RFC 9773) and ACME profiles (draft-ietf-acme-profiles), which the
 * packaged clients do not speak: CertIDs as in RFC 9773 §4.1 (its example, and one built here
 * by OpenSSL from an issued certificate), suggested windows moved by revocation and template
 * changes, `replaces` and alreadyReplaced; profiles in the directory, invalidProfile, and a
 * profile's template used for the certificate.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { adminToken, createTemplate, opensslCsr, unique } from '#tests/helpers/api'
import { run, toolPath } from '#tests/helpers/external'
import { AcmeTestClient } from '../../plugins/acme/tests/client.js'
import { normalizeCertId } from '../../plugins/acme/ari.js'
import {
  ACME,
  acmeWorld,
  directoryUrl,
  pemToB64u,
  registeredClient,
  disableAcme,
} from './acme_fixtures.js'

/** Issues a certificate for a pre-approved name; returns its PEM and the order. */
async function issue(acme: AcmeTestClient, name: string, extra: Record<string, unknown> = {}) {
  const order = await acme.newOrder([{ type: 'dns', value: name }], extra)
  if (order.status !== 201) throw new Error(order.text)
  const { csrPem } = await opensslCsr({ subject: `/CN=${name}`, sans: [`DNS:${name}`] })
  const fin = await acme.post(order.body.finalize, { csr: pemToB64u(csrPem) })
  if (fin.body.status !== 'valid') throw new Error(fin.text)
  const chain = await acme.post(fin.body.certificate, '')
  return { pem: chain.text.split(/(?<=-----END CERTIFICATE-----)\n/)[0] + '\n', order: fin.body }
}

/** The RFC 9773 CertID built from OpenSSL's view of the certificate (AKI keyid and serial). */
async function opensslCertId(pem: string) {
  const openssl = toolPath('openssl')
  const aki = await run(openssl, ['x509', '-noout', '-ext', 'authorityKeyIdentifier'], {
    input: pem,
  })
  const keyId = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/i.exec(aki.stdout)![1].replace(/:/g, '')
  const serialHex = (await run(openssl, ['x509', '-noout', '-serial'], { input: pem })).stdout
    .trim()
    .replace(/^serial=/, '')
  let serial = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex')
  if (serial[0] & 0x80) serial = Buffer.concat([Buffer.from([0]), serial])
  return {
    id: `${Buffer.from(keyId, 'hex').toString('base64url')}.${serial.toString('base64url')}`,
    keyIdB64: Buffer.from(keyId, 'hex').toString('base64url'),
    serial,
  }
}

async function renewalInfo(acme: AcmeTestClient, id: string) {
  const res = await fetch(`${acme.directory.renewalInfo}/${id}`)
  const body = (await res.json()) as any
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body }
}

test.group('ACME ARI and profiles', (group) => {
  group.teardown(disableAcme)
  test('RFC 9773 §4.1 example CertID, with and without the serial sign byte', ({ assert }) => {
    // AKI keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
    // serial 00:87:65:43:21 → aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE
    const example = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE'
    assert.equal(
      Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex').toString('base64url'),
      'aYhba4dGQEHhs3uEe6CuLN4ByNQ'
    )
    assert.equal(normalizeCertId(example), example)
    const withoutSign = `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${Buffer.from('87654321', 'hex').toString('base64url')}`
    assert.equal(normalizeCertId(withoutSign), example)
    assert.throws(() => normalizeCertId('not-a-cert-id'))
  })

  test('renewalInfo windows: normal, after a template change, after revocation; replaces', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.ari.test' })
    const acme = await registeredClient(world)
    const first = await issue(acme, 'one.ari.test')
    const certId = await opensslCertId(first.pem)

    const info = await renewalInfo(acme, certId.id)
    assert.equal(info.status, 200, JSON.stringify(info.body))
    assert.equal(info.retryAfter, '21600')
    const dates = await run(toolPath('openssl'), ['x509', '-noout', '-dates'], { input: first.pem })
    const notBefore = Date.parse(/notBefore=(.+)/.exec(dates.stdout)![1])
    const notAfter = Date.parse(/notAfter=(.+)/.exec(dates.stdout)![1])
    const start = Date.parse(info.body.suggestedWindow.start)
    const end = Date.parse(info.body.suggestedWindow.end)
    assert.isBelow(start, end)
    const twoThirds = notBefore + ((notAfter - notBefore) * 2) / 3
    assert.isBelow(Math.abs((start + end) / 2 - twoThirds), 86_400_000)
    assert.isAbove(start, Date.now())

    // The same certificate with the serial's sign byte dropped (or one too many) is found too.
    const bare =
      certId.serial[0] === 0
        ? certId.serial.subarray(1)
        : Buffer.concat([Buffer.from([0]), certId.serial])
    const alt = await renewalInfo(acme, `${certId.keyIdB64}.${bare.toString('base64url')}`)
    assert.equal(alt.status, 200)
    assert.deepEqual(alt.body, info.body)

    // Unknown and malformed CertIDs.
    const unknown = await renewalInfo(acme, `${certId.keyIdB64}.AQID`)
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.type, `${ACME}malformed`)
    const garbage = await renewalInfo(acme, 'x')
    assert.equal(garbage.status, 400)

    // The template changes: renew within the hour.
    const patched = await client
      .patch(`/api/v1/templates/${world.template.id}`)
      .bearerToken(await adminToken())
      .json({ options: { ...world.template.options, validityDays: 200 } })
    patched.assertStatus(200)
    let moved
    for (let i = 0; i < 20; i++) {
      moved = await renewalInfo(acme, certId.id)
      if (Date.parse(moved.body.suggestedWindow.start) < start) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const movedStart = Date.parse(moved!.body.suggestedWindow.start)
    assert.isBelow(movedStart, Date.now() + 1000)
    assert.isAbove(movedStart, Date.now() - 60_000)
    assert.include(moved!.body.explanationURL, 'template-changed')
    // The explanation is a page with that anchor (it was a 404).
    const page = await fetch(moved!.body.explanationURL)
    assert.equal(page.status, 200)
    assert.include(await page.text(), 'id="template-changed"')

    // A replacement order; a second one for the same certificate is refused.
    const replacement = await acme.newOrder([{ type: 'dns', value: 'one.ari.test' }], {
      replaces: certId.id,
    })
    assert.equal(replacement.status, 201, replacement.text)
    assert.equal(replacement.body.replaces, certId.id)
    const again = await acme.newOrder([{ type: 'dns', value: 'one.ari.test' }], {
      replaces: certId.id,
    })
    assert.equal(again.status, 409)
    assert.equal(again.body.type, `${ACME}alreadyReplaced`)
    // A replacement that can no longer succeed stops blocking, though nobody read it since: one
    // that expired unused, one whose finalize never finished (processing past its expiry).
    const orderId = (res: { headers: Headers }) =>
      Number(res.headers.get('location')!.split('/').pop())
    await db
      .from('acme_orders')
      .where('id', orderId(replacement))
      .update({ expires: Date.now() - 1000 })
    const afterExpiry = await acme.newOrder([{ type: 'dns', value: 'one.ari.test' }], {
      replaces: certId.id,
    })
    assert.equal(afterExpiry.status, 201, afterExpiry.text)
    await db
      .from('acme_orders')
      .where('id', orderId(afterExpiry))
      .update({ status: 'processing', expires: Date.now() - 1000 })
    const afterStuck = await acme.newOrder([{ type: 'dns', value: 'one.ari.test' }], {
      replaces: certId.id,
    })
    assert.equal(afterStuck.status, 201, afterStuck.text)
    const stuck = await acme.post(afterExpiry.headers.get('location')!, '')
    assert.equal(stuck.body.status, 'invalid')
    assert.equal(stuck.body.error.type, `${ACME}serverInternal`)
    const foreignName = await acme.newOrder([{ type: 'dns', value: 'other.ari.test' }], {
      replaces: (await opensslCertId((await issue(acme, 'two.ari.test')).pem)).id,
    })
    assert.equal(foreignName.body.type, `${ACME}malformed`)

    // The CA changes (its CPS URL): renew soon, too.
    const fourth = await opensslCertId((await issue(acme, 'four.ari.test')).pem)
    const before = await renewalInfo(acme, fourth.id)
    assert.notProperty(before.body, 'explanationURL')
    const caPatched = await client
      .patch(`/api/v1/cas/${world.ca.id}`)
      .bearerToken(await adminToken())
      .json({ cpsUrl: 'https://cps.example/v2' })
    caPatched.assertStatus(200)
    let caMoved
    for (let i = 0; i < 20; i++) {
      caMoved = await renewalInfo(acme, fourth.id)
      if (caMoved.body.explanationURL) break
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.include(caMoved!.body.explanationURL, 'ca-changed')
    assert.isBelow(Date.parse(caMoved!.body.suggestedWindow.start), Date.now() + 1000)

    // Revoked: the window is already open (in the past).
    const third = await issue(acme, 'three.ari.test')
    const thirdId = await opensslCertId(third.pem)
    const revoked = await acme.post(acme.directory.revokeCert, {
      certificate: pemToB64u(third.pem),
      reason: 4,
    })
    assert.equal(revoked.status, 200, revoked.text)
    let now
    for (let i = 0; i < 20; i++) {
      now = await renewalInfo(acme, thirdId.id)
      if (Date.parse(now.body.suggestedWindow.end) <= Date.now()) break
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.isAtMost(Date.parse(now!.body.suggestedWindow.end), Date.now())
    assert.include(now!.body.explanationURL, 'revoked')
  })

  test("profiles: listed in the directory, invalidProfile, the profile's template signs", async ({
    client,
    assert,
  }) => {
    const probe = await acmeWorld(client)
    const short = await createTemplate(client, probe.ca.id, {
      name: unique('Short'),
      options: {
        validityDays: 7,
        sans: { allowed: ['dns'], required: true, copyCommonName: true },
      },
    })
    assert.equal(short.status(), 201, short.text())
    const shortTemplate = short.body().template
    const { createPolicy, createEab } = await import('../../plugins/acme/policies.js')
    const policy = await createPolicy(probe.runtime, {
      caId: probe.ca.id,
      name: unique('profiles'),
      template: probe.template.id,
      preApproved: '*.profile.test',
      profiles: `shortlived=${shortTemplate.name}`,
    })
    assert.deepEqual(policy.profiles, { shortlived: shortTemplate.id })
    const eab = await createEab(probe.runtime, { policyId: policy.id, name: 'p' })
    const acme = await new AcmeTestClient(directoryUrl()).init()
    assert.property(acme.directory.meta.profiles, 'shortlived')
    await acme.register(eab)

    const unknown = await acme.newOrder([{ type: 'dns', value: 'a.profile.test' }], {
      profile: 'nope',
    })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.type, `${ACME}invalidProfile`)
    assert.include(unknown.body.detail, 'shortlived')

    const shortCert = await issue(acme, 'a.profile.test', { profile: 'shortlived' })
    assert.equal(shortCert.order.profile, 'shortlived')
    const dates = await run(toolPath('openssl'), ['x509', '-noout', '-dates'], {
      input: shortCert.pem,
    })
    const days =
      (Date.parse(/notAfter=(.+)/.exec(dates.stdout)![1]) -
        Date.parse(/notBefore=(.+)/.exec(dates.stdout)![1])) /
      86_400_000
    assert.isBelow(days, 8)
    const serial = (
      await run(toolPath('openssl'), ['x509', '-noout', '-serial'], { input: shortCert.pem })
    ).stdout
      .trim()
      .replace(/^serial=/, '')
      .toLowerCase()
    const stored = await probe.runtime.findCertificate({ caId: probe.ca.id, serial })
    assert.equal(stored?.templateId, shortTemplate.id)

    // Without a profile: the policy's own template (365 days by default).
    const plain = await issue(acme, 'b.profile.test')
    assert.notProperty(plain.order, 'profile')
    const plainDates = await run(toolPath('openssl'), ['x509', '-noout', '-enddate'], {
      input: plain.pem,
    })
    assert.isAbove(
      Date.parse(/notAfter=(.+)/.exec(plainDates.stdout)![1]) - Date.now(),
      300 * 86_400_000
    )
  })
})
