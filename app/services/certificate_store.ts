/*
 * Durable certificate storage with group commit. Every issued certificate is written, with its
 * audit entry (and its request's new status), in a transaction that has committed before the
 * certificate is returned. Certificates issued at the same moment share one transaction — one
 * fsync for many — which is what makes durable issuance fast on SQLite (synchronous=FULL).
 * A batch that fails (e.g. a serial collision) is retried one certificate at a time, so only the
 * faulty certificate fails.
 */
import db from '@adonisjs/lucid/services/db'
import { Worker } from 'node:worker_threads'
import { KernelError } from '#exceptions/kernel_error'
import { sqliteFile } from '#config/database'
import { bindable, isSqlite } from './fast_db.js'
import { checkExpectation, resolveRefs } from './batch_statements.js'
import { AUDIT_COLUMNS, INSERT_AUDIT, type AuditRow } from './audit_service.js'
import type { WriteResult } from '#plugins/contract'

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

interface Pending {
  row: CertificateRow
  /** Its object_id is filled in with the new certificate's id. */
  audit: AuditRow
  requestId?: number
  /** The claim token (decided_at written when claimed) the request must still carry. */
  claim?: number
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

const INSERT_CERT = `INSERT INTO certificates (${CERT_COLUMNS.join(', ')}) VALUES (${CERT_COLUMNS.map(() => '?').join(', ')})`
/*
 * Only a request still claimed by the approver that signed: status `signing` with the claim token
 * (the decided_at its claim wrote). A claim taken over meanwhile changes 0 rows, and the whole
 * certificate fails (E_CONFLICT): one request, one certificate.
 */
const UPDATE_REQUEST = `UPDATE certificate_requests SET status = 'issued', certificate_id = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'signing' AND (? IS NULL OR decided_at = ?)`

function claimLost(requestId: number) {
  return new KernelError(
    'E_CONFLICT',
    `Request ${requestId} was taken over by another approver while it was being signed; this certificate was not stored.`
  )
}

const INSERT_NAME = `INSERT INTO certificate_names (certificate_id, ca_id, name) VALUES (?, ?, ?)`

/**
 * The names a certificate is found by on the Issued Certificates page (case-insensitive prefix
 * search): its common name, SAN values and serial, lowercased, distinct, at most 255 characters.
 * Stored in certificate_names in the same transaction as the certificate.
 */
export function certificateNames(row: {
  common_name?: string | null
  sans?: unknown
  serial: string
}): string[] {
  const names = new Set<string>()
  const add = (value: unknown) => {
    if (typeof value !== 'string') return
    const v = value.trim().toLowerCase().slice(0, 255)
    if (v) names.add(v)
  }
  add(row.common_name)
  let sans: unknown = row.sans
  if (typeof sans === 'string') {
    try {
      sans = JSON.parse(sans)
    } catch {
      sans = []
    }
  }
  if (Array.isArray(sans)) for (const s of sans) add(s?.value)
  add(row.serial)
  return [...names]
}

const MAX_BATCH = 256
let queue: Pending[] = []
let draining = false

/** Stores a certificate durably; resolves with its id once the transaction has committed. */
export function storeCertificate(
  row: CertificateRow,
  audit: AuditRow,
  requestId?: number,
  /** The approver's claim token on the request (see UPDATE_REQUEST). */
  claim?: number
): Promise<number> {
  return new Promise((resolve, reject) => {
    queue.push({ row, audit, requestId, claim, resolve, reject })
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
          } catch (error: any) {
            // The store worker answers a lost claim with a plain error carrying the code.
            const lost = error?.code === 'E_CONFLICT' && !(error instanceof KernelError)
            p.reject(lost && p.requestId ? claimLost(p.requestId) : error)
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

/*
 * SQLite: one worker thread with its own connection commits the batches, so the fsync that makes
 * each commit durable does not stop the event loop. It is started on first use.
 */
class StoreWorker {
  #worker: Worker
  #next = 0
  #pending = new Map<number, { resolve: (value: any) => void; reject: (error: unknown) => void }>()
  /** Called once nothing is pending any more (close() waiting for the batches it was sent). */
  #onIdle: Array<() => void> = []

  constructor() {
    this.#worker = new Worker(new URL('./store_worker.js', import.meta.url), {
      workerData: {
        filename: sqliteFile,
        sql: {
          insertCertificate: INSERT_CERT,
          insertAudit: INSERT_AUDIT,
          updateRequest: UPDATE_REQUEST,
          insertName: INSERT_NAME,
        },
      },
    })
    this.#worker.unref()
    this.#worker.on(
      'message',
      (message: {
        id: number
        ids?: number[]
        results?: BatchResult[]
        error?: { message: string; code?: string; index?: number }
      }) => {
        const waiter = this.#pending.get(message.id)
        this.#pending.delete(message.id)
        if (this.#pending.size === 0) this.#idle()
        if (!waiter) return
        if (message.error)
          waiter.reject(
            Object.assign(new Error(message.error.message), {
              code: message.error.code,
              index: message.error.index,
            })
          )
        else waiter.resolve(message.results ?? message.ids!)
      }
    )
    this.#worker.on('error', (error) => this.#failAll(error))
    this.#worker.on('exit', () => {
      this.#failAll(new Error('the certificate store worker stopped'))
      if (worker === this) worker = undefined
    })
  }

  commit(items: unknown[]): Promise<number[]> {
    return this.#send({ items })
  }

  run(batch: Statement[]): Promise<BatchResult[]> {
    return this.#send({ batch })
  }

  #send<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.ref()
      this.#worker.postMessage({ id, ...message })
    })
  }

  /**
   * Stops the worker once the batches already sent have been answered (at most `graceMs`): a
   * commit in progress at shutdown completes instead of being rolled back.
   */
  async close(graceMs = 5000) {
    if (this.#pending.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        this.#onIdle.push(resolve)
        timer = setTimeout(resolve, graceMs)
      })
      clearTimeout(timer)
    }
    await this.#worker.terminate()
  }

  #idle() {
    this.#worker.unref()
    for (const resolve of this.#onIdle.splice(0)) resolve()
  }

  #failAll(error: unknown) {
    for (const waiter of this.#pending.values()) waiter.reject(error)
    this.#pending.clear()
    this.#idle()
  }
}

let worker: StoreWorker | undefined

/** One statement of a write batch, `?` placeholders. */
export interface Statement {
  sql: string
  /** a binding may be `{ ref: i }`: the id statement i inserted (RETURNING id, else rowid) */
  bindings: unknown[]
  /** rows the statement must change, else the batch rolls back (E_WRITE_EXPECTATION) */
  expect?: number
}

/** What one statement of a batch did (the plugin contract's WriteResult). */
export type BatchResult = WriteResult

/**
 * Runs statements in one transaction and commits it; on SQLite in the store worker, so that the
 * commit's fsync (and any wait for the write lock) happens off the event loop, serialized with
 * the certificate batches on the same connection. Rejects, with nothing written, when any fails.
 */
export async function commitStatements(statements: Statement[]): Promise<BatchResult[]> {
  if (statements.length === 0) return []
  if (isSqlite()) {
    return storeWorker().run(
      statements.map((st) => ({ sql: st.sql, bindings: bindable(st.bindings), expect: st.expect }))
    )
  }
  return db.transaction(async (trx) => {
    const results: BatchResult[] = []
    for (const [index, st] of statements.entries()) {
      const bindings = resolveRefs(st.bindings, results)
      const result = await trx.rawQuery(st.sql, bindings as any[])
      const rows = Array.isArray(result.rows) ? result.rows : []
      const changes = Number(result.rowCount ?? rows.length)
      checkExpectation(index, changes, st.expect)
      results.push({ changes, lastId: null, ...(rows.length > 0 ? { rows } : {}) })
    }
    return results
  })
}

function storeWorker() {
  worker ??= new StoreWorker()
  return worker
}

/** Stops the store worker (on shutdown); a later store starts a new one. */
export async function closeCertificateStore() {
  const current = worker
  worker = undefined
  await current?.close()
}

async function commit(batch: Pending[]): Promise<number[]> {
  if (isSqlite()) {
    return storeWorker().commit(
      batch.map((p) => ({
        certificate: CERT_COLUMNS.map((c) => p.row[c]),
        audit: AUDIT_COLUMNS.map((c) => p.audit[c]),
        requestId: p.requestId,
        claim: p.claim ?? null,
        names: certificateNames(p.row),
      }))
    )
  }
  return db.transaction(async (trx) => {
    const inserted = await trx
      .table('certificates')
      .multiInsert(batch.map((p) => p.row))
      .returning('id')
    const ids = inserted.map((r: any) => Number(typeof r === 'object' ? r.id : r))
    const audits = batch.map((p, i) => ({ ...p.audit, object_id: String(ids[i]) }))
    await trx.table('audit_logs').multiInsert(audits)
    const names = batch.flatMap((p, i) =>
      certificateNames(p.row).map((name) => ({
        certificate_id: ids[i],
        ca_id: p.row.ca_id,
        name,
      }))
    )
    if (names.length) await trx.table('certificate_names').multiInsert(names)
    for (const [i, p] of batch.entries()) {
      if (p.requestId) {
        const q = trx
          .from('certificate_requests')
          .where('id', p.requestId)
          .where('status', 'signing')
        if (p.claim !== undefined) q.where('decided_at', p.claim)
        const updated = await q.update({
          status: 'issued',
          certificate_id: ids[i],
          decided_by: audits[i].actor,
          decided_at: audits[i].at,
        })
        if (Number(updated) === 0) throw claimLost(p.requestId)
      }
    }
    return ids
  })
}
