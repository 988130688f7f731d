/*
 * The statements of the certificate flow (account, order, authorization, finalize, download),
 * made once per runtime with `runtime.prepare` (built from `runtime.table`, compiled once, run as
 * cached prepared statements) instead of a query builder per request. Reads run on their own;
 * writes are bound (`bind`) into the request's unit of work (store.ts), committed by the kernel's
 * store thread.
 */
import type { PluginRuntime, PreparedQuery } from '#plugin-api'

/** The account's columns, and how a join names them (`acct_<name>`). */
export const ACCOUNT_COLUMNS = [
  'id',
  'policy_id',
  'status',
  'jwk',
  'thumbprint',
  'contact',
  'created_at',
  'eab_kid',
] as const

export const ACCOUNT_SELECT = ACCOUNT_COLUMNS.map((c) => `acme_accounts.${c} as acct_${c}`)

export const ACCOUNT_INSERT_COLUMNS = [
  'policy_id',
  'eab_id',
  'eab_kid',
  'thumbprint',
  'jwk',
  'status',
  'contact',
  'created_ip',
  'created_at',
] as const

export const ORDER_INSERT_COLUMNS = [
  'account_id',
  'policy_id',
  'template_id',
  'profile',
  'status',
  'identifiers',
  'expires',
  'replaces',
  'created_at',
] as const

export const AUTHZ_INSERT_COLUMNS = [
  'order_id',
  'account_id',
  'identifier_type',
  'identifier_value',
  'wildcard',
  'pre_approved',
  'status',
  'expires',
] as const

export const CERTIFICATE_INSERT_COLUMNS = [
  'certificate_id',
  'account_id',
  'order_id',
  'ca_id',
  'template_id',
  'ari_id',
  'chain',
  'not_before',
  'not_after',
] as const

type Param = (name: string) => unknown

/** `{ column: param('column') }` for each column. */
function params(p: Param, columns: readonly string[]) {
  return Object.fromEntries(columns.map((c) => [c, p(c)]))
}

function make(runtime: PluginRuntime) {
  const t = (name: string) => runtime.table(name)
  const prepare = (build: (p: Param) => unknown) => runtime.prepare(build)
  return {
    /* ------------------------------------------------------------------ reads */
    accountById: prepare((p) => t('acme_accounts').where('id', p('id')).first()),
    accountByThumbprint: prepare((p) =>
      t('acme_accounts').where('thumbprint', p('thumbprint')).first()
    ),
    /** An EAB by KID with its policy's CA and name. */
    eabByKid: prepare((p) =>
      t('acme_eabs')
        .join('acme_policies', 'acme_policies.id', 'acme_eabs.policy_id')
        .where('acme_eabs.kid', p('kid'))
        .select(
          'acme_eabs.*',
          'acme_policies.ca_id as policy_ca_id',
          'acme_policies.name as policy_name'
        )
        .first()
    ),
    /** The account (acct_*) with its policy. */
    accountWithPolicy: prepare((p) =>
      t('acme_accounts')
        .leftJoin('acme_policies', 'acme_policies.id', 'acme_accounts.policy_id')
        .where('acme_accounts.id', p('accountId'))
        .select([...ACCOUNT_SELECT, 'acme_policies.*'])
    ),
    /** The account (acct_*) with an order and its authorizations' states. */
    accountWithOrder: prepare((p) =>
      t('acme_accounts')
        .leftJoin('acme_orders', (j: any) => j.onVal('acme_orders.id', '=', p('orderId')))
        .leftJoin('acme_authorizations', 'acme_authorizations.order_id', 'acme_orders.id')
        .where('acme_accounts.id', p('accountId'))
        .orderBy('acme_authorizations.id')
        .select([
          ...ACCOUNT_SELECT,
          'acme_orders.*',
          'acme_authorizations.id as authz_id',
          'acme_authorizations.status as authz_status',
          'acme_authorizations.expires as authz_expires',
        ])
    ),
    /** The account (acct_*) with an authorization and its challenges. */
    accountWithAuthz: prepare((p) =>
      t('acme_accounts')
        .leftJoin('acme_authorizations', (j: any) =>
          j.onVal('acme_authorizations.id', '=', p('authzId'))
        )
        .leftJoin('acme_challenges', 'acme_challenges.authz_id', 'acme_authorizations.id')
        .where('acme_accounts.id', p('accountId'))
        .orderBy('acme_challenges.id')
        .select([
          ...ACCOUNT_SELECT,
          'acme_authorizations.*',
          'acme_challenges.id as c_id',
          'acme_challenges.type as c_type',
          'acme_challenges.status as c_status',
          'acme_challenges.token as c_token',
          'acme_challenges.validated_at as c_validated_at',
          'acme_challenges.error as c_error',
        ])
    ),
    /** The account (acct_*) with an issued certificate's owner and chain. */
    accountWithCertificate: prepare((p) =>
      t('acme_accounts')
        .leftJoin('acme_certificates', (j: any) =>
          j.onVal('acme_certificates.certificate_id', '=', p('certificateId'))
        )
        .where('acme_accounts.id', p('accountId'))
        .select([
          ...ACCOUNT_SELECT,
          'acme_certificates.account_id',
          'acme_certificates.certificate_id',
          'acme_certificates.chain',
        ])
    ),
    /** A valid authorization of the account for an identifier, reusable by a new order. */
    reusableAuthz: prepare((p) =>
      t('acme_authorizations')
        .where('account_id', p('accountId'))
        .where('identifier_type', p('type'))
        .where('identifier_value', p('value'))
        .where('status', 'valid')
        // Valid by a challenge: a pre-approval lasts only while the policy still pre-approves.
        .where('pre_approved', false)
        .where('expires', '>', p('after'))
        // The one that lasts longest, so the new order does too.
        .orderBy('expires', 'desc')
        .orderBy('id', 'desc')
        .first()
    ),
    passedChallenge: prepare((p) =>
      t('acme_challenges').where('authz_id', p('authzId')).where('status', 'valid').first()
    ),

    /* ------------------------------------------------------------------ writes (bound into units) */
    /** Spends a nonce: 1 row the first time anywhere, 0 after (bound with expect: 1). */
    spendNonce: prepare((p) =>
      t('acme_nonces')
        .insert({ value: p('value'), expires: p('expires') })
        .onConflict('value')
        .ignore()
    ),
    /** One use of an EAB while it has one left (bound with expect: 1). */
    useEab: prepare((p) =>
      t('acme_eabs').where('id', p('id')).where('uses', '<', p('maxUses')).increment('uses', 1)
    ),
    insertAccount: prepare((p) =>
      t('acme_accounts').insert(params(p, ACCOUNT_INSERT_COLUMNS)).returning('id')
    ),
    insertOrder: prepare((p) =>
      t('acme_orders').insert(params(p, ORDER_INSERT_COLUMNS)).returning('id')
    ),
    insertAuthz: prepare((p) =>
      t('acme_authorizations').insert(params(p, AUTHZ_INSERT_COLUMNS)).returning('id')
    ),
    /** A challenge; `validated_at` is null for a pending one. */
    insertChallenge: prepare((p) =>
      t('acme_challenges').insert(
        params(p, ['authz_id', 'type', 'token', 'status', 'validated_at'])
      )
    ),
    /** ready → processing: 1 row for the request that claims the order. */
    claimOrder: prepare((p) =>
      t('acme_orders')
        .where('id', p('id'))
        .where('status', 'ready')
        .update({ status: 'processing' })
    ),
    insertCertificate: prepare((p) =>
      t('acme_certificates').insert(params(p, CERTIFICATE_INSERT_COLUMNS))
    ),
    markReplaced: prepare((p) =>
      t('acme_certificates').where('ari_id', p('ariId')).update({ replaced: true })
    ),
    /** A validation's outcome on its challenge (`error` or `validated_at`, the other null). */
    challengeOutcome: prepare((p) =>
      t('acme_challenges')
        .where('id', p('id'))
        .update({ status: p('status'), error: p('error'), validated_at: p('validatedAt') })
    ),
    /** ... and on its authorization, while it is pending. */
    authzOutcome: prepare((p) =>
      t('acme_authorizations')
        .where('id', p('id'))
        .where('status', 'pending')
        .update({ status: p('status') })
    ),
    /** Deactivates an authorization (RFC 8555 §7.5.2) while it is pending or valid. */
    deactivateAuthz: prepare((p) =>
      t('acme_authorizations')
        .where('id', p('id'))
        .whereIn('status', ['pending', 'valid'])
        .update({ status: 'deactivated' })
    ),
    /**
     * Deactivates the account's other valid authorizations for the identifier: the copies a new
     * order made by reusing it (or the one it reused), which would otherwise keep it usable.
     */
    deactivateSameIdentifier: prepare((p) =>
      t('acme_authorizations')
        .where('account_id', p('accountId'))
        .where('identifier_type', p('type'))
        .where('identifier_value', p('value'))
        .where('status', 'valid')
        .update({ status: 'deactivated' })
    ),
    orderValid: prepare((p) =>
      t('acme_orders')
        .where('id', p('id'))
        .update({ status: 'valid', certificate_id: p('certificateId') })
    ),
  } satisfies Record<string, PreparedQuery>
}

export type Queries = ReturnType<typeof make>

const made = new WeakMap<PluginRuntime, Queries>()

/** The flow's prepared statements for `runtime` (made on first use). */
export function queries(runtime: PluginRuntime): Queries {
  let found = made.get(runtime)
  if (!found) {
    found = make(runtime)
    made.set(runtime, found)
  }
  return found
}
