/*
 * Expired-certificate purge (manual §7.1.2): certificates are removed a configurable number of
 * days after they expire. A revoked (or held) certificate is kept until a CRL issued after its
 * expiry has listed it (RFC 5280 §3.3); the CRL plugin marks that with `listed_after_expiry`.
 */
import { deleteInBatches } from './batch_delete.js'
import pkiConfig from '#config/pki'
import { audit } from './audit_service.js'
import { systemActor } from './actor.js'

export async function purgeExpired(now = Date.now(), batchSize = 1000): Promise<number> {
  const cutoff = now - pkiConfig.purgeExpiredAfterDays * 86400_000
  const total = await deleteInBatches(
    'certificates',
    (q) =>
      q
        .where('not_after', '<', cutoff)
        .where((w) => w.where('status', 'valid').orWhere('listed_after_expiry', true)),
    batchSize
  )
  if (total > 0)
    await audit(systemActor, {
      action: 'certificate.purge',
      details: { count: total, expiredBefore: new Date(cutoff).toISOString() },
    })
  return total
}
