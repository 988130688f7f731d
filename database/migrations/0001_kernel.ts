/*
 * Kernel tables. Times are epoch milliseconds (bigint) on both SQLite and PostgreSQL, so
 * comparisons and ordering behave the same on each dialect.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'

export default class extends BaseSchema {
  async up() {
    this.schema.createTable('kernel_meta', (t) => {
      t.string('key', 100).primary()
      t.text('value').notNullable()
    })

    this.schema.createTable('users', (t) => {
      t.increments('id')
      t.string('email', 254).notNullable().unique()
      t.string('full_name', 200).nullable()
      t.boolean('is_admin').notNullable().defaultTo(false)
      t.string('password', 255).nullable()
      t.bigInteger('created_at').notNullable()
      t.bigInteger('updated_at').notNullable()
    })

    this.schema.createTable('api_tokens', (t) => {
      t.increments('id')
      t.integer('user_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('users')
        .onDelete('CASCADE')
      t.string('name', 100).notNullable()
      t.string('token_hash', 64).notNullable().unique()
      t.bigInteger('created_at').notNullable()
      t.bigInteger('last_used_at').nullable()
      t.bigInteger('expires_at').nullable()
    })

    this.schema.createTable('cas', (t) => {
      t.increments('id')
      t.string('name', 200).notNullable().unique()
      t.string('status', 20).notNullable() // active | pending (CSR only, waiting for its certificate)
      t.string('key_type', 40).notNullable()
      t.string('key_ref', 200).notNullable()
      t.text('key_material').nullable() // encrypted under the master key (software backend)
      t.text('subject').notNullable() // JSON SubjectFields
      t.text('subject_dn').notNullable()
      t.binary('certificate').nullable()
      t.binary('csr').nullable()
      t.text('chain').notNullable().defaultTo('[]') // JSON array of base64 DER issuer certificates
      t.string('signature_hash', 10).notNullable()
      t.integer('validity_days').notNullable()
      t.integer('path_length').nullable()
      t.text('key_usage').notNullable()
      t.text('ext_key_usage').notNullable()
      t.text('cps_url').nullable()
      t.string('policy_oid', 200).nullable()
      t.text('service_settings').notNullable().defaultTo('{}')
      t.text('plugin_settings').notNullable().defaultTo('{}')
      t.boolean('self_signed').notNullable().defaultTo(false)
      t.string('serial', 64).nullable()
      t.string('ski', 64).nullable()
      t.bigInteger('not_before').nullable()
      t.bigInteger('not_after').nullable()
      t.integer('created_by').nullable()
      t.bigInteger('created_at').notNullable()
      t.bigInteger('updated_at').notNullable()
    })

    this.schema.createTable('ca_members', (t) => {
      t.integer('ca_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('cas')
        .onDelete('CASCADE')
      t.integer('user_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('users')
        .onDelete('CASCADE')
      t.string('role', 20).notNullable().defaultTo('owner')
      t.bigInteger('created_at').notNullable()
      t.primary(['ca_id', 'user_id'])
    })

    this.schema.createTable('templates', (t) => {
      t.increments('id')
      t.integer('ca_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('cas')
        .onDelete('CASCADE')
      t.string('name', 200).notNullable()
      t.string('starter', 60).nullable()
      t.text('options').notNullable() // JSON, validated by the template options schema
      t.text('plugin_settings').notNullable().defaultTo('{}')
      t.bigInteger('created_at').notNullable()
      t.bigInteger('updated_at').notNullable()
      t.unique(['ca_id', 'name'])
    })

    this.schema.createTable('certificate_requests', (t) => {
      t.increments('id')
      t.integer('ca_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('cas')
        .onDelete('CASCADE')
      t.integer('template_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('templates')
        .onDelete('CASCADE')
      t.string('status', 20).notNullable() // pending | issued | declined
      t.binary('csr').notNullable()
      t.text('subject_dn').notNullable()
      t.text('sans').notNullable().defaultTo('[]')
      t.string('key_type', 60).notNullable()
      t.string('source', 40).notNullable()
      t.string('requested_by', 254).nullable()
      t.string('requester_ip', 64).nullable()
      t.integer('certificate_id').nullable()
      t.string('decided_by', 254).nullable()
      t.bigInteger('decided_at').nullable()
      t.text('decline_reason').nullable()
      t.bigInteger('created_at').notNullable()
      t.index(['ca_id', 'status'])
    })

    this.schema.createTable('certificates', (t) => {
      t.increments('id')
      t.integer('ca_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('cas')
        .onDelete('CASCADE')
      t.integer('template_id')
        .unsigned()
        .nullable()
        .references('id')
        .inTable('templates')
        .onDelete('SET NULL')
      t.integer('request_id').nullable()
      t.string('serial', 64).notNullable() // lowercase hex of the positive integer
      t.string('kind', 30).notNullable().defaultTo('end-entity') // end-entity | ca | service
      t.text('subject_dn').notNullable()
      t.string('common_name', 400).nullable()
      t.text('sans').notNullable().defaultTo('[]')
      t.string('key_type', 60).notNullable()
      t.bigInteger('not_before').notNullable()
      t.bigInteger('not_after').notNullable()
      t.string('status', 10).notNullable().defaultTo('valid') // valid | hold | revoked
      t.bigInteger('revoked_at').nullable()
      t.string('revocation_reason', 40).nullable()
      t.binary('der').notNullable()
      t.string('fingerprint', 64).notNullable()
      t.string('issued_by', 254).nullable()
      t.boolean('listed_after_expiry').notNullable().defaultTo(false)
      t.bigInteger('created_at').notNullable()
      t.unique(['ca_id', 'serial'])
      t.index(['ca_id', 'status'])
      t.index(['not_after'])
      t.index(['template_id', 'status'])
    })

    this.schema.createTable('audit_logs', (t) => {
      t.bigIncrements('id')
      t.bigInteger('at').notNullable()
      t.string('actor', 254).notNullable()
      t.string('action', 80).notNullable()
      t.string('object_type', 40).nullable()
      t.string('object_id', 100).nullable()
      t.integer('ca_id').nullable()
      t.string('ip', 64).nullable()
      t.text('details').nullable()
      t.index(['ca_id', 'at'])
    })

    this.schema.createTable('job_leases', (t) => {
      t.string('name', 100).primary()
      t.string('holder', 100).notNullable()
      t.bigInteger('expires_at').notNullable()
    })

    /*
     * The audit log is append-only: the database refuses UPDATE and DELETE on it.
     */
    this.defer(async (db) => {
      if (this.db.dialect.name === 'postgres') {
        await db.rawQuery(`
          CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger AS $$
          BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql`)
        await db.rawQuery(
          `CREATE TRIGGER audit_logs_no_update BEFORE UPDATE OR DELETE ON audit_logs
           FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only()`
        )
      } else {
        await db.rawQuery(
          `CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
           BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`
        )
        await db.rawQuery(
          `CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
           BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`
        )
      }
    })
  }

  async down() {
    for (const table of [
      'job_leases',
      'audit_logs',
      'certificates',
      'certificate_requests',
      'templates',
      'ca_members',
      'cas',
      'api_tokens',
      'users',
      'kernel_meta',
    ]) {
      this.schema.dropTableIfExists(table)
    }
  }
}
