/*
 * Issued certificates (RFC 8555 §7.4.2, §7.6, RFC 9773): download with the chain, revocation by
 * the ordering account or the certificate's key, renewal information and the events that move
 * renewal windows earlier.
 */
import { certificateMatchesKey } from '#pki/index'
import type { PluginRuntime } from '#plugin-api'
import { certId, normalizeCertId, renewalWindow } from './ari.js'
import { fromB64u } from './jws.js'
import { auditAs } from './policies.js'
import { AcmeProblem } from './problems.js'
import { queries } from './queries.js'
import {
  authenticate,
  commonHeaders,
  idParam,
  joinedRow,
  rfc3339,
  sendJson,
  type AcmeContext,
} from './protocol.js'

export async function downloadCertificate(ctx: AcmeContext) {
  const id = idParam(ctx)
  // The account and the certificate in one query.
  const auth = await authenticate(ctx, 'kid', {
    join: (accountId) =>
      queries(ctx.runtime).accountWithCertificate.all({ accountId, certificateId: id }),
  })
  const row = joinedRow(auth.rows, 'certificate_id', 'certificate')
  if (Number(row.account_id) !== auth.account!.id) {
    throw new AcmeProblem('unauthorized', 'This certificate belongs to another account.')
  }
  await commonHeaders(ctx, true)
  ctx.reply
    .status(200)
    .header('content-type', 'application/pem-certificate-chain')
    .send(String(row.chain))
}

/* ----------------------------------------------------------------------------- revocation */

/**
 * RFC 8555 §7.6: an account that holds authorizations for all of a certificate's identifiers
 * may revoke it, whoever ordered it. Counted are valid, unexpired authorizations proved by a
 * challenge (a pre-approval is the policy's grant, not proof of control).
 */
async function holdsAuthorizations(runtime: PluginRuntime, accountId: number, orderId: number) {
  const order = await runtime.table('acme_orders').where('id', orderId).first()
  const identifiers: Array<{ type: string; value: string }> = JSON.parse(order?.identifiers ?? '[]')
  if (identifiers.length === 0) return false
  const now = Date.now()
  for (const id of identifiers) {
    const held = await runtime
      .table('acme_authorizations')
      .where({
        account_id: accountId,
        identifier_type: id.type,
        identifier_value: id.value,
        status: 'valid',
        pre_approved: false,
      })
      .where('expires', '>', now)
      .first()
    if (!held) return false
  }
  return true
}

const REASONS: Record<number, string> = {
  0: 'unspecified',
  1: 'keyCompromise',
  3: 'affiliationChanged',
  4: 'superseded',
  5: 'cessationOfOperation',
  9: 'privilegeWithdrawn',
}

export async function revokeCert(ctx: AcmeContext) {
  const auth = await authenticate(ctx, 'either')
  const payload = auth.payload ?? {}
  const der = fromB64u(payload.certificate, '"certificate"')
  let ariId: string
  try {
    ariId = certId(der)
  } catch (error) {
    throw new AcmeProblem(
      'malformed',
      `"certificate" is not a certificate: ${(error as Error).message}`
    )
  }
  // RFC 8555 §7.6: an integer reason code (RFC 5280 §5.3.1).
  const reasonCode: unknown = payload.reason === undefined ? 0 : payload.reason
  const reason =
    Number.isInteger(reasonCode) && Object.hasOwn(REASONS, reasonCode as number)
      ? REASONS[reasonCode as number]
      : undefined
  if (!reason) {
    throw new AcmeProblem(
      'badRevocationReason',
      `Reason ${JSON.stringify(payload.reason)} is not allowed; use 0, 1, 3, 4, 5 or 9.`
    )
  }
  const row = await ctx.runtime.table('acme_certificates').where('ari_id', ariId).first()
  if (!row)
    throw new AcmeProblem('malformed', 'This server issued no such certificate through ACME.', {
      status: 404,
    })
  const stored = await ctx.runtime.findCertificate({ id: Number(row.certificate_id) })
  if (!stored || !Buffer.from(stored.der).equals(der)) {
    throw new AcmeProblem('malformed', 'This server issued no such certificate through ACME.', {
      status: 404,
    })
  }
  if (auth.account) {
    if (
      Number(row.account_id) !== auth.account.id &&
      !(await holdsAuthorizations(ctx.runtime, auth.account.id, Number(row.order_id)))
    ) {
      throw new AcmeProblem(
        'unauthorized',
        'Only the account that ordered a certificate, an account that proved control of all its names, or the certificate key may revoke it.'
      )
    }
  } else if (!certificateMatchesKey(der, auth.key.export({ format: 'der', type: 'spki' }))) {
    throw new AcmeProblem(
      'unauthorized',
      "The request is signed neither by an account nor by the certificate's key."
    )
  }
  if (stored.status === 'revoked')
    throw new AcmeProblem('alreadyRevoked', 'The certificate is already revoked.')
  try {
    await ctx.runtime.revoke(stored.id, reason)
  } catch (error) {
    const code = (error as { code?: string })?.code
    const message = (error as Error)?.message ?? String(error)
    // Revoked by another request meanwhile; refused by a plugin's beforeRevoke; anything else.
    const now = await ctx.runtime.findCertificate({ id: stored.id })
    if (now?.status === 'revoked') throw new AcmeProblem('alreadyRevoked', message)
    if (code === 'E_REVOCATION_REFUSED' || code === 'E_POLICY_DENIED')
      throw new AcmeProblem('unauthorized', message)
    ctx.runtime.log.error({ err: error }, 'ACME: revocation failed')
    throw new AcmeProblem('serverInternal', `The certificate could not be revoked: ${message}`)
  }
  await auditAs(ctx.runtime, undefined, {
    action: 'acme.certificate.revoke',
    caId: stored.caId,
    objectType: 'certificate',
    objectId: stored.id,
    details: { reason, by: auth.account ? `account ${auth.account.id}` : 'certificate key' },
  })
  await sendJson(ctx, 200, {})
}

/* ----------------------------------------------------------------------------- ARI */

export async function renewalInfo(ctx: AcmeContext) {
  const id = normalizeCertId(String(ctx.request.params.certid ?? ''))
  const row = await ctx.runtime.table('acme_certificates').where('ari_id', id).first()
  if (!row)
    throw new AcmeProblem('malformed', 'No certificate issued here has this CertID.', {
      status: 404,
    })
  const window = renewalWindow({
    notBefore: Number(row.not_before),
    notAfter: Number(row.not_after),
    renewAt: row.renew_at === null ? null : Number(row.renew_at),
    renewReason: row.renew_reason ?? null,
  })
  const body: Record<string, unknown> = {
    suggestedWindow: { start: rfc3339(window.start), end: rfc3339(window.end) },
  }
  if (window.explanation) body.explanationURL = `${ctx.base}/renewal-reasons#${window.explanation}`
  return sendJson(ctx, 200, body, { 'retry-after': row.renew_at === null ? '21600' : '3600' })
}

/** Why a renewal window moved earlier: the anchors of explanationURL (RFC 9773 §4.2). */
export const RENEWAL_REASONS: Record<string, string> = {
  'revoked': 'The certificate was revoked. Replace it now.',
  'ca-revoked':
    'The certificate authority that issued the certificate was revoked. Replace it now.',
  'ca-changed':
    'The issuing certificate authority was changed (for example renewed or re-keyed). Renew the certificate to get one from its current state.',
  'template-changed':
    'The rules the certificate was issued under were changed. Renew it to get a certificate made under the current rules.',
}

/** GET /acme/renewal-reasons: the page explanationURL points to, one anchor per reason. */
export async function renewalReasons(ctx: AcmeContext) {
  const escape = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
  const items = Object.entries(RENEWAL_REASONS)
    .map(([id, text]) => `<dt id="${escape(id)}">${escape(id)}</dt><dd>${escape(text)}</dd>`)
    .join('\n')
  ctx.reply
    .status(200)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'max-age=86400')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Why renew early</title></head><body>\n<h1>Why this certificate should be renewed early</h1>\n<dl>\n${items}\n</dl>\n</body></html>\n`
    )
}

/** Called by hooks: asks for early renewal of the certificates matching `where`. */
export async function requestRenewal(
  runtime: PluginRuntime,
  where: Record<string, unknown>,
  reason: 'revoked' | 'ca-revoked' | 'ca-changed' | 'template-changed'
) {
  const q = runtime.table('acme_certificates').where(where).where('not_after', '>', Date.now())
  // A revocation outranks an earlier "changed" request; a change never delays an earlier one.
  if (reason === 'revoked' || reason === 'ca-revoked') {
    q.where((w: any) =>
      w.whereNull('renew_reason').orWhereNotIn('renew_reason', ['revoked', 'ca-revoked'])
    )
  } else {
    q.whereNull('renew_at')
  }
  await q.update({ renew_at: Date.now(), renew_reason: reason })
}
