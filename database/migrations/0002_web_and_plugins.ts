/*
 * Tables for the plugin host, the admin UI's logins and the service logs page.
 * Times are epoch milliseconds (bigint), as in the kernel tables.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'

export default class extends BaseSchema {
  async up() {
    /* One row per installed plugin that was ever seen: enabled flag and install-scope settings. */
    this.schema.createTable('plugin_states', (t) => {
      t.string('plugin_id', 60).primary()
      t.boolean('enabled').notNullable()
      t.text('settings').notNullable().defaultTo('{}') // JSON; secret fields encrypted
      t.integer('settings_version').notNullable().defaultTo(1)
      t.bigInteger('updated_at').notNullable()
    })

    /*
     * Service logs (manual §15): enrollments, failures and configuration changes written by the
     * kernel and by plugins. Not every OCSP hit: those are counters (service_counters).
     */
    this.schema.createTable('service_logs', (t) => {
      t.bigIncrements('id')
      t.bigInteger('at').notNullable()
      t.string('service', 60).notNullable() // 'kernel' or a plugin id
      t.integer('ca_id').nullable()
      t.string('level', 10).notNullable() // info | warn | error
      t.string('event', 80).notNullable()
      t.text('message').notNullable()
      t.text('details').nullable()
      t.index(['at'])
      t.index(['ca_id', 'at'])
      t.index(['service', 'at'])
    })

    /* Hit counters for hot paths (per service, CA, name and UTC day), added to in batches. */
    this.schema.createTable('service_counters', (t) => {
      t.string('service', 60).notNullable()
      t.integer('ca_id').notNullable().defaultTo(0)
      t.string('name', 60).notNullable()
      t.string('day', 10).notNullable() // YYYY-MM-DD
      t.bigInteger('count').notNullable().defaultTo(0)
      t.primary(['service', 'ca_id', 'name', 'day'])
    })

    /* External logins (GitHub, Google, OpenID Connect) configured by an administrator. */
    this.schema.createTable('login_providers', (t) => {
      t.increments('id')
      t.string('kind', 20).notNullable() // github | google | oidc
      t.string('name', 100).notNullable().unique()
      t.boolean('enabled').notNullable().defaultTo(true)
      t.text('config').notNullable() // JSON: client id, URLs; the client secret encrypted
      t.text('allowed_domains').notNullable().defaultTo('') // comma-separated email domains
      t.bigInteger('created_at').notNullable()
      t.bigInteger('updated_at').notNullable()
    })

    /* A user's link to an external login. */
    this.schema.createTable('user_identities', (t) => {
      t.increments('id')
      t.integer('user_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('users')
        .onDelete('CASCADE')
      t.integer('provider_id')
        .unsigned()
        .notNullable()
        .references('id')
        .inTable('login_providers')
        .onDelete('CASCADE')
      t.string('subject', 255).notNullable()
      t.string('email', 254).nullable()
      t.bigInteger('created_at').notNullable()
      t.unique(['provider_id', 'subject'])
    })

    /* Login rate limiting, shared by every node: failures per key (an IP or an email). */
    this.schema.createTable('login_attempts', (t) => {
      t.string('key', 300).primary()
      t.integer('failures').notNullable().defaultTo(0)
      t.bigInteger('window_start').notNullable()
      t.bigInteger('blocked_until').nullable()
    })

    this.schema.alterTable('users', (t) => {
      t.bigInteger('last_login_at').nullable()
      t.boolean('disabled').notNullable().defaultTo(false)
    })
  }

  async down() {
    this.schema.alterTable('users', (t) => {
      t.dropColumn('last_login_at')
      t.dropColumn('disabled')
    })
    for (const table of [
      'login_attempts',
      'user_identities',
      'login_providers',
      'service_counters',
      'service_logs',
      'plugin_states',
    ]) {
      this.schema.dropTableIfExists(table)
    }
  }
}
