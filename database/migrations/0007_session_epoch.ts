/*
 * Admin UI sessions are encrypted cookies: nothing on the server remembers them, so a copy of
 * one kept working after a logout. users.session_epoch is stored in the session at login and
 * checked on every admin page; logging out, a password change and disabling the user bump it,
 * which ends every session of that user made before.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'

export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('users', (t) => {
      t.integer('session_epoch').notNullable().defaultTo(0)
    })
  }

  async down() {
    this.schema.alterTable('users', (t) => {
      t.dropColumn('session_epoch')
    })
  }
}
