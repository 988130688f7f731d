/*
 * One server node's responder: the in-memory responses (loaded from the table at start, in
 * pages, in the background), kept current by polling the change feed every 250 ms, the
 * synchronous fast path for the common GET and the asynchronous path for everything else
 * (POST, nonces, other hashes, several certificates, misses, errors).
 */
import {
  assembleOcspResponse,
  issuerHashes,
  ocspCertsField,
  ocspErrorResponse,
  parseOcspRequest,
  quickOcspCertId,
  unsupportedOcspHash,
  type OcspCertStatus,
  type OcspErrorStatus,
} from '#pki/index'
import type { FastResponse, PluginRuntime } from '#plugin-api'
import {
  CaMemory,
  issuerKey,
  NodeMemory,
  serialKeyFromHex,
  type CachedAnswer,
  type StoredResponse,
} from './memory.js'
import { readCaSettings } from './settings.js'
import {
  FEED,
  RESPONSES,
  SIGNERS,
  currentSigner,
  forgetSigners,
  isPostQuantum,
  ocspStatus,
  responseTimes,
  signBody,
} from './signing.js'
import { signOne } from './presign.js'

/** Longest GET path accepted (a request with one CertID is well under 300 characters). */
export const MAX_GET_PATH = 4096
/** Largest POST body accepted. */
export const MAX_POST_BYTES = 64 * 1024
const POLL_MS = 250
const SETTINGS_EVERY_MS = 5000
/** Feed rows re-read below the watermark: PostgreSQL may commit a lower id after a higher one. */
const FEED_OVERLAP = 200
const LOAD_PAGE = 5000
const HOUR = 3_600_000
/** An unknown issuer reloads the CA list at most this often. */
const CA_RELOAD_MS = 1000

export interface Answer {
  status: number
  headers: Record<string, string>
  body: Buffer
}

const EMPTY = Buffer.alloc(0)
const CONTENT_TYPE = 'application/ocsp-response'

const dates = new Map<number, string>()
function httpDate(seconds: number): string {
  let text = dates.get(seconds)
  if (text === undefined) {
    if (dates.size > 4096) dates.clear()
    text = new Date(seconds * 1000).toUTCString()
    dates.set(seconds, text)
  }
  return text
}

/** An unsigned OCSP error answer (HTTP 200, as RFC 6960 A.1 wants; never cached). */
export function errorAnswer(status: OcspErrorStatus, httpStatus = 200): Answer {
  return {
    status: httpStatus,
    headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'max-age=0, no-cache' },
    body: ocspErrorResponse(status),
  }
}

/** The base64 part of a GET path after `/ocsp`: `/<caId>/<b64>` or `/<b64>`; null if none. */
export function getRequestPart(path: string): string | null {
  let i = 0
  while (path.charCodeAt(i) === 47) i++
  let j = i
  while (j < path.length && path.charCodeAt(j) >= 48 && path.charCodeAt(j) <= 57) j++
  if (j > i && path.charCodeAt(j) === 47) {
    i = j
    while (path.charCodeAt(i) === 47) i++
  } else if (j > i && j === path.length) {
    return null // "/<caId>" alone: no request
  }
  return i < path.length ? path.slice(i) : null
}

function ifNoneMatch(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers['if-none-match']
  return Array.isArray(value) ? value.join(',') : value
}

export class OcspNode {
  readonly memory = new NodeMemory()
  runtime: PluginRuntime | undefined
  #timer: NodeJS.Timeout | undefined
  #watermark = 0
  #applied = new Set<number>()
  #polling = false
  #settingsAt = 0
  #casLoadedAt = 0
  #sha1 = new Map<number, { nameHash: Buffer; keyHash: Buffer }>()
  /** True once every stored response has been loaded. */
  loaded = false
  /** True once the CAs and signers are loaded: before that every answer is tryLater. */
  #ready = false
  #generation = 0

  async start(runtime: PluginRuntime): Promise<void> {
    this.stop()
    const generation = ++this.#generation
    this.runtime = runtime
    const top = await runtime.table(FEED).max('id as m')
    this.#watermark = Number(top[0]?.m ?? 0)
    await this.#loadCas()
    await this.#loadSigners()
    if (generation !== this.#generation) return
    this.#ready = true
    this.#timer = setInterval(() => void this.poll(), POLL_MS)
    this.#timer.unref()
    // Loading a million responses takes seconds: misses meanwhile go to the database.
    void this.#loadAll(generation).catch((error) =>
      runtime.log.error({ err: error }, 'OCSP responses could not be loaded')
    )
  }

  stop(): void {
    this.#generation++
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    this.runtime = undefined
    this.loaded = false
    this.#ready = false
    this.memory.clear()
    this.#applied.clear()
    this.#sha1.clear()
    forgetSigners()
  }

  /** SHA-1 issuer hashes of a CA (what pre-signed CertIDs carry). */
  sha1Issuer(caId: number): { nameHash: Buffer; keyHash: Buffer } | undefined {
    return this.#sha1.get(caId)
  }

  async #loadCa(caId: number): Promise<CaMemory | null> {
    const runtime = this.runtime!
    const ca = await runtime.getCa(caId)
    if (!ca || ca.status !== 'active' || !ca.certificatePem) {
      this.memory.dropCa(caId)
      this.#sha1.delete(caId)
      return null
    }
    const mem = this.memory.putCa(caId, ca.keyType, ca.certificatePem)
    const h = issuerHashes(ca.certificatePem, 'sha1')
    this.#sha1.set(caId, { nameHash: h.nameHash, keyHash: h.keyHash })
    const settings = readCaSettings(await runtime.settings.ca(caId))
    mem.maxAge = settings.maxAgeSeconds
    mem.honourNonces = settings.honourNonces
    return mem
  }

  /** Loads (or reloads) one CA after a change. */
  async refreshCa(caId: number): Promise<void> {
    if (this.runtime) await this.#loadCa(caId)
  }

  async #loadCas(): Promise<void> {
    this.#casLoadedAt = Date.now()
    for (const ca of await this.runtime!.listCas()) await this.#loadCa(ca.id)
  }

  async #loadSigners(ids?: number[]): Promise<void> {
    let query = this.runtime!.table(SIGNERS).select('id', 'der')
    if (ids) query = query.whereIn('id', ids)
    for (const row of await query) {
      const der = row.der ? Buffer.from(row.der) : null
      this.memory.certsFields.set(Number(row.id), der ? ocspCertsField([der]) : EMPTY)
    }
  }

  #put(row: any): void {
    const mem = this.memory.cas.get(Number(row.ca_id))
    if (!mem) return
    mem.arena.set(serialKeyFromHex(String(row.serial)), {
      body: Buffer.isBuffer(row.body) ? row.body : Buffer.from(row.body),
      thisUpdate: Math.floor(Number(row.this_update) / 1000),
      nextUpdate: Math.floor(Number(row.next_update) / 1000),
      signerId: Number(row.signer_id),
    })
  }

  async #putRows(rows: any[]): Promise<void> {
    const missing = new Set<number>()
    for (const row of rows) {
      const id = Number(row.signer_id)
      if (!this.memory.certsFields.has(id)) missing.add(id)
    }
    if (missing.size > 0) await this.#loadSigners([...missing])
    for (const row of rows) this.#put(row)
  }

  async #loadAll(generation: number): Promise<void> {
    const runtime = this.runtime!
    let caId = 0
    let certId = 0
    for (;;) {
      const rows = await runtime
        .table(RESPONSES)
        .where((q: any) =>
          q
            .where('ca_id', '>', caId)
            .orWhere((r: any) => r.where('ca_id', caId).where('certificate_id', '>', certId))
        )
        .orderBy([
          { column: 'ca_id', order: 'asc' },
          { column: 'certificate_id', order: 'asc' },
        ])
        .limit(LOAD_PAGE)
        .select(
          'ca_id',
          'certificate_id',
          'serial',
          'this_update',
          'next_update',
          'signer_id',
          'body'
        )
      if (generation !== this.#generation) return
      await this.#putRows(rows)
      if (rows.length < LOAD_PAGE) break
      caId = Number(rows[rows.length - 1].ca_id)
      certId = Number(rows[rows.length - 1].certificate_id)
    }
    this.loaded = true
  }

  async #loadRange(caId: number, first: number, last: number): Promise<void> {
    const rows = await this.runtime!.table(RESPONSES)
      .where('ca_id', caId)
      .whereBetween('certificate_id', [first, last])
      .select('ca_id', 'serial', 'this_update', 'next_update', 'signer_id', 'body')
    await this.#putRows(rows)
  }

  /** Applies new feed rows (and, every few seconds, the CAs' settings). */
  async poll(): Promise<void> {
    const runtime = this.runtime
    if (!runtime || this.#polling) return
    this.#polling = true
    try {
      const rows = await runtime
        .table(FEED)
        .where('id', '>', Math.max(0, this.#watermark - FEED_OVERLAP))
        .orderBy('id')
        .limit(2000)
      for (const row of rows) {
        const id = Number(row.id)
        if (this.#applied.has(id)) continue
        const caId = Number(row.ca_id)
        if (row.kind === 'ca') {
          forgetSigners(caId)
          await this.#loadCa(caId)
          await this.#loadSigners()
          this.memory.cas.get(caId)?.lru.clear()
        } else {
          if (!this.memory.cas.has(caId)) await this.#loadCa(caId)
          await this.#loadRange(caId, Number(row.first_id), Number(row.last_id))
          this.memory.cas.get(caId)?.lru.clear()
        }
        this.#applied.add(id)
        if (id > this.#watermark) this.#watermark = id
      }
      for (const id of this.#applied) {
        if (id <= this.#watermark - FEED_OVERLAP) this.#applied.delete(id)
      }
      if (Date.now() - this.#settingsAt > SETTINGS_EVERY_MS) {
        this.#settingsAt = Date.now()
        for (const mem of this.memory.cas.values()) {
          const settings = readCaSettings(await runtime.settings.ca(mem.caId))
          if (mem.maxAge !== settings.maxAgeSeconds || mem.honourNonces !== settings.honourNonces) {
            mem.maxAge = settings.maxAgeSeconds
            mem.honourNonces = settings.honourNonces
            mem.lru.clear()
          }
        }
      }
    } catch (error) {
      runtime.log.warn({ err: error }, 'OCSP feed poll failed')
    } finally {
      this.#polling = false
    }
  }

  /** Stores a row signed on this node in memory at once (the feed tells the others). */
  remember(
    row: {
      ca_id: number
      serial: string
      this_update: number
      next_update: number
      signer_id: number
      body: Buffer
    },
    certsField?: Buffer
  ): void {
    if (certsField && !this.memory.certsFields.has(row.signer_id)) {
      this.memory.certsFields.set(row.signer_id, certsField)
    }
    if (this.memory.certsFields.has(row.signer_id)) this.#put(row)
    this.memory.cas.get(row.ca_id)?.lru.clear()
  }

  /* ------------------------------------------------------------------ answers */

  #hitAnswer(mem: CaMemory, hit: StoredResponse, certs: Buffer, inm: string | undefined): Answer {
    return cacheable(mem, hit.thisUpdate, hit.nextUpdate, hit.body, inm, () =>
      assembleOcspResponse(hit.body, certs)
    )
  }

  /** The synchronous GET path: a pre-signed answer from memory, or null (the slow path). */
  fast(path: string, headers: Record<string, string | string[] | undefined>): FastResponse | null {
    const part = getRequestPart(path)
    if (part === null || part.length > MAX_GET_PATH) return null
    let text = part
    if (text.includes('%')) {
      try {
        text = decodeURIComponent(text)
      } catch {
        return null
      }
    }
    const q = quickOcspCertId(Buffer.from(text, 'base64'))
    if (!q || q.hash !== 'sha1') return null
    const mem = this.memory.byIssuer.get(issuerKey('sha1', q.issuerNameHash, q.issuerKeyHash))
    if (!mem) return null
    const hit = mem.arena.get(q.serial.toString('latin1'))
    if (!hit || hit.nextUpdate <= Date.now() / 1000) return null
    const certs = this.memory.certsFields.get(hit.signerId)
    if (!certs) return null
    this.runtime?.countServiceHit('get', mem.caId)
    return this.#hitAnswer(mem, hit, certs, ifNoneMatch(headers))
  }

  /** A pre-signed response for a serial: memory, then the table, then signed once now. */
  async #preSigned(mem: CaMemory, serial: string): Promise<StoredResponse | null> {
    const runtime = this.runtime!
    const key = serialKeyFromHex(serial)
    const now = Date.now()
    const hit = mem.arena.get(key)
    if (hit && hit.nextUpdate > now / 1000 && this.memory.certsFields.has(hit.signerId)) {
      return hit
    }
    const row = await runtime
      .table(RESPONSES)
      .where('ca_id', mem.caId)
      .where('serial', serial)
      .first()
    if (row && Number(row.next_update) > now) {
      await this.#putRows([row])
      runtime.countServiceHit('fallback.stored', mem.caId)
      return mem.arena.get(key) ?? null
    }
    const issuer = this.#sha1.get(mem.caId)
    const signer = issuer ? await currentSigner(runtime, mem.caId) : null
    if (!issuer || !signer) return null
    const signed = await signOne(runtime, mem.caId, issuer, { caId: mem.caId, serial }, signer)
    if (!signed) return null
    runtime.countServiceHit('fallback.signed', mem.caId)
    this.remember(signed, signer.certsField)
    return mem.arena.get(key) ?? null
  }

  async #statusOf(caId: number, serial: string): Promise<OcspCertStatus> {
    const cert = await this.runtime!.findCertificate({ caId, serial })
    if (!cert) return { unknown: true }
    return ocspStatus({
      status: cert.status,
      revokedAt: cert.revokedAt,
      reason: cert.revocationReason,
    })
  }

  /** Any request (GET or POST body): the full parser, fallbacks and on-demand signing. */
  async answer(der: Buffer, options: { post: boolean; ifNoneMatch?: string }): Promise<Answer> {
    const runtime = this.runtime
    // Starting (the CA list is still loading): not "unauthorized" for a CA served here.
    if (!runtime || !this.#ready) return errorAnswer('tryLater')
    let parsed
    try {
      parsed = parseOcspRequest(der)
    } catch {
      runtime.countServiceHit('malformed')
      return errorAnswer('malformedRequest')
    }
    if (unsupportedOcspHash(parsed)) {
      runtime.countServiceHit('unsupported-hash')
      return errorAnswer('unauthorized')
    }
    let mem: CaMemory | undefined
    for (const r of parsed.requests) {
      const key = issuerKey(r.hashAlgorithm as 'sha1', r.issuerNameHash, r.issuerKeyHash)
      let found = this.memory.byIssuer.get(key)
      if (!found && Date.now() - this.#casLoadedAt > CA_RELOAD_MS) {
        // a CA created a moment ago on another node, before the feed said so
        await this.#loadCas()
        found = this.memory.byIssuer.get(key)
      }
      if (!found || (mem && found !== mem)) {
        runtime.countServiceHit('unauthorized')
        return errorAnswer('unauthorized')
      }
      mem = found
    }
    mem = mem!
    const nonce =
      options.post && parsed.nonce && mem.honourNonces && !isPostQuantum(mem.keyType)
        ? parsed.nonce
        : undefined
    const first = parsed.requests[0]
    if (!nonce && parsed.requests.length === 1 && first.hashAlgorithm === 'sha1') {
      const hit = await this.#preSigned(mem, first.serial)
      if (hit) {
        const certs = this.memory.certsFields.get(hit.signerId)
        if (certs) {
          runtime.countServiceHit(options.post ? 'post' : 'get', mem.caId)
          return this.#hitAnswer(mem, hit, certs, options.ifNoneMatch)
        }
      }
    }
    const key = parsed.requests.map((r) => Buffer.from(r.certIdDer).toString('latin1')).join('|')
    const nowSec = Date.now() / 1000
    if (!nonce) {
      const cached = mem.cached(key)
      if (cached && cached.nextUpdate > nowSec) {
        runtime.countServiceHit('cached', mem.caId)
        return this.#cachedAnswer(mem, cached, options.ifNoneMatch)
      }
    }
    const signer = await currentSigner(runtime, mem.caId)
    if (!signer) {
      // No responder yet (a new CA: the job issues one within seconds) — or the CA is gone.
      if (await runtime.getCa(mem.caId)) return errorAnswer('tryLater')
      this.memory.dropCa(mem.caId)
      this.#sha1.delete(mem.caId)
      runtime.countServiceHit('unauthorized')
      return errorAnswer('unauthorized')
    }
    const settings = readCaSettings(await runtime.settings.ca(mem.caId))
    const singles = []
    for (const r of parsed.requests) {
      singles.push({ certId: r.certIdDer, status: await this.#statusOf(mem.caId, r.serial) })
    }
    const times = responseTimes(settings.responseValidityHours * HOUR, signer.notAfter)
    const body = await signBody(signer, singles, times, nonce)
    const answer = {
      der: assembleOcspResponse(body, signer.certsField),
      thisUpdate: Math.floor(times.thisUpdate.getTime() / 1000),
      nextUpdate: Math.floor(times.nextUpdate.getTime() / 1000),
    }
    if (nonce) {
      runtime.countServiceHit('nonce', mem.caId)
      return {
        status: 200,
        headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-cache, no-store' },
        body: answer.der,
      }
    }
    mem.remember(key, answer)
    runtime.countServiceHit('signed-on-demand', mem.caId)
    return this.#cachedAnswer(mem, answer, options.ifNoneMatch)
  }

  #cachedAnswer(mem: CaMemory, cached: CachedAnswer, inm: string | undefined): Answer {
    return cacheable(mem, cached.thisUpdate, cached.nextUpdate, cached.der, inm, () => cached.der)
  }
}

/**
 * A signed answer with the RFC 5019 caching headers: max-age (the CA's setting, never past
 * nextUpdate), an ETag from the signature's last bytes, Last-Modified (thisUpdate), Expires;
 * 304 when If-None-Match names the ETag.
 */
function cacheable(
  mem: CaMemory,
  thisUpdate: number,
  nextUpdate: number,
  signed: Buffer,
  inm: string | undefined,
  body: () => Buffer
): Answer {
  const now = Math.floor(Date.now() / 1000)
  const maxAge = Math.max(0, Math.min(mem.maxAge, nextUpdate - now))
  const etag = `"${signed.toString('hex', signed.length - 10, signed.length)}"`
  const headers = {
    'content-type': CONTENT_TYPE,
    'cache-control': `max-age=${maxAge}, public, no-transform, must-revalidate`,
    'etag': etag,
    'last-modified': httpDate(thisUpdate),
    'expires': httpDate(now + maxAge),
  }
  if (inm !== undefined && (inm === etag || inm.split(',').some((t) => t.trim() === etag))) {
    return { status: 304, headers, body: EMPTY }
  }
  return { status: 200, headers, body: body() }
}
