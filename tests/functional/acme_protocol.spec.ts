/*
 * The ACME plugin's protocol (RFC 8555) with the project's own small client: directory and
 * nonces, accounts with EAB, orders for IP identifiers validated over real HTTP (http-01) and
 * TLS (tls-alpn-01, a certificate made by OpenSSL), finalize with CSRs made by OpenSSL,
 * download verified by `openssl verify`, account management, revocation, pre-approved names,
 * wildcards and template limits.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { createServer, type Server } from 'node:http'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { createServer as createHttpsServer } from 'node:https'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import { createTemplate, opensslCsr, unique } from '#tests/helpers/api'
import { opensslSelfSigned, opensslVerify, withTempDir } from '#tests/helpers/external'
import { AcmeTestClient, accountKey } from '../../plugins/acme/tests/client.js'
import {
  ACME,
  acmeWorld,
  directoryUrl,
  extraPort,
  pemToB64u,
  pendingIpOrder,
  registeredClient,
  disableAcme,
} from './acme_fixtures.js'

/** An http-01 responder on the validation port, serving key authorizations by token. */
function http01Server(tokens: Map<string, string>): Promise<Server> {
  const server = createServer((req, res) => {
    const token = (req.url ?? '').split('/').pop() ?? ''
    const body = tokens.get(token)
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain' }).end(body ?? 'no')
  })
  return new Promise((resolve) => server.listen(extraPort(3), '127.0.0.1', () => resolve(server)))
}

/** A self-signed P-256 key and certificate made by OpenSSL (PEM), with extra `-addext`s. */
function opensslPair(addext: string[]) {
  return withTempDir(async (dir) => {
    const made = await opensslSelfSigned(dir, { subject: '/CN=acme-test', days: 1, addext })
    return { key: await readFile(made.keyPath), cert: made.certPem }
  })
}

/** A tls-alpn-01 responder: an OpenSSL-made certificate with the acmeIdentifier extension. */
async function tlsAlpnServer(ip: string, keyAuthorization: string): Promise<TlsServer> {
  const digest = createHash('sha256').update(keyAuthorization).digest('hex')
  const { key, cert } = await opensslPair([
    `subjectAltName=IP:${ip}`,
    `1.3.6.1.5.5.7.1.31=critical,DER:0420${digest}`,
  ])
  const server = createTlsServer({ key, cert, ALPNProtocols: ['acme-tls/1'] }, (socket) =>
    socket.end()
  )
  return new Promise((resolve) => server.listen(extraPort(4), ip, () => resolve(server)))
}

const close = (server: Server | TlsServer) => new Promise((r) => server.close(() => r(null)))

/** Answers an authorization's tls-alpn-01 challenge from `ip`; the challenge once decided. */
async function tlsAlpnVerdict(acme: AcmeTestClient, authz: any, ip: string) {
  const tls = authz.challenges.find((c: any) => c.type === 'tls-alpn-01')
  const server = await tlsAlpnServer(ip, acme.keyAuthorization(tls.token))
  try {
    await acme.post(tls.url, {})
    return await acme.poll(tls.url, (b) => b.status !== 'processing')
  } finally {
    await close(server)
  }
}

async function readyOrder(acme: AcmeTestClient, orderUrl: string) {
  return acme.poll(orderUrl, (b) => b.status !== 'pending')
}

test.group('ACME protocol', (group) => {
  group.teardown(disableAcme)
  test('directory, nonces, EAB registration and account lookups', async ({ client, assert }) => {
    const world = await acmeWorld(client, { profiles: '' })
    const dir = await fetch(directoryUrl())
    assert.equal(dir.status, 200)
    const directory = (await dir.json()) as Record<string, any>
    assert.isTrue(directory.meta.externalAccountRequired)
    assert.match(directory.newNonce, /\/acme\/new-nonce$/)
    assert.match(directory.renewalInfo, /\/acme\/renewal-info$/)

    const head = await fetch(directory.newNonce, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.match(head.headers.get('replay-nonce') ?? '', /^[A-Za-z0-9_-]{16,}$/)
    assert.equal(head.headers.get('cache-control'), 'no-store')
    const get = await fetch(directory.newNonce)
    assert.equal(get.status, 204)
    assert.notEqual(get.headers.get('replay-nonce'), head.headers.get('replay-nonce'))

    const acme = await new AcmeTestClient(directoryUrl()).init()
    // No EAB: refused.
    const bare = await acme.post(
      directory.newAccount,
      { termsOfServiceAgreed: true },
      { useJwk: true }
    )
    assert.equal(bare.status, 400)
    assert.equal(bare.body.type, `${ACME}externalAccountRequired`)
    assert.equal(bare.headers.get('content-type'), 'application/problem+json')
    assert.isString(bare.headers.get('replay-nonce'))

    // onlyReturnExisting for an unknown key, without EAB.
    const missing = await acme.post(
      directory.newAccount,
      { onlyReturnExisting: true },
      { useJwk: true }
    )
    assert.equal(missing.body.type, `${ACME}accountDoesNotExist`)

    const eab = await world.eab()
    const created = await acme.register(eab)
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.status, 'valid')
    assert.match(acme.kid!, /\/acme\/account\/\d+$/)

    // The same key again: the same account (200), without spending anything.
    const again = await acme.register(eab)
    assert.equal(again.status, 200)
    assert.equal(again.headers.get('location'), acme.kid)
    const existing = await acme.post(
      directory.newAccount,
      { onlyReturnExisting: true },
      { useJwk: true }
    )
    assert.equal(existing.status, 200)
    assert.equal(existing.headers.get('location'), acme.kid)

    // The EAB allowed one use: another key is refused.
    const other = await new AcmeTestClient(directoryUrl(), accountKey('RS256')).init()
    const second = await other.register(eab)
    assert.equal(second.status, 403)
    assert.equal(second.body.type, `${ACME}unauthorized`)
    assert.include(second.body.detail, 'used')

    // Contact update (the account's fields sent back as they came, "status": "valid" too; a
    // scheme in capitals), orders list, key rollover, deactivation.
    const update = await acme.post(acme.kid!, {
      ...(await acme.post(acme.kid!, '')).body,
      contact: ['MAILTO:new@example.com'],
    })
    assert.equal(update.status, 200, update.text)
    assert.deepEqual(update.body.contact, ['mailto:new@example.com'])
    for (const contact of [
      'mailto:<img src=x>"%@example.com',
      'mailto:a@b.example?cc=c@d.example',
    ]) {
      const refused = await acme.post(acme.kid!, { contact: [contact] })
      assert.equal(refused.body.type, `${ACME}invalidContact`, contact)
    }
    const notText = await acme.post(acme.kid!, { contact: [42] })
    assert.equal(notText.body.type, `${ACME}malformed`)
    const becomeRevoked = await acme.post(acme.kid!, { status: 'revoked' })
    assert.equal(becomeRevoked.body.type, `${ACME}malformed`)
    const orders = await acme.post(update.body.orders, '')
    assert.deepEqual(orders.body.orders, [])

    const newKey = accountKey('EdDSA')
    const inner = (await import('../../plugins/acme/tests/client.js')).signJws(
      newKey,
      { jwk: newKey.jwk, url: directory.keyChange },
      { account: acme.kid, oldKey: acme.key.jwk }
    )
    const rolled = await acme.post(directory.keyChange, inner)
    assert.equal(rolled.status, 200, rolled.text)
    // Rolling another account onto a key in use: 409 with that account's Location.
    const other2 = await new AcmeTestClient(directoryUrl()).init()
    await other2.register(await world.eab())
    const clash = (await import('../../plugins/acme/tests/client.js')).signJws(
      newKey,
      { jwk: newKey.jwk, url: directory.keyChange },
      { account: other2.kid, oldKey: other2.key.jwk }
    )
    const conflict = await other2.post(directory.keyChange, clash)
    assert.equal(conflict.status, 409, conflict.text)
    assert.equal(conflict.headers.get('location'), acme.kid)
    const oldKey = acme.key
    acme.key = newKey
    assert.equal((await acme.post(acme.kid!, '')).status, 200)
    acme.key = oldKey
    const stale = await acme.post(acme.kid!, '')
    assert.equal(stale.body.type, `${ACME}malformed`)
    acme.key = newKey

    const deactivated = await acme.post(acme.kid!, { status: 'deactivated' })
    assert.equal(deactivated.body.status, 'deactivated')
    const after = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(after.body.type, `${ACME}unauthorized`)
  })

  test('IP identifiers: http-01 and tls-alpn-01 only, finalize, chain, revocation', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)

    const order = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(order.status, 201, order.text)
    assert.equal(order.body.status, 'pending')
    const authz = await acme.post(order.body.authorizations[0], '')
    assert.deepEqual(authz.body.identifier, { type: 'ip', value: '127.0.0.1' })
    assert.sameMembers(
      authz.body.challenges.map((c: any) => c.type),
      ['http-01', 'tls-alpn-01']
    )
    // dns-01 is not offered for an IP address (RFC 8738).
    const dnsUrl = authz.body.challenges[0].url.replace(/[^/]+$/, 'dns-01')
    const notOffered = await acme.post(dnsUrl, {})
    assert.equal(notOffered.status, 400)
    assert.equal(notOffered.body.type, `${ACME}malformed`)
    assert.include(notOffered.body.detail, 'RFC 8738')

    const http = authz.body.challenges.find((c: any) => c.type === 'http-01')
    const tokens = new Map([[http.token, acme.keyAuthorization(http.token)]])
    const server = await http01Server(tokens)
    try {
      const answer = await acme.post(http.url, {})
      assert.equal(answer.status, 200)
      assert.include(answer.headers.get('link') ?? '', 'rel="up"')
      const done = await acme.poll(http.url, (b) => b.status !== 'processing')
      assert.equal(done.body.status, 'valid', done.text)
    } finally {
      await close(server)
    }
    const ready = await readyOrder(acme, order.headers.get('location')!)
    assert.equal(ready.body.status, 'ready')

    // CSRs made by OpenSSL: other names → badCSR and the order stays ready; garbage → badCSR.
    const wrong = await opensslCsr({ subject: '/CN=127.0.0.2', sans: ['IP:127.0.0.2'] })
    const refused = await acme.post(ready.body.finalize, { csr: pemToB64u(wrong.csrPem) })
    assert.equal(refused.body.type, `${ACME}badCSR`)
    const garbage = await acme.post(ready.body.finalize, { csr: 'AAAA' })
    assert.equal(garbage.body.type, `${ACME}badCSR`)
    assert.equal((await acme.post(order.headers.get('location')!, '')).body.status, 'ready')

    const good = await opensslCsr({ subject: '/CN=127.0.0.1', sans: ['IP:127.0.0.1'] })
    const finalized = await acme.post(ready.body.finalize, { csr: pemToB64u(good.csrPem) })
    assert.equal(finalized.status, 200, finalized.text)
    assert.equal(finalized.body.status, 'valid')
    const cert = await acme.post(finalized.body.certificate, '')
    assert.equal(cert.headers.get('content-type'), 'application/pem-certificate-chain')
    const pems = cert.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!
    assert.lengthOf(pems, 2)
    const verified = await opensslVerify({ roots: [world.ca.certificatePem!], cert: pems[0] })
    assert.isTrue(verified.ok, verified.output)
    const listed = await acme.post(`${acme.kid}/orders`, '')
    assert.include(listed.body.orders as string[], order.headers.get('location')!)

    // A second order for the same IP reuses the valid authorization.
    const order2 = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(order2.body.status, 'ready')

    // Revocation by another account is refused; by the certificate key it works; then alreadyRevoked.
    const certB64 = pemToB64u(pems[0])
    const stranger = await new AcmeTestClient(directoryUrl()).init()
    await stranger.register(await world.eab())
    const foreign = await stranger.post(stranger.directory.revokeCert, { certificate: certB64 })
    assert.equal(foreign.body.type, `${ACME}unauthorized`)
    const { createPrivateKey } = await import('node:crypto')
    const certKey = {
      alg: 'ES256' as const,
      privateKey: createPrivateKey(good.keyPem),
      jwk: (() => {
        const j = createPrivateKey(good.keyPem).export({ format: 'jwk' }) as any
        return { kty: j.kty, crv: j.crv, x: j.x, y: j.y }
      })(),
    }
    const byKey = await stranger.post(
      stranger.directory.revokeCert,
      { certificate: certB64, reason: 1 },
      { key: certKey, useJwk: true }
    )
    assert.equal(byKey.status, 200, byKey.text)
    const twice = await acme.post(acme.directory.revokeCert, { certificate: certB64 })
    assert.equal(twice.body.type, `${ACME}alreadyRevoked`)
  })

  test('a reused authorization that expires makes its order invalid; revocation by proof of control', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const owner = await registeredClient(world)
    const other = await registeredClient(world)
    const ip = [{ type: 'ip', value: '127.0.0.1' }]
    // Both accounts prove control of 127.0.0.1 over http-01.
    const tokens = new Map<string, string>()
    const server = await http01Server(tokens)
    const orders: Record<string, any> = {}
    try {
      for (const [name, acme] of [
        ['owner', owner],
        ['other', other],
      ] as const) {
        const order = await acme.newOrder(ip)
        const authz = await acme.post(order.body.authorizations[0], '')
        const http = authz.body.challenges.find((c: any) => c.type === 'http-01')
        tokens.set(http.token, acme.keyAuthorization(http.token))
        await acme.post(http.url, {})
        const done = await acme.poll(http.url, (b) => b.status !== 'processing')
        assert.equal(done.body.status, 'valid', done.text)
        orders[name] = await readyOrder(acme, order.headers.get('location')!)
      }
    } finally {
      await close(server)
    }
    const csr = await opensslCsr({ subject: '/CN=127.0.0.1', sans: ['IP:127.0.0.1'] })
    const finalized = await owner.post(orders.owner.body.finalize, { csr: pemToB64u(csr.csrPem) })
    assert.equal(finalized.body.status, 'valid', finalized.text)
    const chain = await owner.post(finalized.body.certificate, '')
    const certificate = pemToB64u(chain.text.split(/(?<=-----END CERTIFICATE-----)\n/)[0])

    // A new order reuses the owner's authorization and lasts no longer than it.
    const reused = await owner.newOrder(ip)
    assert.equal(reused.body.status, 'ready')
    const reusedAuthz = await owner.post(reused.body.authorizations[0], '')
    assert.isAtMost(Date.parse(reused.body.expires), Date.parse(reusedAuthz.body.expires))
    // Its authorization expires: the order can no longer be finalized (it was, after expiry).
    const reusedId = Number(reused.headers.get('location')!.split('/').pop())
    await db
      .from('acme_authorizations')
      .where('order_id', reusedId)
      .update({ expires: Date.now() - 1000 })
    const expiredAuthz = await owner.post(reused.body.authorizations[0], '')
    assert.equal(expiredAuthz.body.status, 'expired')
    const expiredOrder = await owner.post(reused.headers.get('location')!, '')
    assert.equal(expiredOrder.body.status, 'invalid')
    const late = await owner.post(reused.body.finalize, { csr: pemToB64u(csr.csrPem) })
    assert.equal(late.body.type, `${ACME}orderNotReady`)

    // Revocation reasons are integers of RFC 5280's list (a string or a key of Object was taken).
    for (const reason of ['1', 'toString', 2, 1.5]) {
      const refused = await owner.post(owner.directory.revokeCert, { certificate, reason })
      assert.equal(refused.body.type, `${ACME}badRevocationReason`, String(reason))
    }
    // RFC 8555 §7.6: an account that holds authorizations for every name may revoke.
    const stranger = await registeredClient(world)
    const notProved = await stranger.post(stranger.directory.revokeCert, { certificate })
    assert.equal(notProved.body.type, `${ACME}unauthorized`)
    const proved = await other.post(other.directory.revokeCert, { certificate, reason: 4 })
    assert.equal(proved.status, 200, proved.text)
    const twice = await owner.post(owner.directory.revokeCert, { certificate })
    assert.equal(twice.body.type, `${ACME}alreadyRevoked`)
  })

  test('two key rollovers at once from the same key: one wins, the other is refused', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    const { signJws } = await import('../../plugins/acme/tests/client.js')
    const keys = [accountKey('ES256'), accountKey('ES256')]
    const rolls = await Promise.all(
      keys.map((key) =>
        acme.post(
          acme.directory.keyChange,
          signJws(
            key,
            { jwk: key.jwk, url: acme.directory.keyChange },
            { account: acme.kid, oldKey: acme.key.jwk }
          )
        )
      )
    )
    // Exactly one wins. The other is refused: its outer signature no longer verifies when it
    // comes second (400), or its update finds the key changed when both passed the checks (401;
    // both used to succeed, the last one silently winning).
    assert.equal(
      rolls.filter((r) => r.status === 200).length,
      1,
      rolls.map((r) => r.text).join(' | ')
    )
    const loser = rolls.find((r) => r.status !== 200)!
    assert.oneOf(loser.body.type, [`${ACME}unauthorized`, `${ACME}malformed`], loser.text)
    // The account answers to the winner's key only.
    const winner = keys[rolls.findIndex((r) => r.status === 200)]
    acme.key = winner
    assert.equal((await acme.post(acme.kid!, '')).status, 200)
  })

  test('tls-alpn-01 against a certificate made by OpenSSL', async ({ client, assert }) => {
    const { acme, authz } = await pendingIpOrder(client)
    const done = await tlsAlpnVerdict(acme, authz.body, '127.0.0.1')
    assert.equal(done.body.status, 'valid', done.text)
  })

  test('tls-alpn-01 for an IPv6 address (node prints the SAN in full; it was never accepted)', async ({
    client,
    assert,
  }) => {
    const { acme, order, authz } = await pendingIpOrder(client, '0:0::1')
    assert.equal(order.status, 201, order.text)
    assert.deepEqual(authz.body.identifier, { type: 'ip', value: '::1' })
    const done = await tlsAlpnVerdict(acme, authz.body, '::1')
    assert.equal(done.body.status, 'valid', done.text)
  })

  test('http-01 follows a redirect to https on the https port, never to another port', async ({
    client,
    assert,
  }) => {
    // The usual web server: http answers 301 to the same path over https (any certificate).
    const { acme, authz } = await pendingIpOrder(client)
    const http = authz.body.challenges.find((c: any) => c.type === 'http-01')
    assert.include(authz.headers.get('link') ?? '', 'rel="index"')
    const { key, cert } = await opensslPair(['subjectAltName=IP:127.0.0.1'])
    const secure = createHttpsServer({ key, cert }, (req, res) => {
      const token = (req.url ?? '').split('/').pop() ?? ''
      res.writeHead(token === http.token ? 200 : 404).end(acme.keyAuthorization(http.token))
    })
    await new Promise<void>((resolve) => secure.listen(extraPort(4), '127.0.0.1', resolve))
    const plain = createServer((req, res) =>
      res.writeHead(301, { location: `https://127.0.0.1${req.url}` }).end()
    )
    await new Promise<void>((resolve) => plain.listen(extraPort(3), '127.0.0.1', resolve))
    try {
      const answer = await acme.post(http.url, {})
      // RFC 8555 §7.1: the index link stays beside the challenge's "up" link.
      assert.include(answer.headers.get('link') ?? '', 'rel="index"')
      assert.include(answer.headers.get('link') ?? '', 'rel="up"')
      const done = await acme.poll(http.url, (b) => b.status !== 'processing')
      assert.equal(done.body.status, 'valid', done.text)
    } finally {
      await close(plain)
      await close(secure)
    }

    // A redirect to another port (an internal service, say) is not followed.
    const second = await pendingIpOrder(client)
    const http2 = second.authz.body.challenges.find((c: any) => c.type === 'http-01')
    const elsewhere = createServer((_req, res) =>
      res.writeHead(302, { location: 'http://127.0.0.1:6379/' }).end()
    )
    await new Promise<void>((resolve) => elsewhere.listen(extraPort(3), '127.0.0.1', resolve))
    try {
      await second.acme.post(http2.url, {})
      const done = await second.acme.poll(http2.url, (b) => b.status !== 'processing')
      assert.equal(done.body.status, 'invalid')
      assert.equal(done.body.error.type, `${ACME}connection`)
      assert.include(done.body.error.detail, 'port 6379 is not followed')
    } finally {
      await close(elsewhere)
    }
  })

  test('a failed validation makes the order invalid, with the problem on the challenge', async ({
    client,
    assert,
  }) => {
    const { acme, order, authz } = await pendingIpOrder(client)
    const http = authz.body.challenges.find((c: any) => c.type === 'http-01')
    const server = await http01Server(new Map([[http.token, 'wrong']]))
    try {
      await acme.post(http.url, {})
      const done = await acme.poll(http.url, (b) => b.status !== 'processing')
      assert.equal(done.body.status, 'invalid')
      assert.equal(done.body.error.type, `${ACME}incorrectResponse`)
    } finally {
      await close(server)
    }
    const final = await acme.post(order.headers.get('location')!, '')
    assert.equal(final.body.status, 'invalid')
    const notReady = await acme.post(final.body.finalize, { csr: 'AAAA' })
    assert.equal(notReady.body.type, `${ACME}orderNotReady`)
    // RFC 8555 §7.1.2.1: the account's orders list leaves invalid orders out.
    const listed = await acme.post(`${acme.kid}/orders`, '')
    assert.notInclude(listed.body.orders as string[], order.headers.get('location')!)
  })

  test('the orders list comes in pages of 100, newest first, with Link rel="next"', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.pages.test' })
    const acme = await registeredClient(world)
    const made: string[] = []
    for (let i = 0; i < 101; i++) {
      const order = await acme.newOrder([{ type: 'dns', value: `n${i}.pages.test` }])
      assert.equal(order.status, 201, order.text)
      made.push(order.headers.get('location')!)
    }
    const first = await acme.post(`${acme.kid}/orders`, '')
    assert.equal(first.status, 200, first.text)
    assert.deepEqual(first.body.orders, made.slice(1).reverse())
    const links = first.headers.get('link')!
    const next = /<([^>]+)>;rel="next"/.exec(links)?.[1]
    assert.match(next!, /\/orders\?cursor=\d+$/)
    assert.include(links, 'rel="index"')
    const second = await acme.post(next!, '')
    assert.equal(second.status, 200, second.text)
    assert.deepEqual(second.body.orders, [made[0]])
    assert.notInclude(second.headers.get('link') ?? '', 'rel="next"')
    // The JWS url names the page asked for, query included; a cursor is a number.
    const wrongUrl = await acme.post(next!, '', { header: { url: `${acme.kid}/orders` } })
    assert.equal(wrongUrl.body.type, `${ACME}unauthorized`)
    for (const cursor of ['x', '3000000000']) {
      const bad = await acme.post(`${acme.kid}/orders?cursor=${cursor}`, '')
      assert.equal(bad.status, 400, cursor)
      assert.equal(bad.body.type, `${ACME}malformed`)
    }
    // An account id beyond PostgreSQL's integer is unknown (it was serverInternal there).
    const base = acme.kid!.replace(/\/\d+$/, '')
    const far = await acme.post(`${acme.kid}/orders`, '', { header: { kid: `${base}/3000000000` } })
    assert.equal(far.body.type, `${ACME}accountDoesNotExist`, far.text)
  }).timeout(120000)

  test('pre-approved names need no challenge; wildcards and IPs follow the template', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.corp.test, 10.1.2.3' })
    const acme = await registeredClient(world)

    const pre = await acme.newOrder([
      { type: 'dns', value: 'corp.test' },
      { type: 'dns', value: 'a.b.corp.test' },
      { type: 'ip', value: '10.1.2.3' },
    ])
    assert.equal(pre.body.status, 'ready', pre.text)
    const csr = await opensslCsr({
      subject: '/CN=corp.test',
      sans: ['DNS:corp.test', 'DNS:a.b.corp.test', 'IP:10.1.2.3'],
    })
    const fin = await acme.post(pre.body.finalize, { csr: pemToB64u(csr.csrPem) })
    assert.equal(fin.body.status, 'valid', fin.text)

    // An order that expires while ready becomes invalid and cannot be finalized.
    const late = await acme.newOrder([{ type: 'dns', value: 'late.corp.test' }])
    assert.equal(late.body.status, 'ready')
    await world.runtime
      .table('acme_orders')
      .where('id', Number(late.headers.get('location')!.split('/').pop()))
      .update({ expires: Date.now() - 1000 })
    const expired = await acme.post(late.body.finalize, { csr: pemToB64u(csr.csrPem) })
    assert.equal(expired.body.type, `${ACME}orderNotReady`)
    assert.include(expired.body.detail, 'invalid')

    // Not pre-approved: a name outside the list gets challenges.
    const outside = await acme.newOrder([{ type: 'dns', value: 'corp.test.evil.test' }])
    assert.equal(outside.body.status, 'pending')

    // Wildcards: refused until the template's ACME tab allows them; then dns-01 only.
    const wild = await acme.newOrder([{ type: 'dns', value: '*.other.test' }])
    assert.equal(wild.body.type, `${ACME}rejectedIdentifier`)
    assert.equal(wild.body.subproblems[0].identifier.value, '*.other.test')
    await pluginHost.saveSettings(
      'acme',
      'template',
      world.template.id,
      { allowWildcards: true },
      systemActor
    )
    const wild2 = await acme.newOrder([{ type: 'dns', value: '*.other.test' }])
    assert.equal(wild2.status, 201, wild2.text)
    const wildAuthz = await acme.post(wild2.body.authorizations[0], '')
    assert.isTrue(wildAuthz.body.wildcard)
    assert.equal(wildAuthz.body.identifier.value, 'other.test')
    assert.deepEqual(
      wildAuthz.body.challenges.map((c: any) => c.type),
      ['dns-01']
    )
    const httpForWildcard = await acme.post(
      wildAuthz.body.challenges[0].url.replace(/dns-01$/, 'http-01'),
      {}
    )
    assert.equal(httpForWildcard.body.type, `${ACME}malformed`)
    // A pre-approved wildcard is ready at once.
    const preWild = await acme.newOrder([{ type: 'dns', value: '*.x.corp.test' }])
    assert.equal(preWild.body.status, 'ready')

    // A template without IP SANs refuses IP identifiers.
    const dnsOnly = await createTemplate(client, world.ca.id, {
      name: unique('dns only'),
      options: { sans: { allowed: ['dns'], required: true, copyCommonName: true } },
    })
    assert.equal(dnsOnly.status(), 201, dnsOnly.text())
    const { createPolicy, createEab } = await import('../../plugins/acme/policies.js')
    const policy = await createPolicy(world.runtime, {
      caId: world.ca.id,
      name: unique('dns policy'),
      template: dnsOnly.body().template.id,
    })
    const eab = await createEab(world.runtime, { policyId: policy.id, name: 'x' })
    const dnsClient = await new AcmeTestClient(directoryUrl()).init()
    await dnsClient.register(eab)
    const ip = await dnsClient.newOrder([{ type: 'ip', value: '10.1.2.3' }])
    assert.equal(ip.body.type, `${ACME}rejectedIdentifier`)
    assert.include(ip.body.subproblems[0].detail, 'IP address')
    const bad = await dnsClient.newOrder([{ type: 'email', value: 'a@b.test' }])
    assert.equal(bad.body.type, `${ACME}unsupportedIdentifier`)
  })
})
