/*
 * Races between server nodes on one database: two administrators taken away at once, several
 * nodes issuing the bootstrap token at once, the ACME store's nonce purge, rate-counter flush and
 * nonce-key recovery.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { accountService, bootstrapService } from '#services/token_service'
import { webUser } from '#tests/helpers/web'
import { withoutAdministrators } from '#tests/helpers/api'
import { randomBytes, randomUUID } from 'node:crypto'
import {
  commitUnit,
  consumeNonce,
  countEvent,
  flushCounts,
  loadNonceKey,
  newNonce,
  purgeNonces,
} from '../../plugins/acme/store.js'
import { acmeRuntime, disableAcme, enableAcme } from './acme_fixtures.js'

const actor = { kind: 'user' as const, label: 'another admin', userId: -1, isAdmin: true }

/** Runs `fn` with only the administrators it makes enabled: the others are disabled meanwhile. */
async function withOnlyNewAdministrators(fn: () => Promise<void>) {
  const others = await db.from('users').where({ is_admin: true, disabled: false }).select('id')
  const ids = others.map((o: any) => Number(o.id))
  if (ids.length) await db.from('users').whereIn('id', ids).update({ disabled: true })
  try {
    await fn()
  } finally {
    if (ids.length) await db.from('users').whereIn('id', ids).update({ disabled: false })
  }
}

const enabledAdmins = async (ids: number[]) =>
  (await db.from('users').whereIn('id', ids).where({ is_admin: true, disabled: false })).length

test.group('Last enabled administrator, two requests at once', () => {
  const cases: Record<string, (id: number) => Promise<unknown>> = {
    disable: (id) => accountService.setDisabled(actor, id, true),
    demote: (id) => accountService.setAdmin(actor, id, false),
    delete: (id) => accountService.deleteUser(actor, id),
  }
  for (const [first, one] of Object.entries(cases)) {
    for (const [second, other] of Object.entries(cases)) {
      test(`${first} X and ${second} Y at once: one succeeds, one enabled admin remains`, async ({
        assert,
      }) =>
        withOnlyNewAdministrators(async () => {
          const x = await webUser({ isAdmin: true })
          const y = await webUser({ isAdmin: true })
          const results = await Promise.allSettled([one(x.id), other(y.id)])
          const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
          assert.lengthOf(refused, 1, 'exactly one of the two is refused')
          assert.match(String(refused[0].reason?.message), /last enabled administrator/)
          assert.equal(await enabledAdmins([x.id, y.id]), 1)
        }))
    }
  }
})

test.group('ACME store on several nodes', (group) => {
  group.setup(() => enableAcme())
  group.teardown(disableAcme)

  test('a spent nonce outlives its expiry by a margin (a node whose clock is behind)', async ({
    assert,
  }) => {
    const runtime = acmeRuntime()
    const value = await newNonce(runtime)
    assert.isTrue(await consumeNonce(runtime, value))
    // Expired a minute ago on the purging node's clock; a node a few minutes behind still takes
    // it as fresh, so its row must stay to refuse it there.
    await runtime
      .table('acme_nonces')
      .where('value', value)
      .update({ expires: Date.now() - 60_000 })
    await purgeNonces(runtime)
    assert.isOk(await runtime.table('acme_nonces').where('value', value).first())
    const replay = await commitUnit(runtime, { value, expires: Date.now() + 60_000 })
    assert.isFalse(replay.fresh, 'the spent nonce is refused again')
    // Long expired: purged.
    await runtime
      .table('acme_nonces')
      .where('value', value)
      .update({ expires: Date.now() - 11 * 60_000 })
    await purgeNonces(runtime)
    assert.isNotOk(await runtime.table('acme_nonces').where('value', value).first())
  })

  test('rate counters are written in (bucket, window) order, not first-use order', async ({
    assert,
  }) => {
    const runtime = acmeRuntime()
    const prefix = `order-${randomUUID().slice(0, 8)}`
    const written: string[] = []
    // A runtime whose transaction records the buckets in the order their rows are written.
    const spy = Object.create(runtime)
    spy.transaction = (fn: (tx: any) => Promise<unknown>) =>
      runtime.transaction((tx: any) => {
        const recording = Object.create(tx)
        recording.table = (name: string) => {
          const query = tx.table(name)
          const where = query.where.bind(query)
          query.where = (...args: any[]) => {
            const bucket = args[0]?.bucket
            if (typeof bucket === 'string' && bucket.startsWith(prefix)) written.push(bucket)
            return where(...args)
          }
          return query
        }
        return fn(recording)
      })
    for (const name of ['c', 'a', 'b']) await countEvent(spy, `${prefix}-${name}`, 3_600_000)
    await flushCounts()
    // The increment and the read back of each bucket: each bucket twice, in sorted order.
    assert.deepEqual(
      written.filter((_, i) => i % 2 === 0),
      ['a', 'b', 'c'].map((n) => `${prefix}-${n}`)
    )
    await runtime.table('acme_rate').where('bucket', 'like', `${prefix}%`).delete()
  })

  test('nonce-key recovery replaces only the row it read, not a key another node just made', async ({
    assert,
  }) => {
    const runtime = acmeRuntime()
    // The key's secret is gone: every node recovers; another node's new key lands between our
    // read of the old row and our delete.
    await runtime
      .table('acme_state')
      .where('name', 'nonce-key')
      .update({ value: `gone-${randomUUID()}` })
    const theirs = await runtime.secrets.put(randomBytes(32).toString('base64url'))
    let raced = false
    const spy = Object.create(runtime)
    spy.table = (name: string) => {
      const query = runtime.table(name)
      if (name === 'acme_state' && !raced) {
        const first = query.first.bind(query)
        query.first = async () => {
          const row = await first()
          raced = true
          await runtime.table('acme_state').where('name', 'nonce-key').update({ value: theirs })
          return row
        }
      }
      return query
    }
    try {
      await loadNonceKey(spy)
      const row = await runtime.table('acme_state').where('name', 'nonce-key').first()
      assert.equal(row.value, theirs, "the other node's key stays, and this node uses it")
    } finally {
      await loadNonceKey(runtime)
    }
  })
})

test.group('Bootstrap token, several nodes starting at once', () => {
  test('one node issues the token, the others do not replace it; the printed token works', async ({
    client,
    assert,
  }) =>
    withoutAdministrators(async () => {
      await db.from('kernel_meta').where('key', 'bootstrap_token').delete()
      const started = await Promise.all([1, 2, 3].map(() => bootstrapService.ensureToken()))
      const printed = started.filter((token) => token !== undefined)
      assert.lengthOf(printed, 1, 'only the node that issued the token prints it')
      const email = `first-${randomUUID().slice(0, 8)}@example.test`
      const redeemed = await client.post('/api/v1/bootstrap').json({ token: printed[0], email })
      redeemed.assertStatus(201)
      assert.equal(redeemed.body().user.email, email)
    }))

  test('a token left by an earlier start is replaced at the next start', async ({
    client,
    assert,
  }) =>
    withoutAdministrators(async () => {
      await bootstrapService.issueToken()
      await db
        .from('kernel_meta')
        .where('key', 'bootstrap_token')
        .update({ value: `${'0'.repeat(64)}:${Date.now() - 3_600_000}` })
      const token = await bootstrapService.ensureToken()
      assert.isString(token)
      const email = `again-${randomUUID().slice(0, 8)}@example.test`
      const redeemed = await client.post('/api/v1/bootstrap').json({ token, email })
      redeemed.assertStatus(201)
    }))
})
