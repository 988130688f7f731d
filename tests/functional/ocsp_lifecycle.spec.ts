/*
 * The OCSP responder's life around its signer and settings: the delegated responder replaced
 * when revoked and renewed when a third of its validity is left, the CA tab (settings, the
 * responder link), nonces honoured or not, the CA key as signer (refused for SLH-DSA), and
 * revocations made through the admin UI and `node ace cert:revoke` visible within a second;
 * a disabled plugin answers 404.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import { baseUrl, createCa, unique } from '#tests/helpers/api'
import { describeAce, runAce } from '#tests/helpers/processes'
import { webUser } from '#tests/helpers/web'
import {
  checkResponse,
  getPath,
  ocspGet,
  ocspPost,
  ocspRequest,
  presign,
  waitFor,
  ocspSetup,
} from './ocsp_support.js'

const setup = (client: any, keyType = 'ecdsa-p256') => ocspSetup(client, 'OCSP life', keyType)

const signerOf = async (caId: number) =>
  Number((await db.from('ocsp_cas').where('ca_id', caId).first()).signer_id)

test.group('OCSP responder lifecycle', () => {
  test('responder revoked → replaced and every response re-signed; renewal near expiry', async ({
    client,
    assert,
  }) => {
    const { ca, caPem, issue, base } = await setup(client)
    const leaf = await issue('life-leaf.example.com')
    await presign()
    const first = await signerOf(ca.id)
    assert.isAbove(first, 0)
    const responderRow = await db.from('certificates').where('id', first).first()
    assert.match(responderRow.common_name, /OCSP Responder/)

    const admin = await webUser({ isAdmin: true })
    const revoke = await client
      .post(`/admin/certificates/${first}/revoke`)
      .form({ reason: 'keyCompromise' })
      .withCsrfToken()
      .loginAs(admin)
      .redirects(0)
    assert.oneOf(revoke.status(), [200, 302])
    // Not on the request path: the next presign run replaces it.
    assert.equal(await signerOf(ca.id), first)
    await presign()
    const second = await signerOf(ca.id)
    assert.notEqual(second, first)
    const logs = await db
      .from('service_logs')
      .where('ca_id', ca.id)
      .where('event', 'like', 'ocsp.responder.%')
    assert.isAtLeast(logs.length, 1)

    const req = await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem] })
    const answer = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
    const check = await checkResponse(answer.body, {
      issuerPem: caPem,
      certs: [leaf.certificatePem],
    })
    assert.isTrue(check.ok, check.text)
    const rows = await db.from('ocsp_responses').where('ca_id', ca.id)
    assert.isTrue(rows.every((r: any) => Number(r.signer_id) === second))

    // a third of the validity left: the job renews it, the old responses stay until re-signed
    await db
      .from('ocsp_cas')
      .where('ca_id', ca.id)
      .update({ signer_renew_at: Date.now() - 1 })
    await presign()
    const third = await signerOf(ca.id)
    assert.notEqual(third, second)
    const renewed = await db
      .from('service_logs')
      .where('ca_id', ca.id)
      .where('event', 'ocsp.responder.renewed')
    assert.lengthOf(renewed, 1)
    const again = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
    const againCheck = await checkResponse(again.body, {
      issuerPem: caPem,
      certs: [leaf.certificatePem],
    })
    assert.isTrue(againCheck.ok, againCheck.text)

    // the CA tab shows the responder and the counts
    const tab = await client.get(`/admin/plugin-tabs/ca/${ca.id}/ocsp`).loginAs(admin)
    tab.assertStatus(200)
    assert.include(tab.text(), `href="/admin/certificates/${third}"`)
    assert.include(tab.text(), 'Pre-signed responses')
  }).timeout(120_000)

  test('nonces: ignored by default, echoed when honoured; the CA key as signer', async ({
    client,
    assert,
  }) => {
    const { ca, caPem, issue, base } = await setup(client)
    const leaf = await issue('nonce.example.com')
    await presign()
    const admin = await webUser({ isAdmin: true })
    const req = await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem], nonce: true })
    const nonceOf = (text: string) => /OCSP Nonce:\s*\n\s*([0-9A-F]+)/.exec(text)?.[1]
    const reqText = await ocspPost(baseUrl(), base, req)
    const plain = await checkResponse(reqText.body, {
      issuerPem: caPem,
      certs: [leaf.certificatePem],
    })
    assert.isTrue(plain.ok, plain.text)
    assert.isUndefined(nonceOf(plain.text))

    const tabUrl = `/admin/plugin-tabs/ca/${ca.id}/ocsp`
    const save = await client
      .post(tabUrl)
      .form({ honourNonces: 'on', responderMode: 'ca-key', maxAgeSeconds: '60' })
      .withCsrfToken()
      .loginAs(admin)
    assert.oneOf(save.status(), [200, 302])
    assert.isTrue((await pluginHost.readSettings('ocsp', 'ca', ca.id)).honourNonces)
    await presign()
    assert.equal(await signerOf(ca.id), -ca.id)
    await new Promise((resolve) => setTimeout(resolve, 5500)) // nodes re-read settings every 5 s
    const echoed = await ocspPost(baseUrl(), base, req)
    const echoedCheck = await checkResponse(echoed.body, {
      issuerPem: caPem,
      certs: [leaf.certificatePem],
    })
    assert.isTrue(echoedCheck.ok, echoedCheck.text)
    assert.isDefined(nonceOf(echoedCheck.text))
    assert.include(
      req.toString('hex').toUpperCase(),
      nonceOf(echoedCheck.text)!,
      'the nonce of the request is echoed'
    )
    // signed by the CA itself: no certificate in the answer
    assert.notInclude(echoedCheck.text, 'OCSP Signing')
    // GET answers keep no nonce and the new max-age
    const get = await ocspGet(
      baseUrl(),
      `${base}/${getPath(await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem] }))}`
    )
    assert.match(get.headers.get('cache-control')!, /^max-age=60,/)
  }).timeout(120_000)

  test('the CA key as signer is refused for an SLH-DSA CA, next to the field', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('OCSP SLH'), keyType: 'slh-dsa-sha2-128s' })
    const admin = await webUser({ isAdmin: true })
    const save = await client
      .post(`/admin/plugin-tabs/ca/${ca.id}/ocsp`)
      .form({ responderMode: 'ca-key', maxAgeSeconds: '60' })
      .withCsrfToken()
      .loginAs(admin)
    assert.equal(save.status(), 422)
    assert.include(save.text(), 'has an SLH-DSA key')
    const stored = await pluginHost.readSettings('ocsp', 'ca', ca.id)
    assert.equal(stored.responderMode, 'delegated')
    assert.notEqual(stored.maxAgeSeconds, 60, 'nothing of the refused form was stored')
  }).timeout(120_000)

  test('revoked with node ace cert:revoke: in OCSP within a second', async ({ client, assert }) => {
    const { ca, caPem, issue, base } = await setup(client)
    const leaf = await issue('ace.example.com')
    await presign()
    const req = await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem] })
    const revoke = await runAce([
      'cert:revoke',
      '--ca',
      ca.name,
      '--serial',
      leaf.serial,
      '--reason',
      'cessationOfOperation',
    ])
    assert.equal(revoke.code, 0, describeAce(revoke))
    const started = Date.now()
    const seen = await waitFor('the ace revocation in OCSP', async () => {
      const r = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
      const c = await checkResponse(r.body, { issuerPem: caPem, certs: [leaf.certificatePem] })
      return /: revoked/.test(c.text) ? c : null
    })
    assert.isBelow(Date.now() - started, 1000)
    assert.include(seen.text, 'Reason: cessationOfOperation')
  }).timeout(120_000)

  test('a disabled plugin answers 404; enabled again, it answers', async ({ client, assert }) => {
    const { caPem, issue, base } = await setup(client)
    const leaf = await issue('disabled.example.com')
    await presign()
    const req = await ocspRequest({ issuerPem: caPem, certs: [leaf.certificatePem] })
    const actor = { ...systemActor, isAdmin: true }
    try {
      await pluginHost.setEnabled('ocsp', false, actor)
      assert.equal((await ocspGet(baseUrl(), `${base}/${getPath(req)}`)).status, 404)
      assert.equal((await ocspPost(baseUrl(), base, req)).status, 404)
    } finally {
      await pluginHost.setEnabled('ocsp', true, actor)
    }
    const back = await waitFor('answers after enabling', async () => {
      const r = await ocspGet(baseUrl(), `${base}/${getPath(req)}`)
      return r.status === 200 ? r : null
    })
    const check = await checkResponse(back.body, { issuerPem: caPem, certs: [leaf.certificatePem] })
    assert.isTrue(check.ok, check.text)
  }).timeout(120_000)
})

test.group('OCSP pre-signing writes', () => {
  test('a page whose write batch fails leaves nothing of it behind, and the next run resumes', async ({
    client,
    assert,
  }) => {
    const { ca, issue } = await setup(client)
    const first = await issue('batch-first.example.com')
    await presign()
    assert.isNotNull(await db.from('ocsp_responses').where('certificate_id', first.id).first())

    // Every feed row of this CA is refused while the trigger exists: the page's batch (its
    // responses, feed row and the pass's cursor) must fail as a whole.
    const postgres = db.connection().dialect.name === 'postgres'
    if (postgres) {
      await db.rawQuery(`CREATE OR REPLACE FUNCTION test_refuse_feed() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'feed refused by the test'; END $$ LANGUAGE plpgsql`)
      await db.rawQuery(`CREATE TRIGGER test_refuse_feed BEFORE INSERT ON ocsp_feed
        FOR EACH ROW WHEN (NEW.ca_id = ${Number(ca.id)}) EXECUTE FUNCTION test_refuse_feed()`)
    } else {
      await db.rawQuery(`CREATE TRIGGER test_refuse_feed BEFORE INSERT ON ocsp_feed
        WHEN NEW.ca_id = ${Number(ca.id)} BEGIN SELECT RAISE(ABORT, 'feed refused by the test'); END`)
    }
    let second: { id: number }
    const before = await db.from('ocsp_cas').where('ca_id', ca.id).first()
    try {
      second = await issue('batch-second.example.com')
      await presign()
      assert.isNull(await db.from('ocsp_responses').where('certificate_id', second.id).first())
      const after = await db.from('ocsp_cas').where('ca_id', ca.id).first()
      assert.equal(Number(after.last_certificate_id), Number(before.last_certificate_id))
      assert.isBelow(Number(after.pass_cursor), second.id)
      const failed = await db
        .from('service_logs')
        .where({ ca_id: ca.id, event: 'ocsp.presign.failed' })
        .first()
      assert.match(failed?.message ?? '', /feed refused by the test/)
    } finally {
      await db.rawQuery(
        'DROP TRIGGER IF EXISTS test_refuse_feed' + (postgres ? ' ON ocsp_feed' : '')
      )
      if (postgres) await db.rawQuery('DROP FUNCTION IF EXISTS test_refuse_feed()')
    }

    await presign()
    assert.isNotNull(await db.from('ocsp_responses').where('certificate_id', second.id).first())
    const feed = await db
      .from('ocsp_feed')
      .where({ ca_id: ca.id, kind: 'range' })
      .where('first_id', '<=', second.id)
      .where('last_id', '>=', second.id)
      .first()
    assert.isNotNull(feed)
    const resumed = await db.from('ocsp_cas').where('ca_id', ca.id).first()
    assert.isAtLeast(Number(resumed.last_certificate_id), second.id)
  }).timeout(60_000)
})
