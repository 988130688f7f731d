/*
 * Streamed, numbered CRLs (full, delta, shards). Replaces the single-row crl_full table (a
 * cache: every CRL is rebuilt from the certificates).
 *
 *  - crl_state: one row per CA. `last_number` is the CA's one CRL-number sequence (full and
 *    delta CRLs alike); `full_number` / `delta_number` point at the CRLs being served, so one
 *    UPDATE switches every scope of a pass at once; `generation` is bumped on every switch
 *    (what nodes poll); `dirty` is bumped by the revocation hooks.
 *  - crl_lists: one row per stored CRL (CA, number, scope): its dates, size and ETag.
 *  - crl_chunks: the signed DER of each CRL in pieces (header, entry chunks, trailer).
 *  - crl_changes: revocations and unrevocations since the base CRLs (what deltas list).
 *  - crl_shard_sets: every shard count a CA has used: those shard CRLs keep being published.
 */
export default {
  async up(schema: any) {
    await schema.dropTableIfExists('crl_full')
    await schema.createTable('crl_state', (t: any) => {
      t.integer('ca_id').primary()
      t.bigInteger('last_number').notNullable().defaultTo(0)
      t.bigInteger('full_number').notNullable().defaultTo(0)
      t.bigInteger('prev_full_number').notNullable().defaultTo(0)
      t.bigInteger('delta_number').notNullable().defaultTo(0)
      t.bigInteger('full_change_id').notNullable().defaultTo(0)
      t.bigInteger('full_built_at').notNullable().defaultTo(0)
      t.integer('full_build_ms').notNullable().defaultTo(0)
      t.integer('dirty').notNullable().defaultTo(0)
      t.integer('full_built_dirty').notNullable().defaultTo(0)
      t.integer('delta_built_dirty').notNullable().defaultTo(0)
      t.integer('generation').notNullable().defaultTo(0)
    })
    await schema.createTable('crl_lists', (t: any) => {
      t.integer('ca_id').notNullable()
      t.bigInteger('number').notNullable()
      t.string('scope', 40).notNullable()
      t.bigInteger('base_number').nullable()
      t.bigInteger('this_update').notNullable()
      t.bigInteger('next_update').notNullable()
      t.integer('entries').notNullable()
      t.bigInteger('size').notNullable()
      t.integer('chunks').notNullable()
      t.string('etag', 80).notNullable()
      t.primary(['ca_id', 'number', 'scope'])
    })
    await schema.createTable('crl_chunks', (t: any) => {
      t.integer('ca_id').notNullable()
      t.bigInteger('number').notNullable()
      t.string('scope', 40).notNullable()
      t.integer('seq').notNullable()
      t.binary('data').notNullable()
      t.primary(['ca_id', 'number', 'scope', 'seq'])
    })
    await schema.createTable('crl_changes', (t: any) => {
      t.bigIncrements('id')
      t.integer('ca_id').notNullable()
      t.integer('certificate_id').notNullable()
      t.string('serial', 80).notNullable()
      t.string('status', 20).notNullable()
      t.string('previous_status', 20).notNullable()
      t.string('reason', 40).nullable()
      t.bigInteger('revoked_at').nullable()
      t.bigInteger('not_after').notNullable()
      t.bigInteger('created_at').notNullable()
      t.index(['ca_id', 'id'])
    })
    await schema.createTable('crl_shard_sets', (t: any) => {
      t.integer('ca_id').notNullable()
      t.integer('count').notNullable()
      t.primary(['ca_id', 'count'])
    })
  },

  async down(schema: any) {
    for (const name of ['crl_shard_sets', 'crl_changes', 'crl_chunks', 'crl_lists', 'crl_state']) {
      await schema.dropTableIfExists(name)
    }
  },
}
