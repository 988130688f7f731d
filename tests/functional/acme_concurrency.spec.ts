/*
 * The ACME plugin's group commit (plugins/acme/store.ts): concurrent requests share one
 * transaction, each request's nonce is spent with its own rows, a nonce used twice at once lets
 * exactly one request write, and a request whose rows cannot be written (a duplicate account
 * key) fails alone without taking the others of its batch with it.
 */
import { test } from '@japa/runner'
import { AcmeTestClient, accountKey } from '../../plugins/acme/tests/client.js'
import {
  checkNonce,
  commitUnit,
  consumeNonce,
  flushCounts,
  newNonce,
} from '../../plugins/acme/store.js'
import { unique } from '#tests/helpers/api'
import {
  ACME,
  accountIdOf,
  acmeRuntime,
  acmeSettings,
  acmeWorld,
  directoryUrl,
  enableAcme,
  registeredClient,
  disableAcme,
} from './acme_fixtures.js'

/**
 * EAB registrations racing each other while a registered neighbour orders at the same moment:
 * the neighbour's order, each registration's answer, and what the EAB and its accounts became.
 */
async function raceRegistrations(
  client: Parameters<typeof acmeWorld>[0],
  options: { uses: number; keys: ReturnType<typeof accountKey>[]; name: string }
) {
  const world = await acmeWorld(client, { preApproved: '*.race.test', uses: options.uses })
  const eab = await world.eab()
  const clients = await Promise.all(
    options.keys.map((key) => new AcmeTestClient(directoryUrl(), key).init())
  )
  const neighbour = await registeredClient(world)
  const [order, ...registrations] = await Promise.all([
    neighbour.newOrder([{ type: 'dns', value: `${options.name}.race.test` }]),
    ...clients.map((c) => c.register(eab)),
  ])
  const eabRow = await world.runtime.table('acme_eabs').where('kid', eab.kid).first()
  const accounts = await world.runtime.table('acme_accounts').where('eab_kid', eab.kid)
  return { order, registrations, uses: Number(eabRow.uses), accounts }
}

test.group('ACME group commit', (group) => {
  group.teardown(disableAcme)
  test('one nonce, three newOrders at once: one order is stored, two are badNonce', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.race.test' })
    const acme = await registeredClient(world)
    const accountId = accountIdOf(acme)
    const shared = await acme.nonce()
    const racing = await Promise.all(
      ['a', 'b', 'c'].map((label) =>
        acme.post(
          acme.directory.newOrder,
          { identifiers: [{ type: 'dns', value: `${label}.race.test` }] },
          { header: { nonce: shared } }
        )
      )
    )
    assert.sameMembers(
      racing.map((r) => r.status),
      [201, 400, 400]
    )
    for (const refused of racing.filter((r) => r.status === 400)) {
      assert.equal(refused.body.type, `${ACME}badNonce`)
    }
    const orders = await world.runtime.table('acme_orders').where('account_id', accountId)
    assert.lengthOf(orders, 1)
    // The stored order is the one answered 201, ready at once (pre-approved).
    const created = racing.find((r) => r.status === 201)!
    assert.equal(created.body.status, 'ready')
    assert.equal(
      created.headers.get('location'),
      `${acme.directory.newOrder.replace('/new-order', '')}/order/${orders[0].id}`
    )
  })

  test('the same key registering four times at once: one account, one EAB use; a neighbour ordering meanwhile is unharmed', async ({
    client,
    assert,
  }) => {
    const key = accountKey()
    const { order, registrations, uses, accounts } = await raceRegistrations(client, {
      uses: 10,
      keys: [key, key, key, key],
      name: 'n',
    })
    assert.equal(order.status, 201, order.text)
    assert.sameMembers(
      registrations.map((r) => r.status),
      [201, 200, 200, 200]
    )
    const locations = new Set(registrations.map((r) => r.headers.get('location')))
    assert.equal(locations.size, 1)
    assert.equal(uses, 1)
    assert.lengthOf(accounts, 1)
  })

  test('a single-use EAB, three keys registering at once: one account, two "no use left"; a neighbour ordering in the same batch is unharmed', async ({
    client,
    assert,
  }) => {
    const { order, registrations, uses, accounts } = await raceRegistrations(client, {
      uses: 1,
      keys: [accountKey(), accountKey(), accountKey()],
      name: 'm',
    })
    assert.equal(order.status, 201, order.text)
    assert.sameMembers(
      registrations.map((r) => r.status),
      [201, 403, 403],
      JSON.stringify(registrations.map((r) => r.body))
    )
    for (const refused of registrations.filter((r) => r.status !== 201)) {
      assert.equal(refused.body.type, `${ACME}unauthorized`)
      assert.match(refused.body.detail, /no use left|has been used its 1 allowed time/)
    }
    assert.equal(uses, 1)
    assert.lengthOf(accounts, 1)
    const winner = registrations.find((r) => r.status === 201)!
    assert.match(winner.headers.get('location') ?? '', new RegExp(`/account/${accounts[0].id}$`))
  })

  test('units queued together: a failing one is rolled back alone, with its nonce unspent', async ({
    client,
    assert,
  }) => {
    await acmeWorld(client)
    const runtime = acmeRuntime()
    const goodNonce = (await checkNonce(runtime, await newNonce(runtime)))!
    const badNonce = (await checkNonce(runtime, await newNonce(runtime)))!
    const goodName = unique('unit-good').slice(0, 40)
    const badName = unique('unit-bad').slice(0, 40)
    const insertState = runtime.prepare((p) =>
      runtime.table('acme_state').insert({ name: p('name'), value: p('value') })
    )
    // Queued in the same turn of the event loop: one batch. The failing one first: its second
    // row has no value (NOT NULL).
    const [bad, good] = await Promise.allSettled([
      commitUnit(runtime, badNonce, () => [
        insertState.bind({ name: badName, value: 'x' }),
        insertState.bind({ name: `${badName}-2`, value: null }),
      ]),
      commitUnit(runtime, goodNonce, () => [insertState.bind({ name: goodName, value: 'y' })]),
    ])
    assert.equal(bad.status, 'rejected')
    assert.equal(good.status, 'fulfilled')
    assert.isTrue(good.status === 'fulfilled' && good.value.fresh)
    assert.isNotNull(await runtime.table('acme_state').where('name', goodName).first())
    assert.isUndefined(await runtime.table('acme_state').where('name', badName).first())
    // The good unit's nonce is spent; the failed unit's is not (and can be spent once).
    assert.isFalse(await consumeNonce(runtime, goodNonce.value))
    assert.isTrue(await consumeNonce(runtime, badNonce.value))
    assert.isFalse(await consumeNonce(runtime, badNonce.value))
    await runtime.table('acme_state').where('name', goodName).delete()
  })

  test("rate counters reach the database, and other nodes' counts are seen after a flush", async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.rate.test' })
    const acme = await registeredClient(world)
    const bucket = `orders:${accountIdOf(acme)}`
    const ids = [{ type: 'dns', value: 'r.rate.test' }]
    try {
      await acmeSettings({ ordersPerAccountPerHour: 5 })
      assert.equal((await acme.newOrder(ids)).status, 201)
      await flushCounts()
      const row = await world.runtime
        .table('acme_rate')
        .where('bucket', bucket)
        .orderBy('window_start', 'desc')
        .first()
      assert.equal(Number(row.count), 1)
      // Another node counted 10 orders of this account in the same window.
      await world.runtime
        .table('acme_rate')
        .where({ bucket, window_start: row.window_start })
        .increment('count', 10)
      // This node learns it with its next flush, then refuses.
      assert.equal((await acme.newOrder(ids)).status, 201)
      await flushCounts()
      const refused = await acme.newOrder(ids)
      assert.equal(refused.status, 429)
      assert.equal(refused.body.type, `${ACME}rateLimited`)
    } finally {
      await enableAcme()
    }
  })
})
