/*
 * Revocation (manual §6.2, RFC 5280 §5.3.1). Rules:
 *  - reasons: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
 *    cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise (removeFromCRL is
 *    only a CRL entry reason, never a revocation reason);
 *  - a certificate on hold can be unrevoked or moved to any permanent reason;
 *  - a permanently revoked certificate can only have its reason changed to keyCompromise;
 *  - a self-signed root cannot be revoked: its certificate lives with the CA (`cas`), not among
 *    the issued certificates, so no revocation path reaches it (delete the CA instead).
 */
import db from '@adonisjs/lucid/services/db'
import Certificate, { type RevocationReason } from '#models/certificate'
import { KernelError } from '#exceptions/kernel_error'
import { audit } from './audit_service.js'
import { hooks } from './hooks.js'
import type { Actor } from './actor.js'
import { writeServiceLog } from './service_log.js'

export const REVOCATION_REASONS: RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
]

export function parseReason(input: unknown): RevocationReason {
  const value = String(input ?? 'unspecified').trim()
  const found = REVOCATION_REASONS.find((r) => r.toLowerCase() === value.toLowerCase())
  if (!found) {
    const hint =
      value.toLowerCase() === 'removefromcrl'
        ? ' removeFromCRL only appears in delta CRLs; use unrevoke for a certificate on hold.'
        : ''
    throw new KernelError(
      'E_VALIDATION',
      `"${value}" is not a revocation reason. Use one of: ${REVOCATION_REASONS.join(', ')}.${hint}`
    )
  }
  return found
}

async function lockedCertificate(trx: any, id: number) {
  const q = trx.from('certificates').where('id', id)
  if (trx.dialect.name === 'postgres') q.forUpdate()
  return q.first()
}

export const revocationService = {
  async revoke(actor: Actor, cert: Certificate, reasonInput: unknown) {
    const reason = parseReason(reasonInput)
    await hooks
      .run('beforeRevoke', {
        caId: cert.caId,
        certificateId: cert.id,
        serial: cert.serial,
        reason,
        previousStatus: cert.status,
        actor,
      })
      .catch((error) => {
        if (error instanceof KernelError) throw error
        throw new KernelError(
          'E_REVOCATION_REFUSED',
          `Revocation refused: ${error?.message ?? error}`
        )
      })
    const previousStatus = await db.transaction(async (trx) => {
      const row = await lockedCertificate(trx, cert.id)
      if (!row)
        throw new KernelError('E_CERT_NOT_FOUND', `Certificate ${cert.serial} no longer exists.`)
      const status = row.status as 'valid' | 'hold' | 'revoked'
      const now = Date.now()
      let update: Record<string, unknown>
      if (status === 'valid') {
        update = {
          status: reason === 'certificateHold' ? 'hold' : 'revoked',
          revocation_reason: reason,
          revoked_at: now,
        }
      } else if (status === 'hold') {
        if (reason === 'certificateHold') {
          throw new KernelError(
            'E_REVOCATION_REFUSED',
            `Certificate ${cert.serial} is already on hold. Unrevoke it, or revoke it with a permanent reason.`
          )
        }
        // Moving from hold to a permanent reason keeps the original revocation date.
        update = { status: 'revoked', revocation_reason: reason }
      } else {
        if (reason !== 'keyCompromise' || row.revocation_reason === 'keyCompromise') {
          throw new KernelError(
            'E_REVOCATION_REFUSED',
            `Certificate ${cert.serial} is already revoked (${row.revocation_reason}). A permanent revocation can only have its reason changed to keyCompromise.`
          )
        }
        update = { revocation_reason: 'keyCompromise' }
      }
      // A changed revocation must reach the next full CRL again, even for a certificate that
      // expired and was listed one last time (and the purge must not take it meanwhile).
      await trx
        .from('certificates')
        .where('id', cert.id)
        .update({ ...update, listed_after_expiry: false })
      await audit(
        actor,
        {
          action: 'certificate.revoke',
          objectType: 'certificate',
          objectId: cert.id,
          caId: cert.caId,
          details: { serial: cert.serial, reason, previous: status },
        },
        trx
      )
      return status
    })
    await writeServiceLog({
      service: 'kernel',
      caId: cert.caId,
      level: 'info',
      event: 'certificate.revoked',
      message:
        previousStatus === 'revoked'
          ? `Certificate ${cert.serial}: revocation reason changed to ${reason} by ${actor.label}.`
          : reason === 'certificateHold'
            ? `Certificate ${cert.serial} (${cert.subjectDn}) put on hold by ${actor.label}.`
            : `Certificate ${cert.serial} (${cert.subjectDn}) revoked (${reason}) by ${actor.label}.`,
      details: { certificate: cert.id, serial: cert.serial, reason, previous: previousStatus },
    })
    await hooks.run('afterRevoke', {
      caId: cert.caId,
      certificateId: cert.id,
      serial: cert.serial,
      reason,
      previousStatus,
      actor,
    })
    return Certificate.findOrFail(cert.id)
  },

  async unrevoke(actor: Actor, cert: Certificate) {
    await db.transaction(async (trx) => {
      const row = await lockedCertificate(trx, cert.id)
      if (!row)
        throw new KernelError('E_CERT_NOT_FOUND', `Certificate ${cert.serial} no longer exists.`)
      if (row.status !== 'hold') {
        throw new KernelError(
          'E_REVOCATION_REFUSED',
          row.status === 'revoked'
            ? `Certificate ${cert.serial} is permanently revoked (${row.revocation_reason}); only certificates on hold (certificateHold) can be unrevoked.`
            : `Certificate ${cert.serial} is not revoked; only certificates on hold can be unrevoked.`
        )
      }
      await trx.from('certificates').where('id', cert.id).update({
        status: 'valid',
        revocation_reason: null,
        revoked_at: null,
        listed_after_expiry: false,
      })
      await audit(
        actor,
        {
          action: 'certificate.unrevoke',
          objectType: 'certificate',
          objectId: cert.id,
          caId: cert.caId,
          details: { serial: cert.serial },
        },
        trx
      )
    })
    await writeServiceLog({
      service: 'kernel',
      caId: cert.caId,
      level: 'info',
      event: 'certificate.unrevoked',
      message: `Certificate ${cert.serial} (${cert.subjectDn}) taken off hold by ${actor.label}.`,
      details: { certificate: cert.id, serial: cert.serial },
    })
    await hooks.run('afterUnrevoke', {
      caId: cert.caId,
      certificateId: cert.id,
      serial: cert.serial,
      reason: 'removeFromCRL',
      previousStatus: 'hold',
      actor,
    })
    return Certificate.findOrFail(cert.id)
  },
}
