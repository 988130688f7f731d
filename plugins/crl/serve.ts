/*
 * Serving CRLs. Each node keeps the CRLs being served in memory (up to MEMORY_LIMIT bytes each)
 * and answers GET /crl/<file> from them in the fast route, with no database query. A per-node
 * job polls every CA's `generation` (one query a second) and reloads a CA whose CRLs changed, so
 * every node serves a new CRL within about a second of it being stored. When that poll has not
 * run lately (a node without jobs, e.g. a test process), or a CRL is too large to keep, the fast
 * route passes and the normal route reads the database (larger CRLs are streamed chunk by chunk).
 */
import { Readable } from 'node:stream'
import { toPem } from '#pki/index'
import type { FastResponse, PluginRuntime } from '#plugin-api'
import { parseFileName } from './names.js'
import {
  currentLists,
  generations,
  readChunks,
  readDer,
  readState,
  type StoredList,
} from './store.js'

/** CRLs up to this size are kept in memory by every node. */
export const MEMORY_LIMIT = 16 * 1024 * 1024
/** The memory is trusted this long after a poll (a node whose poll stalls answers from the database). */
let pollTrustMs = 3000
/** How long an HTTP cache may keep a CRL (a change reissues it within seconds). */
export const MAX_AGE_SECONDS = 60

interface Served {
  list: StoredList
  /** the DER when kept in memory */
  der?: Buffer
  pem?: string
}

interface CaEntry {
  generation: number
  lists: Map<string, Served>
}

const cache = new Map<number, CaEntry>()
let lastPoll = 0
let memoryLimit = MEMORY_LIMIT

/**
 * How long the memory is trusted after a poll. The test process, which runs no jobs and changes
 * CRLs between requests, sets 0: every request is answered from the database's current state.
 */
export function setPollTrust(ms: number): void {
  pollTrustMs = ms
}

/** Changes the in-memory size limit (tests exercise the streamed path with a small one). */
export function setMemoryLimit(bytes: number): void {
  memoryLimit = bytes
  cache.clear()
}

/** Reloads what a CA serves from the database. */
export async function loadCa(runtime: PluginRuntime, caId: number): Promise<CaEntry | null> {
  const state = await readState(runtime, caId)
  if (!state) {
    cache.delete(caId)
    return null
  }
  const previous = cache.get(caId)
  const lists = new Map<string, Served>()
  for (const list of await currentLists(runtime, state)) {
    const isCurrent =
      (list.baseNumber === null && list.number === state.fullNumber) ||
      (list.baseNumber !== null && list.number === state.deltaNumber)
    if (!isCurrent) continue
    const old = previous?.lists.get(list.scope)
    if (old && old.list.etag === list.etag) {
      lists.set(list.scope, old)
    } else {
      lists.set(list.scope, {
        list,
        der: list.size <= memoryLimit ? await readDer(runtime, list) : undefined,
      })
    }
  }
  const entry = { generation: state.generation, lists }
  cache.set(caId, entry)
  return entry
}

/** The per-node poll: reloads the CAs whose generation changed. */
export async function poll(runtime: PluginRuntime): Promise<void> {
  const current = await generations(runtime)
  for (const [caId, generation] of current) {
    if (cache.get(caId)?.generation !== generation) await loadCa(runtime, caId)
  }
  for (const caId of cache.keys()) if (!current.has(caId)) cache.delete(caId)
  lastPoll = Date.now()
}

export function servedLists(caId: number): StoredList[] {
  return [...(cache.get(caId)?.lists.values() ?? [])].map((s) => s.list)
}

function headerValue(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '')
}

export function wantsPem(query: string, accept: string): boolean {
  return /(?:^|&)format=pem(?:&|$)/i.test(query) || /application\/x-pem-file/i.test(accept)
}

function cacheHeaders(list: StoredList, pem: boolean, now: number): Record<string, string> {
  const left = Math.floor((list.nextUpdate - now) / 1000)
  return {
    'content-type': pem ? 'application/x-pem-file' : 'application/pkix-crl',
    'etag': `"${list.etag}${pem ? '-pem' : ''}"`,
    'last-modified': new Date(list.thisUpdate).toUTCString(),
    'expires': new Date(list.nextUpdate).toUTCString(),
    'cache-control': `public, no-transform, max-age=${Math.max(0, Math.min(MAX_AGE_SECONDS, left))}`,
  }
}

function notModified(ifNoneMatch: string, etag: string): boolean {
  if (!ifNoneMatch) return false
  if (ifNoneMatch.trim() === '*') return true
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

/**
 * The response for a CRL kept in memory (or a 304), or null when this node cannot answer from
 * memory. `trustCache` false skips the poll-freshness check (the caller just reloaded).
 */
export function answerFromMemory(
  caId: number,
  scope: string,
  request: { query: string; accept: string; ifNoneMatch: string },
  trustCache = false
): FastResponse | null {
  if (!trustCache && Date.now() - lastPoll > pollTrustMs) return null
  const served = cache.get(caId)?.lists.get(scope)
  if (!served?.der) return null
  const pem = wantsPem(request.query, request.accept)
  const headers = cacheHeaders(served.list, pem, Date.now())
  if (notModified(request.ifNoneMatch, headers.etag)) {
    return { status: 304, headers: { ...headers, 'content-type': '' }, body: '' }
  }
  if (pem) served.pem ??= toPem(served.der, 'X509 CRL')
  return { status: 200, headers, body: pem ? served.pem! : served.der }
}

/** The fast route: GET /crl/<file> from memory, no database. */
export function fastHandle(req: {
  path: string
  query: string
  headers: Record<string, string | string[] | undefined>
}): FastResponse | null {
  const parsed = parseFileName(req.path.replace(/^\//, ''))
  if (!parsed) return null
  return answerFromMemory(parsed.caId, parsed.scope, {
    query: req.query,
    accept: headerValue(req.headers.accept),
    ifNoneMatch: headerValue(req.headers['if-none-match']),
  })
}

/** A large CRL streamed from its chunk rows (DER, or PEM wrapped as it goes). */
export function streamStored(
  runtime: PluginRuntime,
  caId: number,
  scope: string,
  pem: boolean,
  ifNoneMatch: string
): { status: number; headers: Record<string, string>; body: Readable | string } | null {
  const served = cache.get(caId)?.lists.get(scope)
  if (!served) return null
  const list = served.list
  const headers = cacheHeaders(list, pem, Date.now())
  if (notModified(ifNoneMatch, headers.etag)) return { status: 304, headers, body: '' }
  const chunks = readChunks(runtime, list, list.layout)
  if (!pem) {
    headers['content-length'] = String(list.size)
    return { status: 200, headers, body: Readable.from(chunks) }
  }
  return { status: 200, headers, body: Readable.from(pemLines(chunks)) }
}

/** PEM armour around a DER stream: base64 in 64-character lines. */
async function* pemLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  yield '-----BEGIN X509 CRL-----\n'
  let carry = Buffer.alloc(0)
  for await (const chunk of chunks) {
    const data = Buffer.concat([carry, chunk])
    const whole = data.length - (data.length % 48)
    carry = data.subarray(whole)
    const b64 = data.subarray(0, whole).toString('base64')
    yield b64.replace(/(.{64})/g, '$1\n')
  }
  if (carry.length > 0) yield `${carry.toString('base64').replace(/(.{64})/g, '$1\n')}\n`
  yield '-----END X509 CRL-----\n'
}
