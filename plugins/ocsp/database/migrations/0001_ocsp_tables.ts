/*
 * The OCSP responder's tables.
 *
 *  - ocsp_cas: one row per CA served: its current responder (a delegated OCSP signing
 *    certificate issued by the kernel, or the CA key itself), the pre-signing cursor and the
 *    figures shown on the CA tab.
 *  - ocsp_signers: the certificates that signed stored responses (DER, put into each answer),
 *    kept until no stored response refers to them.
 *  - ocsp_responses: one pre-signed response per certificate: the status it states and the
 *    BasicOCSPResponse body without the responder certificate (signOcspBody). `status_read_at`
 *    orders concurrent writers (a revocation hook and a pre-signing pass): an older status never
 *    overwrites a newer one.
 *  - ocsp_feed: the change feed every node polls (autoincrement id): a range of certificate ids
 *    of a CA whose responses changed, or a CA whose responder/settings changed.
 */
export default {
  async up(schema: any) {
    await schema.createTable('ocsp_cas', (t: any) => {
      t.integer('ca_id').primary()
      t.string('mode', 20).notNullable().defaultTo('delegated')
      t.integer('signer_id').notNullable().defaultTo(0)
      t.bigInteger('signer_not_after').notNullable().defaultTo(0)
      t.bigInteger('signer_renew_at').notNullable().defaultTo(0)
      t.bigInteger('resign_requested_at').notNullable().defaultTo(0)
      t.bigInteger('pass_started_at').notNullable().defaultTo(0)
      t.integer('pass_full').notNullable().defaultTo(0)
      t.integer('pass_cursor').notNullable().defaultTo(0)
      t.bigInteger('last_pass_at').notNullable().defaultTo(0)
      t.integer('last_pass_signed').notNullable().defaultTo(0)
      t.integer('last_pass_ms').notNullable().defaultTo(0)
      t.integer('last_certificate_id').notNullable().defaultTo(0)
      t.text('last_error').nullable()
    })
    await schema.createTable('ocsp_signers', (t: any) => {
      t.integer('id').primary() // the certificate id, or -caId for the CA key itself
      t.integer('ca_id').notNullable()
      t.binary('der').nullable() // null when the CA key signs (no certs in the answer)
      t.bigInteger('not_after').notNullable()
      t.bigInteger('created_at').notNullable()
    })
    await schema.createTable('ocsp_responses', (t: any) => {
      t.integer('ca_id').notNullable()
      t.integer('certificate_id').notNullable()
      t.string('serial', 64).notNullable()
      t.string('status', 10).notNullable() // good | revoked | hold
      t.bigInteger('revoked_at').nullable()
      t.string('reason', 40).nullable()
      t.bigInteger('status_read_at').notNullable()
      t.bigInteger('this_update').notNullable()
      t.bigInteger('next_update').notNullable()
      t.bigInteger('refresh_at').notNullable()
      t.integer('signer_id').notNullable()
      t.binary('body').notNullable()
      t.primary(['ca_id', 'certificate_id'])
      t.index(['ca_id', 'serial'])
      t.index(['ca_id', 'refresh_at'])
    })
    await schema.createTable('ocsp_feed', (t: any) => {
      t.increments('id')
      t.integer('ca_id').notNullable()
      t.string('kind', 10).notNullable() // range | ca
      t.integer('first_id').notNullable().defaultTo(0)
      t.integer('last_id').notNullable().defaultTo(0)
      t.bigInteger('created_at').notNullable()
      t.index(['created_at'])
    })
  },

  async down(schema: any) {
    for (const table of ['ocsp_feed', 'ocsp_responses', 'ocsp_signers', 'ocsp_cas']) {
      await schema.dropTableIfExists(table)
    }
  },
}
