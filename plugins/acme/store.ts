/*
 * Shared-state primitives in the database, so that every node behind a load balancer agrees.
 *
 * Nonces are stateless to hand out and single-use to spend: a nonce is a timestamp and random
 * bytes authenticated with an HMAC key shared by every node (kept as a kernel secret, its handle
 * in acme_state), so newNonce writes nothing; spending one inserts it into acme_nonces, whose
 * primary key refuses a second use on any node. Spent nonces are purged once they expire.
 *
 * Nonce spends are group-committed with the writes of the request (units of work): concurrent
 * requests share one transaction (and one disk flush). Rate limits are fixed-window counters in
 * acme_rate, counted in memory and written every 250 ms (see countEvent).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { PluginRuntime } from '#plugin-api'

export const NONCE_LIFETIME_MS = 60 * 60_000
const NONCE_KEY = 'nonce-key'

let nonceKey: Buffer | null = null

/** Loads (or creates, once for the whole cluster) the nonce HMAC key. Called by start(). */
export async function loadNonceKey(runtime: PluginRuntime) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await runtime.table('acme_state').where('name', NONCE_KEY).first()
    if (row) {
      const value = await runtime.secrets.get(String(row.value))
      if (value) {
        nonceKey = Buffer.from(value, 'base64url')
        return
      }
      // The secret is gone (e.g. restored database without it): make a new key.
      await runtime.table('acme_state').where('name', NONCE_KEY).delete()
    }
    const handle = await runtime.secrets.put(randomBytes(32).toString('base64url'))
    try {
      await runtime.table('acme_state').insert({ name: NONCE_KEY, value: handle })
    } catch {
      // Another node created it first: use theirs.
      await runtime.secrets.delete(handle)
    }
  }
  throw new Error('could not load the ACME nonce key')
}

async function key(runtime: PluginRuntime): Promise<Buffer> {
  if (!nonceKey) await loadNonceKey(runtime)
  return nonceKey!
}

function mac(k: Buffer, body: Buffer) {
  return createHmac('sha256', k).update(body).digest().subarray(0, 12)
}

/** A fresh nonce: 6-byte time, 8 random bytes, 12-byte MAC (base64url, 35 characters). */
export async function newNonce(runtime: PluginRuntime): Promise<string> {
  return nonceWith(await key(runtime))
}

/** A fresh nonce without waiting: null until the key is loaded (start()). */
export function newNonceNow(): string | null {
  return nonceKey ? nonceWith(nonceKey) : null
}

function nonceWith(k: Buffer) {
  const body = Buffer.alloc(14)
  body.writeUIntBE(Date.now(), 0, 6)
  randomBytes(8).copy(body, 6)
  return Buffer.concat([body, mac(k, body)]).toString('base64url')
}

const LOADED_WINDOW_MS = 2

/**
 * A group commit: items arriving while a flush is running, or in the same turn of the event loop
 * as the first one (within 2 ms under load), are written together by one flush (one transaction,
 * one disk flush for all of them). On SQLite the statements run synchronously on the main
 * thread, so without waiting a little no second item would ever join. `flush` answers each item
 * in order.
 */
function batcher<T, R>(flush: (items: T[]) => Promise<R[]>, max = 500) {
  const queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = []
  let running = false
  let scheduled = false
  let lastBatch = 0
  const drain = async () => {
    scheduled = false
    if (running) return
    running = true
    try {
      while (queue.length) {
        const batch = queue.splice(0, max)
        lastBatch = batch.length
        try {
          const results = await flush(batch.map((b) => b.item))
          batch.forEach((b, i) => b.resolve(results[i]))
        } catch (error) {
          for (const b of batch) b.reject(error)
        }
      }
    } finally {
      running = false
    }
  }
  return (item: T) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject })
      if (!running && !scheduled) {
        scheduled = true
        // Under load (the last batch had company) wait a little for more: fewer commits.
        if (lastBatch > 1) setTimeout(drain, LOADED_WINDOW_MS)
        else setImmediate(drain)
      }
    })
}

/** A nonce whose MAC and age were checked, to be spent (inserted into acme_nonces). */
export interface CheckedNonce {
  value: string
  expires: number
}

/** Checks a nonce without the database: ours (MAC) and fresh. Null when it is not. */
export async function checkNonce(
  runtime: PluginRuntime,
  value: unknown
): Promise<CheckedNonce | null> {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{35}$/.test(value)) return null
  const raw = Buffer.from(value, 'base64url')
  if (raw.length !== 26) return null
  const body = raw.subarray(0, 14)
  if (!timingSafeEqual(raw.subarray(14), mac(await key(runtime), body))) return null
  const issued = body.readUIntBE(0, 6)
  const now = Date.now()
  if (issued > now + 60_000 || now - issued > NONCE_LIFETIME_MS) return null
  return { value, expires: issued + NONCE_LIFETIME_MS }
}

export type Tx = Parameters<Parameters<PluginRuntime['transaction']>[0]>[0]

interface Unit {
  runtime: PluginRuntime
  nonce: CheckedNonce | null
  work?: (tx: Tx) => Promise<unknown>
}

interface UnitResult {
  /** False when the nonce was spent already (on any node): the work did not run. */
  fresh: boolean
  value?: unknown
}

/**
 * Units of work of concurrent requests, each optionally spending a nonce, committed in one
 * transaction: the batch's nonces in one insert, then each unit whose nonce was fresh (first
 * use anywhere) runs its writes. A unit that throws rolls the batch back; each unit is then
 * retried in a transaction of its own, so only the faulty one fails (and spends nothing).
 */
async function commitUnits(units: Unit[]): Promise<UnitResult[]> {
  return units[0].runtime.transaction(async (tx) => {
    const owner = new Map<string, Unit>()
    for (const unit of units) {
      if (unit.nonce && !owner.has(unit.nonce.value)) owner.set(unit.nonce.value, unit)
    }
    let fresh = new Set<string>()
    if (owner.size) {
      const inserted: any[] = await tx
        .table('acme_nonces')
        .insert(
          [...owner.values()].map((u) => ({ value: u.nonce!.value, expires: u.nonce!.expires }))
        )
        .onConflict('value')
        .ignore()
        .returning('value')
      fresh = new Set(inserted.map((r) => (typeof r === 'string' ? r : r.value)))
    }
    const results: UnitResult[] = []
    for (const unit of units) {
      if (unit.nonce && !(owner.get(unit.nonce.value) === unit && fresh.has(unit.nonce.value))) {
        results.push({ fresh: false })
        continue
      }
      results.push({ fresh: true, value: unit.work ? await unit.work(tx) : undefined })
    }
    return results
  })
}

const unitBatch = batcher<Unit, { ok: true; result: UnitResult } | { ok: false; error: unknown }>(
  async (units) => {
    try {
      const results = await commitUnits(units)
      return results.map((result) => ({ ok: true as const, result }))
    } catch (error) {
      if (units.length === 1) return [{ ok: false as const, error }]
    }
    const out = []
    for (const unit of units) {
      try {
        const [result] = await commitUnits([unit])
        out.push({ ok: true as const, result })
      } catch (error) {
        out.push({ ok: false as const, error })
      }
    }
    return out
  }
)

/**
 * Spends `nonce` (when given) and runs `work` in the same transaction, shared with the units of
 * other requests arriving meanwhile. `fresh` is false when the nonce was used before (on any
 * node): then nothing was written. `work`'s error is rethrown (and nothing was written).
 */
export async function commitUnit<R>(
  runtime: PluginRuntime,
  nonce: CheckedNonce | null,
  work?: (tx: Tx) => Promise<R>
): Promise<{ fresh: boolean; value: R }> {
  const answer = await unitBatch({ runtime, nonce, work })
  if (!answer.ok) throw answer.error
  return answer.result as { fresh: boolean; value: R }
}

/** Spends a nonce: true only the first time (on any node), and only while it is fresh. */
export async function consumeNonce(runtime: PluginRuntime, value: unknown): Promise<boolean> {
  const checked = await checkNonce(runtime, value)
  if (!checked) return false
  const { fresh } = await commitUnit(runtime, checked)
  return fresh
}

/** The id an `insert(...).returning('id')` answered for its first row (a row or the bare id, by driver). */
export function insertedId(rows: any[]): number {
  return Number(rows[0]?.id ?? rows[0])
}

export async function purgeNonces(runtime: PluginRuntime) {
  return runtime.table('acme_nonces').where('expires', '<=', Date.now()).delete()
}

/**
 * Rate counters: counted in memory at once — exact on this node, so a burst is limited exactly
 * — and written to acme_rate every 250 ms (one transaction for every bucket touched meanwhile),
 * which also reads back each bucket's total over every node. Requests are not made to wait for
 * a commit to be counted; the price is that a node sees the other nodes' counts up to a flush
 * late, and a crash forgets at most its last 250 ms of counts.
 */
interface Bucket {
  runtime: PluginRuntime
  bucket: string
  windowStart: number
  windowMs: number
  /** The database's total at this node's last flush (every node's events). */
  known: number
  /** Events being written by the running flush. */
  inflight: number
  /** Events not written yet. */
  pending: number
}

const FLUSH_MS = 250
const buckets = new Map<string, Bucket>()
let flushTimer: NodeJS.Timeout | null = null
let flushing: Promise<void> | null = null

function scheduleFlush() {
  if (flushTimer || flushing) return
  flushTimer = setTimeout(() => {
    flushTimer = null
    void flushCounts()
  }, FLUSH_MS)
  flushTimer.unref()
}

/** Writes the counted events to acme_rate and learns every bucket's total (all nodes). */
export async function flushCounts(): Promise<void> {
  if (flushing) return flushing
  const batch = [...buckets.values()].filter((b) => b.pending > 0)
  if (!batch.length) return
  for (const b of batch) {
    b.inflight = b.pending
    b.pending = 0
  }
  const run = async () => {
    try {
      const totals = await batch[0].runtime.transaction(async (tx) => {
        const out: number[] = []
        for (const b of batch) {
          const where = { bucket: b.bucket, window_start: b.windowStart }
          await tx
            .table('acme_rate')
            .insert({ ...where, count: 0 })
            .onConflict(['bucket', 'window_start'])
            .ignore()
          await tx.table('acme_rate').where(where).increment('count', b.inflight)
          const row = await tx.table('acme_rate').where(where).first()
          out.push(Number(row.count))
        }
        return out
      })
      batch.forEach((b, i) => {
        b.known = totals[i]
        b.inflight = 0
      })
    } catch (error) {
      // Counted again with the next flush.
      for (const b of batch) {
        b.pending += b.inflight
        b.inflight = 0
      }
      batch[0].runtime.log.warn({ err: error }, 'ACME: writing rate counters failed')
    }
  }
  flushing = run()
  try {
    await flushing
  } finally {
    flushing = null
    const now = Date.now()
    for (const [name, b] of buckets) {
      if (b.pending === 0 && b.inflight === 0 && b.windowStart + b.windowMs <= now) {
        buckets.delete(name)
      }
    }
    if ([...buckets.values()].some((b) => b.pending > 0)) scheduleFlush()
  }
}

/**
 * Counts one event in a fixed window and returns the count so far (this node's events at once,
 * the other nodes' as of the last flush), with the seconds left in the window (for Retry-After).
 */
export async function countEvent(
  runtime: PluginRuntime,
  bucket: string,
  windowMs: number
): Promise<{ count: number; retryAfter: number }> {
  const now = Date.now()
  const windowStart = now - (now % windowMs)
  const retryAfter = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000))
  const name = `${windowStart} ${bucket}`
  let b = buckets.get(name)
  if (!b) {
    b = { runtime, bucket, windowStart, windowMs, known: 0, inflight: 0, pending: 0 }
    buckets.set(name, b)
  }
  b.pending++
  scheduleFlush()
  return { count: b.known + b.inflight + b.pending, retryAfter }
}

export async function purgeRateWindows(runtime: PluginRuntime) {
  return runtime
    .table('acme_rate')
    .where('window_start', '<', Date.now() - 2 * 3_600_000)
    .delete()
}
