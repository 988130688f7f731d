/*
 * Keys of delegated service certificates (an OCSP responder's, a TSA's), encrypted under the
 * master key like CA keys and bound to their key reference; they go with their certificate.
 * Plugin secrets: values a plugin keeps encrypted at rest (e.g. ACME EAB HMAC keys), each bound
 * to its plugin and id; re-encrypted by `key:rotate`.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'

export default class extends BaseSchema {
  async up() {
    this.schema.createTable('service_keys', (t) => {
      t.integer('certificate_id')
        .unsigned()
        .primary()
        .references('id')
        .inTable('certificates')
        .onDelete('CASCADE')
      t.integer('ca_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('cas')
        .onDelete('CASCADE')
      t.string('purpose', 40).notNullable()
      t.string('key_ref', 200).notNullable()
      t.text('key_material').notNullable()
      t.bigInteger('created_at').notNullable()
      t.index(['ca_id', 'purpose'])
    })

    this.schema.createTable('plugin_secrets', (t) => {
      t.string('id', 64).primary()
      t.string('plugin_id', 60).notNullable()
      t.text('material').notNullable()
      t.bigInteger('created_at').notNullable()
      t.index(['plugin_id'])
    })
  }

  async down() {
    this.schema.dropTableIfExists('plugin_secrets')
    this.schema.dropTableIfExists('service_keys')
  }
}
