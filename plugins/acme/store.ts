/*
 * Shared-state primitives in the database, so that every node behind a load balancer agrees.
 *
 * Nonces are stateless to hand out and single-use to spend: a nonce is a timestamp and random
 * bytes authenticated with an HMAC key shared by every node (kept as a kernel secret, its handle
 * in acme_state), so newNonce writes nothing; spending one inserts it into acme_nonces, whose
 * primary key refuses a second use on any node. Spent nonces are purged once they expire.
 *
 * Rate limits are fixed-window counters in acme_rate. Both are group-committed: concurrent
 * requests share one transaction (and one disk flush).
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
  const body = Buffer.alloc(14)
  body.writeUIntBE(Date.now(), 0, 6)
  randomBytes(8).copy(body, 6)
  return Buffer.concat([body, mac(await key(runtime), body)]).toString('base64url')
}

/**
 * A group commit: items arriving while a flush is running wait and are written together by the
 * next one (one transaction, one disk flush for all of them). `flush` answers each item in order.
 */
function batcher<T, R>(flush: (items: T[]) => Promise<R[]>, max = 500) {
  const queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = []
  let running = false
  const drain = async () => {
    if (running) return
    running = true
    try {
      while (queue.length) {
        const batch = queue.splice(0, max)
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
      void drain()
    })
}

interface Spend {
  runtime: PluginRuntime
  value: string
  expires: number
}

/** Spent nonces are inserted together; a value already there (spent on any node) answers false. */
const spend = batcher<Spend, boolean>(async (items) => {
  const first = new Map<string, Spend>()
  for (const item of items) if (!first.has(item.value)) first.set(item.value, item)
  const rows = [...first.values()].map(({ value, expires }) => ({ value, expires }))
  const inserted: any[] = await items[0].runtime
    .table('acme_nonces')
    .insert(rows)
    .onConflict('value')
    .ignore()
    .returning('value')
  const fresh = new Set(inserted.map((r) => (typeof r === 'string' ? r : r.value)))
  return items.map((item) => first.get(item.value) === item && fresh.has(item.value))
})

/** Spends a nonce: true only the first time (on any node), and only while it is fresh. */
export async function consumeNonce(runtime: PluginRuntime, value: unknown): Promise<boolean> {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{35}$/.test(value)) return false
  const raw = Buffer.from(value, 'base64url')
  if (raw.length !== 26) return false
  const body = raw.subarray(0, 14)
  if (!timingSafeEqual(raw.subarray(14), mac(await key(runtime), body))) return false
  const issued = body.readUIntBE(0, 6)
  const now = Date.now()
  if (issued > now + 60_000 || now - issued > NONCE_LIFETIME_MS) return false
  return spend({ runtime, value, expires: issued + NONCE_LIFETIME_MS })
}

export async function purgeNonces(runtime: PluginRuntime) {
  return runtime.table('acme_nonces').where('expires', '<=', Date.now()).delete()
}

interface Count {
  runtime: PluginRuntime
  bucket: string
  windowStart: number
}

/** Counter increments are written together: one transaction for every bucket touched meanwhile. */
const count = batcher<Count, number>(async (items) => {
  const bucketKey = (i: Count) => `${i.windowStart} ${i.bucket}`
  const increments = new Map<string, { item: Count; n: number }>()
  for (const item of items) {
    const entry = increments.get(bucketKey(item))
    if (entry) entry.n++
    else increments.set(bucketKey(item), { item, n: 1 })
  }
  const totals = await items[0].runtime.transaction(async (tx) => {
    const out = new Map<string, number>()
    for (const [k, { item, n }] of increments) {
      const where = { bucket: item.bucket, window_start: item.windowStart }
      await tx
        .table('acme_rate')
        .insert({ ...where, count: 0 })
        .onConflict(['bucket', 'window_start'])
        .ignore()
      await tx.table('acme_rate').where(where).increment('count', n)
      const row = await tx.table('acme_rate').where(where).first()
      out.set(k, Number(row.count))
    }
    return out
  })
  // Each caller gets the count up to and including its own event.
  const seen = new Map<string, number>()
  return items.map((item) => {
    const k = bucketKey(item)
    const before = totals.get(k)! - increments.get(k)!.n
    const mine = (seen.get(k) ?? 0) + 1
    seen.set(k, mine)
    return before + mine
  })
})

/**
 * Counts one event in a fixed window and returns the count so far, with the seconds left in the
 * window (for Retry-After).
 */
export async function countEvent(
  runtime: PluginRuntime,
  bucket: string,
  windowMs: number
): Promise<{ count: number; retryAfter: number }> {
  const now = Date.now()
  const windowStart = now - (now % windowMs)
  const retryAfter = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000))
  return { count: await count({ runtime, bucket, windowStart }), retryAfter }
}

export async function purgeRateWindows(runtime: PluginRuntime) {
  return runtime
    .table('acme_rate')
    .where('window_start', '<', Date.now() - 2 * 3_600_000)
    .delete()
}
