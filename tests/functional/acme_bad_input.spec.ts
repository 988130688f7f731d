/*
 * The ACME plugin refuses bad input with the right RFC 8555 problem type and spends nothing:
 * JWS faults (signature, nonce, url, kid/jwk, alg, media type), EAB faults (MAC, expiry, use
 * count, another key), rate limits (per account, per IP address) and a disabled plugin (404).
 */
import { test } from '@japa/runner'
import { generateKeyPairSync } from 'node:crypto'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import { AcmeTestClient, accountKey, eabJws } from '../../plugins/acme/tests/client.js'
import {
  ACME,
  acmeSettings,
  acmeWorld,
  directoryUrl,
  enableAcme,
  registeredClient,
  disableAcme,
} from './acme_fixtures.js'

async function eabUses(world: Awaited<ReturnType<typeof acmeWorld>>, kid: string) {
  const row = await world.runtime.table('acme_eabs').where('kid', kid).first()
  return Number(row.uses)
}

test.group('ACME bad input', (group) => {
  group.teardown(disableAcme)
  group.each.teardown(() => enableAcme())

  test('JWS faults: signature, nonce, url, kid/jwk, alg, media type', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    const orderUrl = acme.directory.newOrder
    const ids = { identifiers: [{ type: 'ip', value: '127.0.0.1' }] }

    // A bad signature is refused and does not spend the nonce.
    const nonce = await acme.nonce()
    const forged = await acme.post(orderUrl, ids, {
      header: { nonce },
      tamper: (jws) => ({ ...jws, signature: jws.signature.replace(/^../, 'AA') }),
    })
    assert.equal(forged.status, 400)
    assert.equal(forged.body.type, `${ACME}malformed`)
    assert.include(forged.body.detail, 'signature')
    const good = await acme.post(orderUrl, ids, { header: { nonce } })
    assert.equal(good.status, 201, good.text)

    // The nonce is spent now; unknown and missing nonces too → badNonce with a fresh nonce.
    for (const header of [{ nonce }, { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }, { nonce: undefined }]) {
      const res = await acme.post(orderUrl, ids, { header })
      assert.equal(res.status, 400)
      assert.equal(res.body.type, `${ACME}badNonce`)
      assert.match(res.headers.get('replay-nonce') ?? '', /^[A-Za-z0-9_-]+$/)
    }

    // The same nonce twice at once: exactly one request spends it.
    const shared = await acme.nonce()
    const racing = await Promise.all(
      [0, 1, 2].map(() => acme.post(acme.kid!, '', { header: { nonce: shared } }))
    )
    assert.sameMembers(
      racing.map((r) => r.status),
      [200, 400, 400]
    )

    // RFC 8555 §6.2 / RFC 7515 §4.1.11: no unencoded payload, no critical extensions.
    for (const header of [{ b64: false, crit: ['b64'] }, { crit: ['exp'] }, { b64: true }]) {
      const refused = await acme.post(orderUrl, ids, { header })
      assert.equal(refused.status, 400, JSON.stringify(header))
      assert.equal(refused.body.type, `${ACME}malformed`)
      assert.include(refused.body.detail, '"crit" and "b64"')
    }

    // The url header must be this request's URL.
    const wrongUrl = await acme.post(orderUrl, ids, { header: { url: acme.directory.revokeCert } })
    assert.equal(wrongUrl.body.type, `${ACME}unauthorized`)
    assert.include(wrongUrl.body.detail, '"url"')

    // kid and jwk: exactly one, the right one for the resource.
    const both = await acme.post(orderUrl, ids, { header: { jwk: acme.key.jwk } })
    assert.equal(both.body.type, `${ACME}malformed`)
    const jwkOnOrder = await acme.post(orderUrl, ids, { useJwk: true })
    assert.equal(jwkOnOrder.body.type, `${ACME}malformed`)
    assert.include(jwkOnOrder.body.detail, '"kid"')
    const kidOnAccount = await acme.post(acme.directory.newAccount, { onlyReturnExisting: true })
    assert.equal(kidOnAccount.body.type, `${ACME}malformed`)
    const unknownKid = await acme.post(orderUrl, ids, {
      header: { kid: acme.kid!.replace(/\d+$/, '999999') },
    })
    assert.equal(unknownKid.body.type, `${ACME}accountDoesNotExist`)

    // Unsupported algorithms.
    for (const alg of ['HS256', 'none', 'PS256', 'RS1']) {
      const res = await acme.post(orderUrl, ids, { header: { alg } })
      assert.equal(res.body.type, `${ACME}badSignatureAlgorithm`, alg)
      assert.includeMembers(res.body.algorithms, ['ES256', 'RS256', 'EdDSA'])
    }
    // An RSA key too small to be an account key.
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const smallJwk = small.publicKey.export({ format: 'jwk' }) as Record<string, string>
    const weak = await new AcmeTestClient(directoryUrl(), {
      alg: 'RS256',
      privateKey: small.privateKey,
      jwk: { kty: 'RSA', n: smallJwk.n, e: smallJwk.e },
    }).init()
    const weakRes = await weak.register(await world.eab())
    assert.equal(weakRes.body.type, `${ACME}badPublicKey`)
    // An RSA key with e = 1: anyone could sign for it (the signature is the padded digest).
    const big = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const bigJwk = big.publicKey.export({ format: 'jwk' }) as Record<string, string>
    const e1 = await new AcmeTestClient(directoryUrl(), {
      alg: 'RS256',
      privateKey: big.privateKey,
      jwk: { kty: 'RSA', n: bigJwk.n, e: 'AQ' },
    }).init()
    const e1Res = await e1.register(await world.eab())
    assert.equal(e1Res.body.type, `${ACME}badPublicKey`)
    assert.include(e1Res.body.detail, 'public exponent')
    // An Ed25519 key of small order (the identity point), for which anyone can sign.
    const ed = generateKeyPairSync('ed25519')
    const smallOrder = await new AcmeTestClient(directoryUrl(), {
      alg: 'EdDSA',
      privateKey: ed.privateKey,
      jwk: { kty: 'OKP', crv: 'Ed25519', x: `AQ${'A'.repeat(41)}` },
    }).init()
    const smallRes = await smallOrder.register(await world.eab())
    assert.equal(smallRes.body.type, `${ACME}badPublicKey`)
    assert.include(smallRes.body.detail, 'small order')

    // Not a JWS / wrong media type / not JSON.
    const plain = await acme.send(orderUrl, '{}', 'application/json')
    assert.equal(plain.status, 415)
    assert.equal(plain.body.type, `${ACME}malformed`)
    const notJson = await acme.send(orderUrl, 'hello')
    assert.equal(notJson.body.type, `${ACME}malformed`)
    const general = await acme.send(orderUrl, JSON.stringify({ signatures: [], payload: '' }))
    assert.equal(general.body.type, `${ACME}malformed`)

    // GET on a POST-only resource (RFC 8555 §6.3).
    const get = await fetch(good.headers.get('location')!)
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')

    // With terms of service configured, registering without agreeing is refused.
    await acmeSettings({ termsOfService: 'https://tos.example/v1' })
    const dir = (await (await fetch(directoryUrl())).json()) as any
    assert.equal(dir.meta.termsOfService, 'https://tos.example/v1')
    const fresh = await new AcmeTestClient(directoryUrl()).init()
    const disagree = await fresh.register(await world.eab(), { termsOfServiceAgreed: false })
    assert.equal(disagree.body.type, `${ACME}userActionRequired`)
    await acmeSettings({ termsOfService: '' })

    // Another account's order is not readable.
    const other = await new AcmeTestClient(directoryUrl()).init()
    await other.register(await world.eab())
    const foreign = await other.post(good.headers.get('location')!, '')
    assert.equal(foreign.body.type, `${ACME}unauthorized`)
  })

  test('EAB faults spend no use: wrong MAC, another key, expired, used up', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const eab = await world.eab()
    const acme = await new AcmeTestClient(directoryUrl()).init()
    const url = acme.directory.newAccount
    const register = (externalAccountBinding: unknown, key = acme.key) =>
      acme.post(url, { termsOfServiceAgreed: true, externalAccountBinding }, { useJwk: true, key })

    const wrongMac = await register(
      eabJws(eab.kid, Buffer.alloc(32, 7).toString('base64url'), acme.key.jwk, url)
    )
    assert.equal(wrongMac.status, 403)
    assert.equal(wrongMac.body.type, `${ACME}unauthorized`)
    assert.include(wrongMac.body.detail, 'MAC')
    // An EAB made for another key.
    const otherKey = accountKey()
    const stolen = await register(eabJws(eab.kid, eab.hmacKey, otherKey.jwk, url))
    assert.equal(stolen.body.type, `${ACME}unauthorized`)
    // An EAB whose url is not newAccount's; an unknown KID; a MAC algorithm we do not take.
    const badUrl = await register(eabJws(eab.kid, eab.hmacKey, acme.key.jwk, `${url}x`))
    assert.equal(badUrl.body.type, `${ACME}malformed`)
    const unknown = await register(eabJws('nope', eab.hmacKey, acme.key.jwk, url))
    assert.equal(unknown.body.type, `${ACME}unauthorized`)
    const notHmac = await register({
      ...eabJws(eab.kid, eab.hmacKey, acme.key.jwk, url),
      protected: Buffer.from(JSON.stringify({ alg: 'ES256', kid: eab.kid, url })).toString(
        'base64url'
      ),
    })
    assert.equal(notHmac.body.type, `${ACME}badSignatureAlgorithm`)
    assert.equal(await eabUses(world, eab.kid), 0)

    // HS384 works, once.
    const ok = await register(eabJws(eab.kid, eab.hmacKey, acme.key.jwk, url, 'HS384'))
    assert.equal(ok.status, 201, ok.text)
    assert.equal(await eabUses(world, eab.kid), 1)
    const next = accountKey('ES384')
    const usedUp = await register(eabJws(eab.kid, eab.hmacKey, next.jwk, url, 'HS512'), next)
    assert.equal(usedUp.body.type, `${ACME}unauthorized`)
    assert.equal(await eabUses(world, eab.kid), 1)

    // Expired.
    const old = await world.eab()
    await world.runtime
      .table('acme_eabs')
      .where('kid', old.kid)
      .update({ expires_at: Date.now() - 1000 })
    const expired = await register(eabJws(old.kid, old.hmacKey, next.jwk, url), next)
    assert.equal(expired.body.type, `${ACME}unauthorized`)
    assert.include(expired.body.detail, 'expired')
    assert.equal(await eabUses(world, old.kid), 0)

    // Deleting a used EAB is safe: the account keeps working.
    const { deleteEab } = await import('../../plugins/acme/policies.js')
    const row = await world.runtime.table('acme_eabs').where('kid', eab.kid).first()
    await deleteEab(world.runtime, Number(row.id))
    acme.kid = ok.headers.get('location')
    const still = await acme.post(acme.kid!, '')
    assert.equal(still.status, 200)
  })

  test('rate limits: orders per account, requests per IP address', async ({ client, assert }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    await acmeSettings({ ordersPerAccountPerHour: 2 })
    const ids = [{ type: 'ip', value: '127.0.0.1' }]
    // Refused orders spend none of the quota (a typo, a replayed nonce: clients retry those).
    for (let i = 0; i < 3; i++) {
      const refused = await acme.newOrder([{ type: 'dns', value: 'bad name!' }])
      assert.equal(refused.body.type, `${ACME}rejectedIdentifier`, refused.text)
    }
    assert.equal((await acme.newOrder(ids)).status, 201)
    assert.equal((await acme.newOrder(ids)).status, 201)
    const third = await acme.newOrder(ids)
    assert.equal(third.status, 429)
    assert.equal(third.body.type, `${ACME}rateLimited`)
    assert.isAbove(Number(third.headers.get('retry-after')), 0)

    // Counted exactly when requests arrive together (they share one counter transaction).
    const burst = await registeredClient(world)
    await acmeSettings({ ordersPerAccountPerHour: 5 })
    const statuses8 = await Promise.all(
      Array.from({ length: 8 }, () => burst.newOrder(ids).then((r) => r.status))
    )
    assert.equal(statuses8.filter((s) => s === 201).length, 5, String(statuses8))
    assert.equal(statuses8.filter((s) => s === 429).length, 3, String(statuses8))

    await acmeSettings({ ordersPerAccountPerHour: 0, requestsPerIpPerMinute: 3 })
    const statuses: number[] = []
    let last
    for (let i = 0; i < 5; i++) {
      last = await acme.post(acme.kid!, '')
      statuses.push(last.status)
    }
    assert.includeMembers(statuses, [429])
    assert.equal(last!.body.type, `${ACME}rateLimited`)
    assert.isAbove(Number(last!.headers.get('retry-after')), 0)
  })

  test('a body over 1 MiB is refused: 413, an ACME problem with a fresh nonce', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    const res = await fetch(acme.directory.newOrder, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json' },
      body: JSON.stringify({ protected: 'x'.repeat(1024 * 1024 + 10), payload: '', signature: '' }),
    })
    assert.equal(res.status, 413)
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
    assert.match(res.headers.get('replay-nonce') ?? '', /^[A-Za-z0-9_-]{35}$/)
    const problem = (await res.json()) as Record<string, unknown>
    assert.equal(problem.type, `${ACME}malformed`)
  })

  test('a disabled plugin answers 404', async ({ client, assert }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    await pluginHost.setEnabled('acme', false, systemActor)
    assert.equal((await fetch(directoryUrl())).status, 404)
    const res = await fetch(acme.directory.newOrder, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json' },
      body: '{}',
    })
    assert.equal(res.status, 404)
    assert.equal((await fetch(acme.directory.newNonce, { method: 'HEAD' })).status, 404)
  })
})
