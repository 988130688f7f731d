/*
 * ACME challenge validation, as a review found it wanting: a validation that times out closes
 * its connections (http-01 and tls-alpn-01), a validation certificate that does not parse is the
 * client's `tls` problem, reuse picks the authorization that lasts longest, deactivating an
 * authorization deactivates its reused copies, and IPv4-mapped IPv6 identifiers are refused.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { opensslSelfSigned, run, toolPath, withTempDir } from '#tests/helpers/external'
import { opensslCsr } from '#tests/helpers/api'
import type { AcmeTestClient } from '../../plugins/acme/tests/client.js'
import {
  ACME,
  acmeWorld,
  extraPort,
  pendingIpOrder,
  pemToB64u,
  registeredClient,
  disableAcme,
} from './acme_fixtures.js'

const close = (server: Server | TlsServer | NetServer) =>
  new Promise((r) => server.close(() => r(null)))

/** A TCP server that accepts connections and never answers; it records when each one closes. */
async function silentServer(port: number) {
  const sockets: Array<{ socket: Socket; closed: boolean }> = []
  const server = createNetServer((socket) => {
    const entry = { socket, closed: false }
    sockets.push(entry)
    socket.on('error', () => {})
    // Reads (and drops) what comes, so that the client's close is seen.
    socket.resume()
    socket.on('close', () => (entry.closed = true))
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    sockets,
    /** Closes the server, destroying what the validation left open. */
    async stop() {
      for (const { socket } of sockets) socket.destroy()
      await close(server)
    },
  }
}

async function until(done: () => boolean, ms: number) {
  const deadline = Date.now() + ms
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  return done()
}

/** An http-01 responder on the validation port, serving key authorizations by token. */
function http01Server(tokens: Map<string, string>): Promise<Server> {
  const server = createServer((req, res) => {
    const token = (req.url ?? '').split('/').pop() ?? ''
    const body = tokens.get(token)
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain' }).end(body ?? 'no')
  })
  return new Promise((resolve) => server.listen(extraPort(3), '127.0.0.1', () => resolve(server)))
}

/** Passes the http-01 challenge of an order's (single) authorization; the order's URL. */
async function validatedOrder(acme: AcmeTestClient, value: string) {
  const order = await acme.newOrder([{ type: 'ip', value }])
  if (order.status !== 201) throw new Error(order.text)
  const authz = await acme.post(order.body.authorizations[0], '')
  const http = authz.body.challenges.find((c: any) => c.type === 'http-01')
  const server = await http01Server(new Map([[http.token, acme.keyAuthorization(http.token)]]))
  try {
    await acme.post(http.url, {})
    const done = await acme.poll(http.url, (b) => b.status !== 'processing')
    if (done.body.status !== 'valid') throw new Error(done.text)
  } finally {
    await close(server)
  }
  return order
}

/** Starts a challenge of `type` and waits until it is decided. */
async function verdict(acme: AcmeTestClient, authz: any, type: string) {
  const challenge = authz.challenges.find((c: any) => c.type === type)
  await acme.post(challenge.url, {})
  return acme.poll(challenge.url, (b) => b.status !== 'processing')
}

test.group('ACME validation fixes', (group) => {
  group.teardown(disableAcme)

  for (const [type, port] of [
    ['http-01', extraPort(3)],
    ['tls-alpn-01', extraPort(4)],
  ] as const) {
    test(`a ${type} validation that times out closes its connection`, async ({
      client,
      assert,
    }) => {
      const { acme, authz } = await pendingIpOrder(client)
      const silent = await silentServer(port)
      try {
        // The tests' validation timeout is 5 s (acme_fixtures.ts).
        const done = await verdict(acme, authz.body, type)
        assert.equal(done.body.status, 'invalid', done.text)
        assert.equal(done.body.error.type, `${ACME}connection`)
        assert.include(done.body.error.detail, 'timed out')
        assert.isAtLeast(silent.sockets.length, 1)
        // The validation's socket is closed with it, not left open for ever.
        const closed = await until(() => silent.sockets.every((s) => s.closed), 3000)
        assert.isTrue(closed, 'the validation left its connection open')
      } finally {
        await silent.stop()
      }
    }).timeout(30000)
  }

  test('a tls-alpn-01 certificate that does not parse is a tls problem, not serverInternal', async ({
    client,
    assert,
  }) => {
    const { acme, authz } = await pendingIpOrder(client)
    const tls = authz.body.challenges.find((c: any) => c.type === 'tls-alpn-01')
    const digest = createHash('sha256').update(acme.keyAuthorization(tls.token)).digest('hex')
    // OpenSSL serves it, but its keyUsage is a NULL, not a BIT STRING.
    const { key, cert } = await withTempDir(async (dir) => {
      const made = await opensslSelfSigned(dir, {
        subject: '/CN=acme-test',
        days: 1,
        addext: [
          'subjectAltName=IP:127.0.0.1',
          '2.5.29.15=DER:0500',
          `1.3.6.1.5.5.7.1.31=critical,DER:0420${digest}`,
        ],
      })
      return { key: await readFile(made.keyPath), cert: made.certPem }
    })
    const server = createTlsServer({ key, cert, ALPNProtocols: ['acme-tls/1'] }, (socket) =>
      socket.end()
    )
    await new Promise<void>((resolve) => server.listen(extraPort(4), '127.0.0.1', resolve))
    try {
      const done = await verdict(acme, authz.body, 'tls-alpn-01')
      assert.equal(done.body.status, 'invalid', done.text)
      assert.equal(done.body.error.type, `${ACME}tls`, done.text)
      assert.include(done.body.error.detail, 'could not be parsed')
      assert.include(done.body.error.detail, 'keyUsage')
    } finally {
      await close(server)
    }
  })

  test('a new order reuses the valid authorization that expires last', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    const first = await validatedOrder(acme, '127.0.0.1')
    const second = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(second.body.status, 'ready', second.text)
    // The first (older) authorization ends in 2 hours, its reused copy in 2 days.
    const soon = Date.now() + 2 * 3600_000
    const later = Date.now() + 2 * 86400_000
    const idOf = (order: any) => Number(order.headers.get('location')!.split('/').pop())
    await db.from('acme_authorizations').where('order_id', idOf(first)).update({ expires: soon })
    await db.from('acme_authorizations').where('order_id', idOf(second)).update({ expires: later })
    const third = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(third.body.status, 'ready', third.text)
    const reused = await acme.post(third.body.authorizations[0], '')
    assert.equal(Date.parse(reused.body.expires), Math.floor(later / 1000) * 1000)
    assert.isAbove(Date.parse(third.body.expires), soon)
  })

  test('deactivating an authorization deactivates its reused copies', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    const first = await validatedOrder(acme, '127.0.0.1')
    const second = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(second.body.status, 'ready', second.text)
    // RFC 8555 §7.5.2: the client gives up the first authorization.
    const off = await acme.post(first.body.authorizations[0], { status: 'deactivated' })
    assert.equal(off.status, 200, off.text)
    assert.equal(off.body.status, 'deactivated')
    const copy = await acme.post(second.body.authorizations[0], '')
    assert.equal(copy.body.status, 'deactivated')
    assert.equal((await acme.post(second.headers.get('location')!, '')).body.status, 'invalid')
    // The next order proves control again.
    const third = await acme.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(third.status, 201, third.text)
    assert.equal(third.body.status, 'pending')
    const authz = await acme.post(third.body.authorizations[0], '')
    assert.equal(authz.body.status, 'pending')
    // Another account's authorization for the same address is left alone.
    const other = await registeredClient(world)
    await validatedOrder(other, '127.0.0.1')
    const otherReuse = await other.newOrder([{ type: 'ip', value: '127.0.0.1' }])
    assert.equal(otherReuse.body.status, 'ready')
  })

  test('IPv4-mapped IPv6 identifiers are refused with the IPv4 form to use', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const acme = await registeredClient(world)
    for (const value of ['::ffff:10.0.0.1', '::FFFF:0a00:0001', '0:0:0:0:0:ffff:10.0.0.1']) {
      const refused = await acme.newOrder([{ type: 'ip', value }])
      assert.equal(refused.status, 400, value)
      assert.equal(refused.body.type, `${ACME}rejectedIdentifier`, refused.text)
      assert.include(refused.body.detail, 'IPv4-mapped')
      assert.include(refused.body.detail, 'use the IPv4 form 10.0.0.1')
      assert.deepEqual(refused.body.subproblems[0].identifier, { type: 'ip', value })
    }
    // The IPv4 form itself, and other IPv6 addresses, are orders as before.
    for (const value of ['10.0.0.1', '2001:db8::1', '::1']) {
      const order = await acme.newOrder([{ type: 'ip', value }])
      assert.equal(order.status, 201, `${value}: ${order.text}`)
    }
  })

  test('http-01 never connects to link-local or unspecified addresses, even by a redirect', async ({
    client,
    assert,
  }) => {
    // The cloud metadata service's address: a redirect there is refused, not fetched.
    const { acme, authz } = await pendingIpOrder(client)
    const http = authz.body.challenges.find((c: any) => c.type === 'http-01')
    const redirecting = createServer((_req, res) =>
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end()
    )
    await new Promise<void>((resolve) => redirecting.listen(extraPort(3), '127.0.0.1', resolve))
    try {
      await acme.post(http.url, {})
      const done = await acme.poll(http.url, (b) => b.status !== 'processing')
      assert.equal(done.body.status, 'invalid')
      assert.equal(done.body.error.type, `${ACME}connection`)
      assert.include(done.body.error.detail, 'does not validate against')
    } finally {
      await close(redirecting)
    }
    // An IP identifier there is refused at validation as well.
    const order = await acme.newOrder([{ type: 'ip', value: '0.0.0.0' }])
    if (order.status === 201) {
      const z = await acme.post(order.body.authorizations[0], '')
      const challenge = z.body.challenges.find((c: any) => c.type === 'http-01')
      await acme.post(challenge.url, {})
      const failed = await acme.poll(challenge.url, (b) => b.status !== 'processing')
      assert.equal(failed.body.status, 'invalid')
      assert.include(failed.body.error.detail, 'does not validate against')
    } else {
      assert.equal(order.body.type, `${ACME}rejectedIdentifier`)
    }
  })

  test('finalize refuses the account key as the certificate key and subject attributes nobody checked', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.fin.test' })
    const acme = await registeredClient(world)
    const order = await acme.newOrder([{ type: 'dns', value: 'a.fin.test' }])
    assert.equal(order.body.status, 'ready', order.text)

    // An organisation in the subject: only validated names go into an ACME certificate.
    const withOrg = await opensslCsr({
      subject: '/CN=a.fin.test/O=Bank of Example',
      sans: ['DNS:a.fin.test'],
    })
    const org = await acme.post(order.body.finalize, { csr: pemToB64u(withOrg.csrPem) })
    assert.equal(org.body.type, `${ACME}badCSR`, org.text)
    assert.include(org.body.detail, 'only a common name')

    // The account's own key (RFC 8555 §11.1).
    const own = await withTempDir(async (dir) => {
      const { writeFile } = await import('node:fs/promises')
      const keyFile = `${dir}/account.pem`
      await writeFile(
        keyFile,
        acme.key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
      )
      const made = await run(toolPath('openssl'), [
        'req',
        '-new',
        '-key',
        keyFile,
        '-subj',
        '/CN=a.fin.test',
        '-addext',
        'subjectAltName=DNS:a.fin.test',
        '-out',
        `${dir}/req.pem`,
      ])
      assert.equal(made.code, 0, made.stderr)
      return readFile(`${dir}/req.pem`, 'utf8')
    })
    const sameKey = await acme.post(order.body.finalize, { csr: pemToB64u(own) })
    assert.equal(sameKey.body.type, `${ACME}badCSR`, sameKey.text)
    assert.include(sameKey.body.detail, 'account key')

    // Neither consumed the order: a proper CSR is still certified.
    const good = await opensslCsr({ subject: '/CN=a.fin.test', sans: ['DNS:a.fin.test'] })
    const fin = await acme.post(order.body.finalize, { csr: pemToB64u(good.csrPem) })
    assert.equal(fin.body.status, 'valid', fin.text)

    // A profile named like a property every object has is unknown, not a server error.
    const odd = await acme.newOrder([{ type: 'dns', value: 'b.fin.test' }], {
      profile: 'constructor',
    })
    assert.equal(odd.status, 400, odd.text)
    assert.equal(odd.body.type, `${ACME}invalidProfile`)
  })

  test('a pre-approval withdrawn after the order was made is not finalized on', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.wd.test' })
    const acme = await registeredClient(world)
    const order = await acme.newOrder([{ type: 'dns', value: 'a.wd.test' }])
    assert.equal(order.body.status, 'ready', order.text)
    const { updatePolicy } = await import('../../plugins/acme/policies.js')
    await updatePolicy(world.runtime, world.policy.id, {
      caId: world.ca.id,
      name: world.policy.name,
      template: world.template.id,
      preApproved: '',
    })
    const csr = await opensslCsr({ subject: '/CN=a.wd.test', sans: ['DNS:a.wd.test'] })
    const fin = await acme.post(order.body.finalize, { csr: pemToB64u(csr.csrPem) })
    assert.equal(fin.body.type, `${ACME}unauthorized`, fin.text)
    assert.include(fin.body.detail, 'no longer pre-approves a.wd.test')
    const after = await acme.post(order.headers.get('location')!, '')
    assert.equal(after.body.status, 'invalid')
    // A new order for the name needs a challenge now.
    const again = await acme.newOrder([{ type: 'dns', value: 'a.wd.test' }])
    assert.equal(again.body.status, 'pending', again.text)
  })

  test('a failure no CSR can mend (the template disabled) makes the order invalid, not ready again', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.gone.test' })
    const acme = await registeredClient(world)
    const order = await acme.newOrder([{ type: 'dns', value: 'a.gone.test' }])
    assert.equal(order.body.status, 'ready', order.text)
    const { adminToken } = await import('#tests/helpers/api')
    const disabled = await client
      .patch(`/api/v1/templates/${world.template.id}`)
      .bearerToken(await adminToken())
      .json({ options: { enabled: false } })
    disabled.assertStatus(200)
    const csr = await opensslCsr({ subject: '/CN=a.gone.test', sans: ['DNS:a.gone.test'] })
    const fin = await acme.post(order.body.finalize, { csr: pemToB64u(csr.csrPem) })
    assert.equal(fin.body.type, `${ACME}serverInternal`, fin.text)
    assert.include(fin.body.detail, 'disabled')
    const after = await acme.post(order.headers.get('location')!, '')
    assert.equal(after.body.status, 'invalid', after.text)
    assert.include(after.body.error.detail, 'disabled')
  })
})
