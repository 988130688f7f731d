/*
 * The ACME plugin's tables (RFC 8555 objects, policies, EABs, nonces, rate-limit counters).
 * Times are milliseconds since the epoch (bigint). JSON columns are text.
 */
export default {
  async up(schema: any) {
    await schema.createTable('acme_policies', (t: any) => {
      t.increments('id')
      t.string('name', 100).notNullable().unique()
      t.integer('ca_id').notNullable().index()
      t.integer('template_id').notNullable()
      // Comma-separated names; "*.example.com" pre-approves example.com and every subdomain.
      t.text('pre_approved').notNullable().defaultTo('')
      // {"<profile name>": <template id>} besides the policy's own template (the default).
      t.text('profiles').notNullable().defaultTo('{}')
      t.bigInteger('created_at').notNullable()
      t.bigInteger('updated_at').notNullable()
    })
    await schema.createTable('acme_eabs', (t: any) => {
      t.increments('id')
      t.integer('policy_id').notNullable().index()
      t.string('name', 100).notNullable()
      t.string('kid', 64).notNullable().unique()
      // The HMAC key, encrypted at rest (see keys.ts).
      t.text('hmac_key').notNullable()
      t.integer('max_uses').notNullable().defaultTo(1)
      t.integer('uses').notNullable().defaultTo(0)
      t.bigInteger('expires_at').nullable()
      t.bigInteger('created_at').notNullable()
      t.unique(['policy_id', 'name'])
    })
    await schema.createTable('acme_accounts', (t: any) => {
      t.increments('id')
      t.integer('policy_id').notNullable().index()
      t.integer('eab_id').nullable()
      t.string('eab_kid', 64).nullable()
      t.string('thumbprint', 64).notNullable().unique()
      t.text('jwk').notNullable()
      t.string('status', 16).notNullable()
      t.text('contact').notNullable().defaultTo('[]')
      t.string('created_ip', 64).nullable()
      t.bigInteger('created_at').notNullable()
    })
    await schema.createTable('acme_orders', (t: any) => {
      t.increments('id')
      t.integer('account_id').notNullable().index()
      t.integer('policy_id').notNullable()
      t.integer('template_id').notNullable()
      t.string('profile', 64).nullable()
      t.string('status', 16).notNullable()
      t.text('identifiers').notNullable()
      t.bigInteger('expires').notNullable()
      t.bigInteger('not_before').nullable()
      t.bigInteger('not_after').nullable()
      t.text('error').nullable()
      t.integer('certificate_id').nullable()
      t.string('replaces', 200).nullable()
      t.bigInteger('created_at').notNullable()
    })
    await schema.createTable('acme_authorizations', (t: any) => {
      t.increments('id')
      t.integer('order_id').notNullable().index()
      t.integer('account_id').notNullable()
      t.string('identifier_type', 8).notNullable()
      t.string('identifier_value', 255).notNullable()
      t.boolean('wildcard').notNullable().defaultTo(false)
      t.boolean('pre_approved').notNullable().defaultTo(false)
      t.string('status', 16).notNullable()
      t.bigInteger('expires').notNullable()
    })
    await schema.createTable('acme_challenges', (t: any) => {
      t.increments('id')
      t.integer('authz_id').notNullable().index()
      t.string('type', 16).notNullable()
      t.string('token', 64).notNullable()
      t.string('status', 16).notNullable()
      t.bigInteger('started_at').nullable()
      t.bigInteger('validated_at').nullable()
      t.text('error').nullable()
    })
    await schema.createTable('acme_certificates', (t: any) => {
      t.integer('certificate_id').primary()
      t.integer('account_id').notNullable().index()
      t.integer('order_id').notNullable()
      t.integer('ca_id').notNullable().index()
      t.integer('template_id').notNullable().index()
      // RFC 9773 CertID: base64url(AKI keyIdentifier) "." base64url(serial content bytes).
      t.string('ari_id', 200).notNullable().unique()
      t.text('chain').notNullable()
      t.bigInteger('not_before').notNullable()
      t.bigInteger('not_after').notNullable()
      // Set when an event (revocation, CA or template change) asks for an early renewal.
      t.bigInteger('renew_at').nullable()
      t.string('renew_reason', 32).nullable()
      t.boolean('replaced').notNullable().defaultTo(false)
    })
    // Cluster-wide values, e.g. the handle of the nonce HMAC key (a kernel secret).
    await schema.createTable('acme_state', (t: any) => {
      t.string('name', 40).primary()
      t.text('value').notNullable()
    })
    // Spent nonces (until they expire).
    await schema.createTable('acme_nonces', (t: any) => {
      t.string('value', 64).primary()
      t.bigInteger('expires').notNullable().index()
    })
    await schema.createTable('acme_rate', (t: any) => {
      t.string('bucket', 120).notNullable()
      t.bigInteger('window_start').notNullable()
      t.integer('count').notNullable().defaultTo(0)
      t.primary(['bucket', 'window_start'])
    })
  },

  async down(schema: any) {
    for (const table of [
      'acme_rate',
      'acme_nonces',
      'acme_state',
      'acme_certificates',
      'acme_challenges',
      'acme_authorizations',
      'acme_orders',
      'acme_accounts',
      'acme_eabs',
      'acme_policies',
    ]) {
      await schema.dropTableIfExists(table)
    }
  },
}
