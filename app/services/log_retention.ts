/*
 * Service log retention (manual §15): entries older than the retention period (days, an
 * install-wide setting in kernel_meta, default 90) are deleted by a cluster-singleton job in
 * small batches, so the purge never holds a long write transaction. Counters older than the
 * period go too.
 */
import db from '@adonisjs/lucid/services/db'
import { KernelError } from '#exceptions/kernel_error'
import { audit } from './audit_service.js'
import { deleteInBatches } from './batch_delete.js'
import type { Actor } from './actor.js'

const KEY = 'service_logs.retention_days'
export const DEFAULT_RETENTION_DAYS = 90
export const MAX_RETENTION_DAYS = 3650
const DAY = 86400_000

export async function getRetentionDays(): Promise<number> {
  const row = await db.from('kernel_meta').where('key', KEY).first()
  const days = Number(row?.value)
  return Number.isInteger(days) && days >= 1 ? days : DEFAULT_RETENTION_DAYS
}

/** Checks and stores the retention period (install administrators only). */
export async function setRetentionDays(actor: Actor, input: unknown): Promise<number> {
  if (!actor.isAdmin)
    throw new KernelError('E_FORBIDDEN', 'Only install administrators change the log retention.')
  const text = String(input ?? '').trim()
  const days = Number(text)
  if (!/^\d+$/.test(text) || !Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS) {
    throw new KernelError(
      'E_VALIDATION',
      `Retention must be a whole number of days between 1 and ${MAX_RETENTION_DAYS}.`
    )
  }
  const previous = await getRetentionDays()
  await db.transaction(async (trx) => {
    const updated = await trx
      .from('kernel_meta')
      .where('key', KEY)
      .update({ value: String(days) })
    if (Number(updated) === 0)
      await trx.table('kernel_meta').insert({ key: KEY, value: String(days) })
    await audit(actor, { action: 'settings.log_retention', details: { days, previous } }, trx)
  })
  return days
}

/** Deletes log entries and counters older than the retention period; returns entries deleted. */
export async function purgeServiceLogs(now = Date.now(), batchSize = 5000): Promise<number> {
  const days = await getRetentionDays()
  const cutoff = now - days * DAY
  const total = await deleteInBatches('service_logs', (q) => q.where('at', '<', cutoff), batchSize)
  const cutoffDay = new Date(cutoff).toISOString().slice(0, 10)
  await db.from('service_counters').where('day', '<', cutoffDay).delete()
  return total
}
