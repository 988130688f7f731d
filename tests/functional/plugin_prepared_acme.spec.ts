/*
 * Kernel port: prepared queries (runtime.prepare) and the write-batch additions ACME's units of
 * work use — bound prepared queries, insertedId() references and `expect` (roll back the whole
 * batch when a statement changed another number of rows). On the example plugin's own table, on
 * whichever database the suite runs.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { pluginHost } from '#plugins/host'
import { isWriteExpectationError } from '#plugin-api'

function runtimeOf(id = 'example') {
  const rec = pluginHost.get(id)
  if (!rec?.runtime) throw new Error(`plugin ${id} is not loaded`)
  return rec.runtime
}

test.group('Kernel port: prepared queries', () => {
  test('built once from table(), run many times with values; reads, writes, own tables only', async ({
    assert,
  }) => {
    const runtime = runtimeOf()
    const name = `pq-${Date.now()}`
    const insert = runtime.prepare((p) =>
      runtime.table('example_greetings').insert({ name: p('name'), at: p('at') })
    )
    const byName = runtime.prepare((p) =>
      runtime
        .table('example_greetings')
        .where('name', p('name'))
        .where('at', '>=', p('from'))
        .orderBy('at')
        .select('name', 'at')
    )
    const bump = runtime.prepare((p) =>
      runtime.table('example_greetings').where('name', p('name')).increment('at', 10)
    )
    for (const at of [1, 2, 3]) {
      const result = await insert.run({ name, at })
      assert.equal(result.changes, 1)
    }
    assert.deepEqual(
      (await byName.all({ name, from: 2 })).map((r) => Number(r.at)),
      [2, 3]
    )
    assert.equal(Number((await byName.first({ name, from: 0 }))?.at), 1)
    assert.isUndefined(await byName.first({ name: `${name}-none`, from: 0 }))
    // Constants built into the query stay constants.
    assert.equal((await bump.run({ name })).changes, 3)
    assert.deepEqual(
      (await byName.all({ name, from: 0 })).map((r) => Number(r.at)),
      [11, 12, 13]
    )

    // A missing value, a param() used as a name or inside a value, another table: refused.
    await assert.rejects(() => byName.all({ name }), /parameter "from" has no value/)
    assert.throws(
      () =>
        runtime.prepare((p) => runtime.table('example_greetings').where(p('column') as string, 1)),
      /bound value/
    )
    assert.throws(
      () =>
        runtime.prepare((p) =>
          runtime.table('example_greetings').where('name', `x${p('name') as string}`)
        ),
      /whole value/
    )
    assert.throws(
      () => runtime.prepare(() => db.from('certificates').where('id', 1)),
      /runtime\.table\(\)/
    )
    assert.throws(() => runtime.prepare(() => runtime.table('cas')), /own tables/)
    // insertedId() only means something inside a write batch.
    await assert.rejects(
      () => insert.run({ name, at: runtime.insertedId(0) }),
      /write batches only/
    )
  })

  test('bound queries in a write batch: insertedId() of an earlier item, expect rolls back', async ({
    assert,
  }) => {
    const runtime = runtimeOf()
    const name = `pqb-${Date.now()}`
    const insert = runtime.prepare((p) =>
      runtime
        .table('example_greetings')
        .insert({ name: p('name'), at: p('at') })
        .returning('id')
    )
    const setAt = runtime.prepare((p) =>
      runtime
        .table('example_greetings')
        .where('name', p('name'))
        .update({ at: p('at') })
    )
    const results = await runtime.writeBatch([
      insert.bind({ name, at: 1 }),
      // The first item's id, as a value of another row and as an audit entry's object id.
      insert.bind({ name: `${name}-child`, at: runtime.insertedId(0) }),
      { audit: { action: 'example.prepared', objectId: runtime.insertedId(0) } },
      setAt.bind({ name, at: 5 }, { expect: 1 }),
    ])
    const parent = await runtime.table('example_greetings').where('name', name).first()
    const child = await runtime.table('example_greetings').where('name', `${name}-child`).first()
    assert.equal(Number(parent.at), 5)
    assert.equal(Number(child.at), Number(parent.id))
    assert.equal(Number((results[0].rows?.[0] as any)?.id), Number(parent.id))
    assert.equal(results[3].changes, 1)
    const audit = await db
      .from('audit_logs')
      .where('action', 'example.prepared')
      .where('object_id', String(parent.id))
      .first()
    assert.exists(audit)

    // An unmet expectation rolls everything back and names the item.
    const failed = `pqf-${Date.now()}`
    const error = await runtime
      .writeBatch([
        insert.bind({ name: failed, at: 1 }),
        { audit: { action: 'example.prepared', objectId: `${failed}` } },
        setAt.bind({ name: `${failed}-nobody`, at: 2 }, { expect: 1 }),
      ])
      .then(
        () => null,
        (e: unknown) => e
      )
    assert.isTrue(isWriteExpectationError(error), String(error))
    assert.equal((error as any).index, 2)
    assert.notExists(await runtime.table('example_greetings').where('name', failed).first())
    assert.notExists(await db.from('audit_logs').where('object_id', failed).first())

    // A reference to a later item, a bad expect: refused before anything runs.
    await assert.rejects(
      () =>
        runtime.writeBatch([
          insert.bind({ name: `${failed}-x`, at: runtime.insertedId(1) }),
          insert.bind({ name: `${failed}-y`, at: 1 }),
        ]),
      /not an earlier item/
    )
    assert.throws(() => setAt.bind({ name, at: 1 }, { expect: -1 }), /expect/)
    assert.notExists(await runtime.table('example_greetings').where('name', `${failed}-y`).first())

    // A reference to an item that inserted nothing (an update) is refused when the batch runs,
    // never bound as some earlier insert's id: nothing is written.
    await assert.rejects(
      () =>
        runtime.writeBatch([
          insert.bind({ name: `${failed}-z`, at: 1 }),
          setAt.bind({ name, at: 6 }),
          insert.bind({ name: `${failed}-w`, at: runtime.insertedId(1) }),
        ]),
      /inserted no row/
    )
    assert.notExists(await runtime.table('example_greetings').where('name', `${failed}-z`).first())
    assert.equal(
      Number((await runtime.table('example_greetings').where('name', name).first()).at),
      5
    )

    // Misuse of prepare(): not a function, a bad parameter name, a query not from table().
    assert.throws(() => runtime.prepare('select 1' as any), /function/)
    assert.throws(
      () => runtime.prepare((p) => runtime.table('example_greetings').where('id', p('1bad'))),
      /param/
    )
    assert.throws(
      () => runtime.prepare(() => ({ toSQL: () => ({ sql: 'select 1' }) }) as any),
      /table\(\)/
    )
  })

  test("one bound query in two batches, one after the other and at once: each resolves its own batch's ids", async ({
    assert,
    cleanup,
  }) => {
    const runtime = runtimeOf()
    const name = `pqr-${Date.now()}`
    cleanup(async () => {
      await runtime.table('example_greetings').where('name', 'like', `${name}%`).delete()
    })
    const insert = runtime.prepare((p) =>
      runtime
        .table('example_greetings')
        .insert({ name: p('name'), at: p('at') })
        .returning('id')
    )
    // The same bound item (its `at` is the id the batch's first item inserted), reused.
    const child = insert.bind({ name: `${name}-child`, at: runtime.insertedId(0) })
    const parentIds: number[] = []
    for (const round of [1, 2]) {
      const results = await runtime.writeBatch([
        insert.bind({ name: `${name}-p${round}`, at: round }),
        child,
      ])
      parentIds.push(Number((results[0].rows?.[0] as any)?.id))
    }
    // Concurrently: both batches may share one transaction on the store thread.
    const together = await Promise.all(
      [3, 4].map((round) =>
        runtime.writeBatch([insert.bind({ name: `${name}-p${round}`, at: round }), child])
      )
    )
    for (const results of together) parentIds.push(Number((results[0].rows?.[0] as any)?.id))
    const children = await runtime
      .table('example_greetings')
      .where('name', `${name}-child`)
      .orderBy('id')
    assert.sameMembers(
      children.map((r: any) => Number(r.at)),
      parentIds
    )
    assert.lengthOf(new Set(parentIds), 4)
  })
})
