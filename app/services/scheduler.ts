/*
 * Scheduled jobs with a cluster-wide lease in the database: when several nodes share one
 * database, a 'cluster-singleton' job runs on one node at a time.
 */
import { randomUUID } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'

export const nodeId = randomUUID()

/** Takes (or renews) the lease `name` for `ttlMs`. Returns true when this node holds it. */
export async function acquireLease(name: string, ttlMs: number): Promise<boolean> {
  const now = Date.now()
  const updated = await db
    .from('job_leases')
    .where('name', name)
    .where((q) => q.where('expires_at', '<', now).orWhere('holder', nodeId))
    .update({ holder: nodeId, expires_at: now + ttlMs })
  if (Number(updated) > 0) return true
  try {
    await db.table('job_leases').insert({ name, holder: nodeId, expires_at: now + ttlMs })
    return true
  } catch {
    return false // another node inserted it first
  }
}

export async function releaseLease(name: string) {
  await db.from('job_leases').where({ name, holder: nodeId }).delete()
}

export interface JobDefinition {
  name: string
  everyMs: number
  concurrency: 'cluster-singleton' | 'per-node'
  run: () => Promise<void>
  /** Checked before each run: a disabled plugin's jobs stop running. */
  isActive?: () => boolean
  /** Delay before the first run (default 5 s). */
  firstRunMs?: number
}

const timers = new Set<NodeJS.Timeout>()

export function scheduleJob(job: JobDefinition) {
  let running = false
  const tick = async () => {
    if (running) return
    if (job.isActive && !job.isActive()) return
    running = true
    try {
      if (
        job.concurrency === 'cluster-singleton' &&
        !(await acquireLease(`job:${job.name}`, Math.max(job.everyMs, 60_000)))
      )
        return
      await job.run()
    } catch (error) {
      logger.error({ err: error, job: job.name }, 'scheduled job failed')
    } finally {
      running = false
    }
  }
  const timer = setInterval(tick, job.everyMs)
  timer.unref()
  timers.add(timer)
  const first = setTimeout(tick, job.firstRunMs ?? 5_000)
  first.unref()
  timers.add(first)
  return () => {
    clearInterval(timer)
    clearTimeout(first)
    timers.delete(timer)
    timers.delete(first)
  }
}

export function stopJobs() {
  for (const t of timers) clearInterval(t)
  timers.clear()
}
