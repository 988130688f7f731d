/*
 * Building CRLs without holding them.
 *
 * A full pass reads the CA's revoked certificates once (`revokedEntryPages`, in id order),
 * encodes each entry and appends it to the chunk rows of every scope it belongs to: the full CRL
 * and, for each shard set the CA has used, the shard of its serial. The entries' total length is
 * then known, hence the TBSCertList header; each scope's TBS (header ‖ chunks ‖ extensions) is
 * streamed back from its chunk rows into the CA's incremental signer (RSA, ECDSA), and the signed
 * CRL is stored as: chunk 0 = CertificateList and TBS headers, chunks 1..n = the entries as
 * written, chunk n+1 = extensions, algorithm and signature. Memory stays at a few chunks whatever
 * the count. Ed25519, ML-DSA and SLH-DSA sign the whole message (no incremental signer): their
 * TBS is assembled in memory for the signature.
 *
 * All scopes of a pass share one CRL number; one UPDATE of crl_state switches them in. Delta
 * passes take the next numbers of the same sequence and list the change log since the base.
 */
import { createHash } from 'node:crypto'
import {
  CRL_REASON_CODES,
  crlEnvelope,
  crlTbsParts,
  crlTbsPrefix,
  encodeCrlEntry,
  encodeCrlTbs,
  issuerInfo,
  signatureAlgorithm,
  type CrlDraft,
  type CrlReason,
} from '#pki/index'
import type { PluginRuntime, PurposeSigner } from '#plugin-api'
import { baseScopes, crlUrl, deltaScope, FULL, shardOf, shardScope } from './names.js'
import { crlSettingsOf, type CrlCaSettings } from './settings.js'
import {
  ChunkWriter,
  Scratch,
  changesAfter,
  claimNumber,
  currentLists,
  deleteOld,
  ensureState,
  insertChunk,
  insertList,
  lastChangeId,
  readChunks,
  readState,
  recordShardSet,
  shardCounts,
  switchTo,
  type ChangeRow,
  type ChunkRef,
  type CrlState,
  type LocalChunks,
  type StoredList,
} from './store.js'

const DAY = 86_400_000
const HOUR = 3_600_000
/** A full CRL is reissued this long before its nextUpdate. */
export const RENEW_BEFORE_MS = 2 * DAY
/** More changes than this since the base: a new full CRL instead of a delta. */
export const MAX_DELTA_CHANGES = 50_000
/** A read of the certificates that took SLOW_BUILD_MS or more waits this many times that. */
const BUILD_TIME_FACTOR = 10
const SLOW_BUILD_MS = 1000

const REASONS = new Set<string>(Object.keys(CRL_REASON_CODES))

export function crlReason(reason: string | null): CrlReason | undefined {
  return reason !== null && REASONS.has(reason) ? (reason as CrlReason) : undefined
}

interface Issuer {
  ca: { id: number; name: string }
  issuerDer: Uint8Array
  keyId: Uint8Array
  signer: PurposeSigner
  settings: CrlCaSettings
}

async function issuerFor(runtime: PluginRuntime, caId: number): Promise<Issuer | null> {
  const ca = await runtime.getCa(caId)
  if (!ca || ca.status !== 'active' || !ca.certificatePem) return null
  const info = issuerInfo(ca.certificatePem)
  return {
    ca: { id: ca.id, name: ca.name },
    issuerDer: info.issuerDer,
    keyId: info.keyIdentifier,
    signer: await runtime.signerFor(caId, 'crl'),
    settings: crlSettingsOf(await runtime.settings.ca(caId)),
  }
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000)
}

/** An ETag for a stored CRL: its number and scope and a digest of its signature. */
function etagOf(number: number, scope: string, signature: Uint8Array): string {
  return `${number}-${scope}-${createHash('sha256').update(signature).digest('hex').slice(0, 24)}`
}

/**
 * Signs a TBS made of `prefix`, the entry chunks `entries` (rows of this scope, possibly of an
 * earlier CRL; this pass's own are read from its scratch file when `local` has them) and `tail`,
 * and stores the envelope around it: chunk 0 of this CRL (headers) and chunk `trailerSeq`
 * (extensions, algorithm, signature). Returns the CRL's layout, size and signature.
 */
async function signStored(
  runtime: PluginRuntime,
  issuer: Issuer,
  key: { caId: number; number: number; scope: string },
  entries: ChunkRef[],
  prefix: Buffer,
  tail: Buffer,
  trailerSeq: number,
  local: LocalChunks | null
): Promise<{ size: number; signature: Uint8Array; layout: ChunkRef[] }> {
  const { signer } = issuer
  const sigAlg = signatureAlgorithm(signer.keyType as any, signer.hash)
  const entriesLength = entries.reduce((n, [, , length]) => n + length, 0)
  const tbsLength = prefix.length + entriesLength + tail.length
  let signature: Uint8Array
  const stream = signer.stream?.(signer.hash)
  if (stream) {
    stream.update(prefix)
    for await (const chunk of readChunks(runtime, key, entries, local)) {
      stream.update(chunk)
    }
    stream.update(tail)
    signature = await stream.sign()
  } else {
    // Pure EdDSA / ML-DSA / SLH-DSA: the signature needs the whole TBS at once.
    const parts = [prefix]
    for await (const chunk of readChunks(runtime, key, entries)) parts.push(chunk)
    parts.push(tail)
    signature = await signer.sign(Buffer.concat(parts, tbsLength), signer.hash)
  }
  const { header, trailer } = crlEnvelope(tbsLength, sigAlg, signature)
  const head = Buffer.concat([header, prefix])
  const foot = Buffer.concat([tail, trailer])
  await insertChunk(runtime, key, 0, head)
  await insertChunk(runtime, key, trailerSeq, foot)
  return {
    size: header.length + tbsLength + trailer.length,
    signature,
    layout: [[key.number, 0, head.length], ...entries, [key.number, trailerSeq, foot.length]],
  }
}

/**
 * The TBSCertList fields of a CRL of `scope` (a complete scope; a delta is built for its base's
 * scope with `delta`). The full CRL carries no Issuing Distribution Point: it covers every
 * certificate of the CA, CA certificates and certificates without a CDP included (with an IDP
 * naming its URL, `openssl verify -crl_check_all -extended_crl` finds a self-signed root out of
 * its scope). A shard CRL's IDP names the shard's URL: that is what partitions it. A delta has
 * exactly its base's IDP (OpenSSL ignores a delta whose IDP differs from its base's).
 */
function draftFor(
  runtime: PluginRuntime,
  issuer: Issuer,
  scope: string,
  times: { thisUpdate: Date; nextUpdate: Date },
  crlNumber: number,
  delta?: { baseNumber: number }
): CrlDraft {
  const caId = issuer.ca.id
  return {
    issuerDer: issuer.issuerDer,
    signatureAlgorithm: signatureAlgorithm(issuer.signer.keyType as any, issuer.signer.hash),
    ...times,
    crlNumber: BigInt(crlNumber),
    authorityKeyId: issuer.keyId,
    ...(scope === FULL
      ? {}
      : { issuingDistributionPoint: { url: crlUrl(runtime.publicUrl, caId, scope) } }),
    ...(delta
      ? { deltaCrlIndicator: BigInt(delta.baseNumber) }
      : issuer.settings.deltas
        ? { freshestCrlUrls: [crlUrl(runtime.publicUrl, caId, deltaScope(scope))] }
        : {}),
  }
}

export interface BuildResult {
  number: number
  entries: number
  scopes: number
  ms: number
  /** 'scan': the entries were read from the certificates; 'append': built on the previous CRL */
  mode: 'scan' | 'append'
}

/** How often a full pass reads every revoked certificate again (it drops expired entries). */
const RESCAN_MS = DAY
/** A CRL made of more chunk rows than this is rebuilt by reading the certificates. */
const MAX_LAYOUT = 1000

/** The entries of one scope in a pass: their chunk rows and count. */
interface ScopeEntries {
  chunks: ChunkRef[]
  count: number
  /** seq of this CRL's trailer row */
  trailerSeq: number
  /** this pass's chunk rows of the scope in its scratch file */
  local: LocalChunks | null
}

/**
 * Reads every revoked certificate of the CA (page by page) and writes each entry to the chunk
 * rows of the full CRL and of its shard in each shard set.
 */
async function scanEntries(
  runtime: PluginRuntime,
  caId: number,
  number: number,
  scopes: string[],
  sets: number[],
  scratch: Scratch | null
): Promise<Map<string, ScopeEntries>> {
  const writers = new Map(
    scopes.map((s) => [s, new ChunkWriter(runtime, { caId, number, scope: s }, scratch)])
  )
  const full = writers.get(FULL)!
  const skipped: string[] = []
  let skippedCount = 0
  const visit = (serial: string, revokedAt: number, reasonName: string | null) => {
    const reason = crlReason(reasonName)
    let der: Buffer | null
    try {
      der = full.writeEntry(serial, revokedAt, reason)
      if (!der) {
        full.seal()
        der = full.writeEntry(serial, revokedAt, reason)!
      }
    } catch {
      // A row the encoder refuses (e.g. a serial that is not hex) must not stop the CA's CRL.
      if (skippedCount++ < 20) skipped.push(serial)
      return
    }
    // `der` lives in the full CRL's buffer: copied before anything else is written there.
    for (const count of sets) writers.get(shardScope(count, shardOf(serial, count)))!.put(der)
  }
  for await (const page of runtime.revokedEntryPages(caId)) {
    page.forEach(visit)
    for (const writer of writers.values()) await writer.flushSealed()
  }
  if (skipped.length > 0) {
    runtime.log.warn({ caId, count: skippedCount, serials: skipped }, 'CRL entries left out')
  }
  const out = new Map<string, ScopeEntries>()
  for (const scope of scopes) {
    const writer = writers.get(scope)!
    await writer.flush()
    out.set(scope, {
      chunks: writer.sizes.map((length, i) => [number, i + 1, length] as ChunkRef),
      count: writer.entries,
      trailerSeq: writer.count + 1,
      local: writer.local(),
    })
  }
  return out
}

/**
 * The certificates revoked since the current full CRL, when a new one can be that CRL plus them:
 * every change since is a first revocation (valid → revoked or on hold), each CRL of the pass
 * is there with known chunk lengths, and the last pass that read the certificates is recent.
 * Null when the certificates must be read again (an unrevocation, a reason change, expired
 * entries to drop, new shard sets, the plugin just started).
 */
async function appendPlan(
  runtime: PluginRuntime,
  state: CrlState,
  scopes: string[],
  now: number
): Promise<{ bases: Map<string, StoredList>; added: ChangeRow[] } | null> {
  if (state.rescan || state.fullNumber === 0 || now - state.scannedAt > RESCAN_MS) return null
  const lists = await currentLists(runtime, state)
  const bases = new Map<string, StoredList>()
  for (const list of lists) {
    if (list.number === state.fullNumber && list.baseNumber === null) bases.set(list.scope, list)
  }
  for (const scope of scopes) {
    const base = bases.get(scope)
    if (!base || base.layout.length > MAX_LAYOUT) return null
    if (base.layout.some(([, , length]) => length < 0)) return null
  }
  const changes = await changesAfter(runtime, state.caId, state.fullChangeId, MAX_DELTA_CHANGES)
  if (changes.length > MAX_DELTA_CHANGES) return null
  const seen = new Set<number>()
  for (const change of changes) {
    if (seen.has(change.certificateId)) return null
    seen.add(change.certificateId)
    if (change.previousStatus !== 'valid' || !LISTED.has(change.status)) return null
  }
  // Changes logged while the last scan read the certificates may already be in it.
  const unsure = changes.filter((c) => c.id <= state.scanChangeIdAfter)
  const listed = unsure.length > 0 ? await serialsListed(runtime, bases.get(FULL)!, unsure) : null
  const added = listed ? changes.filter((c) => !listed.has(normalSerial(c.serial))) : changes
  return { bases, added }
}

function normalSerial(serial: string): string {
  return serial
    .replace(/[^0-9a-fA-F]/g, '')
    .toLowerCase()
    .replace(/^0+/, '')
}

/** Which of these certificates' serials a stored CRL lists (walks its entry chunks). */
async function serialsListed(
  runtime: PluginRuntime,
  list: StoredList,
  changes: ChangeRow[]
): Promise<Set<string>> {
  const wanted = new Set(changes.map((c) => normalSerial(c.serial)))
  const found = new Set<string>()
  for await (const chunk of readChunks(runtime, list, list.layout.slice(1, -1))) {
    for (const serial of entrySerials(chunk)) if (wanted.has(serial)) found.add(serial)
  }
  return found
}

/** The serials (hex, no leading zeros) of a chunk of whole revokedCertificates entries. */
function* entrySerials(chunk: Buffer): Generator<string> {
  let at = 0
  while (at < chunk.length) {
    const [entryStart, entryEnd] = tlvBounds(chunk, at)
    const [serialStart, serialEnd] = tlvBounds(chunk, entryStart)
    yield chunk.subarray(serialStart, serialEnd).toString('hex').replace(/^0+/, '')
    at = entryEnd
  }
}

/** Content start and end of the DER TLV at `at`. */
function tlvBounds(buf: Buffer, at: number): [number, number] {
  let length = buf[at + 1]
  let start = at + 2
  if (length & 0x80) {
    const octets = length & 0x7f
    length = 0
    for (let i = 0; i < octets; i++) length = length * 256 + buf[start + i]
    start += octets
  }
  return [start, start + length]
}

/**
 * A full pass: the full CRL and every shard CRL of the CA, then (deltas on) a delta on top.
 * Built on the previous full CRL (its entry chunks reused, the newly revoked appended) when
 * `appendPlan` allows, else by reading every revoked certificate. Returns null when the CA
 * cannot have a CRL (no certificate, not active).
 */
export async function buildFull(
  runtime: PluginRuntime,
  caId: number,
  options: { scan?: boolean; scanNotBefore?: number } = {}
): Promise<BuildResult | null | 'deferred'> {
  const started = Date.now()
  const issuer = await issuerFor(runtime, caId)
  if (!issuer) return null
  if (issuer.settings.shards > 0) await recordShardSet(runtime, caId, issuer.settings.shards)
  const sets = await shardCounts(runtime, caId)
  const before = await ensureState(runtime, caId)
  // Read before the entries: every change after it is in a later delta or full CRL.
  const changeId = await lastChangeId(runtime, caId)
  const scopes = baseScopes(sets)
  const plan = options.scan ? null : await appendPlan(runtime, before, scopes, started)
  if (!plan && started < (options.scanNotBefore ?? 0)) return 'deferred'
  const number = await claimNumber(runtime, caId)
  const thisUpdateMs = Math.min(started, Date.now())
  const times = {
    thisUpdate: wholeSeconds(thisUpdateMs),
    nextUpdate: wholeSeconds(thisUpdateMs + issuer.settings.validityDays * DAY),
  }

  // This pass's chunk rows, kept in a scratch file until they are signed.
  const scratch = Scratch.open()
  let entries: Map<string, ScopeEntries>
  let changeIdAfter: number
  try {
    if (plan) {
      entries = new Map()
      for (const scope of scopes) {
        const base = plan.bases.get(scope)!
        const mine = plan.added.filter((c) => inScope(scope, c.serial))
        const writer = new ChunkWriter(runtime, { caId, number, scope }, scratch)
        for (const change of mine) await writer.append(changeEntry(change))
        await writer.flush()
        entries.set(scope, {
          chunks: [
            ...base.layout.slice(1, -1),
            ...writer.sizes.map((length, i) => [number, i + 1, length] as ChunkRef),
          ],
          count: base.entries + mine.length,
          trailerSeq: writer.count + 1,
          local: writer.local(),
        })
      }
    } else {
      entries = await scanEntries(runtime, caId, number, scopes, sets, scratch)
    }
    changeIdAfter = plan ? before.scanChangeIdAfter : await lastChangeId(runtime, caId)

    for (const scope of scopes) {
      const scoped = entries.get(scope)!
      const length = scoped.chunks.reduce((n, [, , l]) => n + l, 0)
      const parts = crlTbsParts(draftFor(runtime, issuer, scope, times, number))
      const key = { caId, number, scope }
      const { size, signature, layout } = await signStored(
        runtime,
        issuer,
        key,
        scoped.chunks,
        crlTbsPrefix(parts, length),
        parts.tail,
        scoped.trailerSeq,
        scoped.local
      )
      await insertList(runtime, {
        ...key,
        baseNumber: null,
        thisUpdate: times.thisUpdate.getTime(),
        nextUpdate: times.nextUpdate.getTime(),
        entries: scoped.count,
        size,
        chunks: scoped.trailerSeq - 1,
        etag: etagOf(number, scope, signature),
        layout,
      })
    }
  } finally {
    scratch?.close()
  }

  const ms = Date.now() - started
  const mode = plan ? 'append' : 'scan'
  const count = entries.get(FULL)!.count
  const switched = await switchTo(runtime, caId, 'full_number', number, {
    prev_full_number: before.fullNumber,
    full_change_id: changeId,
    full_built_at: Date.now(),
    full_build_ms: ms,
    full_built_dirty: before.dirty,
    ...(plan
      ? {}
      : { scan_change_id_after: changeIdAfter, scanned_at: Date.now(), scan_ms: ms, rescan: 0 }),
    ...(issuer.settings.deltas ? {} : { delta_number: 0 }),
  })
  const result = { number, entries: count, scopes: scopes.length, ms, mode } as BuildResult
  if (!switched) return result

  const expired = await markExpiredListed(runtime, caId, changeId, times.thisUpdate.getTime())
  const lastScanMs = plan ? before.scanMs : ms
  if (expired > 0 && lastScanMs < SLOW_BUILD_MS) {
    // They were listed once after their expiry: the next full CRL reads the certificates again
    // and leaves them out. (A CA whose scan is slow drops them at its daily scan instead.)
    await runtime.table('crl_state').where('ca_id', caId).update({ rescan: 1 })
  }
  await runtime.writeServiceLog({
    caId,
    level: 'info',
    event: 'crl.issued',
    message: `CRL #${number} issued with ${count} revoked certificate(s)${
      scopes.length > 1 ? ` and ${scopes.length - 1} shard CRL(s)` : ''
    }.`,
    details: {
      crlNumber: number,
      entries: count,
      shards: scopes.length - 1,
      nextUpdate: times.nextUpdate.toISOString(),
      mode,
      ms,
    },
  })
  if (issuer.settings.deltas) await buildDelta(runtime, caId, issuer)
  const state = await readState(runtime, caId)
  if (state) await deleteOld(runtime, state)
  return result
}

/** Whether a serial belongs to a complete scope (the full CRL, or a shard "s<count>-<index>"). */
function inScope(scope: string, serial: string): boolean {
  const shard = /^s(\d+)-(\d+)$/.exec(scope)
  return !shard || shardOf(serial, Number(shard[1])) === Number(shard[2])
}

/** The CRL entry of a revoked or held certificate, from its change row. */
function changeEntry(change: ChangeRow): Buffer {
  const reason = change.status === 'hold' ? 'certificateHold' : crlReason(change.reason)
  return encodeCrlEntry({
    serial: change.serial,
    revokedAt: new Date(change.revokedAt ?? change.createdAt),
    reason: reason as CrlReason | undefined,
  })
}

/**
 * RFC 5280 §3.3: the CRL just stored carried every revoked certificate that expired before its
 * thisUpdate, so they may leave later CRLs. Not when a change logged after the entries were read
 * concerns an already-expired certificate (it may be missing from this CRL): the next CRL then
 * does it.
 */
async function markExpiredListed(
  runtime: PluginRuntime,
  caId: number,
  changeId: number,
  thisUpdate: number
): Promise<number> {
  const late = await runtime
    .table('crl_changes')
    .where('ca_id', caId)
    .where('id', '>', changeId)
    .where('not_after', '<', thisUpdate)
    .first('id')
  if (late) return 0
  return runtime.markListedAfterExpiry(caId, thisUpdate)
}

const LISTED = new Set(['revoked', 'hold'])

/** What a delta says about each certificate changed since the base: listed, or removeFromCRL. */
function deltaEntries(changes: ChangeRow[]): Array<{ serial: string; der: Buffer }> {
  const byCert = new Map<number, { first: ChangeRow; last: ChangeRow }>()
  for (const change of changes) {
    const seen = byCert.get(change.certificateId)
    if (seen) seen.last = change
    else byCert.set(change.certificateId, { first: change, last: change })
  }
  const out: Array<{ serial: string; der: Buffer }> = []
  for (const { first, last } of byCert.values()) {
    try {
      if (LISTED.has(last.status)) {
        out.push({ serial: last.serial, der: changeEntry(last) })
      } else if (LISTED.has(first.previousStatus)) {
        // In the base, no longer revoked (taken off hold): RFC 5280 §5.3.1 removeFromCRL.
        out.push({
          serial: last.serial,
          der: encodeCrlEntry({
            serial: last.serial,
            revokedAt: new Date(last.createdAt),
            reason: 'removeFromCRL',
          }),
        })
      }
    } catch {
      // a serial the encoder refuses was left out of the full CRL too
    }
  }
  return out
}

/**
 * A delta pass: for each scope of the current full pass, the changes since it (same IDP as its
 * base, Delta CRL Indicator = the base's number). Returns false when there is no base, deltas are
 * off, or there are too many changes (the caller builds a full CRL instead).
 */
export async function buildDelta(
  runtime: PluginRuntime,
  caId: number,
  known?: Issuer
): Promise<boolean> {
  const issuer = known ?? (await issuerFor(runtime, caId))
  if (!issuer || !issuer.settings.deltas) return false
  const state = await readState(runtime, caId)
  if (!state || state.fullNumber === 0) return false
  const served = await currentLists(runtime, state)
  const bases = served.filter((l) => l.number === state.fullNumber && l.baseNumber === null)
  if (bases.length === 0) return false
  const changes = await changesAfter(runtime, caId, state.fullChangeId, MAX_DELTA_CHANGES)
  if (changes.length > MAX_DELTA_CHANGES) return false
  const entries = deltaEntries(changes)
  const number = await claimNumber(runtime, caId)
  const now = Date.now()
  const times = {
    thisUpdate: wholeSeconds(now),
    nextUpdate: wholeSeconds(now + issuer.settings.deltaValidityHours * HOUR),
  }
  for (const base of bases) {
    const mine = entries.filter((e) => inScope(base.scope, e.serial))
    const draft = draftFor(runtime, issuer, base.scope, times, number, {
      baseNumber: base.number,
    })
    const tbs = encodeCrlTbs({ ...draft, entries: mine.map((e) => e.der) })
    const signature = await issuer.signer.sign(tbs, issuer.signer.hash)
    const sigAlg = signatureAlgorithm(issuer.signer.keyType as any, issuer.signer.hash)
    const { header, trailer } = crlEnvelope(tbs.length, sigAlg, signature)
    const scope = deltaScope(base.scope)
    const key = { caId, number, scope }
    const head = Buffer.concat([header, tbs])
    await insertChunk(runtime, key, 0, head)
    await insertChunk(runtime, key, 1, trailer)
    await insertList(runtime, {
      ...key,
      baseNumber: base.number,
      thisUpdate: times.thisUpdate.getTime(),
      nextUpdate: times.nextUpdate.getTime(),
      entries: mine.length,
      size: header.length + tbs.length + trailer.length,
      chunks: 0,
      etag: etagOf(number, scope, signature),
      layout: [
        [number, 0, head.length],
        [number, 1, trailer.length],
      ],
    })
  }
  // Only on top of the base it was built from (a new full pass may have switched in).
  return switchTo(runtime, caId, 'delta_number', number, { delta_built_dirty: state.dirty }, (q) =>
    q.where('full_number', state.fullNumber)
  )
}

/** What the refresh job should do for a CA now. */
export function due(
  state: CrlState | null,
  lists: { fullNextUpdate: number | null; deltaNextUpdate: number | null; scopes: number },
  settings: CrlCaSettings,
  expectedScopes: number,
  now: number
): 'full' | 'stale' | 'delta' | null {
  if (!state || state.fullNumber === 0 || lists.fullNextUpdate === null) return 'full'
  if (lists.fullNextUpdate - now <= RENEW_BEFORE_MS) return 'full'
  if (lists.scopes < expectedScopes) return 'full'
  if (state.dirty > state.fullBuiltDirty) {
    if (now - state.fullBuiltAt >= settings.fullMinIntervalSeconds * 1000) return 'stale'
  }
  if (!settings.deltas) return null
  if (state.deltaNumber < state.fullNumber || lists.deltaNextUpdate === null) return 'delta'
  if (state.dirty > state.deltaBuiltDirty) return 'delta'
  if (lists.deltaNextUpdate - now <= (settings.deltaValidityHours * HOUR) / 4) return 'delta'
  return null
}

/** The refresh job's work for one CA: a full or delta pass when one is due. */
export async function refreshCa(runtime: PluginRuntime, caId: number): Promise<void> {
  const settings = crlSettingsOf(await runtime.settings.ca(caId))
  if (settings.shards > 0) await recordShardSet(runtime, caId, settings.shards)
  const state = await readState(runtime, caId)
  const lists = state ? await currentLists(runtime, state) : []
  const fullLists = lists.filter(
    (l) => state && l.number === state.fullNumber && l.baseNumber === null
  )
  const fullRow = fullLists.find((l) => l.scope === FULL)
  const deltaRow = lists.find(
    (l) => state && l.number === state.deltaNumber && l.scope === deltaScope(FULL)
  )
  const expected = baseScopes(await shardCounts(runtime, caId)).length
  const what = due(
    state,
    {
      fullNextUpdate: fullRow?.nextUpdate ?? null,
      deltaNextUpdate: deltaRow?.nextUpdate ?? null,
      scopes: fullLists.length,
    },
    settings,
    expected,
    Date.now()
  )
  // A stale CRL that needs a read of the certificates waits ten times that read's last duration
  // when it was slow (bursts coalesced); one built on the previous CRL does not wait.
  const scanNotBefore =
    state && state.scanMs >= SLOW_BUILD_MS ? state.scannedAt + BUILD_TIME_FACTOR * state.scanMs : 0
  if (what === 'full') {
    await buildFull(runtime, caId)
  } else if (what === 'stale') {
    const built = await buildFull(runtime, caId, { scanNotBefore })
    if (built === 'deferred' && settings.deltas) await buildDelta(runtime, caId)
  } else if (what === 'delta' && !(await buildDelta(runtime, caId))) {
    await buildFull(runtime, caId, { scanNotBefore })
  }
}
