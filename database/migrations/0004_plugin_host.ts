/*
 * Plugin host tables: the change counter every node polls (enable/disable and install settings
 * hold within a second on every node), the nodes' acknowledgements (so `plugin:enable` returns
 * once the running nodes applied it), and which plugin migrations ran.
 */
import { BaseSchema } from '@adonisjs/lucid/schema'

export default class extends BaseSchema {
  async up() {
    /* One row (id = 1): bumped in the same transaction as every plugin state change. */
    this.schema.createTable('plugin_host', (t) => {
      t.integer('id').primary()
      t.bigInteger('generation').notNullable().defaultTo(0)
    })
    this.defer(async (db) => {
      await db.table('plugin_host').insert({ id: 1, generation: 0 })
    })

    /* Each running server node: the generation it applied, and when it last said so. */
    this.schema.createTable('plugin_nodes', (t) => {
      t.string('node_id', 100).primary()
      t.bigInteger('generation').notNullable()
      t.bigInteger('seen_at').notNullable()
    })

    /* Plugin migrations that ran (each plugin's own database/migrations folder). */
    this.schema.createTable('plugin_migrations', (t) => {
      t.string('plugin_id', 60).notNullable()
      t.string('name', 200).notNullable()
      t.bigInteger('ran_at').notNullable()
      t.primary(['plugin_id', 'name'])
    })
  }

  async down() {
    this.schema.dropTableIfExists('plugin_migrations')
    this.schema.dropTableIfExists('plugin_nodes')
    this.schema.dropTableIfExists('plugin_host')
  }
}
