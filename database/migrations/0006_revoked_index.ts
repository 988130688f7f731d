/*
 * The revoked and held certificates of a CA, in id order, readable from the index alone: what a
 * CRL is built from (kernel port revokedEntries), whatever the number of valid certificates.
 * Partial (status revoked or hold), so issuing a certificate never writes to it.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'

const NAME = 'certificates_revoked_entries_index'

export default class extends BaseSchema {
  async up() {
    this.defer(async (db) => {
      await db.rawQuery(
        `CREATE INDEX ${NAME} ON certificates (ca_id, id, status, listed_after_expiry, serial, revoked_at, revocation_reason, not_after) WHERE status IN ('revoked', 'hold')`
      )
    })
  }

  async down() {
    this.defer(async (db) => {
      await db.rawQuery(`DROP INDEX IF EXISTS ${NAME}`)
    })
  }
}
