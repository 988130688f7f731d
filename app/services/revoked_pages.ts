/*
 * Bulk reads of a CA's revoked and held certificates (kernel port `revokedEntryPages`), for
 * CRLs of a million entries.
 *
 * On SQLite a worker thread (revoked_reader_worker.js) reads the rows on its own read-only
 * connection and packs them into two buffers lent back and forth: the main thread visits one page
 * while the worker fills the other. Rows never become objects on the main thread, whose heap (and
 * young generation) therefore does not grow with the number of rows, and the event loop keeps
 * serving while the rows are read. On PostgreSQL, or when the worker cannot start, the pages come
 * from `fallback` (the object pages of `revokedEntries`).
 */
import { Worker } from 'node:worker_threads'
import { CRL_REASON_CODES } from '#pki/index'
import { sqliteFile } from '#config/database'
import type { RevokedEntry, RevokedEntryPage } from '#plugins/contract'
import { isSqlite } from './fast_db.js'

/** Bytes of packed rows per page (about 5,000 rows). */
const PAGE_BYTES = 256 * 1024
/** Rows per statement run inside the worker (keyset pages). */
const ROWS_PER_QUERY = 1000
const REASONS = Object.keys(CRL_REASON_CODES)
const NONE = 255

/*
 * Revoked and held rows, as a literal (not bound values): the planner can then use the partial
 * index on exactly these rows (certificates_revoked_entries_index, migration 0006).
 */
export const REVOKED_OR_HELD = "status in ('revoked', 'hold')"

/** The keyset page's rows: both reads below must keep this predicate (the partial index). */
const PAGE_OF_CA =
  `where ca_id = ? and ${REVOKED_OR_HELD} and listed_after_expiry = ? and id > ? ` +
  'order by id limit ?'

/** A page of a CA's revoked and held certificates not yet dropped from its CRLs (keyset). */
export const REVOKED_ENTRIES_PAGE =
  'select id, serial, revoked_at, revocation_reason, status, not_after from certificates ' +
  PAGE_OF_CA

/*
 * The worker's page: the reason as its index in REASONS, computed by SQLite (the names are fixed
 * identifiers), so that no string is made per row for it.
 */
const WORKER_PAGE =
  `select id, serial, revoked_at, case when status = 'hold' then ${REASONS.indexOf('certificateHold')} ` +
  `else case revocation_reason ${REASONS.map((name, i) => `when '${name}' then ${i}`).join(' ')} ` +
  `else ${NONE} end end from certificates ` +
  PAGE_OF_CA

/** Packed rows: u16 serial length, serial (latin1), f64 revocation time, u8 reason index. */
class PackedPage implements RevokedEntryPage {
  constructor(
    private data: Buffer,
    private used: number,
    readonly count: number
  ) {}

  forEach(visit: (serial: string, revokedAt: number, reason: string | null) => void): void {
    const data = this.data
    let at = 0
    while (at < this.used) {
      const length = data.readUInt16LE(at)
      const serial = data.toString('latin1', at + 2, at + 2 + length)
      const revokedAt = data.readDoubleLE(at + 2 + length)
      const reason = data[at + 2 + length + 8]
      at += 2 + length + 9
      visit(serial, revokedAt, reason === NONE ? null : (REASONS[reason] ?? null))
    }
  }
}

const KNOWN = new Set(REASONS)

/** A page of row objects (PostgreSQL, or no worker). */
function objectPage(rows: RevokedEntry[]): RevokedEntryPage {
  return {
    count: rows.length,
    forEach(visit) {
      for (const row of rows) {
        visit(row.serial, row.revokedAt, row.reason && KNOWN.has(row.reason) ? row.reason : null)
      }
    },
  }
}

interface Reply {
  buffer?: ArrayBuffer
  used?: number
  count?: number
  done?: boolean
  error?: { message: string; code?: string }
}

/** The reader worker's script (tests point it elsewhere to exercise the fallback). */
export const readerWorker = { url: new URL('./revoked_reader_worker.js', import.meta.url) }

async function* workerPages(caId: number, afterId: number): AsyncGenerator<RevokedEntryPage> {
  const worker = new Worker(readerWorker.url, {
    workerData: { filename: sqliteFile, sql: WORKER_PAGE, caId, afterId, pageSize: ROWS_PER_QUERY },
    // Its rows are short-lived: a small young generation is all it needs.
    resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
  })
  const replies: Reply[] = []
  let wake: (() => void) | null = null
  let failure: Error | null = null
  const notify = () => {
    wake?.()
    wake = null
  }
  worker.on('message', (reply: Reply) => {
    replies.push(reply)
    notify()
  })
  worker.on('error', (error) => {
    failure = error
    notify()
  })
  worker.on('exit', (code) => {
    failure ??= new Error(`the revoked-entries reader stopped (exit code ${code})`)
    notify()
  })
  const next = async (): Promise<Reply> => {
    while (replies.length === 0) {
      if (failure) throw failure
      await new Promise<void>((resolve) => (wake = resolve))
    }
    return replies.shift()!
  }
  try {
    // Two buffers in flight: the worker fills one while the caller visits the other.
    let outstanding = 2
    for (let i = 0; i < 2; i++) {
      const buffer = new ArrayBuffer(PAGE_BYTES)
      worker.postMessage({ buffer }, [buffer])
    }
    let finished = false
    while (outstanding > 0) {
      const reply = await next()
      outstanding--
      if (reply.error) {
        throw Object.assign(new Error(reply.error.message), { code: reply.error.code })
      }
      const data = Buffer.from(reply.buffer!)
      if (reply.count! > 0) {
        readerStats.workerPages++
        yield new PackedPage(data, reply.used!, reply.count!)
      }
      if (reply.done) finished = true
      if (!finished) {
        worker.postMessage({ buffer: reply.buffer }, [reply.buffer!])
        outstanding++
      }
    }
  } finally {
    await worker.terminate()
  }
}

/** Pages read by a worker since start (tests tell the two paths apart with it). */
export const readerStats = { workerPages: 0 }

/** Rows of the first page, read on the main thread: most CAs have fewer revoked certificates. */
export const FIRST_PAGE = 5000

/**
 * Pages of revoked entries for `caId`, in id order. `rowsAfter(id)`: the same rows as objects,
 * in pages of FIRST_PAGE, after that certificate id. The first page is read on this thread (a
 * worker takes tens of milliseconds to start); on SQLite a CA with more rows continues in a
 * worker.
 */
export async function* revokedEntryPages(
  caId: number,
  rowsAfter: (afterId: number) => AsyncIterable<RevokedEntry[]>
): AsyncGenerator<RevokedEntryPage> {
  let lastId = 0
  for await (const rows of rowsAfter(0)) {
    if (rows.length > 0) lastId = rows[rows.length - 1].certificateId
    yield objectPage(rows)
    if (rows.length < FIRST_PAGE) return
    if (isSqlite()) break
  }
  if (!isSqlite()) return
  let started = false
  try {
    for await (const page of workerPages(caId, lastId)) {
      started = true
      yield page
    }
    return
  } catch (error) {
    // A worker that could not start (no worker threads, no file access) leaves the rows to the
    // main thread; one that failed midway is an error.
    if (started) throw error
  }
  for await (const rows of rowsAfter(lastId)) yield objectPage(rows)
}
