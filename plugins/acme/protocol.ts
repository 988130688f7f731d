/*
 * The ACME request pipeline (RFC 8555 §6): every POST is a flattened JWS whose protected header
 * carries alg, nonce, url and either jwk (newAccount, revokeCert by certificate key) or kid (the
 * account URL). Checks run so that a refused request spends nothing: the nonce is consumed only
 * after the signature verified.
 */
import type { KeyObject } from 'node:crypto'
import type { PluginRequest, PluginReply, PluginRuntime } from '#plugin-api'
import {
  accountKeyObject,
  checkAlg,
  jwkHeaderKey,
  parseJws,
  verifyJws,
  type ParsedJws,
} from './jws.js'
import { AcmeProblem } from './problems.js'
import type { InstallSettings } from './settings.js'
import { ACCOUNT_COLUMNS, queries } from './queries.js'
import {
  checkNonce,
  commitUnit,
  countEvent,
  newNonce,
  type CheckedNonce,
  type UnitResult,
  type UnitWrites,
} from './store.js'

export interface Account {
  id: number
  policyId: number
  status: string
  jwk: Record<string, string>
  thumbprint: string
  contact: string[]
  createdAt: number
  eabKid: string | null
}

export function accountFromRow(row: any): Account {
  return {
    id: Number(row.id),
    policyId: Number(row.policy_id),
    status: String(row.status),
    jwk: JSON.parse(row.jwk),
    thumbprint: String(row.thumbprint),
    contact: JSON.parse(row.contact || '[]'),
    createdAt: Number(row.created_at),
    eabKid: row.eab_kid ?? null,
  }
}

function accountFromJoined(row: any): Account | null {
  if (!row || row.acct_id === null || row.acct_id === undefined) return null
  const plain: Record<string, unknown> = {}
  for (const c of ACCOUNT_COLUMNS) plain[c] = row[`acct_${c}`]
  return accountFromRow(plain)
}

export interface AcmeContext {
  runtime: PluginRuntime
  settings: InstallSettings
  request: PluginRequest
  reply: PluginReply
  /** `${publicUrl}/acme` */
  base: string
  /**
   * The request's nonce once its signature verified: spent at once by `authenticate`, or, with
   * `deferNonce`, together with the handler's writes (`commitWithNonce`), or before the answer.
   */
  nonce?: { checked: CheckedNonce; state: 'pending' | 'spent' | 'used' }
}

export interface Authenticated {
  jws: ParsedJws
  payload: any
  key: KeyObject
  /** Set when the JWS was signed with `jwk` (newAccount, revokeCert by certificate key). */
  jwk?: Record<string, any>
  thumbprint?: string
  /** Set when the JWS names an account (`kid`). */
  account?: Account
  /** The rows of `join` (the account's columns as acct_*, then the resource's). */
  rows?: any[]
}

/** Counts the client's request; beyond the per-IP limit → rateLimited with Retry-After. */
export async function limitIp(ctx: AcmeContext) {
  const limit = ctx.settings.requestsPerIpPerMinute
  if (!limit) return
  const { count, retryAfter } = await countEvent(ctx.runtime, `ip:${ctx.request.ip}`, 60_000)
  if (count > limit) {
    throw new AcmeProblem(
      'rateLimited',
      `Too many requests from ${ctx.request.ip}: at most ${limit} per minute.`,
      { retryAfter }
    )
  }
}

/**
 * Authenticates a POST. `use`: 'jwk' requires a jwk header, 'kid' an account, 'either' accepts
 * both (revokeCert).
 */
export async function authenticate(
  ctx: AcmeContext,
  use: 'jwk' | 'kid' | 'either',
  options: {
    deferNonce?: boolean
    /** Loads the kid's account (queries.ts ACCOUNT_SELECT) with the resource the request works on. */
    join?: (accountId: number) => Promise<any[]>
  } = {}
): Promise<Authenticated> {
  await limitIp(ctx)
  const type = String(ctx.request.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase()
  if (type !== 'application/jose+json') {
    throw new AcmeProblem('malformed', 'ACME requests use the application/jose+json media type.', {
      status: 415,
    })
  }
  // The host parsed the JSON body already (an object, or {} when it is none): not twice.
  const parsed = ctx.request.body
  const jws = parseJws(
    parsed && typeof parsed === 'object' && Object.keys(parsed).length
      ? parsed
      : await ctx.request.rawBody()
  )
  const { header } = jws
  checkAlg(header.alg)
  // The URL the request was sent to, query included (RFC 8555 §6.4; the orders list's cursor).
  const expectedUrl = `${ctx.runtime.publicUrl}${ctx.request.url}`
  if (header.url !== expectedUrl) {
    throw new AcmeProblem(
      'unauthorized',
      `The JWS "url" header (${JSON.stringify(header.url ?? null)}) is not this request's URL (${expectedUrl}).`
    )
  }
  const hasJwk = header.jwk !== undefined
  const hasKid = header.kid !== undefined
  if (hasJwk === hasKid) {
    throw new AcmeProblem('malformed', 'The JWS header must carry exactly one of "jwk" and "kid".')
  }
  if (use === 'jwk' && !hasJwk) {
    throw new AcmeProblem(
      'malformed',
      'This request must be signed with a "jwk" header, not "kid".'
    )
  }
  if (use === 'kid' && !hasKid) {
    throw new AcmeProblem(
      'malformed',
      'This request must name its account with a "kid" header, not "jwk".'
    )
  }
  const result: Partial<Authenticated> = { jws, payload: jws.payload }
  if (hasJwk) {
    const imported = jwkHeaderKey(header.jwk, header.alg)
    result.key = imported.key
    result.jwk = header.jwk
    result.thumbprint = imported.thumbprint
  } else {
    const prefix = `${ctx.base}/account/`
    const kid = String(header.kid)
    const accountId = numericId(kid.startsWith(prefix) ? kid.slice(prefix.length) : '')
    let account: Account | null = null
    if (accountId && options.join) {
      result.rows = await options.join(accountId)
      account = accountFromJoined(result.rows[0])
    } else if (accountId) {
      const row = await queries(ctx.runtime).accountById.first({ id: accountId })
      account = row ? accountFromRow(row) : null
    }
    if (!account) {
      throw new AcmeProblem('accountDoesNotExist', `No account is known as ${kid}.`)
    }
    result.account = account
    try {
      result.key = accountKeyObject(account.jwk, account.thumbprint, header.alg)
    } catch {
      throw new AcmeProblem(
        'malformed',
        `The JWS signature does not verify: ${header.alg} does not fit the account's key.`
      )
    }
  }
  verifyJws(jws, result.key!)
  const checked = await checkNonce(ctx.runtime, header.nonce)
  if (!checked) {
    throw new AcmeProblem(
      'badNonce',
      header.nonce === undefined ? 'The JWS header has no nonce.' : USED_NONCE
    )
  }
  ctx.nonce = { checked, state: 'pending' }
  // A handler that writes spends the nonce in the same transaction (commitWithNonce).
  if (!options.deferNonce) await spendNonce(ctx)
  if (result.account && result.account.status !== 'valid') {
    throw new AcmeProblem(
      'unauthorized',
      `Account ${result.account.id} is ${result.account.status}.`
    )
  }
  return result as Authenticated
}

const USED_NONCE =
  'The nonce is unknown, expired or already used: retry with the Replay-Nonce of this answer.'

/**
 * Commits `writes` (store.ts units) in one transaction with the spending of the request's nonce
 * (when not spent yet), shared with other requests' units (group commit). A nonce used before →
 * badNonce, and nothing was written. A write's own error is rethrown with nothing written, the
 * nonce unspent; so is an unmet expectation (`unmet` in the result), for the handler to answer.
 */
export async function commitWithNonce(ctx: AcmeContext, writes?: UnitWrites): Promise<UnitResult> {
  const nonce = ctx.nonce?.state === 'pending' ? ctx.nonce : undefined
  const result = await commitUnit(ctx.runtime, nonce?.checked ?? null, writes)
  if (!result.fresh) {
    nonce!.state = 'used'
    throw new AcmeProblem('badNonce', USED_NONCE)
  }
  if (nonce && result.unmet === undefined) nonce.state = 'spent'
  return result
}

/** Spends the request's nonce if it is not spent yet (badNonce when it was used before). */
export async function spendNonce(ctx: AcmeContext) {
  if (ctx.nonce?.state === 'pending') await commitWithNonce(ctx)
}

/** RFC 8555 §7.1: every resource but the directory links to it ("index"). */
function indexLink(ctx: AcmeContext) {
  return `<${ctx.base}/directory>;rel="index"`
}

/**
 * Sets a handler's extra headers after the common ones; a Link of its own (e.g. rel="up") is
 * added beside the index link instead of replacing it.
 */
function extraHeaders(ctx: AcmeContext, headers: Record<string, string>) {
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'link') ctx.reply.header('link', `${indexLink(ctx)}, ${value}`)
    else ctx.reply.header(name, value)
  }
}

/** Headers every ACME answer carries. */
export async function commonHeaders(ctx: AcmeContext, withNonce: boolean) {
  // Nothing is answered before the request's nonce is spent (a handler may defer it).
  await spendNonce(ctx)
  ctx.reply.header('link', indexLink(ctx))
  ctx.reply.header('cache-control', 'no-store')
  if (withNonce) ctx.reply.header('replay-nonce', await newNonce(ctx.runtime))
}

/** Sends a problem document. */
export async function sendProblem(ctx: AcmeContext, refused: AcmeProblem) {
  let problem = refused
  // A refused request whose signature verified spends its nonce too (a replay gets badNonce).
  if (ctx.nonce?.state === 'pending') {
    try {
      await spendNonce(ctx)
    } catch (error) {
      if (error instanceof AcmeProblem) problem = error
      else ctx.runtime.log.error({ err: error }, 'ACME: spending a nonce failed')
      ctx.nonce.state = 'used'
    }
  }
  await commonHeaders(ctx, true)
  if (problem.retryAfter) ctx.reply.header('retry-after', String(problem.retryAfter))
  extraHeaders(ctx, problem.headers ?? {})
  ctx.reply
    .status(problem.status)
    .header('content-type', 'application/problem+json')
    .send(JSON.stringify(problem.toJSON()))
}

/** Sends a JSON resource (with a fresh nonce). */
export async function sendJson(
  ctx: AcmeContext,
  status: number,
  body: unknown,
  extra: Record<string, string> = {}
) {
  await commonHeaders(ctx, ctx.request.method !== 'GET' && ctx.request.method !== 'HEAD')
  extraHeaders(ctx, extra)
  ctx.reply.status(status).header('content-type', 'application/json').send(JSON.stringify(body))
}

/**
 * The first of `join`'s rows when the left-joined resource was found (its `column` is not
 * NULL); `No such <what>.` (404) when it was not.
 */
export function joinedRow(rows: any[] | undefined, column: string, what: string): any {
  const row = rows?.[0]
  if (!row || row[column] === null || row[column] === undefined) {
    throw new AcmeProblem('malformed', `No such ${what}.`, { status: 404 })
  }
  return row
}

/** The largest row id (PostgreSQL's integer: a larger one is refused there, not just unfound). */
const MAX_ROW_ID = 2_147_483_647

/** A row id written in a URL (1..2147483647), 0 when it is anything else. */
export function numericId(value: string): number {
  return /^[1-9]\d{0,9}$/.test(value) && Number(value) <= MAX_ROW_ID ? Number(value) : 0
}

/** A numeric route parameter (1..10 digits), 0 when it is anything else. */
export function idParam(ctx: AcmeContext, name = 'id'): number {
  return numericId(String(ctx.request.params[name] ?? ''))
}

export function rfc3339(ms: number) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
