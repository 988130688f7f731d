/*
 * The example plugin's tables. Every table starts with the plugin id and "_" (the host refuses
 * any other name). `schema` is a Knex schema builder.
 */
export default {
  async up(schema) {
    await schema.createTable('example_greetings', (t) => {
      t.increments('id')
      t.string('name', 100).notNullable()
      t.bigInteger('at').notNullable()
    })
    await schema.createTable('example_issued', (t) => {
      t.increments('id')
      t.integer('ca_id').notNullable()
      t.integer('template_id').nullable()
      t.string('serial', 64).notNullable()
      t.string('subject', 400).notNullable()
      t.bigInteger('at').notNullable()
      t.index(['ca_id'])
    })
    await schema.createTable('example_job_runs', (t) => {
      t.increments('id')
      t.bigInteger('at').notNullable()
      t.integer('issued_total').notNullable()
    })
  },

  async down(schema) {
    await schema.dropTableIfExists('example_job_runs')
    await schema.dropTableIfExists('example_issued')
    await schema.dropTableIfExists('example_greetings')
  },
}
