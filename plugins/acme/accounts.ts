/*
 * Accounts (RFC 8555 §7.3): newAccount with mandatory External Account Binding, lookup
 * (onlyReturnExisting), update, deactivation and key rollover.
 */
import { isValidEmail } from '#pki/index'
import {
  thumbprint,
  parseEab,
  verifyEab,
  publicJwk,
  checkAlg,
  parseJws,
  importKey,
  verifyJws,
} from './jws.js'
import { openHmacKey } from './keys.js'
import { auditAs } from './policies.js'
import { AcmeProblem } from './problems.js'
import {
  accountFromRow,
  authenticate,
  commitWithNonce,
  numericId,
  rfc3339,
  sendJson,
  type Account,
  type AcmeContext,
} from './protocol.js'
import { queries } from './queries.js'
import { writtenId } from './store.js'

export function accountUrl(ctx: AcmeContext, id: number) {
  return `${ctx.base}/account/${id}`
}

function accountBody(ctx: AcmeContext, account: Account) {
  return {
    status: account.status,
    contact: account.contact,
    termsOfServiceAgreed: true,
    orders: `${accountUrl(ctx, account.id)}/orders`,
    createdAt: rfc3339(account.createdAt),
  }
}

function checkContact(contact: unknown): string[] {
  if (contact === undefined || contact === null) return []
  if (!Array.isArray(contact) || contact.length > 10) {
    throw new AcmeProblem('malformed', '"contact" must be an array of at most 10 URLs.')
  }
  return contact.map((c) => {
    if (typeof c !== 'string') {
      throw new AcmeProblem(
        'malformed',
        `A contact must be a URL string, not ${JSON.stringify(c)}.`
      )
    }
    // URI schemes are case-insensitive (RFC 3986 §3.1): MAILTO: is mailto:.
    if (!/^mailto:/i.test(c)) {
      throw new AcmeProblem(
        'unsupportedContact',
        `Only mailto: contacts are supported, not ${JSON.stringify(c)}.`
      )
    }
    const address = c.slice('mailto:'.length)
    // One plain address (no hfields, no second address), as the kernel checks email SANs.
    if (/[?,]/.test(address) || !isValidEmail(address)) {
      throw new AcmeProblem('invalidContact', `"${address}" is not an email address.`)
    }
    return `mailto:${address}`
  })
}

async function byThumbprint(ctx: AcmeContext, tp: string) {
  const row = await queries(ctx.runtime).accountByThumbprint.first({ thumbprint: tp })
  return row ? accountFromRow(row) : null
}

/** EAB HMAC keys by secret handle (a handle never changes its value; a deleted EAB is found). */
const hmacKeys = new Map<string, Buffer>()

async function hmacKeyOf(ctx: AcmeContext, handle: string) {
  let hmacKey = hmacKeys.get(handle)
  if (!hmacKey) {
    hmacKey = (await openHmacKey(ctx.runtime, handle)) ?? undefined
    if (!hmacKey) return null
    if (hmacKeys.size >= 1000) hmacKeys.delete(hmacKeys.keys().next().value!)
    hmacKeys.set(handle, hmacKey)
  }
  return hmacKey
}

export async function newAccount(ctx: AcmeContext) {
  // The nonce is spent with the account's insert (one commit), or before any other answer.
  const auth = await authenticate(ctx, 'jwk', { deferNonce: true })
  const payload = auth.payload ?? {}
  const existing = await byThumbprint(ctx, auth.thumbprint!)
  if (existing) {
    if (existing.status !== 'valid') {
      throw new AcmeProblem('unauthorized', `Account ${existing.id} is ${existing.status}.`)
    }
    return sendJson(ctx, 200, accountBody(ctx, existing), {
      location: accountUrl(ctx, existing.id),
    })
  }
  if (payload.onlyReturnExisting === true) {
    throw new AcmeProblem('accountDoesNotExist', 'No account exists for this key.')
  }
  if (ctx.settings.termsOfService && payload.termsOfServiceAgreed !== true) {
    throw new AcmeProblem(
      'userActionRequired',
      `Agree to the terms of service (${ctx.settings.termsOfService}) to register.`,
      { extra: { instance: ctx.settings.termsOfService } }
    )
  }
  const contact = checkContact(payload.contact)
  if (!payload.externalAccountBinding) {
    throw new AcmeProblem(
      'externalAccountRequired',
      'This server requires an External Account Binding: create one for an ACME policy (ACME → Policies → External Account Bindings) and pass its KID and HMAC key to your client.'
    )
  }
  const { jws: eabJws, kid } = parseEab(payload.externalAccountBinding)
  const q = queries(ctx.runtime)
  const eab = await q.eabByKid.first({ kid })
  const refuse = async (reason: string | AcmeProblem) => {
    const problem = typeof reason === 'string' ? new AcmeProblem('unauthorized', reason) : reason
    await ctx.runtime.writeServiceLog({
      level: 'warn',
      event: 'acme.eab.refused',
      message: `Account registration from ${ctx.request.ip} refused: ${problem.message}`,
      details: { kid },
    })
    return problem
  }
  if (!eab) throw await refuse(`The EAB KID "${kid}" is unknown.`)
  const now = Date.now()
  if (eab.expires_at !== null && Number(eab.expires_at) <= now) {
    throw await refuse(`The EAB "${eab.name}" expired on ${rfc3339(Number(eab.expires_at))}.`)
  }
  if (Number(eab.uses) >= Number(eab.max_uses)) {
    throw await refuse(`The EAB "${eab.name}" has been used its ${eab.max_uses} allowed time(s).`)
  }
  const hmacKey = await hmacKeyOf(ctx, String(eab.hmac_key))
  if (!hmacKey) throw await refuse(`The EAB "${eab.name}" has lost its key; create a new one.`)
  try {
    verifyEab(eabJws, {
      url: auth.jws.header.url,
      accountThumbprint: auth.thumbprint!,
      hmacKey,
    })
  } catch (error) {
    if (error instanceof AcmeProblem) throw await refuse(error)
    throw error
  }
  // One transaction, with the request's nonce: the use is spent only if the account is stored,
  // and only if one is left (another node may be registering with the same EAB right now).
  const row = {
    policy_id: eab.policy_id,
    eab_id: eab.id,
    eab_kid: kid,
    thumbprint: auth.thumbprint,
    jwk: JSON.stringify(publicJwk(auth.jwk!)),
    status: 'valid',
    contact: JSON.stringify(contact),
    created_ip: ctx.request.ip,
    created_at: now,
  }
  let id: number
  try {
    const { results, unmet } = await commitWithNonce(ctx, (ref) => [
      q.useEab.bind({ id: eab.id, maxUses: Number(eab.max_uses) }, { expect: 1 }),
      q.insertAccount.bind(row),
      // The audit entry commits with the account (and in the same group commit).
      {
        audit: {
          action: 'acme.account.create',
          caId: Number(eab.policy_ca_id),
          objectType: 'acme_account',
          objectId: ref(1),
          details: { eab: eab.name, kid, policy: eab.policy_name, ip: ctx.request.ip },
        },
      },
    ])
    if (unmet !== undefined) throw await refuse(`The EAB "${eab.name}" has no use left.`)
    id = writtenId(results[1])
  } catch (error) {
    if (error instanceof AcmeProblem) throw error
    // The same key registered at the same moment on another request: that account.
    const raced = await byThumbprint(ctx, auth.thumbprint!)
    if (raced) {
      return sendJson(ctx, 200, accountBody(ctx, raced), { location: accountUrl(ctx, raced.id) })
    }
    throw error
  }
  const account = accountFromRow({ ...row, id })
  return sendJson(ctx, 201, accountBody(ctx, account), { location: accountUrl(ctx, id) })
}

function ownAccount(auth: { account?: Account }, id: string): Account {
  if (!auth.account || String(auth.account.id) !== id) {
    throw new AcmeProblem('unauthorized', 'A request may only read or change its own account.')
  }
  return auth.account
}

export async function updateAccount(ctx: AcmeContext) {
  const auth = await authenticate(ctx, 'kid')
  const account = ownAccount(auth, ctx.request.params.id)
  const payload = auth.payload
  if (payload && typeof payload === 'object') {
    // A client may send the account's fields back as it got them ("status": "valid").
    if (
      payload.status !== undefined &&
      payload.status !== account.status &&
      payload.status !== 'deactivated'
    ) {
      throw new AcmeProblem('malformed', 'An account\'s status may only be set to "deactivated".')
    }
    const update: Record<string, unknown> = {}
    if (payload.contact !== undefined)
      update.contact = JSON.stringify(checkContact(payload.contact))
    if (payload.status === 'deactivated') update.status = 'deactivated'
    if (Object.keys(update).length) {
      await ctx.runtime.table('acme_accounts').where('id', account.id).update(update)
      await auditAs(ctx.runtime, undefined, {
        action:
          payload.status === 'deactivated' ? 'acme.account.deactivate' : 'acme.account.update',
        objectType: 'acme_account',
        objectId: account.id,
        details: { fields: Object.keys(update) },
      })
      if (payload.status === 'deactivated') {
        // Pending authorizations of a deactivated account are deactivated with it (§7.3.6).
        await ctx.runtime
          .table('acme_authorizations')
          .where('account_id', account.id)
          .where('status', 'pending')
          .update({ status: 'deactivated' })
      }
    }
  }
  const fresh = accountFromRow(
    await ctx.runtime.table('acme_accounts').where('id', account.id).first()
  )
  return sendJson(ctx, 200, accountBody(ctx, fresh), { location: accountUrl(ctx, account.id) })
}

/** Orders listed per page of an account's orders list; the rest follow Link rel="next". */
export const ORDERS_PAGE = 100

/**
 * The account's orders (RFC 8555 §7.1.2.1), newest first, ORDERS_PAGE at a time: a longer list
 * continues at `?cursor=<id>` (the orders older than that one), given in a Link rel="next".
 */
export async function accountOrders(ctx: AcmeContext) {
  const raw = ctx.request.query.cursor
  const cursor = raw === undefined ? 0 : numericId(String(raw)) || -1
  const auth = await authenticate(ctx, 'kid')
  const account = ownAccount(auth, ctx.request.params.id)
  if (cursor < 0) {
    throw new AcmeProblem(
      'malformed',
      'The orders list "cursor" is the number given in its Link rel="next".'
    )
  }
  // RFC 8555 §7.1.2.1: invalid orders SHOULD NOT be listed.
  const query = ctx.runtime
    .table('acme_orders')
    .where('account_id', account.id)
    .whereNot('status', 'invalid')
  if (cursor) query.where('id', '<', cursor)
  const rows = await query
    .orderBy('id', 'desc')
    .limit(ORDERS_PAGE + 1)
    .select('id')
  const page = rows.slice(0, ORDERS_PAGE)
  const extra: Record<string, string> = {}
  if (rows.length > ORDERS_PAGE) {
    const next = `${accountUrl(ctx, account.id)}/orders?cursor=${page[page.length - 1].id}`
    extra.link = `<${next}>;rel="next"`
  }
  return sendJson(ctx, 200, { orders: page.map((r: any) => `${ctx.base}/order/${r.id}`) }, extra)
}

/** Key rollover (§7.3.5): the inner JWS, signed by the new key, names the account and old key. */
export async function keyChange(ctx: AcmeContext) {
  const auth = await authenticate(ctx, 'kid')
  const account = auth.account!
  const inner = parseJws(
    auth.payload !== null && typeof auth.payload === 'object' ? auth.payload : {}
  )
  checkAlg(inner.header.alg)
  if (inner.header.jwk === undefined || inner.header.kid !== undefined) {
    throw new AcmeProblem('malformed', 'The inner JWS must carry the new key as "jwk".')
  }
  if (inner.header.nonce !== undefined) {
    throw new AcmeProblem('malformed', 'The inner JWS must not carry a nonce.')
  }
  if (inner.header.url !== auth.jws.header.url) {
    throw new AcmeProblem('malformed', 'The inner JWS "url" differs from the outer one.')
  }
  const newKey = importKey(inner.header.jwk, inner.header.alg)
  verifyJws(inner, newKey)
  const body = inner.payload ?? {}
  if (body.account !== accountUrl(ctx, account.id)) {
    throw new AcmeProblem('malformed', 'The key change names another account.')
  }
  let oldTp = ''
  try {
    oldTp = thumbprint(body.oldKey ?? {})
  } catch {
    throw new AcmeProblem('malformed', '"oldKey" is not a JWK.')
  }
  if (oldTp !== account.thumbprint) {
    throw new AcmeProblem('unauthorized', '"oldKey" is not the account\'s current key.')
  }
  const newTp = thumbprint(inner.header.jwk)
  const clash = await byThumbprint(ctx, newTp)
  if (clash) {
    throw new AcmeProblem('malformed', 'Another account already uses the new key.', {
      status: 409,
      headers: { location: accountUrl(ctx, clash.id) },
    })
  }
  // Only from the key just checked: of two concurrent rollovers, the second finds it changed.
  let changed: unknown
  try {
    changed = await ctx.runtime
      .table('acme_accounts')
      .where('id', account.id)
      .where('thumbprint', oldTp)
      .update({ thumbprint: newTp, jwk: JSON.stringify(publicJwk(inner.header.jwk)) })
  } catch (error) {
    // Another account took the new key meanwhile (the thumbprint is unique).
    const taken = await byThumbprint(ctx, newTp)
    if (!taken) throw error
    throw new AcmeProblem('malformed', 'Another account already uses the new key.', {
      status: 409,
      headers: { location: accountUrl(ctx, taken.id) },
    })
  }
  if (Number(changed) !== 1) {
    throw new AcmeProblem('unauthorized', '"oldKey" is no longer the account\'s current key.')
  }
  await auditAs(ctx.runtime, undefined, {
    action: 'acme.account.key-change',
    objectType: 'acme_account',
    objectId: account.id,
    details: { oldThumbprint: oldTp, newThumbprint: newTp },
  })
  const fresh = accountFromRow(
    await ctx.runtime.table('acme_accounts').where('id', account.id).first()
  )
  return sendJson(ctx, 200, accountBody(ctx, fresh), { location: accountUrl(ctx, account.id) })
}
