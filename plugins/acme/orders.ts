/*
 * Orders (RFC 8555 §7.4): newOrder (identifiers, template limits, profiles, `replaces`), reading
 * orders, and finalization with the CSR checked against the order.
 */
import { randomBytes } from 'node:crypto'
import { parseCsr, isValidIp, normalizeIp } from '#pki/index'
import type { PluginRuntime, WriteBatchItem } from '#plugin-api'
import { certId, normalizeCertId } from './ari.js'
import { authzStatusAt } from './authorizations.js'
import {
  challengeTypesFor,
  identifierProblem,
  isPreApproved,
  isWildcard,
  normalizeIdentifiers,
  type Identifier,
} from './identifiers.js'
import { fromB64u } from './jws.js'
import { caIdOfPolicy, findPolicy, policyFromRow, type Policy } from './policies.js'
import { AcmeProblem, problemDocument, type Subproblem } from './problems.js'
import {
  authenticate,
  commitWithNonce,
  idParam,
  joinedRow,
  rfc3339,
  sendJson,
  type Account,
  type AcmeContext,
  type Authenticated,
} from './protocol.js'
import { queries } from './queries.js'
import { commitUnit, reserveEvent, writtenId } from './store.js'

const HOUR = 3_600_000

/* ----------------------------------------------------------------------------- loading */

interface OrderRow {
  id: number
  accountId: number
  policyId: number
  templateId: number
  profile: string | null
  status: string
  identifiers: Identifier[]
  expires: number
  error: any
  certificateId: number | null
  replaces: string | null
  /** Its authorizations (id order), when loaded with it. */
  authz?: AuthzState[]
}

interface AuthzState {
  id: number
  status: string
  expires: number
}

function orderFromRow(row: any): OrderRow {
  return {
    id: Number(row.id),
    accountId: Number(row.account_id),
    policyId: Number(row.policy_id),
    templateId: Number(row.template_id),
    profile: row.profile ?? null,
    status: String(row.status),
    identifiers: JSON.parse(row.identifiers),
    expires: Number(row.expires),
    error: row.error ? JSON.parse(row.error) : null,
    certificateId:
      row.certificate_id === null || row.certificate_id === undefined
        ? null
        : Number(row.certificate_id),
    replaces: row.replaces ?? null,
  }
}

/** Loads the account with an order and its authorizations' states, in one query. */
function joinOrder(ctx: AcmeContext, orderId: number) {
  return (accountId: number): Promise<any[]> =>
    queries(ctx.runtime).accountWithOrder.all({ accountId, orderId })
}

/** The order of `joinOrder`'s rows, brought up to date; 404 when there is none. */
async function loadOrder(ctx: AcmeContext, account: Account, rows: any[]) {
  const order = orderFromRow(joinedRow(rows, 'id', 'order'))
  if (order.accountId !== account.id) {
    throw new AcmeProblem('unauthorized', 'This order belongs to another account.')
  }
  order.authz = rows
    .filter((r) => r.authz_id !== null && r.authz_id !== undefined)
    .map((r) => ({
      id: Number(r.authz_id),
      status: String(r.authz_status),
      expires: Number(r.authz_expires),
    }))
  return refreshOrder(ctx.runtime, order)
}

const STALE_PROCESSING = problemDocument(
  'serverInternal',
  'The certificate was not issued: the server stopped while finalizing. Place a new order.'
)

/**
 * Brings an order's stored status up to date with its authorizations and expiry:
 * pending → ready when every authorization is valid, → invalid when one failed or it expired;
 * processing past its expiry (its finalize never finished) → invalid.
 */
async function refreshOrder(runtime: PluginRuntime, order: OrderRow): Promise<OrderRow> {
  const now = Date.now()
  let status = order.status
  let error = order.error
  if (status === 'processing' && order.expires <= now) {
    status = 'invalid'
    error = STALE_PROCESSING
  } else if (status === 'pending' || status === 'ready') {
    // A pending or valid authorization past its expiry is expired (RFC 8555 §7.1.6): a ready
    // order whose (reused) authorization expired is invalid, never finalized on it.
    const states = order.authz!.map((a) => authzStatusAt(a.status, a.expires, now))
    if (order.expires <= now) {
      status = 'invalid'
      error = problemDocument('malformed', 'The order expired before it was finalized.')
    } else if (states.some((s: string) => s !== 'valid' && s !== 'pending')) {
      status = 'invalid'
      error = problemDocument('unauthorized', 'An authorization of this order failed or expired.')
    } else if (states.every((s: string) => s === 'valid')) {
      status = 'ready'
    }
  }
  if (status !== order.status) {
    await runtime
      .table('acme_orders')
      .where('id', order.id)
      .where('status', order.status)
      .update({ status, error: error ? JSON.stringify(error) : null })
    return { ...order, status, error }
  }
  return order
}

function orderBody(ctx: AcmeContext, order: OrderRow) {
  const body: Record<string, unknown> = {
    status: order.status,
    expires: rfc3339(order.expires),
    identifiers: order.identifiers,
    authorizations: order.authz!.map((a) => `${ctx.base}/authz/${a.id}`),
    finalize: `${ctx.base}/order/${order.id}/finalize`,
  }
  if (order.profile) body.profile = order.profile
  if (order.replaces) body.replaces = order.replaces
  if (order.error) body.error = order.error
  if (order.certificateId) body.certificate = `${ctx.base}/cert/${order.certificateId}`
  return body
}

async function sendOrder(ctx: AcmeContext, order: OrderRow, status = 200) {
  const extra: Record<string, string> = { location: `${ctx.base}/order/${order.id}` }
  if (order.status === 'processing') extra['retry-after'] = '1'
  return sendJson(ctx, status, orderBody(ctx, order), extra)
}

/* ----------------------------------------------------------------------------- newOrder */

/** The template an order uses: the policy's, or the one its profile maps to. */
function templateForProfile(
  policy: Policy,
  profile: unknown
): { templateId: number; profile: string | null } {
  if (profile === undefined || profile === null || profile === '') {
    return { templateId: policy.templateId, profile: null }
  }
  if (typeof profile !== 'string' || !Object.hasOwn(policy.profiles, profile)) {
    const offered = Object.keys(policy.profiles)
    throw new AcmeProblem(
      'invalidProfile',
      `Profile ${JSON.stringify(profile)} is not offered to this account${offered.length ? `; offered: ${offered.join(', ')}` : ' (its policy offers no profiles)'}.`
    )
  }
  return { templateId: policy.profiles[profile], profile }
}

/** Refuses identifiers the template cannot put in a certificate (RFC 8555 rejectedIdentifier). */
async function checkTemplateAllows(
  runtime: PluginRuntime,
  templateId: number,
  identifiers: Identifier[]
) {
  const template = await runtime.getTemplate(templateId)
  if (!template) throw new AcmeProblem('serverInternal', "The policy's template no longer exists.")
  const allowed: string[] = ((template.options as any)?.sans?.allowed ?? []) as string[]
  const acme = await runtime.settings.template(templateId)
  const problems: Subproblem[] = []
  for (const id of identifiers) {
    if (!allowed.includes(id.type)) {
      problems.push({
        type: 'rejectedIdentifier',
        detail: `Template "${template.name}" allows no ${id.type === 'ip' ? 'IP address' : 'DNS name'} subject alternative names.`,
        identifier: id,
      })
    } else if (isWildcard(id) && acme.allowWildcards !== true) {
      problems.push({
        type: 'rejectedIdentifier',
        detail: `Template "${template.name}" allows no wildcard names (its ACME tab can allow them).`,
        identifier: id,
      })
    }
  }
  if (problems.length) throw identifierProblem(problems)
}

async function checkReplaces(
  ctx: AcmeContext,
  account: Account,
  replaces: unknown,
  ids: Identifier[]
) {
  if (replaces === undefined) return null
  if (typeof replaces !== 'string')
    throw new AcmeProblem('malformed', '"replaces" must be a CertID string.')
  const id = normalizeCertId(replaces)
  const cert = await ctx.runtime.table('acme_certificates').where('ari_id', id).first()
  if (!cert || Number(cert.account_id) !== account.id) {
    throw new AcmeProblem(
      'malformed',
      `"replaces" names no certificate of this account (${replaces}).`
    )
  }
  const certOrder = await ctx.runtime.table('acme_orders').where('id', cert.order_id).first()
  const certIds: Identifier[] = JSON.parse(certOrder?.identifiers ?? '[]')
  if (!certIds.some((c) => ids.some((i) => i.type === c.type && i.value === c.value))) {
    throw new AcmeProblem(
      'malformed',
      'The replacement order shares no identifier with the certificate it replaces.'
    )
  }
  // Another order replacing it blocks this one only while it can still succeed: its stored
  // status is brought up to date first (a failed challenge or its expiry makes it invalid, and
  // clients rarely read such an order again).
  const competing = await ctx.runtime
    .table('acme_orders')
    .where('replaces', id)
    .whereNot('status', 'invalid')
  let taken = false
  for (const row of competing) if ((taken = await stillLive(ctx.runtime, row))) break
  if (cert.replaced || taken) {
    throw new AcmeProblem('alreadyReplaced', `Certificate ${replaces} has already been replaced.`)
  }
  return id
}

/** Whether a stored order can still become (or is) valid, its status refreshed on the way. */
async function stillLive(runtime: PluginRuntime, row: Record<string, any>): Promise<boolean> {
  const order = orderFromRow(row)
  if (order.status === 'valid') return true
  const authz = await runtime
    .table('acme_authorizations')
    .where('order_id', order.id)
    .select('id', 'status', 'expires')
  order.authz = authz.map((a: Record<string, any>) => ({
    id: Number(a.id),
    status: String(a.status),
    expires: Number(a.expires),
  }))
  const refreshed = await refreshOrder(runtime, order)
  return refreshed.status !== 'invalid'
}

/**
 * Orders left in `processing` past their expiry (the process finalizing them stopped between
 * the claim and the certificate's record) become invalid, so that clients stop polling them and
 * they no longer block an ARI replacement (refreshOrder does the same for one order it reads).
 * The housekeeping job's; returns how many.
 */
export async function failStaleProcessing(runtime: PluginRuntime) {
  const updated = await runtime
    .table('acme_orders')
    .where('status', 'processing')
    .where('expires', '<=', Date.now())
    .update({ status: 'invalid', error: JSON.stringify(STALE_PROCESSING) })
  return Number(updated)
}

/** How newOrder makes an identifier's authorization. */
interface AuthzPlan {
  id: Identifier
  pre: boolean
  /** A valid authorization of the account for the same identifier. */
  reusable?: Record<string, any>
  /** Its validated challenge. */
  passed?: Record<string, any>
  state: { status: string; expires: number }
}

export async function newOrder(ctx: AcmeContext) {
  // The nonce is spent with the order's insert (one commit), or before any other answer.
  const auth = await authenticate(ctx, 'kid', {
    deferNonce: true,
    // The account's policy with it.
    join: (accountId) => queries(ctx.runtime).accountWithPolicy.all({ accountId }),
  })
  const account = auth.account!
  // Orders created count, not refused requests (a typo or a badNonce retry spends nothing):
  // reserved here (so a burst is limited exactly), kept once the order is written.
  const limit = ctx.settings.ordersPerAccountPerHour
  if (!limit) return createOrder(ctx, auth)
  const reservation = reserveEvent(ctx.runtime, `orders:${account.id}`, HOUR)
  try {
    if (reservation.count > limit) {
      throw new AcmeProblem(
        'rateLimited',
        `Account ${account.id} created more than ${limit} orders this hour.`,
        { retryAfter: reservation.retryAfter }
      )
    }
    const answer = await createOrder(ctx, auth)
    reservation.keep()
    return answer
  } finally {
    reservation.drop()
  }
}

/** newOrder once the account may create one: checks, then writes the order (one unit). */
async function createOrder(ctx: AcmeContext, auth: Authenticated) {
  const account = auth.account!
  const payload = auth.payload ?? {}
  if (payload.notBefore !== undefined || payload.notAfter !== undefined) {
    throw new AcmeProblem(
      'malformed',
      "notBefore and notAfter are not supported: the validity comes from the policy's template."
    )
  }
  const identifiers = normalizeIdentifiers(payload.identifiers)
  const policyRow = auth.rows![0]
  const policy =
    policyRow.id === null || policyRow.id === undefined ? null : policyFromRow(policyRow)
  if (!policy) throw new AcmeProblem('unauthorized', "The account's ACME policy has been deleted.")
  const { templateId, profile } = templateForProfile(policy, payload.profile)
  await checkTemplateAllows(ctx.runtime, templateId, identifiers)
  const replaces = await checkReplaces(ctx, account, payload.replaces, identifiers)

  const now = Date.now()
  const expires = now + ctx.settings.orderLifetimeHours * HOUR
  const preApproved = identifiers.map((id) => isPreApproved(id, policy.preApproved))
  let authzIndexes: number[] = []
  const row = {
    account_id: account.id,
    policy_id: policy.id,
    template_id: templateId,
    profile,
    // Every name pre-approved: ready at once.
    status: preApproved.every(Boolean) ? 'ready' : 'pending',
    identifiers: JSON.stringify(identifiers),
    expires,
    replaces,
    created_at: now,
  }
  // Authorizations of the account this order can reuse (valid for another hour at least), and
  // how each passed, read before the order's unit.
  const q = queries(ctx.runtime)
  const plans: AuthzPlan[] = []
  for (const [i, id] of identifiers.entries()) {
    const pre = preApproved[i]
    const reusable = pre
      ? undefined
      : await q.reusableAuthz.first({
          accountId: account.id,
          type: id.type,
          value: id.value,
          after: now + HOUR,
        })
    const passed = reusable ? await q.passedChallenge.first({ authzId: reusable.id }) : undefined
    plans.push({
      id,
      pre,
      reusable,
      passed,
      state: {
        status: pre || reusable ? 'valid' : 'pending',
        expires: reusable ? Number(reusable.expires) : expires,
      },
    })
  }
  // Every authorization valid already (some reused): the order is ready.
  if (row.status === 'pending' && plans.every((p) => p.state.status === 'valid')) {
    row.status = 'ready'
  }
  // The order lasts no longer than a reused authorization: it could not be finalized after.
  for (const plan of plans)
    if (plan.reusable) row.expires = Math.min(row.expires, plan.state.expires)
  const { results } = await commitWithNonce(ctx, (ref) => {
    const writes: WriteBatchItem[] = [q.insertOrder.bind(row)]
    const authzAt: number[] = []
    for (const plan of plans) {
      authzAt.push(writes.length)
      writes.push(
        q.insertAuthz.bind({
          order_id: ref(0),
          account_id: account.id,
          identifier_type: plan.id.type,
          identifier_value: plan.id.value,
          wildcard: isWildcard(plan.id),
          pre_approved: plan.pre,
          ...plan.state,
        })
      )
      const authzId = ref(writes.length - 1)
      if (!plan.pre && !plan.reusable) {
        for (const type of challengeTypesFor(plan.id)) {
          writes.push(
            q.insertChallenge.bind({
              authz_id: authzId,
              type,
              token: randomBytes(32).toString('base64url'),
              status: 'pending',
              validated_at: null,
            })
          )
        }
      } else if (plan.passed) {
        // The reused authorization's own validated challenge, so the client sees how it passed.
        writes.push(
          q.insertChallenge.bind({
            authz_id: authzId,
            type: plan.passed.type,
            token: plan.passed.token,
            status: 'valid',
            validated_at: plan.passed.validated_at,
          })
        )
      }
    }
    authzIndexes = authzAt
    return writes
  })
  const created = {
    id: writtenId(results[0]),
    status: row.status,
    authz: plans.map((plan, i) => ({ id: writtenId(results[authzIndexes[i]]), ...plan.state })),
  }
  const order = orderFromRow({ ...row, id: created.id, status: created.status })
  order.authz = created.authz
  return sendOrder(ctx, order, 201)
}

export async function getOrder(ctx: AcmeContext) {
  const auth = await authenticate(ctx, 'kid', { join: joinOrder(ctx, idParam(ctx)) })
  return sendOrder(ctx, await loadOrder(ctx, auth.account!, auth.rows!))
}

/* ----------------------------------------------------------------------------- finalize */

function sameNames(csrNames: Identifier[], orderNames: Identifier[]) {
  const key = (i: Identifier) => `${i.type}:${i.value}`
  const a = new Set(csrNames.map(key))
  const b = new Set(orderNames.map(key))
  return a.size === b.size && [...a].every((k) => b.has(k))
}

function csrIdentifiers(csr: ReturnType<typeof parseCsr>): Identifier[] {
  const out: Identifier[] = []
  for (const san of csr.sans) {
    if (san.type === 'dns') out.push({ type: 'dns', value: san.value.toLowerCase() })
    else if (san.type === 'ip') out.push({ type: 'ip', value: normalizeIp(san.value) ?? san.value })
    else {
      throw new AcmeProblem(
        'badCSR',
        `The CSR names ${san.type} ${san.value}; only DNS names and IP addresses can be ordered.`
      )
    }
  }
  const cn = csr.subject.commonName
  if (cn) {
    const lower = cn.toLowerCase()
    out.push(
      isValidIp(lower) ? { type: 'ip', value: normalizeIp(lower)! } : { type: 'dns', value: lower }
    )
  }
  return out
}

/** Kernel refusals of the CA or template themselves: no other CSR would be issued. */
const PERMANENT_FAILURES = new Set([
  'E_CA_INACTIVE',
  'E_CA_NOT_FOUND',
  'E_TEMPLATE_DISABLED',
  'E_TEMPLATE_NOT_FOUND',
])

function kernelToProblem(error: any): AcmeProblem {
  const code = String(error?.code ?? '')
  if (
    ['E_INVALID_CSR', 'E_POLICY_DENIED', 'E_VALIDATION', 'E_UNSUPPORTED_ALGORITHM'].includes(code)
  ) {
    return new AcmeProblem('badCSR', String(error.message))
  }
  return new AcmeProblem(
    'serverInternal',
    `The certificate could not be issued: ${error?.message ?? error}`
  )
}

/** The leaf, its CA, then the CA's own issuers without the root (RFC 8555 §7.4.2). */
async function chainPem(runtime: PluginRuntime, caId: number, leafPem: string) {
  const ca = await runtime.getCa(caId)
  const above = (ca?.chainPems ?? []).slice(0, -1)
  return [leafPem, ca?.certificatePem ?? '', ...above]
    .map((pem) => pem.trim())
    .filter(Boolean)
    .join('\n')
    .concat('\n')
}

/** Template ids → their CA (a template never moves to another CA). */
const templateCa = new Map<number, number>()

async function caOfTemplate(runtime: PluginRuntime, templateId: number) {
  let caId = templateCa.get(templateId)
  if (caId === undefined) {
    const template = await runtime.getTemplate(templateId)
    if (!template) return 0
    caId = template.caId
    templateCa.set(templateId, caId)
  }
  return caId
}

/**
 * A pre-approval lasts only while the policy still grants it: an order made ready by one that
 * was withdrawn since (the admin removed the domain) is not finalized on it. Its pre-approved
 * authorizations are deactivated and the order becomes invalid; a new order needs a challenge.
 */
async function checkStillPreApproved(ctx: AcmeContext, account: Account, order: OrderRow) {
  const granted = await ctx.runtime
    .table('acme_authorizations')
    .where('order_id', order.id)
    .where('pre_approved', true)
    .select('id', 'identifier_type', 'identifier_value', 'wildcard')
  if (!granted.length) return
  const policy = await findPolicy(ctx.runtime, account.policyId)
  const withdrawn = granted.filter((a: any) => {
    const value = a.wildcard ? `*.${a.identifier_value}` : a.identifier_value
    return !policy || !isPreApproved({ type: a.identifier_type, value }, policy.preApproved)
  })
  if (!withdrawn.length) return
  const names = withdrawn.map((a: any) =>
    a.wildcard ? `*.${a.identifier_value}` : a.identifier_value
  )
  const error = problemDocument(
    'unauthorized',
    `The policy no longer pre-approves ${names.join(', ')}: place a new order (its names will need a challenge).`
  )
  await ctx.runtime.transaction(async (tx) => {
    await tx
      .table('acme_authorizations')
      .whereIn(
        'id',
        withdrawn.map((a: any) => a.id)
      )
      .update({ status: 'deactivated' })
    await tx
      .table('acme_orders')
      .where({ id: order.id, status: 'ready' })
      .update({ status: 'invalid', error: JSON.stringify(error) })
  })
  throw new AcmeProblem('unauthorized', String(error.detail))
}

export async function finalize(ctx: AcmeContext) {
  // The nonce is spent with the order's claim (one commit), or before any other answer.
  const auth = await authenticate(ctx, 'kid', {
    deferNonce: true,
    join: joinOrder(ctx, idParam(ctx)),
  })
  const account = auth.account!
  const order = await loadOrder(ctx, account, auth.rows!)
  if (order.status !== 'ready') {
    throw new AcmeProblem(
      'orderNotReady',
      `The order is ${order.status}; it can be finalized once it is ready.`,
      order.status === 'processing' ? { retryAfter: 1 } : {}
    )
  }
  await checkStillPreApproved(ctx, account, order)
  let csr: ReturnType<typeof parseCsr>
  try {
    csr = parseCsr(fromB64u(auth.payload?.csr, '"csr"'))
  } catch (error) {
    if (error instanceof AcmeProblem && !auth.payload?.csr) {
      throw new AcmeProblem('malformed', 'The finalize request needs a "csr" (base64url DER).')
    }
    throw new AcmeProblem('badCSR', `The CSR cannot be read: ${(error as Error).message}`)
  }
  // RFC 8555 §11.1: the certificate's key must not be the account key.
  const accountSpki = auth.key.export({ type: 'spki', format: 'der' })
  if (Buffer.compare(Buffer.from(csr.spki), accountSpki) === 0) {
    throw new AcmeProblem(
      'badCSR',
      "The CSR's public key is the account key; certify a key of its own (RFC 8555 §11.1)."
    )
  }
  // Only validated names go into the certificate: a subject attribute besides the common name
  // (an organisation, a country...) was never checked by anyone.
  const unchecked = Object.keys(csr.subject).filter(
    (k) => k !== 'commonName' && (csr.subject as Record<string, unknown>)[k] !== undefined
  )
  if (unchecked.length) {
    throw new AcmeProblem(
      'badCSR',
      `The CSR's subject may hold only a common name (an order's identifier); it also has ${unchecked.join(', ')}. Leave ${unchecked.length > 1 ? 'them' : 'it'} out.`
    )
  }
  const names = csrIdentifiers(csr)
  if (!sameNames(names, order.identifiers)) {
    const expected = order.identifiers.map((i) => i.value).join(', ')
    const got = [...new Set(names.map((i) => i.value))].join(', ')
    await logRefusal(
      ctx,
      account,
      order,
      `CSR names (${got}) differ from the order's (${expected}).`
    )
    throw new AcmeProblem(
      'badCSR',
      `The CSR must name exactly the order's identifiers (${expected}); it names ${got || 'none'}.`
    )
  }
  const q = queries(ctx.runtime)
  const claimed = await commitWithNonce(ctx, () => [q.claimOrder.bind({ id: order.id })])
  if (claimed.results[0].changes !== 1) {
    throw new AcmeProblem('orderNotReady', 'The order is already being finalized.', {
      retryAfter: 1,
    })
  }
  let issued
  try {
    issued = await ctx.runtime.issue({
      templateId: order.templateId,
      csr: csr.der,
      sans: order.identifiers.map((i) => ({ type: i.type, value: i.value })),
      source: 'acme',
    })
  } catch (error) {
    const problem = kernelToProblem(error)
    // A refused CSR leaves the order ready for another one. A failure no CSR can mend (the CA
    // expired, the template was disabled or deleted) makes it invalid with the reason (RFC 8555
    // §7.1.6), instead of sending the client round again until the order expires.
    const permanent = PERMANENT_FAILURES.has(String((error as any)?.code ?? ''))
    await ctx.runtime
      .table('acme_orders')
      .where({ id: order.id, status: 'processing' })
      .update(
        permanent
          ? { status: 'invalid', error: JSON.stringify(problem.toJSON()) }
          : { status: 'ready' }
      )
    await logRefusal(ctx, account, order, problem.message)
    throw problem
  }
  try {
    const caId = await caOfTemplate(ctx.runtime, order.templateId)
    const ariId = certId(issued.der)
    const chain = await chainPem(ctx.runtime, caId, issued.pem)
    // Group-committed with other requests' writes; durable before the order is answered valid.
    await commitUnit(ctx.runtime, null, () => [
      q.insertCertificate.bind({
        certificate_id: issued.id,
        account_id: account.id,
        order_id: order.id,
        ca_id: caId,
        template_id: order.templateId,
        ari_id: ariId,
        chain,
        not_before: issued.notBefore,
        not_after: issued.notAfter,
      }),
      ...(order.replaces ? [q.markReplaced.bind({ ariId: order.replaces })] : []),
      q.orderValid.bind({ id: order.id, certificateId: issued.id }),
    ])
  } catch (error) {
    // Issued, but not recorded for the order: the order ends invalid (RFC 8555 §7.1.6) instead of
    // processing for ever, and the operator is told which certificate nobody received.
    const detail = 'The certificate could not be recorded for this order; place a new order.'
    const problem = problemDocument('serverInternal', detail)
    await ctx.runtime
      .table('acme_orders')
      .where({ id: order.id, status: 'processing' })
      .update({ status: 'invalid', error: JSON.stringify(problem) })
    await ctx.runtime.writeServiceLog({
      caId: await caIdOfPolicy(ctx.runtime, order.policyId),
      level: 'error',
      event: 'acme.finalize.failed',
      message: `ACME account ${account.id}, order ${order.id}: certificate #${issued.id} was issued but could not be recorded for the order (${(error as Error)?.message ?? error}); the order is invalid and the certificate was delivered to nobody.`,
      details: { accountId: account.id, orderId: order.id, certificateId: issued.id },
    })
    throw new AcmeProblem('serverInternal', detail)
  }
  // The enrollment is on the Logs page as the kernel's certificate.issued entry (source acme).
  return sendOrder(ctx, { ...order, status: 'valid', certificateId: issued.id })
}

async function logRefusal(ctx: AcmeContext, account: Account, order: OrderRow, message: string) {
  await ctx.runtime.writeServiceLog({
    caId: await caIdOfPolicy(ctx.runtime, order.policyId),
    level: 'warn',
    event: 'acme.finalize.refused',
    message: `ACME account ${account.id}, order ${order.id}: ${message}`,
    details: { accountId: account.id, orderId: order.id },
  })
}
