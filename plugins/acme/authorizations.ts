/*
 * Authorizations and challenges (RFC 8555 §7.5): reading and deactivating authorizations,
 * starting a challenge's validation, recording its outcome, and failing validations a vanished
 * node left "processing".
 */
import type { PluginRuntime } from '#plugin-api'
import { isWildcard, notOfferedReason, type ChallengeType, type Identifier } from './identifiers.js'
import { caIdOfPolicy } from './policies.js'
import { AcmeProblem, problemDocument } from './problems.js'
import { queries } from './queries.js'
import {
  authenticate,
  idParam,
  joinedRow,
  rfc3339,
  sendJson,
  type Account,
  type AcmeContext,
} from './protocol.js'
import { commitUnit } from './store.js'
import { validateChallenge } from './validation.js'

/** How long a challenge POST waits for its validation before answering "processing". */
const INLINE_VALIDATION_MS = 2000

async function loadAuthz(ctx: AcmeContext, account: Account, id: number) {
  const row = id ? await ctx.runtime.table('acme_authorizations').where('id', id).first() : null
  if (!row) throw new AcmeProblem('malformed', 'No such authorization.', { status: 404 })
  return checkAuthz(ctx, account, row)
}

/** RFC 8555 §7.1.6: a pending or valid authorization past its expiry is expired. */
export function authzStatusAt(status: string, expires: number, now: number): string {
  return (status === 'pending' || status === 'valid') && expires <= now ? 'expired' : status
}

async function checkAuthz(ctx: AcmeContext, account: Account, row: any) {
  if (Number(row.account_id) !== account.id) {
    throw new AcmeProblem('unauthorized', 'This authorization belongs to another account.')
  }
  if (authzStatusAt(row.status, Number(row.expires), Date.now()) !== row.status) {
    await ctx.runtime
      .table('acme_authorizations')
      .where('id', row.id)
      .where('status', row.status)
      .update({ status: 'expired' })
    row.status = 'expired'
  }
  return row
}

function identifierOf(row: any): Identifier {
  return { type: row.identifier_type, value: row.identifier_value }
}

function challengeBody(ctx: AcmeContext, authzId: number, c: any) {
  const body: Record<string, unknown> = {
    type: c.type,
    url: `${ctx.base}/chall/${authzId}/${c.type}`,
    status: c.status,
    token: c.token,
  }
  if (c.validated_at) body.validated = rfc3339(Number(c.validated_at))
  if (c.error) body.error = JSON.parse(c.error)
  return body
}

async function authzBody(ctx: AcmeContext, row: any, loaded?: any[]) {
  const challenges =
    loaded ?? (await ctx.runtime.table('acme_challenges').where('authz_id', row.id).orderBy('id'))
  const id = identifierOf(row)
  const body: Record<string, unknown> = {
    identifier: { type: id.type, value: isWildcard(id) ? id.value.slice(2) : id.value },
    status: row.status,
    expires: rfc3339(Number(row.expires)),
    challenges: challenges.map((c: any) => challengeBody(ctx, Number(row.id), c)),
  }
  if (isWildcard(id)) body.wildcard = true
  return body
}

/** Loads the account with an authorization and its challenges, in one query. */
function joinAuthz(ctx: AcmeContext, authzId: number) {
  return (accountId: number): Promise<any[]> =>
    queries(ctx.runtime).accountWithAuthz.all({ accountId, authzId })
}

/** The authorization and challenges of `joinAuthz`'s rows; 404 when there is none. */
async function authzFromRows(ctx: AcmeContext, account: Account, rows: any[]) {
  const first = joinedRow(rows, 'id', 'authorization')
  const challenges = rows
    .filter((r) => r.c_id !== null && r.c_id !== undefined)
    .map((r) => ({
      id: r.c_id,
      type: r.c_type,
      status: r.c_status,
      token: r.c_token,
      validated_at: r.c_validated_at,
      error: r.c_error,
    }))
  const row = await checkAuthz(ctx, account, { ...first })
  return { row, challenges }
}

export async function getAuthz(ctx: AcmeContext) {
  const auth = await authenticate(ctx, 'kid', { join: joinAuthz(ctx, idParam(ctx)) })
  const loaded = await authzFromRows(ctx, auth.account!, auth.rows!)
  const row = loaded.row
  let challenges: any[] | undefined = loaded.challenges
  if (auth.payload?.status !== undefined) {
    if (auth.payload.status !== 'deactivated') {
      throw new AcmeProblem('malformed', 'An authorization may only be set to "deactivated".')
    }
    if (row.status === 'pending' || row.status === 'valid') {
      // With it, the account's other valid authorizations for the identifier (those that reused
      // it, or that it reused): else the next order would reuse one and need no challenge.
      const q = queries(ctx.runtime)
      await commitUnit(ctx.runtime, null, () => [
        q.deactivateAuthz.bind({ id: row.id }),
        q.deactivateSameIdentifier.bind({
          accountId: auth.account!.id,
          type: row.identifier_type,
          value: row.identifier_value,
        }),
      ])
      row.status = 'deactivated'
      challenges = undefined
    }
  }
  return sendJson(ctx, 200, await authzBody(ctx, row, challenges), {
    location: `${ctx.base}/authz/${row.id}`,
  })
}

function keyAuthorization(token: string, account: Account) {
  return `${token}.${account.thumbprint}`
}

/** Runs a challenge's validation and records the outcome on the challenge and authorization. */
async function runValidation(ctx: AcmeContext, account: Account, authz: any, challenge: any) {
  const identifier = identifierOf(authz)
  let error: AcmeProblem | null = null
  try {
    await validateChallenge({
      type: challenge.type as ChallengeType,
      identifier,
      token: challenge.token,
      keyAuthorization: keyAuthorization(challenge.token, account),
      settings: ctx.settings,
    })
  } catch (caught) {
    error =
      caught instanceof AcmeProblem
        ? caught
        : new AcmeProblem('serverInternal', `Validation failed: ${(caught as Error).message}`)
  }
  // The challenge and its authorization in one transaction: never one without the other.
  const q = queries(ctx.runtime)
  await commitUnit(ctx.runtime, null, () => [
    q.challengeOutcome.bind({
      id: challenge.id,
      status: error ? 'invalid' : 'valid',
      error: error ? JSON.stringify(error.toJSON()) : null,
      validatedAt: error ? null : Date.now(),
    }),
    q.authzOutcome.bind({ id: authz.id, status: error ? 'invalid' : 'valid' }),
  ])
  await ctx.runtime.writeServiceLog({
    caId: await caIdOfPolicy(ctx.runtime, account.policyId),
    level: error ? 'warn' : 'info',
    event: error ? 'acme.challenge.invalid' : 'acme.challenge.valid',
    message: error
      ? `${challenge.type} for ${identifier.value} (account ${account.id}) failed: ${error.message}`
      : `${challenge.type} for ${identifier.value} (account ${account.id}) passed.`,
    details: { accountId: account.id, authzId: Number(authz.id), type: challenge.type },
  })
}

export async function postChallenge(ctx: AcmeContext) {
  const auth = await authenticate(ctx, 'kid')
  const account = auth.account!
  const authz = await loadAuthz(ctx, account, idParam(ctx, 'authz'))
  const type = String(ctx.request.params.type)
  const id = identifierOf(authz)
  let challenge = await ctx.runtime
    .table('acme_challenges')
    .where({ authz_id: authz.id, type })
    .first()
  if (!challenge) {
    if (authz.pre_approved) {
      throw new AcmeProblem('malformed', `${id.value} is pre-approved: it needs no challenge.`, {
        status: 404,
      })
    }
    throw new AcmeProblem('malformed', notOfferedReason(id, type))
  }
  const respond = () =>
    sendJson(ctx, 200, challengeBody(ctx, Number(authz.id), challenge), {
      link: `<${ctx.base}/authz/${authz.id}>;rel="up"`,
      ...(challenge.status === 'processing' ? { 'retry-after': '1' } : {}),
    })
  // POST-as-GET reads; a JSON object ({}) asks for validation (§7.5.1).
  if (auth.payload === null || challenge.status !== 'pending' || authz.status !== 'pending') {
    return respond()
  }
  const started = await ctx.runtime
    .table('acme_challenges')
    .where({ id: challenge.id, status: 'pending' })
    .update({ status: 'processing', started_at: Date.now() })
  if (Number(started) === 1) {
    const validation = runValidation(ctx, account, authz, challenge).catch((error) =>
      ctx.runtime.log.error({ err: error }, 'ACME validation bookkeeping failed')
    )
    await Promise.race([validation, new Promise((r) => setTimeout(r, INLINE_VALIDATION_MS))])
  }
  challenge = await ctx.runtime.table('acme_challenges').where('id', challenge.id).first()
  return respond()
}

/**
 * A validation whose node went away (restart, crash) leaves its challenge "processing": after
 * three validation timeouts it is failed, so the client can start a new order.
 */
export async function failStuckValidations(runtime: PluginRuntime, timeoutSeconds: number) {
  const before = Date.now() - 3 * timeoutSeconds * 1000
  const stuck = await runtime
    .table('acme_challenges')
    .where('status', 'processing')
    .where('started_at', '<', before)
  for (const c of stuck) {
    const error = problemDocument(
      'serverInternal',
      'The validation did not finish; retry with a new order.'
    )
    // The challenge and its authorization together, as a validation's outcome is written.
    await runtime.transaction(async (tx) => {
      const done = await tx
        .table('acme_challenges')
        .where({ id: c.id, status: 'processing' })
        .update({ status: 'invalid', error: JSON.stringify(error) })
      if (Number(done) === 1) {
        await tx
          .table('acme_authorizations')
          .where({ id: c.authz_id, status: 'pending' })
          .update({ status: 'invalid' })
      }
    })
  }
  return stuck.length
}
