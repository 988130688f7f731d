/*
 * Durable certificate storage with group commit. Every issued certificate is written, with its
 * audit entry (and its request's new status), in a transaction that has committed before the
 * certificate is returned. Certificates issued at the same moment share one transaction — one
 * fsync for many — which is what makes durable issuance fast on SQLite (synchronous=FULL).
 * A batch that fails (e.g. a serial collision) is retried one certificate at a time, so only the
 * faulty certificate fails.
 */
import db from '@adonisjs/lucid/services/db'
import { isSqlite, prepared, withSqlite } from './fast_db.js'

export interface CertificateRow {
  ca_id: number
  template_id: number | null
  request_id: number | null
  serial: string
  kind: string
  subject_dn: string
  common_name: string | null
  sans: string
  key_type: string
  not_before: number
  not_after: number
  status: string
  der: Buffer
  fingerprint: string
  issued_by: string | null
  created_at: number
}

export interface AuditRow {
  at: number
  actor: string
  action: string
  object_type: string
  ca_id: number
  ip: string | null
  details: string
}

interface Pending {
  row: CertificateRow
  /** Built once the certificate id is known. */
  audit: (id: number) => AuditRow
  requestId?: number
  resolve: (id: number) => void
  reject: (error: unknown) => void
}

const CERT_COLUMNS = [
  'ca_id',
  'template_id',
  'request_id',
  'serial',
  'kind',
  'subject_dn',
  'common_name',
  'sans',
  'key_type',
  'not_before',
  'not_after',
  'status',
  'der',
  'fingerprint',
  'issued_by',
  'created_at',
] as const
const AUDIT_COLUMNS = [
  'at',
  'actor',
  'action',
  'object_type',
  'object_id',
  'ca_id',
  'ip',
  'details',
] as const

const INSERT_CERT = `INSERT INTO certificates (${CERT_COLUMNS.join(', ')}) VALUES (${CERT_COLUMNS.map(() => '?').join(', ')})`
const INSERT_AUDIT = `INSERT INTO audit_logs (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`
const UPDATE_REQUEST = `UPDATE certificate_requests SET status = 'issued', certificate_id = ?, decided_by = ?, decided_at = ? WHERE id = ?`

const MAX_BATCH = 256
let queue: Pending[] = []
let draining = false

/** Stores a certificate durably; resolves with its id once the transaction has committed. */
export function storeCertificate(
  row: CertificateRow,
  audit: (id: number) => AuditRow,
  requestId?: number
): Promise<number> {
  return new Promise((resolve, reject) => {
    queue.push({ row, audit, requestId, resolve, reject })
    if (!draining) {
      draining = true
      setImmediate(drain)
    }
  })
}

async function drain() {
  try {
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH)
      queue = queue.slice(batch.length)
      try {
        const ids = await commit(batch)
        batch.forEach((p, i) => p.resolve(ids[i]))
      } catch {
        // Find the faulty one(s): each certificate on its own.
        for (const p of batch) {
          try {
            const [id] = await commit([p])
            p.resolve(id)
          } catch (error) {
            p.reject(error)
          }
        }
      }
    }
  } finally {
    draining = false
    if (queue.length > 0) {
      draining = true
      setImmediate(drain)
    }
  }
}

function auditValues(a: AuditRow, id: number) {
  return [a.at, a.actor, a.action, a.object_type, String(id), a.ca_id, a.ip, a.details]
}

async function commit(batch: Pending[]): Promise<number[]> {
  if (isSqlite()) {
    return withSqlite((conn) => {
      conn.exec('BEGIN IMMEDIATE')
      try {
        const ids: number[] = []
        for (const p of batch) {
          const id = Number(
            prepared(conn, INSERT_CERT).run(...CERT_COLUMNS.map((c) => p.row[c])).lastInsertRowid
          )
          const audit = p.audit(id)
          prepared(conn, INSERT_AUDIT).run(...auditValues(audit, id))
          if (p.requestId)
            prepared(conn, UPDATE_REQUEST).run(id, audit.actor, audit.at, p.requestId)
          ids.push(id)
        }
        conn.exec('COMMIT')
        return ids
      } catch (error) {
        conn.exec('ROLLBACK')
        throw error
      }
    })
  }
  return db.transaction(async (trx) => {
    const inserted = await trx
      .table('certificates')
      .multiInsert(batch.map((p) => p.row))
      .returning('id')
    const ids = inserted.map((r: any) => Number(typeof r === 'object' ? r.id : r))
    const audits = batch.map((p, i) => p.audit(ids[i]))
    await trx
      .table('audit_logs')
      .multiInsert(audits.map((a, i) => ({ ...a, object_id: String(ids[i]) })))
    for (const [i, p] of batch.entries()) {
      if (p.requestId) {
        await trx.from('certificate_requests').where('id', p.requestId).update({
          status: 'issued',
          certificate_id: ids[i],
          decided_by: audits[i].actor,
          decided_at: audits[i].at,
        })
      }
    }
    return ids
  })
}
