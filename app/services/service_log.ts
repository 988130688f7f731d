/*
 * Service logs (manual §15): what the Logs page shows. The kernel and plugins (through the
 * kernel port) write enrollments, failures and configuration changes here; hot paths such as
 * OCSP hits only add to counters, which are kept in memory and flushed in batches.
 */
import logger from '@adonisjs/core/services/logger'
import { commitStatements, type Statement } from './certificate_store.js'

export type ServiceLogLevel = 'info' | 'warn' | 'error'

export interface ServiceLogEntry {
  /** 'kernel' or a plugin id. */
  service: string
  caId?: number | null
  level: ServiceLogLevel
  /** A short machine name, e.g. 'certificate.issued', 'request.declined', 'settings.changed'. */
  event: string
  message: string
  details?: Record<string, unknown>
}

/** The service_logs row of an entry. */
function logRow(entry: ServiceLogEntry): unknown[] {
  return [
    Date.now(),
    entry.service.slice(0, 60),
    entry.caId ?? null,
    entry.level,
    entry.event.slice(0, 80),
    entry.message,
    entry.details ? JSON.stringify(entry.details) : null,
  ]
}

const LOG_COLUMNS = 'at, service, ca_id, level, event, message, details'
const ROWS_PER_INSERT = 100

/** Multi-row INSERTs of `rows` (from logRow), at most ROWS_PER_INSERT rows each. */
function logInserts(rows: unknown[][]): Statement[] {
  const statements: Statement[] = []
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT)
    statements.push({
      sql: `INSERT INTO service_logs (${LOG_COLUMNS}) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      bindings: chunk.flat(),
    })
  }
  return statements
}

/**
 * Writes one entry. Never throws: a log that cannot be written must not fail the action. Like
 * every service-log write it commits through commitStatements (on SQLite in the store worker, so
 * the commit's fsync never blocks the event loop).
 */
export async function writeServiceLog(entry: ServiceLogEntry) {
  try {
    await commitStatements(logInserts([logRow(entry)]))
  } catch (error) {
    logger.warn({ err: error, service: entry.service }, 'could not write a service log entry')
  }
}

const pending = new Map<string, number>()
let flushTimer: NodeJS.Timeout | undefined

/** Adds to a counter (per service, CA, name and UTC day); flushed to the database every 5 s. */
export function countServiceHit(service: string, name: string, caId = 0, n = 1) {
  const key = `${service}\u0000${caId}\u0000${name}`
  pending.set(key, (pending.get(key) ?? 0) + n)
  if (!flushTimer) {
    flushTimer = setTimeout(() => void flushServiceCounters(), 5000)
    flushTimer.unref()
  }
}

export async function flushServiceCounters() {
  if (flushTimer) clearTimeout(flushTimer)
  flushTimer = undefined
  if (pending.size === 0) return
  const day = new Date().toISOString().slice(0, 10)
  // sorted: nodes flushing the same counters take their row locks in the same order (PostgreSQL)
  const batch = [...pending.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  pending.clear()
  try {
    // one transaction for all of them
    await commitStatements(
      batch.map(([key, n]) => {
        const [service, name, caId] = splitKey(key)
        return {
          sql: `INSERT INTO service_counters (service, ca_id, name, day, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (service, ca_id, name, day) DO UPDATE SET count = service_counters.count + excluded.count`,
          bindings: [service, caId, name, day, n],
        }
      })
    )
  } catch (error) {
    logger.warn({ err: error }, 'could not flush service counters')
    // counted again with the next flush (nothing of the batch was committed)
    for (const [key, n] of batch) countServiceHit(...splitKey(key), n)
  }
}

function splitKey(key: string): [string, string, number] {
  const [service, caId, name] = key.split('\u0000')
  return [service, name, Number(caId)]
}

const queued: unknown[][] = []
let queueTimer: NodeJS.Timeout | undefined

/**
 * Like writeServiceLog, for busy paths (a certificate issued through the REST API): the entry
 * is written within a second together with the others queued meanwhile, in one insert (one
 * commit, so one fsync on SQLite, for many entries), after the action has completed. Never throws.
 */
export function queueServiceLog(entry: ServiceLogEntry) {
  queued.push(logRow(entry))
  if (queued.length >= 500) void flushServiceLogs()
  else if (!queueTimer) {
    queueTimer = setTimeout(() => void flushServiceLogs(), 1000)
    queueTimer.unref()
  }
}

/** Flushes started and not yet committed (awaited by flushServiceLogs, e.g. on shutdown). */
const flushing = new Set<Promise<void>>()

/**
 * Writes the queued entries now (also called on shutdown) and resolves once they, and every
 * flush started before, are committed.
 */
export async function flushServiceLogs() {
  if (queueTimer) clearTimeout(queueTimer)
  queueTimer = undefined
  if (queued.length > 0) {
    const batch = queued.splice(0, queued.length)
    const flush = commitStatements(logInserts(batch)).then(
      () => {},
      (error) =>
        logger.warn({ err: error, count: batch.length }, 'could not write service log entries')
    )
    flushing.add(flush)
    void flush.finally(() => flushing.delete(flush))
  }
  await Promise.all(flushing)
}
