/*
 * The audit log: append-only. This module is the only writer and it only inserts; the
 * database itself refuses UPDATE and DELETE on the table (see the kernel migration).
 */
import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { Actor } from './actor.js'

export interface AuditEntry {
  action: string
  objectType?: string
  objectId?: string | number
  caId?: number | null
  details?: Record<string, unknown>
}

/** One audit_logs row, in column order. */
export interface AuditRow {
  at: number
  actor: string
  action: string
  object_type: string | null
  object_id: string | null
  ca_id: number | null
  ip: string | null
  details: string | null
}

export const AUDIT_COLUMNS = [
  'at',
  'actor',
  'action',
  'object_type',
  'object_id',
  'ca_id',
  'ip',
  'details',
] as const satisfies ReadonlyArray<keyof AuditRow>

/** The audit insert with `?` placeholders in AUDIT_COLUMNS order (batched writers). */
export const INSERT_AUDIT = `INSERT INTO audit_logs (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`

/** The row `audit()` writes; also used by writers that batch their inserts (certificate store). */
export function auditRow(actor: Actor, entry: AuditEntry): AuditRow {
  return {
    at: Date.now(),
    actor: actor.label,
    action: entry.action,
    object_type: entry.objectType ?? null,
    object_id: entry.objectId === undefined ? null : String(entry.objectId),
    ca_id: entry.caId ?? null,
    ip: actor.ip ?? null,
    details: entry.details ? JSON.stringify(entry.details) : null,
  }
}

export async function audit(actor: Actor, entry: AuditEntry, trx?: TransactionClientContract) {
  await (trx ?? db).table('audit_logs').insert(auditRow(actor, entry))
}

export interface AuditQuery {
  caIds?: number[] | null
  action?: string
  limit?: number
  beforeId?: number
}

export async function listAudit(query: AuditQuery) {
  const q = db
    .from('audit_logs')
    .orderBy('id', 'desc')
    .limit(Math.min(query.limit ?? 100, 1000))
  if (query.caIds) q.whereIn('ca_id', query.caIds)
  if (query.action) q.where('action', query.action)
  if (query.beforeId) q.where('id', '<', query.beforeId)
  const rows = await q
  return rows.map((r: any) => ({
    id: Number(r.id),
    at: new Date(Number(r.at)).toISOString(),
    actor: r.actor,
    action: r.action,
    objectType: r.object_type,
    objectId: r.object_id,
    caId: r.ca_id,
    ip: r.ip,
    details: r.details ? JSON.parse(r.details) : null,
  }))
}
