import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  createCa,
  createTemplate,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'

async function freshCertificate(client: any) {
  const token = await adminToken()
  const ca = await createCa(client, { name: unique('Revocation') })
  const template = await webServerTemplate(client, ca.id)
  const { csrPem } = await opensslCsr({ subject: '/CN=revoke.example.com' })
  const issued = await issueCertificate(client, template.id, { csr: csrPem })
  return { token, ca, template, cert: issued.body().certificate }
}

const revoke = (client: any, token: string, id: number, reason?: string) =>
  client
    .post(`/api/v1/certificates/${id}/revoke`)
    .bearerToken(token)
    .json(reason === undefined ? {} : { reason })

test.group('Revocation', () => {
  test('every RFC 5280 reason revokes; removeFromCRL and unknown reasons are refused', async ({
    client,
    assert,
  }) => {
    const reasons = [
      'unspecified',
      'keyCompromise',
      'cACompromise',
      'affiliationChanged',
      'superseded',
      'cessationOfOperation',
      'privilegeWithdrawn',
      'aACompromise',
    ]
    const { token, template } = await freshCertificate(client)
    for (const reason of reasons) {
      const { csrPem } = await opensslCsr({ subject: `/CN=${reason.toLowerCase()}.example.com` })
      const cert = (await issueCertificate(client, template.id, { csr: csrPem })).body().certificate
      const response = await revoke(client, token, cert.id, reason)
      response.assertStatus(200)
      assert.equal(response.body().certificate.status, 'revoked')
      assert.equal(response.body().certificate.revocationReason, reason)
      assert.isNotNull(response.body().certificate.revokedAt)
    }
    const { cert } = await freshCertificate(client)
    const remove = await revoke(client, token, cert.id, 'removeFromCRL')
    remove.assertStatus(422)
    assert.include(remove.body().error.message, 'delta CRLs')
    ;(await revoke(client, token, cert.id, 'becauseISaidSo')).assertStatus(422)
    const status = await client.get(`/api/v1/certificates/${cert.id}`).bearerToken(token)
    assert.equal(status.body().certificate.status, 'valid')
  }).timeout(120000)

  test('a held certificate can be unrevoked or made permanent; the original date is kept', async ({
    client,
    assert,
  }) => {
    const { token, cert } = await freshCertificate(client)
    const held = await revoke(client, token, cert.id, 'certificateHold')
    assert.equal(held.body().certificate.status, 'hold')
    ;(await revoke(client, token, cert.id, 'certificateHold')).assertStatus(409)
    const released = await client
      .post(`/api/v1/certificates/${cert.id}/unrevoke`)
      .bearerToken(token)
    released.assertStatus(200)
    assert.equal(released.body().certificate.status, 'valid')
    assert.isNull(released.body().certificate.revocationReason)

    const heldAgain = (await revoke(client, token, cert.id, 'certificateHold')).body().certificate
    const permanent = await revoke(client, token, cert.id, 'superseded')
    permanent.assertStatus(200)
    assert.equal(permanent.body().certificate.status, 'revoked')
    assert.equal(permanent.body().certificate.revokedAt, heldAgain.revokedAt)
    const unrevoke = await client
      .post(`/api/v1/certificates/${cert.id}/unrevoke`)
      .bearerToken(token)
    unrevoke.assertStatus(409)
    assert.include(unrevoke.body().error.message, 'permanently revoked')
  }).timeout(60000)

  test('a changed revocation of a certificate already listed after its expiry is listed again', async ({
    client,
    assert,
  }) => {
    // The CRL lists an expired revoked/held certificate once more, then flags it: later full
    // CRLs skip it and the purge may delete it. A new reason (or a new hold) must clear the flag.
    const { token, cert } = await freshCertificate(client)
    const flagged = () =>
      db
        .from('certificates')
        .where('id', cert.id)
        .first()
        .then((r: any) => Boolean(r.listed_after_expiry))
    const flag = () =>
      db.from('certificates').where('id', cert.id).update({ listed_after_expiry: true })
    ;(await revoke(client, token, cert.id, 'certificateHold')).assertStatus(200)
    await flag()
    ;(await revoke(client, token, cert.id, 'keyCompromise')).assertStatus(200)
    assert.isFalse(await flagged(), 'hold → keyCompromise')

    const other = await freshCertificate(client)
    ;(await revoke(client, other.token, other.cert.id, 'certificateHold')).assertStatus(200)
    await db.from('certificates').where('id', other.cert.id).update({ listed_after_expiry: true })
    ;(
      await client.post(`/api/v1/certificates/${other.cert.id}/unrevoke`).bearerToken(other.token)
    ).assertStatus(200)
    const row = await db.from('certificates').where('id', other.cert.id).first()
    assert.isFalse(Boolean(row.listed_after_expiry), 'unrevoked')
  }).timeout(60000)

  test('a permanent revocation may only change to keyCompromise, once', async ({
    client,
    assert,
  }) => {
    const { token, cert } = await freshCertificate(client)
    ;(await revoke(client, token, cert.id, 'superseded')).assertStatus(200)
    const other = await revoke(client, token, cert.id, 'cessationOfOperation')
    other.assertStatus(409)
    assert.include(other.body().error.message, 'only have its reason changed to keyCompromise')
    const hold = await revoke(client, token, cert.id, 'certificateHold')
    hold.assertStatus(409)
    const kc = await revoke(client, token, cert.id, 'keyCompromise')
    kc.assertStatus(200)
    assert.equal(kc.body().certificate.revocationReason, 'keyCompromise')
    ;(await revoke(client, token, cert.id, 'keyCompromise')).assertStatus(409)
  }).timeout(60000)

  test('unrevoking a certificate that is not on hold is refused', async ({ client, assert }) => {
    const { token, cert } = await freshCertificate(client)
    const response = await client
      .post(`/api/v1/certificates/${cert.id}/unrevoke`)
      .bearerToken(token)
    response.assertStatus(409)
    assert.include(response.body().error.message, 'not revoked')
    ;(
      await client
        .post('/api/v1/certificates/99999999/revoke')
        .bearerToken(token)
        .json({ reason: 'keyCompromise' })
    ).assertStatus(404)
  }).timeout(60000)

  test('a self-signed root cannot be revoked: it is not among the issued certificates', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const root = await createCa(client, { name: unique('Unrevokable Root') })
    const bySerial = await client
      .get(`/api/v1/cas/${root.id}/certificates/${root.serial}`)
      .bearerToken(token)
    bySerial.assertStatus(404)
    const list = await client.get(`/api/v1/cas/${root.id}/certificates`).bearerToken(token)
    assert.notInclude(
      list.body().certificates.map((c: any) => c.serial),
      root.serial
    )
  })

  test('an intermediate CA certificate is revoked by its issuer like any certificate', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const root = await createCa(client, { name: unique('Rev Root') })
    const tpl = await createTemplate(client, root.id, {
      name: 'Sub CA',
      starter: 'certificate-authority',
    })
    const inter = await createCa(client, { name: unique('Rev Inter'), csrOnly: true })
    const signed = await issueCertificate(client, tpl.body().template.id, { csr: inter.csrPem })
    signed.assertStatus(201)
    const revoked = await revoke(client, token, signed.body().certificate.id, 'cACompromise')
    revoked.assertStatus(200)
    assert.equal(revoked.body().certificate.kind, 'ca')
    // The revoked certificate cannot then activate the intermediate (it was accepted).
    const activate = await client
      .post(`/api/v1/cas/${inter.id}/certificate`)
      .bearerToken(token)
      .json({ certificatePem: signed.body().certificate.certificatePem })
    assert.equal(activate.status(), 400, activate.text())
    assert.include(activate.body().error.message, 'revoked (cACompromise) by its issuing CA')
    const still = await client.get(`/api/v1/cas/${inter.id}`).bearerToken(token)
    assert.equal(still.body().ca.status, 'pending')
  }).timeout(60000)
})
