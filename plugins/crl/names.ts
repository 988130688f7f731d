/*
 * CRL scopes and their URLs. A CA publishes the full CRL (scope "full"), one CRL per shard of
 * every shard set it has used (scope "s<count>-<index>"), and a delta CRL for each of them
 * (scope + "-delta"). File names under /crl/: "<caId>.crl", "<caId>-delta.crl",
 * "<caId>-s4-1.crl", "<caId>-s4-1-delta.crl". The shard count is part of the URL, so a
 * certificate's CDP stays valid whatever the count becomes later.
 */

export const FULL = 'full'
const DELTA = 'delta'
const DELTA_SUFFIX = '-delta'

/** The delta of a complete scope: "delta" for the full CRL, "s4-1-delta" for a shard. */
export function deltaScope(baseScope: string): string {
  return baseScope === FULL ? DELTA : baseScope + DELTA_SUFFIX
}

export function isDeltaScope(scope: string): boolean {
  return scope === DELTA || scope.endsWith(DELTA_SUFFIX)
}

export function baseOf(scope: string): string {
  if (scope === DELTA) return FULL
  return scope.endsWith(DELTA_SUFFIX) ? scope.slice(0, -DELTA_SUFFIX.length) : scope
}

export function shardScope(count: number, index: number): string {
  return `s${count}-${index}`
}

/** Every complete (non-delta) scope of a CA with these shard sets: the full CRL first. */
export function baseScopes(shardCounts: readonly number[]): string[] {
  const scopes = [FULL]
  for (const count of shardCounts) {
    for (let i = 0; i < count; i++) scopes.push(shardScope(count, i))
  }
  return scopes
}

/**
 * The shard of a serial in a set of `count`: its low 48 bits modulo the count (serials are
 * random, so shards are even). Accepts hex with or without colons, any case.
 */
export function shardOf(serialHex: string, count: number): number {
  const hex = serialHex.replace(/[^0-9a-fA-F]/g, '')
  const low = hex.length === 0 ? 0 : Number.parseInt(hex.slice(-12), 16)
  return low % count
}

export function fileName(caId: number, scope: string): string {
  return scope === FULL ? `${caId}.crl` : `${caId}-${scope}.crl`
}

export function crlUrl(publicUrl: string, caId: number, scope: string): string {
  return `${publicUrl}/crl/${fileName(caId, scope)}`
}

const FILE = /^([1-9]\d{0,9})(?:-(s([1-9]\d?)-(\d{1,2})))?(-delta)?\.crl$/

/** The CA and scope a file name names, or null when it is not one of ours. */
export function parseFileName(name: string): { caId: number; scope: string } | null {
  const m = FILE.exec(name)
  if (!m) return null
  const caId = Number(m[1])
  if (!Number.isSafeInteger(caId)) return null
  let scope = FULL
  if (m[2]) {
    const count = Number(m[3])
    const index = Number(m[4])
    if (index >= count || String(index) !== m[4]) return null
    scope = shardScope(count, index)
  }
  return { caId, scope: m[5] ? deltaScope(scope) : scope }
}
