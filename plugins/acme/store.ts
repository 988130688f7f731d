/*
 * Shared-state primitives in the database, so that every node behind a load balancer agrees.
 *
 * Nonces are stateless to hand out and single-use to spend: a nonce is a timestamp and random
 * bytes authenticated with an HMAC key shared by every node (kept as a kernel secret, its handle
 * in acme_state), so newNonce writes nothing; spending one inserts it into acme_nonces, whose
 * primary key refuses a second use on any node. Spent nonces are purged once they expire.
 *
 * Rate limits are fixed-window counters in acme_rate.
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

interface Spend {
  value: string
  expires: number
  resolve: (spent: boolean) => void
  reject: (error: unknown) => void
}

/**
 * Spends waiting concurrently are written together (one insert, one commit), so concurrent
 * requests share a disk flush: a group commit. A value already in the table (spent on any node)
 * is not inserted again and answers false.
 */
const queue: Spend[] = []
let flushing = false

async function flushSpends(runtime: PluginRuntime) {
  if (flushing) return
  flushing = true
  try {
    while (queue.length) {
      const batch = queue.splice(0, 500)
      const first = new Map<string, Spend>()
      for (const item of batch) if (!first.has(item.value)) first.set(item.value, item)
      try {
        const rows = [...first.values()].map(({ value, expires }) => ({ value, expires }))
        const inserted: any[] = await runtime
          .table('acme_nonces')
          .insert(rows)
          .onConflict('value')
          .ignore()
          .returning('value')
        const fresh = new Set(inserted.map((r) => (typeof r === 'string' ? r : r.value)))
        for (const item of batch)
          item.resolve(first.get(item.value) === item && fresh.has(item.value))
      } catch (error) {
        for (const item of batch) item.reject(error)
      }
    }
  } finally {
    flushing = false
  }
}

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
  return new Promise<boolean>((resolve, reject) => {
    queue.push({ value, expires: issued + NONCE_LIFETIME_MS, resolve, reject })
    void flushSpends(runtime)
  })
}

export async function purgeNonces(runtime: PluginRuntime) {
  return runtime.table('acme_nonces').where('expires', '<=', Date.now()).delete()
}

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
  const where = { bucket, window_start: windowStart }
  const updated = Number(await runtime.table('acme_rate').where(where).increment('count', 1))
  if (updated === 0) {
    try {
      await runtime.table('acme_rate').insert({ ...where, count: 1 })
      return { count: 1, retryAfter }
    } catch {
      await runtime.table('acme_rate').where(where).increment('count', 1)
    }
  }
  const row = await runtime.table('acme_rate').where(where).first()
  return { count: Number(row?.count ?? 1), retryAfter }
}

export async function purgeRateWindows(runtime: PluginRuntime) {
  return runtime
    .table('acme_rate')
    .where('window_start', '<', Date.now() - 2 * 3_600_000)
    .delete()
}
