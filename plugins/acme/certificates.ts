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
  const reasonCode = payload.reason === undefined ? 0 : payload.reason
  const reason = REASONS[reasonCode as number]
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
    if (Number(row.account_id) !== auth.account.id) {
      throw new AcmeProblem(
        'unauthorized',
        'Only the account that ordered a certificate (or its key) may revoke it.'
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
    throw new AcmeProblem('malformed', `Revocation refused: ${(error as Error).message}`)
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
