/*
 * Incremental full CRLs. A stored CRL is now a layout of chunk rows: its own header and trailer
 * and entry chunks that may belong to an earlier CRL of the same scope (a CRL built on top of the
 * previous one reuses its entry chunks and appends the newly revoked certificates).
 *
 *  - crl_lists.layout: JSON [[number, seq, length], ...] in order (header first, trailer last).
 *  - crl_state.scan_change_id_after: the change log's last id right after the last pass that read
 *    the certificates (changes up to it may already be in that pass).
 *  - crl_state.scanned_at / scan_ms: when that pass was stored and how long it took;
 *    crl_state.rescan: 1 asks for such a pass.
 */
export default {
  async up(schema: any) {
    await schema.alterTable('crl_lists', (t: any) => {
      t.text('layout').nullable()
    })
    await schema.alterTable('crl_state', (t: any) => {
      t.bigInteger('scan_change_id_after').notNullable().defaultTo(0)
      t.bigInteger('scanned_at').notNullable().defaultTo(0)
      t.integer('scan_ms').notNullable().defaultTo(0)
      t.integer('rescan').notNullable().defaultTo(1)
    })
  },

  async down(schema: any) {
    await schema.alterTable('crl_lists', (t: any) => {
      t.dropColumn('layout')
    })
    await schema.alterTable('crl_state', (t: any) => {
      t.dropColumn('scan_change_id_after')
      t.dropColumn('scanned_at')
      t.dropColumn('scan_ms')
      t.dropColumn('rescan')
    })
  },
}
