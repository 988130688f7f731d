import { test } from '@japa/runner'
import {
  adminToken,
  createCa,
  createTemplate,
  issueCertificate,
  opensslCsr,
  templatesOf,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'
import { opensslText, opensslVerify } from '#tests/helpers/external'

const STARTERS = [
  'web-server',
  'client-auth',
  'web-server-client',
  'code-signing',
  'email-protection',
  'certificate-authority',
  'timestamping',
  'ocsp-signing',
  'computer',
  'user',
]

test.group('Templates', () => {
  test('every new CA gets a Web Server template; all starters exist', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Templates') })
    const templates = await templatesOf(client, ca.id)
    assert.deepEqual(
      templates.map((t) => t.name),
      ['Web Server']
    )
    const web = templates[0].options
    assert.equal(web.validityDays, 397)
    assert.deepEqual(web.extKeyUsage, ['serverAuth'])
    assert.isTrue(web.keyUsageByKeyType)
    assert.equal(web.cps.policy, 'domain-validated')
    const starters = await client.get('/api/v1/starter-templates').bearerToken(token)
    assert.sameMembers(
      starters.body().starters.map((s: any) => s.id),
      STARTERS
    )
  })

  test('a certificate from each starter verifies with OpenSSL for its purpose', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('Starters'), keyType: 'rsa-2048' })
    const purposes: Record<string, string | undefined> = {
      'client-auth': 'sslclient',
      'web-server-client': 'sslserver',
      'code-signing': undefined,
      'email-protection': 'smimesign',
      'timestamping': 'timestampsign',
      'ocsp-signing': undefined,
      'computer': 'sslclient',
      'user': 'sslclient',
    }
    for (const [starter, purpose] of Object.entries(purposes)) {
      const created = await createTemplate(client, ca.id, { name: starter, starter })
      created.assertStatus(201)
      const sans =
        starter === 'email-protection'
          ? ['email:user@example.com']
          : starter.includes('web') || starter === 'computer'
            ? ['DNS:host.example.com']
            : []
      const subject = starter === 'email-protection' ? '/CN=Test User' : '/CN=host.example.com'
      const { csrPem } = await opensslCsr({ key: 'rsa-2048', subject, sans })
      const issued = await issueCertificate(client, created.body().template.id, { csr: csrPem })
      assert.equal(issued.status(), 201, `${starter}: ${issued.text()}`)
      const verdict = await opensslVerify({
        roots: [ca.certificatePem!],
        cert: issued.body().certificate.certificatePem,
        purpose,
      })
      assert.isTrue(verdict.ok, `${starter}: ${verdict.output}`)
    }
  }).timeout(120000)

  test('options cover the manual: subject defaults, custom EKUs, AIA URL, CPS policy, path length', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Options') })
    await client
      .patch(`/api/v1/cas/${ca.id}`)
      .bearerToken(token)
      .json({ cpsUrl: 'https://pki.example.com/cps' })
    const created = await createTemplate(client, ca.id, {
      name: 'Custom',
      starter: 'client-auth',
      options: {
        description: 'custom',
        subject: { fromCsr: false, defaults: { organization: 'Fixed Org', country: 'FR' } },
        customEkuOids: ['1.3.6.1.4.1.311.20.2.2'],
        aia: { include: true, customUrl: 'http://aia.example.com/ca.crt' },
        cps: { include: true, policy: '1.3.6.1.4.1.55555.7' },
        renewal: {
          allowWithValidCertificate: true,
          revokeOld: true,
          withinDays: 30,
          copySubjectAndSans: true,
        },
        signatureHash: 'sha384',
      },
    })
    created.assertStatus(201)
    const options = created.body().template.options
    assert.deepEqual(options.renewal, {
      allowWithValidCertificate: true,
      revokeOld: true,
      withinDays: 30,
      copySubjectAndSans: true,
    })
    const { csrPem } = await opensslCsr({ subject: '/CN=person/O=Ignored Org' })
    const issued = await issueCertificate(client, created.body().template.id, { csr: csrPem })
    issued.assertStatus(201)
    const text = await opensslText(issued.body().certificate.certificatePem, 'x509')
    assert.match(text, /Subject: C\s*=\s*FR, O\s*=\s*Fixed Org, CN\s*=\s*person/)
    assert.match(text, /TLS Web Client Authentication, Microsoft Smartcard Login/)
    assert.match(text, /CA Issuers - URI:http:\/\/aia.example.com\/ca.crt/)
    assert.match(text, /Policy: 1.3.6.1.4.1.55555.7\s+CPS: https:\/\/pki.example.com\/cps/)
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA384/)
  }).timeout(60000)

  test('invalid options are refused with every problem named', async ({ client, assert }) => {
    const ca = await createCa(client, { name: unique('Invalid options') })
    const bad = await createTemplate(client, ca.id, {
      name: 'Bad',
      options: { validityDays: 0, keyUsage: ['flying'], extra: true, customEkuOids: ['nope'] },
    })
    bad.assertStatus(422)
    const message = bad.body().error.message
    assert.include(message, 'validityDays')
    assert.include(message, 'keyUsage')
    assert.include(message, 'customEkuOids')
    const ca2 = await createTemplate(client, ca.id, {
      name: 'X',
      options: { keyUsage: ['keyCertSign'] },
    })
    ca2.assertStatus(422)
    assert.include(ca2.body().error.message, 'Certificate Authority')
    ;(await createTemplate(client, ca.id, { name: 'Y', starter: 'nope' })).assertStatus(422)
    ;(await createTemplate(client, ca.id, { name: 'Web Server' })).assertStatus(409)
    // A default validity beyond the template's own maximum (it was issued that long by default).
    const web = await webServerTemplate(client, ca.id)
    const tooLong = await client
      .patch(`/api/v1/templates/${web.id}`)
      .bearerToken(await adminToken())
      .json({ options: { validityDays: 825 } })
    tooLong.assertStatus(422)
    assert.include(tooLong.body().error.message, 'maximum (397 days)')
    const longName = await client
      .patch(`/api/v1/templates/${web.id}`)
      .bearerToken(await adminToken())
      .json({ name: 'n'.repeat(201) })
    longName.assertStatus(422)
  })

  test('a template with active certificates cannot be deleted; hold counts as active', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Delete template') })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=del.example.com' })
    const cert = (await issueCertificate(client, template.id, { csr: csrPem })).body().certificate
    const refused = await client.delete(`/api/v1/templates/${template.id}`).bearerToken(token)
    refused.assertStatus(409)
    assert.include(refused.body().error.message, '1 active certificate')
    await client
      .post(`/api/v1/certificates/${cert.id}/revoke`)
      .bearerToken(token)
      .json({ reason: 'certificateHold' })
    ;(await client.delete(`/api/v1/templates/${template.id}`).bearerToken(token)).assertStatus(409)
    await client
      .post(`/api/v1/certificates/${cert.id}/revoke`)
      .bearerToken(token)
      .json({ reason: 'superseded' })
    ;(await client.delete(`/api/v1/templates/${template.id}`).bearerToken(token)).assertStatus(204)
    const kept = await client.get(`/api/v1/certificates/${cert.id}`).bearerToken(token)
    kept.assertStatus(200)
    assert.isNull(kept.body().certificate.templateId)
  })
})
