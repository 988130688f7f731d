/*
 * ACME across server nodes sharing the database (behind one public URL): a nonce handed out by
 * one node is accepted once by another; an account registered on one is known to the other;
 * a validation whose node went away is failed by the housekeeping job.
 */
import { test } from '@japa/runner'
import { pluginHost } from '#plugins/host'
import { baseUrl } from '#tests/helpers/api'
import { startServer } from '#tests/helpers/processes'
import { AcmeTestClient } from '../../plugins/acme/tests/client.js'
import {
  ACME,
  acmeWorld,
  directoryUrl,
  extraPort,
  pendingIpOrder,
  disableAcme,
} from './acme_fixtures.js'

test.group('ACME cluster', (group) => {
  group.teardown(disableAcme)
  test('a nonce from one node is good once on another; accounts are shared', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    // A second node behind the same public URL (as behind a load balancer).
    const other = await startServer({ port: extraPort(6), env: { APP_URL: baseUrl() } })
    try {
      const acme = await new AcmeTestClient(directoryUrl()).init()
      assert.equal((await acme.register(await world.eab())).status, 201)
      const onA = await acme.nonce()
      const atB = (path: string) => path.replace(baseUrl(), other.url)
      // The request goes to node B; its url header names the public URL, as a client's does.
      const signed = (await import('../../plugins/acme/tests/client.js')).signJws(
        acme.key,
        { nonce: onA, url: acme.kid, kid: acme.kid },
        ''
      )
      const first = await acme.send(atB(acme.kid!), JSON.stringify(signed))
      assert.equal(first.status, 200, first.text)
      assert.equal(first.body.status, 'valid')
      const replay = await acme.send(acme.kid!, JSON.stringify(signed))
      assert.equal(replay.body.type, `${ACME}badNonce`)
      const nonceFromB = (
        await fetch(atB(acme.directory.newNonce), { method: 'HEAD' })
      ).headers.get('replay-nonce')
      const backOnA = await acme.post(acme.kid!, '', { header: { nonce: nonceFromB } })
      assert.equal(backOnA.status, 200, backOnA.text)
    } finally {
      await other.stop()
    }
  })

  test('a validation left "processing" by a vanished node is failed by housekeeping', async ({
    client,
    assert,
  }) => {
    const { world, acme, order, authz } = await pendingIpOrder(client)
    const chall = authz.body.challenges[0]
    await world.runtime
      .table('acme_challenges')
      .where('token', chall.token)
      .update({ status: 'processing', started_at: Date.now() - 3_600_000 })
    await pluginHost.runJob('acme', 'housekeeping')
    const after = await acme.post(chall.url, '')
    assert.equal(after.body.status, 'invalid')
    const final = await acme.post(order.headers.get('location')!, '')
    assert.equal(final.body.status, 'invalid')
  })
})
