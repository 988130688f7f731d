/*
 * Shared-state primitives in the database, so that every node behind a load balancer agrees.
 *
 * Nonces are stateless to hand out and single-use to spend: a nonce is a timestamp and random
 * bytes authenticated with an HMAC key shared by every node (kept as a kernel secret, its handle
 * in acme_state), so newNonce writes nothing; spending one inserts it into acme_nonces, whose
 * primary key refuses a second use on any node. Spent nonces are purged a margin after they
 * expire (NONCE_PURGE_MARGIN_MS).
 *
 * Nonce spends are group-committed with the writes of the request (units of work): concurrent
 * requests share one transaction (and one disk flush), a `runtime.writeBatch` of prepared
 * statements (queries.ts), committed on SQLite by the kernel's store thread, so no commit, fsync
 * or wait for the write lock happens on the event loop. Rate limits are fixed-window counters in
 * acme_rate, counted in memory and written every 250 ms (see countEvent).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import {
  isWriteExpectationError,
  type InsertedIdRef,
  type PluginRuntime,
  type WriteBatchItem,
  type WriteResult,
} from '#plugin-api'
import { queries } from './queries.js'

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
      // The secret is gone (e.g. restored database without it): make a new key. Delete only the
      // row read here: another node may have replaced it with its new key meanwhile (then the
      // insert below fails and the next attempt loads theirs).
      await runtime.table('acme_state').where({ name: NONCE_KEY, value: row.value }).delete()
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
 * one disk flush for all of them). `flush` answers each item in order.
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

/**
 * A unit's writes. `ref(i)` is the id its own item `i` inserted (for a later item of the unit):
 * the unit does not know where in the shared batch its items land.
 */
export type UnitWrites = (ref: (index: number) => InsertedIdRef) => WriteBatchItem[]

interface Unit {
  runtime: PluginRuntime
  nonce: CheckedNonce | null
  writes?: UnitWrites
}

export interface UnitResult {
  /** False when the nonce was spent already (on any node): nothing of the unit was written. */
  fresh: boolean
  /** Each write's result, in order (empty when nothing was written). */
  results: WriteResult[]
  /**
   * Set when the write at this index (of the unit's writes) changed another number of rows than
   * its `expect`: nothing of the unit was written (its nonce neither).
   */
  unmet?: number
}

type Outcome = { ok: true; result: UnitResult } | { ok: false; error: unknown }

/**
 * Units of work of concurrent requests, committed together by one `writeBatch` (on SQLite by the
 * kernel's store thread: the commit's fsync off the event loop): each unit's nonce spend
 * (`expect: 1`, so a nonce used before on any node fails its unit) followed by its writes. A unit
 * whose expectation fails is answered alone (`fresh: false` for its nonce, `unmet` for its own
 * write) and the others are committed again without it; when a batch fails otherwise, each unit
 * is committed alone, so only the faulty one fails (and spends nothing). A unit whose writes
 * cannot be built fails alone; a second unit with the same nonce goes to the next batch.
 */
async function commitUnits(units: Unit[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(units.length)
  let pending = units.map((_, i) => i)
  while (pending.length) {
    const runtime = units[pending[0]].runtime
    const q = queries(runtime)
    const items: WriteBatchItem[] = []
    const spans: Array<{ unit: number; start: number; writesAt: number; end: number }> = []
    // A nonce carried by two units of this batch (a replay racing its original) is spent by the
    // first only; the other waits for the next batch, where it fails alone (no rollback here).
    const spending = new Set<string>()
    const later: number[] = []
    for (const i of pending) {
      const unit = units[i]
      if (unit.nonce && spending.has(unit.nonce.value)) {
        later.push(i)
        continue
      }
      const start = items.length
      const writesAt = start + (unit.nonce ? 1 : 0)
      let own: WriteBatchItem[]
      try {
        own = unit.writes ? unit.writes((k) => runtime.insertedId(writesAt + k)) : []
      } catch (error) {
        // This unit's writes could not be built: it fails alone, the batch goes on without it.
        outcomes[i] = { ok: false, error }
        continue
      }
      if (unit.nonce) {
        spending.add(unit.nonce.value)
        items.push(
          q.spendNonce.bind({ value: unit.nonce.value, expires: unit.nonce.expires }, { expect: 1 })
        )
      }
      items.push(...own)
      spans.push({ unit: i, start, writesAt, end: items.length })
    }
    pending = [...spans.map((span) => span.unit), ...later]
    if (spans.length === 0) continue
    try {
      const results = items.length ? await runtime.writeBatch(items) : []
      for (const span of spans) {
        outcomes[span.unit] = {
          ok: true,
          result: { fresh: true, results: results.slice(span.writesAt, span.end) },
        }
      }
      pending = later
      continue
    } catch (error) {
      const failed = isWriteExpectationError(error)
        ? spans.find((s) => error.index >= s.start && error.index < s.end)
        : undefined
      if (failed && isWriteExpectationError(error)) {
        const nonceSpent = units[failed.unit].nonce && error.index === failed.start
        outcomes[failed.unit] = {
          ok: true,
          result: nonceSpent
            ? { fresh: false, results: [] }
            : { fresh: true, results: [], unmet: error.index - failed.writesAt },
        }
        pending = pending.filter((i) => i !== failed.unit)
        continue
      }
      if (pending.length === 1) {
        outcomes[pending[0]] = { ok: false, error }
        return outcomes
      }
      return alone(units, pending, outcomes)
    }
  }
  return outcomes
}

/** Commits each of `pending`'s units in a batch of its own. */
async function alone(units: Unit[], pending: number[], outcomes: Outcome[]) {
  for (const i of pending) {
    const [outcome] = await commitUnits([units[i]])
    outcomes[i] = outcome
  }
  return outcomes
}

const unitBatch = batcher<Unit, Outcome>(commitUnits)

/**
 * Spends `nonce` (when given) and commits `writes` with it, in one transaction shared with the
 * units of other requests arriving meanwhile. `fresh` is false when the nonce was used before
 * (on any node): then nothing was written; `unmet` when a write's expectation failed (nothing
 * written either). A write's error is rethrown (and nothing was written).
 */
export async function commitUnit(
  runtime: PluginRuntime,
  nonce: CheckedNonce | null,
  writes?: UnitWrites
): Promise<UnitResult> {
  const answer = await unitBatch({ runtime, nonce, writes })
  if (!answer.ok) throw answer.error
  return answer.result
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

/** The id a unit's insert inserted (its RETURNING row's id, else SQLite's rowid). */
export function writtenId(result: WriteResult): number {
  return Number(result.rows?.[0]?.id ?? result.lastId)
}

/**
 * How long a spent nonce is kept past its expiry. The purging node judges expiry by its own
 * clock, and a node whose clock is behind still accepts a nonce as fresh (checkNonce) after it:
 * were its row gone, that node would let it be spent again (a replay). Clocks of the nodes must
 * agree within this margin.
 */
export const NONCE_PURGE_MARGIN_MS = 10 * 60_000

/** Deletes spent nonces expired more than NONCE_PURGE_MARGIN_MS ago (by this node's clock). */
export async function purgeNonces(runtime: PluginRuntime, now = Date.now()) {
  return runtime
    .table('acme_nonces')
    .where('expires', '<=', now - NONCE_PURGE_MARGIN_MS)
    .delete()
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
  /** Events that may still not happen (reserveEvent): counted here, written only if kept. */
  reserved: number
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
  // In (bucket, window) order: two nodes flushing the same buckets then lock their rows in the
  // same order (in first-use order, they could deadlock each other on PostgreSQL).
  const batch = [...buckets.values()]
    .filter((b) => b.pending > 0)
    .sort((a, b) =>
      a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.windowStart - b.windowStart
    )
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
      if (
        b.pending === 0 &&
        b.inflight === 0 &&
        b.reserved === 0 &&
        b.windowStart + b.windowMs <= now
      ) {
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
  const { b, retryAfter } = windowOf(runtime, bucket, windowMs)
  b.pending++
  scheduleFlush()
  return { count: b.known + b.inflight + b.pending + b.reserved, retryAfter }
}

/**
 * Counts an event that may still be refused (an order being created): it counts at once against
 * the limit, so a burst is limited exactly, and `keep()` writes it like countEvent while
 * `drop()` takes it back (a refused order spends nothing of the account's quota).
 */
export function reserveEvent(
  runtime: PluginRuntime,
  bucket: string,
  windowMs: number
): { count: number; retryAfter: number; keep: () => void; drop: () => void } {
  const { b, retryAfter } = windowOf(runtime, bucket, windowMs)
  b.reserved++
  let settled = false
  const settle = (kept: boolean) => {
    if (settled) return
    settled = true
    b.reserved--
    if (kept) {
      b.pending++
      scheduleFlush()
    }
  }
  return {
    count: b.known + b.inflight + b.pending + b.reserved,
    retryAfter,
    keep: () => settle(true),
    drop: () => settle(false),
  }
}

/** The bucket of the current window (made on first use) and the seconds left in it. */
function windowOf(runtime: PluginRuntime, bucket: string, windowMs: number) {
  const now = Date.now()
  const windowStart = now - (now % windowMs)
  const retryAfter = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000))
  const name = `${windowStart} ${bucket}`
  let b = buckets.get(name)
  if (!b) {
    b = { runtime, bucket, windowStart, windowMs, known: 0, inflight: 0, pending: 0, reserved: 0 }
    buckets.set(name, b)
  }
  return { b, retryAfter }
}

export async function purgeRateWindows(runtime: PluginRuntime) {
  return runtime
    .table('acme_rate')
    .where('window_start', '<', Date.now() - 2 * 3_600_000)
    .delete()
}
