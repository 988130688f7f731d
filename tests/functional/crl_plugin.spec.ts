/*
 * The built-in CRL plugin (plugins/crl): certificates carry the CRL URL in their CDP, the CRL
 * served there verifies with OpenSSL against the CA, lists a revoked certificate with its reason
 * shortly after the revocation (a new, higher CRL number), and is gone while the plugin is
 * disabled. Plugin jobs are not scheduled in the test process, so the test runs the refresh job
 * itself while it polls (what a web node's scheduler does every 2 s).
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import {
  adminToken,
  baseUrl,
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'
import { opensslText, opensslVerify } from '#tests/helpers/external'
import { crlNumberOf as crlNumber, fetchCrl as fetchRaw, readCrl, waitFor } from './crl_support.js'

async function fetchCrl(path: string, init: RequestInit = {}) {
  const crl = await fetchRaw(path, init)
  return { ...crl, type: crl.headers.get('content-type') ?? '' }
}

/** `openssl crl -verify` of DER bytes against the CA, and the CRL's text. */
async function verifyCrl(caPem: string, der: Buffer) {
  const read = await readCrl(caPem, der)
  return { ok: read.ok, stdout: read.text, stderr: read.output }
}

test.group('CRL plugin', () => {
  test('CDP, signed CRL, revocation listed with its reason, PEM, 404s', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL'), keyType: 'ecdsa-p256' })
    const caPem = ca.certificatePem!
    const template = await webServerTemplate(client, ca.id)
    assert.isTrue(template.options.includeCrl)
    const path = `/crl/${ca.id}.crl`
    const url = `${baseUrl()}${path}`

    const issue = async (cn: string) => {
      const { csrPem } = await opensslCsr({ subject: `/CN=${cn}` })
      const response = await issueCertificate(client, template.id, { csr: csrPem })
      response.assertStatus(201)
      return response.body().certificate as { id: number; serial: string; certificatePem: string }
    }
    const leaf = await issue('crl-leaf.example.com')
    const other = await issue('crl-other.example.com')

    // The CDP carries the CRL URL.
    const certText = await opensslText(leaf.certificatePem, 'x509')
    assert.include(certText, 'X509v3 CRL Distribution Points')
    assert.include(certText, `URI:${url}`)

    // The first CRL: DER, verifies against the CA, AKI, IDP, no entries.
    const first = await fetchCrl(path)
    assert.equal(first.status, 200)
    assert.equal(first.type, 'application/pkix-crl')
    const firstCheck = await verifyCrl(caPem, first.bytes)
    assert.isTrue(firstCheck.ok, firstCheck.stderr + firstCheck.stdout)
    assert.include(firstCheck.stdout, 'X509v3 Authority Key Identifier')
    // the full CRL covers every certificate of the CA: no IDP (shard CRLs have one)
    assert.notInclude(firstCheck.stdout, 'X509v3 Issuing Distribution Point')
    assert.include(firstCheck.stdout, 'X509v3 Freshest CRL')
    assert.include(firstCheck.stdout, 'No Revoked Certificates')
    const firstNumber = crlNumber(firstCheck.stdout)
    const nextUpdate = /Next Update: (.+)/.exec(firstCheck.stdout)![1]
    const days = (Date.parse(nextUpdate) - Date.now()) / 86_400_000
    assert.isAbove(days, 29.9)
    assert.isBelow(days, 30.1)

    // Revoke one certificate: the served CRL lists it with its reason.
    const revoked = await client
      .post(`/api/v1/certificates/${leaf.id}/revoke`)
      .bearerToken(await adminToken())
      .json({ reason: 'keyCompromise' })
    revoked.assertStatus(200)
    const serialText = leaf.serial.replace(/:/g, '').toUpperCase()
    // The test process schedules no jobs (web nodes do, every 5 s): run the refresh job here.
    const listed = await waitFor('the revocation in the CRL', async () => {
      await pluginHost.runJob('crl', 'refresh')
      const crl = await fetchCrl(path)
      const check = await verifyCrl(caPem, crl.bytes)
      return check.stdout.toUpperCase().includes(serialText) ? { crl, check } : null
    })
    assert.isTrue(listed.check.ok)
    assert.include(listed.check.stdout, 'Key Compromise')
    assert.isAbove(crlNumber(listed.check.stdout), firstNumber)

    // PEM, by query and by Accept; OpenSSL finds the leaf revoked and the other one valid.
    const pem = await fetchCrl(`${path}?format=pem`)
    assert.equal(pem.status, 200)
    assert.equal(pem.type, 'application/x-pem-file')
    const crlPem = pem.bytes.toString('latin1')
    assert.match(crlPem, /^-----BEGIN X509 CRL-----\n/)
    const byAccept = await fetchCrl(path, { headers: { accept: 'application/x-pem-file' } })
    assert.equal(byAccept.bytes.toString('latin1'), crlPem)

    const leafResult = await opensslVerify({
      roots: [caPem],
      cert: leaf.certificatePem,
      crls: [crlPem],
    })
    assert.isFalse(leafResult.ok)
    assert.include(leafResult.output, 'certificate revoked')
    const otherResult = await opensslVerify({
      roots: [caPem],
      cert: other.certificatePem,
      crls: [crlPem],
    })
    assert.isTrue(otherResult.ok, otherResult.output)

    // Unknown CA, malformed names.
    assert.equal((await fetchCrl('/crl/999999999.crl')).status, 404)
    assert.equal((await fetchCrl('/crl/abc.crl')).status, 404)

    // Disabled plugin: gone; enabled again: back.
    await pluginHost.setEnabled('crl', false, systemActor)
    try {
      assert.equal((await fetchCrl(path)).status, 404)
    } finally {
      await pluginHost.setEnabled('crl', true, systemActor)
    }
    const back = await waitFor('the CRL to come back', async () => {
      const crl = await fetchCrl(path)
      return crl.status === 200 ? crl : null
    })
    assert.equal(back.type, 'application/pkix-crl')
  }).timeout(60_000)
  test('a revocation before the CA has any CRL is recorded and listed in its first CRL', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL first'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const { csrPem } = await opensslCsr({ subject: '/CN=crl-first.example.com' })
    const issued = await issueCertificate(client, template.id, { csr: csrPem })
    issued.assertStatus(201)
    const leaf = issued.body().certificate as { id: number; serial: string }

    // No CRL exists yet (nothing fetched it, no job ran in this process): the revocation hook
    // records the change and marks the CA's CRLs stale.
    const revoked = await client
      .post(`/api/v1/certificates/${leaf.id}/revoke`)
      .bearerToken(await adminToken())
      .json({ reason: 'superseded' })
    revoked.assertStatus(200)
    const state = await db.from('crl_state').where('ca_id', ca.id).first()
    assert.exists(state, 'the hook recorded the change')
    assert.equal(Number(state.full_number), 0)
    assert.equal(Number(state.dirty), 1)
    const change = await db.from('crl_changes').where('ca_id', ca.id).first()
    assert.equal(change.certificate_id, leaf.id)
    assert.equal(change.status, 'revoked')

    // The first request builds CRL number 1, which lists the certificate.
    const first = await fetchCrl(`/crl/${ca.id}.crl`)
    assert.equal(first.status, 200)
    const check = await verifyCrl(ca.certificatePem!, first.bytes)
    assert.isTrue(check.ok, check.stderr + check.stdout)
    assert.equal(crlNumber(check.stdout), 1)
    assert.include(check.stdout.toUpperCase(), leaf.serial.replace(/:/g, '').toUpperCase())
    assert.include(check.stdout, 'Superseded')
  }).timeout(60_000)
})
