/*
 * Shared-state primitives in the database, so that every node behind a load balancer agrees:
 * single-use nonces and fixed-window rate-limit counters.
 */
import { randomBytes } from 'node:crypto'
import type { PluginRuntime } from '#plugin-api'

const NONCE_LIFETIME_MS = 60 * 60_000

export async function newNonce(runtime: PluginRuntime): Promise<string> {
  const value = randomBytes(16).toString('base64url')
  await runtime.table('acme_nonces').insert({ value, expires: Date.now() + NONCE_LIFETIME_MS })
  return value
}

/** Spends a nonce: true only the first time, and only while it is fresh. */
export async function consumeNonce(runtime: PluginRuntime, value: unknown): Promise<boolean> {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(value)) return false
  const deleted = await runtime
    .table('acme_nonces')
    .where('value', value)
    .where('expires', '>', Date.now())
    .delete()
  return Number(deleted) === 1
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
  let updated = Number(await runtime.table('acme_rate').where(where).increment('count', 1))
  if (updated === 0) {
    try {
      await runtime.table('acme_rate').insert({ ...where, count: 1 })
      return { count: 1, retryAfter }
    } catch {
      updated = Number(await runtime.table('acme_rate').where(where).increment('count', 1))
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
