/*
 * The CRL plugin's life cycle through the running server: revocations through the REST API, the
 * admin UI route and `node ace cert:revoke` reach the next CRL; HTTP caching headers, 304s, PEM
 * (from memory and streamed from chunk rows); bad file names answer 404 JSON; an expired revoked
 * certificate is listed by exactly one CRL issued after its expiry and then drops off; delta
 * CRLs follow changes (removeFromCRL for a hold released); sharded CDPs stay stable when the
 * shard count changes and each shard lists only its own certificates.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import Certificate from '#models/certificate'
import { adminToken, createCa, unique, webServerTemplate } from '#tests/helpers/api'
import { opensslText } from '#tests/helpers/external'
import { describeAce, runAce } from '#tests/helpers/processes'
import { webUser } from '#tests/helpers/web'
import { setMemoryLimit, MEMORY_LIMIT } from '../../plugins/crl/serve.js'
import {
  crlNumberOf,
  fetchCrl,
  issueLeaf,
  pollCrls,
  readCrl,
  refreshCrls,
  revokeApi,
  serialsIn,
  setCrlSettings,
  unrevokeApi,
  upperSerial,
} from './crl_support.js'

test.group('CRL plugin: life cycle', () => {
  test('API, UI and cert:revoke revocations are in the next CRL; caching headers, 304, PEM', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL life'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const path = `/crl/${ca.id}.crl`
    const [byApi, byUi, byCli, kept] = await Promise.all(
      ['api', 'ui', 'cli', 'kept'].map((n) => issueLeaf(client, template.id, `${n}.crl.example`))
    )
    const first = await fetchCrl(path)
    assert.equal(first.status, 200)
    const firstText = await readCrl(ca.certificatePem!, first.bytes)
    assert.isTrue(firstText.ok, firstText.output)

    await revokeApi(client, byApi.id, 'keyCompromise')
    const admin = await webUser({ isAdmin: true })
    const ui = await client
      .post(`/admin/certificates/${byUi.id}/revoke`)
      .form({ reason: 'superseded' })
      .withCsrfToken()
      .loginAs(admin)
      .redirects(0)
    assert.oneOf(ui.status(), [200, 302])
    const cli = await runAce([
      'cert:revoke',
      '--ca',
      ca.name,
      '--serial',
      byCli.serial,
      '--reason',
      'cessationOfOperation',
    ])
    assert.equal(cli.code, 0, describeAce(cli))

    await refreshCrls()
    const next = await fetchCrl(path)
    const text = await readCrl(ca.certificatePem!, next.bytes)
    assert.isTrue(text.ok, text.output)
    assert.isAbove(crlNumberOf(text.text), crlNumberOf(firstText.text))
    assert.sameMembers(
      serialsIn(text.text),
      [byApi, byUi, byCli].map((c) => upperSerial(c.serial))
    )
    assert.notInclude(serialsIn(text.text), upperSerial(kept.serial))
    for (const reason of ['Key Compromise', 'Superseded', 'Cessation Of Operation']) {
      assert.include(text.text, reason)
    }
    // Freshest CRL points at the delta (deltas are on by default)
    assert.include(text.text, 'X509v3 Freshest CRL')
    assert.include(text.text, `/crl/${ca.id}-delta.crl`)

    // Headers: type, Last-Modified = thisUpdate, Expires = nextUpdate, ETag, max-age.
    assert.equal(next.headers.get('content-type'), 'application/pkix-crl')
    const thisUpdate = /Last Update: (.+)/.exec(text.text)![1]
    const nextUpdate = /Next Update: (.+)/.exec(text.text)![1]
    assert.equal(Date.parse(next.headers.get('last-modified')!), Date.parse(thisUpdate))
    assert.equal(Date.parse(next.headers.get('expires')!), Date.parse(nextUpdate))
    assert.match(next.headers.get('cache-control')!, /max-age=60\b/)
    const etag = next.headers.get('etag')!
    assert.match(etag, /^"[^"]+"$/)
    const again = await fetchCrl(path, { headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
    assert.equal(again.bytes.length, 0)
    assert.equal((await fetchCrl(path, { headers: { 'if-none-match': '"other"' } })).status, 200)

    // PEM by query and by Accept, with its own ETag.
    const pem = await fetchCrl(`${path}?format=pem`)
    assert.equal(pem.headers.get('content-type'), 'application/x-pem-file')
    assert.match(pem.bytes.toString(), /^-----BEGIN X509 CRL-----\n/)
    assert.notEqual(pem.headers.get('etag'), etag)
    const byAccept = await fetchCrl(path, { headers: { accept: 'application/x-pem-file' } })
    assert.equal(byAccept.bytes.toString(), pem.bytes.toString())
    assert.include(await opensslText(pem.bytes.toString(), 'crl'), upperSerial(byApi.serial))

    // Served from memory after the per-node poll: the same bytes.
    await pollCrls()
    const fast = await fetchCrl(path)
    assert.deepEqual(fast.bytes, next.bytes)
    assert.equal(fast.headers.get('etag'), etag)
    assert.equal((await fetchCrl(path, { headers: { 'if-none-match': etag } })).status, 304)

    // A CRL too large to keep in memory is streamed from its chunk rows: the same bytes.
    setMemoryLimit(16)
    try {
      const streamed = await fetchCrl(path)
      assert.equal(streamed.status, 200)
      assert.deepEqual(streamed.bytes, next.bytes)
      assert.equal(streamed.headers.get('content-length'), String(next.bytes.length))
      const streamedPem = await fetchCrl(`${path}?format=pem`)
      assert.equal(streamedPem.bytes.toString(), pem.bytes.toString())
      const notModified = await fetchCrl(path, { headers: { 'if-none-match': etag } })
      assert.equal(notModified.status, 304)
    } finally {
      setMemoryLimit(MEMORY_LIMIT)
    }
  }).timeout(120_000)

  test('bad CA ids and file names: 404 JSON, never 5xx', async ({ client, assert }) => {
    const ca = await createCa(client, { name: unique('CRL bad'), keyType: 'ecdsa-p256' })
    await setCrlSettings(ca.id, { deltas: false })
    for (const path of [
      '/crl/0.crl',
      '/crl/999999999.crl',
      '/crl/99999999999999.crl',
      '/crl/abc.crl',
      '/crl/1.CRL',
      '/crl/01.crl',
      `/crl/${ca.id}.crl.pem`,
      `/crl/${ca.id}-s3-3.crl`,
      `/crl/${ca.id}-s3-1.crl`,
      `/crl/${ca.id}-s0-0.crl`,
      `/crl/${ca.id}-s3-01.crl`,
      `/crl/${ca.id}-delta.crl`,
      `/crl/${ca.id}-delta-delta.crl`,
      '/crl/%2e%2e%2fetc%2fpasswd',
      `/crl/${'9'.repeat(5000)}.crl`,
    ]) {
      const response = await fetchCrl(path)
      assert.equal(response.status, 404, path)
      assert.match(response.headers.get('content-type')!, /application\/json/, path)
      assert.equal(JSON.parse(response.bytes.toString()).error.code, 'E_NOT_FOUND', path)
    }
    // the CA's own CRL exists (no delta: deltas are off for it)
    assert.equal((await fetchCrl(`/crl/${ca.id}.crl`)).status, 200)

    // A deleted CA's CRLs are gone, from memory too.
    await pollCrls()
    const deleted = await client.delete(`/api/v1/cas/${ca.id}`).bearerToken(await adminToken())
    assert.oneOf(deleted.status(), [200, 204])
    await pollCrls()
    const gone = await fetchCrl(`/crl/${ca.id}.crl`)
    assert.equal(gone.status, 404)
    assert.equal(JSON.parse(gone.bytes.toString()).error.code, 'E_NOT_FOUND')
    assert.notExists(await db.from('crl_state').where('ca_id', ca.id).first())
  }).timeout(60_000)

  test('an expired revoked certificate is listed by one CRL issued after its expiry, then drops off', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL expiry'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const leaf = await issueLeaf(client, template.id, 'expired.crl.example')
    const other = await issueLeaf(client, template.id, 'other.crl.example')
    await revokeApi(client, leaf.id, 'superseded')
    await revokeApi(client, other.id, 'superseded')
    await refreshCrls()
    const before = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.include(serialsIn(before.text), upperSerial(leaf.serial))

    // The certificate expires (backdated): the next CRL still lists it, and marks it listed.
    await Certificate.query()
      .where('id', leaf.id)
      .update({ notAfter: Date.now() - 60_000 })
    await db.from('crl_state').where('ca_id', ca.id).increment('dirty', 1)
    await refreshCrls()
    const after = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.isAbove(crlNumberOf(after.text), crlNumberOf(before.text))
    assert.include(serialsIn(after.text), upperSerial(leaf.serial))
    const row = await db.from('certificates').where('id', leaf.id).first()
    assert.isTrue(Boolean(row.listed_after_expiry))

    // Every later CRL leaves it out; the unexpired one stays.
    await db.from('crl_state').where('ca_id', ca.id).increment('dirty', 1)
    await refreshCrls()
    const later = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.isAbove(crlNumberOf(later.text), crlNumberOf(after.text))
    assert.notInclude(serialsIn(later.text), upperSerial(leaf.serial))
    assert.include(serialsIn(later.text), upperSerial(other.serial))
  }).timeout(60_000)

  test('the next full CRL is built on the previous one; an unrevocation reads the certificates; nothing listed twice', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL append'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((n) => issueLeaf(client, template.id, `${n}.append.example`))
    )
    await revokeApi(client, a.id, 'certificateHold')
    await db.from('crl_state').where('ca_id', ca.id).update({ rescan: 1 })
    await refreshCrls()
    const current = async () => {
      const state = await db.from('crl_state').where('ca_id', ca.id).first()
      const list = await db
        .from('crl_lists')
        .where({ ca_id: ca.id, number: state.full_number, scope: 'full' })
        .first()
      const refs = JSON.parse(list.layout) as [number, number, number][]
      const text = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
      assert.isTrue(text.ok, text.output)
      return { state, number: Number(list.number), refs, serials: serialsIn(text.text) }
    }
    const scanned = await current()
    assert.deepEqual(scanned.serials, [upperSerial(a.serial)])

    // A revocation: the next full CRL reuses the previous one's entry chunk and appends.
    await revokeApi(client, b.id, 'superseded')
    await refreshCrls()
    const appended = await current()
    assert.isAbove(appended.number, scanned.number)
    assert.isTrue(
      appended.refs.some(([n]) => n === scanned.number),
      'reuses the previous chunks'
    )
    assert.sameMembers(appended.serials, [upperSerial(a.serial), upperSerial(b.serial)])

    // A change logged while a read of the certificates was running may already be in it: it is
    // looked up in the stored chunks and not appended again.
    await revokeApi(client, c.id, 'keyCompromise')
    await db.from('crl_state').where('ca_id', ca.id).update({ rescan: 1 })
    await refreshCrls()
    const read = await current()
    assert.lengthOf(read.serials, 3)
    await db
      .from('crl_state')
      .where('ca_id', ca.id)
      .update({ full_change_id: Number(read.state.full_change_id) - 1 })
    await db.from('crl_state').where('ca_id', ca.id).increment('dirty', 1)
    await refreshCrls()
    const again = await current()
    assert.isAbove(again.number, read.number)
    assert.isTrue(again.refs.some(([n]) => n === read.number))
    assert.sameMembers(
      again.serials,
      [a, b, c].map((x) => upperSerial(x.serial))
    )

    // Releasing the hold cannot be appended: the certificates are read again, a is gone.
    await unrevokeApi(client, a.id)
    await refreshCrls()
    const released = await current()
    assert.isTrue(
      released.refs.every(([n]) => n === released.number),
      'its own chunks only'
    )
    assert.sameMembers(released.serials, [upperSerial(b.serial), upperSerial(c.serial)])
  }).timeout(60_000)

  test('delta CRLs: changes since the base, removeFromCRL for a released hold, one number sequence', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL delta'), keyType: 'ecdsa-p256' })
    // The full CRL stays the base while the delta follows the changes.
    await setCrlSettings(ca.id, { fullMinIntervalSeconds: 86400, deltaValidityHours: 2 })
    const template = await webServerTemplate(client, ca.id)
    const held = await issueLeaf(client, template.id, 'held.crl.example')
    const later = await issueLeaf(client, template.id, 'later.crl.example')
    await revokeApi(client, held.id, 'certificateHold')
    const base = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.include(base.text, 'Certificate Hold')
    const baseNumber = crlNumberOf(base.text)
    const delta0 = await readCrl(
      ca.certificatePem!,
      (await fetchCrl(`/crl/${ca.id}-delta.crl`)).bytes
    )
    assert.isTrue(delta0.ok, delta0.output)
    assert.match(
      delta0.text,
      new RegExp(`Delta CRL Indicator: critical\\s*\\n\\s*${baseNumber}\\b`)
    )
    assert.include(delta0.text, 'No Revoked Certificates')

    await revokeApi(client, later.id, 'keyCompromise')
    await unrevokeApi(client, held.id)
    await refreshCrls()
    // the base did not change (minimum interval), the delta did
    const sameBase = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.equal(crlNumberOf(sameBase.text), baseNumber)
    const delta = await fetchCrl(`/crl/${ca.id}-delta.crl`)
    const deltaText = await readCrl(ca.certificatePem!, delta.bytes)
    assert.isTrue(deltaText.ok, deltaText.output)
    assert.isAbove(crlNumberOf(deltaText.text), crlNumberOf(delta0.text))
    assert.match(deltaText.text, /Delta CRL Indicator: critical/)
    // the same IDP as its base: none for the full CRL
    assert.notInclude(deltaText.text, 'Issuing Distribution Point')
    assert.notInclude(deltaText.text, 'Freshest CRL')
    assert.sameMembers(serialsIn(deltaText.text), [
      upperSerial(later.serial),
      upperSerial(held.serial),
    ])
    assert.include(deltaText.text, 'Key Compromise')
    assert.include(deltaText.text, 'Remove From CRL')
    const hours =
      (Date.parse(/Next Update: (.+)/.exec(deltaText.text)![1]) -
        Date.parse(/Last Update: (.+)/.exec(deltaText.text)![1])) /
      3_600_000
    assert.equal(hours, 2)

    // A new full CRL (interval back to 0) takes the next number and carries both changes.
    await setCrlSettings(ca.id, { fullMinIntervalSeconds: 0 })
    await refreshCrls()
    const full = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.isAbove(crlNumberOf(full.text), crlNumberOf(deltaText.text))
    assert.sameMembers(serialsIn(full.text), [upperSerial(later.serial)])
  }).timeout(60_000)

  test('shards: CDP by serial, fixed at issuance, each shard lists only its own certificates', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL shards'), keyType: 'ecdsa-p256' })
    await setCrlSettings(ca.id, { shards: 4 })
    const template = await webServerTemplate(client, ca.id)
    const certs = []
    for (let i = 0; i < 6; i++)
      certs.push(await issueLeaf(client, template.id, `s${i}.crl.example`))
    const shardOf = async (pem: string) => {
      const text = await opensslText(pem, 'x509')
      const cdp = new RegExp(`URI:(http\\S+/crl/${ca.id}-s4-(\\d)\\.crl)`).exec(text)
      assert.exists(cdp, text)
      assert.include(text, `/crl/${ca.id}-s4-${cdp![2]}-delta.crl`) // Freshest CRL
      return Number(cdp![2])
    }
    const shards = await Promise.all(certs.map((c) => shardOf(c.certificatePem)))

    // A later count does not move issued certificates; new ones use the new set.
    await setCrlSettings(ca.id, { shards: 2 })
    const newer = await issueLeaf(client, template.id, 'newer.crl.example')
    assert.match(
      await opensslText(newer.certificatePem, 'x509'),
      new RegExp(`/crl/${ca.id}-s2-\\d\\.crl`)
    )

    for (const cert of [...certs, newer]) await revokeApi(client, cert.id, 'superseded')
    await refreshCrls()
    for (let shard = 0; shard < 4; shard++) {
      const response = await fetchCrl(`/crl/${ca.id}-s4-${shard}.crl`)
      assert.equal(response.status, 200)
      const text = await readCrl(ca.certificatePem!, response.bytes)
      assert.isTrue(text.ok, text.output)
      assert.match(
        text.text,
        new RegExp(
          `Issuing Distribution Point: critical\\s+Full Name:\\s+URI:\\S+/crl/${ca.id}-s4-${shard}\\.crl`
        )
      )
      const mine = certs.filter((_, i) => shards[i] === shard).map((c) => upperSerial(c.serial))
      // every certificate of this shard (set of 4) and nothing else, newer included if it maps here
      for (const serial of mine) assert.include(serialsIn(text.text), serial)
      for (const serial of serialsIn(text.text)) {
        const cert = [...certs, newer].find((c) => upperSerial(c.serial) === serial)
        assert.exists(cert)
        if (cert !== newer) assert.equal(shards[certs.indexOf(cert!)], shard)
      }
    }
    // the full CRL lists them all, and the set of 2 is published too
    const full = await readCrl(ca.certificatePem!, (await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.lengthOf(serialsIn(full.text), 7)
    assert.equal((await fetchCrl(`/crl/${ca.id}-s2-1.crl`)).status, 200)
    const shardDelta = await fetchCrl(`/crl/${ca.id}-s4-3-delta.crl`)
    assert.equal(shardDelta.status, 200)
    const shardDeltaText = await readCrl(ca.certificatePem!, shardDelta.bytes)
    assert.isTrue(shardDeltaText.ok, shardDeltaText.output)
    assert.match(shardDeltaText.text, new RegExp(`URI:\\S+/crl/${ca.id}-s4-3\\.crl`)) // its base's IDP
    assert.equal((await fetchCrl(`/crl/${ca.id}-s8-1.crl`)).status, 404)

    // The CA tab shows what is published.
    const admin = await webUser({ isAdmin: true })
    const tab = await client.get(`/admin/plugin-tabs/ca/${ca.id}/crl`).loginAs(admin)
    tab.assertStatus(200)
    assert.include(tab.text(), 'Published CRLs')
    assert.include(tab.text(), `/crl/${ca.id}-s4-3.crl`)
    assert.include(tab.text(), `/crl/${ca.id}-delta.crl`)
    assert.include(tab.text(), 'Shard sets published: 2, 4.')
    assert.include(tab.text(), 'name="shards"') // the settings form generated from the schema
    const urls = await client.get(`/admin/cas/${ca.id}/service-urls`).loginAs(admin)
    urls.assertStatus(200)
    assert.include(urls.text(), `/crl/${ca.id}.crl`)
    assert.include(urls.text(), `/crl/${ca.id}-delta.crl`)
  }).timeout(120_000)
})
