/*
 * Service logs (manual §15): what the Logs page shows. The kernel and plugins (through the
 * kernel port) write enrollments, failures and configuration changes here; hot paths such as
 * OCSP hits only add to counters, which are kept in memory and flushed in batches.
 */
import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'

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

/** Writes one entry. Never throws: a log that cannot be written must not fail the action. */
export async function writeServiceLog(entry: ServiceLogEntry) {
  try {
    await db.table('service_logs').insert({
      at: Date.now(),
      service: entry.service.slice(0, 60),
      ca_id: entry.caId ?? null,
      level: entry.level,
      event: entry.event.slice(0, 80),
      message: entry.message,
      details: entry.details ? JSON.stringify(entry.details) : null,
    })
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
  flushTimer = undefined
  if (pending.size === 0) return
  const day = new Date().toISOString().slice(0, 10)
  const batch = [...pending.entries()]
  pending.clear()
  try {
    for (const [key, n] of batch) {
      const [service, caId, name] = key.split('\u0000')
      await db.rawQuery(
        `INSERT INTO service_counters (service, ca_id, name, day, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (service, ca_id, name, day) DO UPDATE SET count = service_counters.count + excluded.count`,
        [service, Number(caId), name, day, n]
      )
    }
  } catch (error) {
    logger.warn({ err: error }, 'could not flush service counters')
  }
}

const queued: Array<Record<string, unknown>> = []
let queueTimer: NodeJS.Timeout | undefined

/**
 * Like writeServiceLog, for busy paths (a certificate issued through the REST API): the entry
 * is written within a second together with the others queued meanwhile, in one insert (one
 * commit, so one fsync on SQLite, for many entries), after the action has completed. Never throws.
 */
export function queueServiceLog(entry: ServiceLogEntry) {
  queued.push({
    at: Date.now(),
    service: entry.service.slice(0, 60),
    ca_id: entry.caId ?? null,
    level: entry.level,
    event: entry.event.slice(0, 80),
    message: entry.message,
    details: entry.details ? JSON.stringify(entry.details) : null,
  })
  if (queued.length >= 500) void flushServiceLogs()
  else if (!queueTimer) {
    queueTimer = setTimeout(() => void flushServiceLogs(), 1000)
    queueTimer.unref()
  }
}

/** Writes the queued entries now (also called on shutdown). */
export async function flushServiceLogs() {
  if (queueTimer) clearTimeout(queueTimer)
  queueTimer = undefined
  if (queued.length === 0) return
  const batch = queued.splice(0, queued.length)
  try {
    await db.table('service_logs').multiInsert(batch)
  } catch (error) {
    logger.warn({ err: error, count: batch.length }, 'could not write service log entries')
  }
}
