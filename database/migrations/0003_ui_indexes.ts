/*
 * Indexes for the admin UI's lists (Issued Certificates, Logs) and the searchable names of
 * each certificate, so every page is a bounded index range scan whatever the table size:
 *
 * - certificates: (ca_id, id) for the newest-first list, (ca_id, status, id) for the status
 *   filters, (ca_id, not_after, id) for "expiring within N days" and "expired",
 *   (ca_id, template_id, id) for the template filter;
 * - certificate_names: one row per distinct lowercased common name, SAN value and serial of a
 *   certificate, indexed (ca_id, name, certificate_id) for case-insensitive prefix search. On
 *   PostgreSQL the column uses the "C" collation so a prefix range compares bytes, as on SQLite.
 *   Rows go with their certificate (ON DELETE CASCADE, with an index on certificate_id so the
 *   expiry purge stays cheap); existing certificates are backfilled here.
 * - service_logs: (level, at) for the level filter.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'
import { backfillCertificateNames } from '#services/certificate_search'

export default class extends BaseSchema {
  async up() {
    const pg = this.db.dialect.name === 'postgres'

    this.schema.createTable('certificate_names', (t) => {
      t.integer('certificate_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('certificates')
        .onDelete('CASCADE')
      t.integer('ca_id').notNullable()
      if (pg) t.specificType('name', 'varchar(255) COLLATE "C"').notNullable()
      else t.string('name', 255).notNullable()
      t.index(['certificate_id'])
    })

    this.schema.alterTable('certificates', (t) => {
      t.index(['ca_id', 'id'], 'certificates_ca_id_id_index')
      t.index(['ca_id', 'status', 'id'], 'certificates_ca_status_id_index')
      t.index(['ca_id', 'not_after', 'id'], 'certificates_ca_not_after_id_index')
      t.index(['ca_id', 'template_id', 'id'], 'certificates_ca_template_id_index')
    })

    this.schema.alterTable('service_logs', (t) => {
      t.index(['level', 'at'], 'service_logs_level_at_index')
    })

    this.defer(async (db) => {
      // Same-name matches come newest first: certificate_id descending within a name.
      await db.rawQuery(
        'CREATE INDEX certificate_names_lookup_index ON certificate_names (ca_id, name, certificate_id DESC)'
      )
      // Backfill existing certificates in batches, so a large install is not read at once.
      await backfillCertificateNames(db)
    })
  }

  async down() {
    this.schema.alterTable('service_logs', (t) => {
      t.dropIndex(['level', 'at'], 'service_logs_level_at_index')
    })
    this.schema.alterTable('certificates', (t) => {
      t.dropIndex(['ca_id', 'id'], 'certificates_ca_id_id_index')
      t.dropIndex(['ca_id', 'status', 'id'], 'certificates_ca_status_id_index')
      t.dropIndex(['ca_id', 'not_after', 'id'], 'certificates_ca_not_after_id_index')
      t.dropIndex(['ca_id', 'template_id', 'id'], 'certificates_ca_template_id_index')
    })
    this.schema.dropTableIfExists('certificate_names')
  }
}
