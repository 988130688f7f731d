/*
 * The CRL plugin's table: one row per CA with its current full CRL (signed DER), its number
 * and a staleness counter. `dirty` is bumped by the revocation hooks; the CRL is stale while
 * `dirty` is above `built_dirty` (the value read before the CRL's entries were listed).
 */
export default {
  async up(schema: any) {
    await schema.createTable('crl_full', (t: any) => {
      t.integer('ca_id').primary()
      t.string('crl_number', 50).notNullable()
      t.bigInteger('this_update').notNullable()
      t.bigInteger('next_update').notNullable()
      t.integer('entries').notNullable().defaultTo(0)
      t.binary('der').notNullable()
      t.integer('dirty').notNullable().defaultTo(0)
      t.integer('built_dirty').notNullable().defaultTo(0)
    })
  },

  async down(schema: any) {
    await schema.dropTableIfExists('crl_full')
  },
}
