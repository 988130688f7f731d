/*
 * The CRL plugin's tables (see database/migrations/0002_crl_streamed.ts): the per-CA state row
 * and its number sequence, stored CRLs as chunk rows, the change log and shard sets.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { writeCrlEntry, type CrlReason } from '#pki/index'
import type { PluginRuntime } from '#plugin-api'

/** Entry bytes per chunk row while a CRL is built (and the unit it is read back in). */
export const CHUNK_BYTES = 512 * 1024

export interface CrlState {
  caId: number
  lastNumber: number
  fullNumber: number
  prevFullNumber: number
  deltaNumber: number
  fullChangeId: number
  fullBuiltAt: number
  fullBuildMs: number
  dirty: number
  fullBuiltDirty: number
  deltaBuiltDirty: number
  generation: number
  /** the change log's last id right after the last pass that read the certificates */
  scanChangeIdAfter: number
  /** when that pass was stored (ms) and how long it took */
  scannedAt: number
  scanMs: number
  /** a pass reading the certificates is wanted (start, plugin enabled) */
  rescan: boolean
}

/** One chunk row of a stored CRL: [number, seq, length] (same CA and scope as the CRL). */
export type ChunkRef = [number, number, number]

export interface StoredList {
  caId: number
  number: number
  scope: string
  baseNumber: number | null
  thisUpdate: number
  nextUpdate: number
  entries: number
  size: number
  chunks: number
  etag: string
  /** the chunk rows making the CRL, in order: header, entry chunks, trailer */
  layout: ChunkRef[]
}

export interface ChangeRow {
  id: number
  certificateId: number
  serial: string
  status: string
  previousStatus: string
  reason: string | null
  revokedAt: number | null
  notAfter: number
  createdAt: number
}

function stateOf(row: any): CrlState {
  return {
    caId: Number(row.ca_id),
    lastNumber: Number(row.last_number),
    fullNumber: Number(row.full_number),
    prevFullNumber: Number(row.prev_full_number),
    deltaNumber: Number(row.delta_number),
    fullChangeId: Number(row.full_change_id),
    fullBuiltAt: Number(row.full_built_at),
    fullBuildMs: Number(row.full_build_ms),
    dirty: Number(row.dirty),
    fullBuiltDirty: Number(row.full_built_dirty),
    deltaBuiltDirty: Number(row.delta_built_dirty),
    generation: Number(row.generation),
    scanChangeIdAfter: Number(row.scan_change_id_after ?? 0),
    scannedAt: Number(row.scanned_at ?? 0),
    scanMs: Number(row.scan_ms ?? 0),
    rescan: Number(row.rescan ?? 1) !== 0,
  }
}

function layoutOf(row: any): ChunkRef[] {
  if (row.layout) return JSON.parse(String(row.layout)) as ChunkRef[]
  // stored before layouts existed: its own rows, lengths unknown (never a base to build on)
  const n = Number(row.number)
  return Array.from({ length: Number(row.chunks) + 2 }, (_, seq) => [n, seq, -1] as ChunkRef)
}

export function listOf(row: any): StoredList {
  return {
    caId: Number(row.ca_id),
    number: Number(row.number),
    scope: String(row.scope),
    baseNumber:
      row.base_number === null || row.base_number === undefined ? null : Number(row.base_number),
    thisUpdate: Number(row.this_update),
    nextUpdate: Number(row.next_update),
    entries: Number(row.entries),
    size: Number(row.size),
    chunks: Number(row.chunks),
    etag: String(row.etag),
    layout: layoutOf(row),
  }
}

export async function readState(runtime: PluginRuntime, caId: number): Promise<CrlState | null> {
  const row = await runtime.table('crl_state').where('ca_id', caId).first()
  return row ? stateOf(row) : null
}

/** The CA's state row, created (all zero) when missing. */
export async function ensureState(runtime: PluginRuntime, caId: number): Promise<CrlState> {
  const existing = await readState(runtime, caId)
  if (existing) return existing
  try {
    await runtime.table('crl_state').insert({ ca_id: caId })
  } catch {
    // created by another node or request meanwhile
  }
  return (await readState(runtime, caId))!
}

/** Every CA's generation: what nodes poll (one cheap query). */
export async function generations(runtime: PluginRuntime): Promise<Map<number, number>> {
  const rows = await runtime.table('crl_state').select('ca_id', 'generation')
  return new Map(rows.map((r: any) => [Number(r.ca_id), Number(r.generation)]))
}

/** Takes the next number of the CA's one CRL-number sequence (full and delta CRLs alike). */
export async function claimNumber(runtime: PluginRuntime, caId: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const state = await ensureState(runtime, caId)
    const next = state.lastNumber + 1
    const updated = await runtime
      .table('crl_state')
      .where('ca_id', caId)
      .where('last_number', state.lastNumber)
      .update({ last_number: next })
    if (Number(updated) === 1) return next
  }
  throw new Error(`could not take a CRL number for CA ${caId}`)
}

/** A revocation or unrevocation happened: the CA's CRLs are stale. */
export async function markStale(runtime: PluginRuntime, caId: number): Promise<void> {
  await ensureState(runtime, caId)
  await runtime.table('crl_state').where('ca_id', caId).increment('dirty', 1)
}

/**
 * Makes a built pass the one served, unless a newer one was switched in meanwhile. `number`
 * must exceed the column's current value; returns whether the switch happened.
 */
export async function switchTo(
  runtime: PluginRuntime,
  caId: number,
  column: 'full_number' | 'delta_number',
  number: number,
  values: Record<string, unknown>,
  extra?: (query: any) => any
): Promise<boolean> {
  let query = runtime.table('crl_state').where('ca_id', caId).where(column, '<', number)
  if (extra) query = extra(query)
  const updated = await query.update({ ...values, [column]: number })
  if (Number(updated) !== 1) return false
  await runtime.table('crl_state').where('ca_id', caId).increment('generation', 1)
  return true
}

/* ------------------------------------------------------------ stored CRLs */

/**
 * A pass's local copy of the entry chunks it stores: a temporary file the signature is computed
 * from, so that the chunks need not be read back from the database. Rows read back arrive as new
 * driver buffers (external memory that the garbage collector frees late), which made the
 * process's memory grow with the CRL's size; reading the file into one reused buffer does not.
 * When the file cannot be made, the chunks are read back from the database instead.
 */
export class Scratch {
  #fd: number
  #file: string
  #end = 0
  #buf: Buffer | null = null

  private constructor(fd: number, file: string) {
    this.#fd = fd
    this.#file = file
  }

  static open(): Scratch | null {
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-crl-'))
      const file = path.join(dir, 'entries')
      return new Scratch(fs.openSync(file, 'w+', 0o600), file)
    } catch {
      return null
    }
  }

  /** Appends bytes; their offset in the file. */
  write(data: Buffer): number {
    const at = this.#end
    let done = 0
    while (done < data.length) {
      done += fs.writeSync(this.#fd, data, done, data.length - done, at + done)
    }
    this.#end += data.length
    return at
  }

  /** `length` bytes at `offset`, in a buffer reused by the next read. */
  read(offset: number, length: number): Buffer {
    if (!this.#buf || this.#buf.length < length) this.#buf = Buffer.allocUnsafe(length)
    let done = 0
    while (done < length) {
      const n = fs.readSync(this.#fd, this.#buf, done, length - done, offset + done)
      if (n === 0) throw new Error('CRL scratch file truncated')
      done += n
    }
    return this.#buf.subarray(0, length)
  }

  close(): void {
    try {
      fs.closeSync(this.#fd)
    } catch {}
    fs.rmSync(path.dirname(this.#file), { recursive: true, force: true })
  }
}

/** Where this pass's own chunk rows of a scope are in its scratch file (by seq, from 1). */
export interface LocalChunks {
  scratch: Scratch
  number: number
  offsets: number[]
}

/**
 * Writes entries into a CRL's chunk rows (seq from 1): into a CHUNK_BYTES buffer, stored as one
 * row when full (and, with a scratch file, copied there too). `writeEntry` / `copy` return null /
 * false when the buffer is full. In synchronous code, `seal()` the full buffer (a fresh one takes
 * the next entries) and store the sealed chunks later with `flushSealed()`; `flush()` does both.
 */
export class ChunkWriter {
  length = 0
  count = 0
  /** entries written */
  entries = 0
  /** the length of each chunk written (seq 1, 2, ...) */
  sizes: number[] = []
  /** each chunk's offset in the scratch file (seq 1, 2, ...) */
  offsets: number[] = []
  #buf: Buffer = Buffer.allocUnsafe(CHUNK_BYTES)
  #pos = 0
  /** chunks sealed but not stored yet: [seq, buffer, length] */
  #sealed: Array<[number, Buffer, number]> = []
  /** buffers whose chunk is stored, for reuse */
  #spare: Buffer[] = []

  constructor(
    private runtime: PluginRuntime,
    private key: { caId: number; number: number; scope: string },
    private scratch: Scratch | null = null
  ) {}

  /** This writer's chunks in the scratch file (null without one). */
  local(): LocalChunks | null {
    return this.scratch
      ? { scratch: this.scratch, number: this.key.number, offsets: this.offsets }
      : null
  }

  /** Encodes one entry in place (`writeCrlEntry`); its bytes, or null when there is no room. */
  writeEntry(serial: string, revokedAtMs: number, reason?: CrlReason): Buffer | null {
    const end = writeCrlEntry(this.#buf, this.#pos, serial, revokedAtMs, reason)
    if (end < 0) return null
    const bytes = this.#buf.subarray(this.#pos, end)
    this.entries++
    this.length += end - this.#pos
    this.#pos = end
    return bytes
  }

  /** Copies an encoded entry in; false when there is no room. */
  copy(bytes: Buffer): boolean {
    if (this.#pos + bytes.length > this.#buf.length) return false
    bytes.copy(this.#buf, this.#pos)
    this.entries++
    this.#pos += bytes.length
    this.length += bytes.length
    return true
  }

  /** Copies an encoded entry in, sealing the chunk first when it is full (synchronous). */
  put(bytes: Buffer): void {
    if (this.copy(bytes)) return
    this.seal()
    if (!this.copy(bytes)) throw new Error(`a CRL entry of ${bytes.length} bytes`)
  }

  /** Appends an encoded entry, storing the chunk first when it is full. */
  async append(bytes: Buffer): Promise<void> {
    this.put(bytes)
    await this.flushSealed()
  }

  /** Closes the current chunk (its seq is taken now); a fresh buffer takes the next entries. */
  seal(): void {
    if (this.#pos === 0) return
    this.count++
    this.sizes.push(this.#pos)
    this.#sealed.push([this.count, this.#buf, this.#pos])
    this.#buf = this.#spare.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES)
    this.#pos = 0
  }

  /** Stores the sealed chunks, in order. */
  async flushSealed(): Promise<void> {
    while (this.#sealed.length > 0) {
      const [seq, buffer, length] = this.#sealed.shift()!
      const data = buffer.subarray(0, length)
      if (this.scratch) this.offsets.push(this.scratch.write(data))
      await insertChunk(this.runtime, this.key, seq, data)
      // The row is stored (the driver is done with the bytes): the buffer takes a later chunk.
      this.#spare.push(buffer)
    }
  }

  async flush(): Promise<void> {
    this.seal()
    await this.flushSealed()
  }
}

export async function insertChunk(
  runtime: PluginRuntime,
  key: { caId: number; number: number; scope: string },
  seq: number,
  data: Buffer
): Promise<void> {
  await runtime
    .table('crl_chunks')
    .insert({ ca_id: key.caId, number: key.number, scope: key.scope, seq, data })
}

/**
 * Chunk rows of a CRL's scope, one query each (bounded memory). Rows of `local` (this pass's own,
 * also in its scratch file) are read from the file into a buffer that the next chunk reuses:
 * the consumer must be done with a chunk before asking for the next.
 */
export async function* readChunks(
  runtime: PluginRuntime,
  key: { caId: number; scope: string },
  refs: readonly ChunkRef[],
  local: LocalChunks | null = null
): AsyncGenerator<Buffer> {
  for (const [number, seq, length] of refs) {
    const offset = local && number === local.number ? local.offsets[seq - 1] : undefined
    if (local && offset !== undefined) {
      yield local.scratch.read(offset, length)
      continue
    }
    const row = await runtime
      .table('crl_chunks')
      .where({ ca_id: key.caId, number, scope: key.scope, seq })
      .first('data')
    if (!row) throw new Error(`CRL ${key.caId}/${number}/${key.scope}: chunk ${seq} missing`)
    const data = row.data as Uint8Array
    // A view, not a copy: a chunk is up to a megabyte, and a CRL may have hundreds of them.
    yield Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  }
}

/** A stored CRL's whole DER. */
export async function readDer(runtime: PluginRuntime, list: StoredList): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of readChunks(runtime, list, list.layout)) parts.push(chunk)
  return Buffer.concat(parts)
}

export async function insertList(runtime: PluginRuntime, list: StoredList): Promise<void> {
  await runtime.table('crl_lists').insert({
    ca_id: list.caId,
    number: list.number,
    scope: list.scope,
    base_number: list.baseNumber,
    this_update: list.thisUpdate,
    next_update: list.nextUpdate,
    entries: list.entries,
    size: list.size,
    chunks: list.chunks,
    etag: list.etag,
    layout: JSON.stringify(list.layout),
  })
}

/** The CRLs being served for a CA: the current full pass and the current delta pass. */
export async function currentLists(runtime: PluginRuntime, state: CrlState): Promise<StoredList[]> {
  const numbers = [state.fullNumber, state.deltaNumber].filter((n) => n > 0)
  if (numbers.length === 0) return []
  const rows = await runtime
    .table('crl_lists')
    .where('ca_id', state.caId)
    .whereIn('number', numbers)
  return rows.map(listOf)
}

/**
 * Deletes CRLs no longer served: every CRL below the newest served number except the current
 * and previous full passes and the current delta (a reader streaming one of those keeps it), and
 * every chunk row none of the kept CRLs is made of. Then the change log the base has absorbed.
 */
export async function deleteOld(runtime: PluginRuntime, state: CrlState): Promise<void> {
  const newest = Math.max(state.fullNumber, state.deltaNumber)
  const keep = [state.fullNumber, state.prevFullNumber, state.deltaNumber]
  await runtime
    .table('crl_lists')
    .where('ca_id', state.caId)
    .where('number', '<', newest)
    .whereNotIn('number', keep)
    .delete()
  const kept = await runtime
    .table('crl_lists')
    .where('ca_id', state.caId)
    .where('number', '<=', newest)
    .select('number', 'scope', 'chunks', 'layout')
  const used = new Set<number>()
  for (const row of kept) for (const [number] of layoutOf(row)) used.add(number)
  await runtime
    .table('crl_chunks')
    .where('ca_id', state.caId)
    .where('number', '<', newest)
    .whereNotIn('number', [...used])
    .delete()
  await runtime
    .table('crl_changes')
    .where('ca_id', state.caId)
    .where('id', '<=', Math.min(state.fullChangeId, state.scanChangeIdAfter))
    .delete()
}

/* ------------------------------------------------------------ change log, shard sets */

export async function logChange(
  runtime: PluginRuntime,
  caId: number,
  change: Omit<ChangeRow, 'id'>
): Promise<void> {
  await runtime.table('crl_changes').insert({
    ca_id: caId,
    certificate_id: change.certificateId,
    serial: change.serial,
    status: change.status,
    previous_status: change.previousStatus,
    reason: change.reason,
    revoked_at: change.revokedAt,
    not_after: change.notAfter,
    created_at: change.createdAt,
  })
}

export async function lastChangeId(runtime: PluginRuntime, caId: number): Promise<number> {
  const row = await runtime.table('crl_changes').where('ca_id', caId).max('id as id').first()
  return Number(row?.id ?? 0)
}

/** Changes after `afterId`, oldest first, at most `limit` (+1 to tell there are more). */
export async function changesAfter(
  runtime: PluginRuntime,
  caId: number,
  afterId: number,
  limit: number
): Promise<ChangeRow[]> {
  const rows = await runtime
    .table('crl_changes')
    .where('ca_id', caId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit + 1)
  return rows.map((r: any) => ({
    id: Number(r.id),
    certificateId: Number(r.certificate_id),
    serial: String(r.serial),
    status: String(r.status),
    previousStatus: String(r.previous_status),
    reason: r.reason ?? null,
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
    notAfter: Number(r.not_after),
    createdAt: Number(r.created_at),
  }))
}

export async function shardCounts(runtime: PluginRuntime, caId: number): Promise<number[]> {
  const rows = await runtime.table('crl_shard_sets').where('ca_id', caId).orderBy('count')
  return rows.map((r: any) => Number(r.count))
}

export async function recordShardSet(
  runtime: PluginRuntime,
  caId: number,
  count: number
): Promise<void> {
  const exists = await runtime.table('crl_shard_sets').where({ ca_id: caId, count }).first()
  if (exists) return
  try {
    await runtime.table('crl_shard_sets').insert({ ca_id: caId, count })
  } catch {
    // recorded by another node meanwhile
  }
}

/** Everything stored for a CA (it was deleted): its CRLs stop being served on every node. */
export async function forgetCa(runtime: PluginRuntime, caId: number): Promise<void> {
  for (const table of ['crl_chunks', 'crl_lists', 'crl_changes', 'crl_shard_sets', 'crl_state']) {
    await runtime.table(table).where('ca_id', caId).delete()
  }
}
