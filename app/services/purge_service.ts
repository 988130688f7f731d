/*
 * Expired-certificate purge (manual §7.1.2): certificates are removed a configurable number of
 * days after they expire. A revoked (or held) certificate is kept until a CRL issued after its
 * expiry has listed it (RFC 5280 §3.3); the CRL plugin marks that with `listed_after_expiry`.
 */
import db from '@adonisjs/lucid/services/db'
import { deleteInBatches } from './batch_delete.js'
import pkiConfig from '#config/pki'
import { audit } from './audit_service.js'
import { systemActor } from './actor.js'

export async function purgeExpired(now = Date.now(), batchSize = 1000): Promise<number> {
  const cutoff = now - pkiConfig.purgeExpiredAfterDays * 86400_000
  const due = (q: any) =>
    q
      .where('not_after', '<', cutoff)
      .where((w: any) => w.where('status', 'valid').orWhere('listed_after_expiry', true))
  // Per CA, so that each CA's owners see in their audit log what left their CA.
  const perCa: Array<{ ca_id: number; n: number | string }> = await due(
    db.from('certificates').groupBy('ca_id').select('ca_id').count('* as n')
  )
  const total = await deleteInBatches('certificates', due, batchSize)
  if (total > 0) {
    const expiredBefore = new Date(cutoff).toISOString()
    for (const { ca_id: caId, n } of perCa) {
      await audit(systemActor, {
        action: 'certificate.purge',
        caId: Number(caId),
        objectType: 'ca',
        objectId: Number(caId),
        details: { count: Number(n), expiredBefore },
      })
    }
  }
  return total
}
