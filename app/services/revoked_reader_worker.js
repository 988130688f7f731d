/*
 * Revoked-entries reader (SQLite): reads a CA's revoked and held certificates in id order on its
 * own read-only connection and packs them into buffers the main thread lends it, so that reading
 * a million rows neither stops the event loop nor fills the main thread's heap with row objects
 * (see revoked_pages.ts). Plain JavaScript so it loads with or without the TypeScript loader.
 *
 * Each message carries an ArrayBuffer (transferred) to fill; the reply gives it back with
 * `used` bytes of records, their `count`, and `done` once every row has been sent. A record:
 *   u16 LE serial length, the serial (latin1), f64 LE revocation time (ms), u8 reason index
 *   (as the query gives it; see revoked_pages.ts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const { filename, sql, caId, afterId, pageSize } = workerData

const db = new Database(filename, { readonly: true, fileMustExist: true })
db.pragma('busy_timeout = 10000')
// columns: id, serial, revoked_at, reason index (computed by the query: no string per row)
const page = db.prepare(sql).raw(true)

let lastId = afterId
let done = false
/** rows read but not packed yet (the last buffer was full) */
let rows = []
let next = 0

function fill(out) {
  let at = 0
  let count = 0
  for (;;) {
    if (next === rows.length) {
      if (done) break
      // Pages of `pageSize` rows: small enough to die young in this thread's small heap.
      rows = page.all(caId, 0, lastId, pageSize)
      next = 0
      if (rows.length < pageSize) done = true
      if (rows.length === 0) break
      lastId = Number(rows[rows.length - 1][0])
    }
    const [, serial, revokedAt, reason] = rows[next]
    const text = String(serial)
    const length = Buffer.byteLength(text, 'latin1')
    if (at + 2 + length + 9 > out.length) {
      if (at === 0) throw new Error(`a serial of ${length} characters does not fit a page`)
      break
    }
    out.writeUInt16LE(length, at)
    out.write(text, at + 2, length, 'latin1')
    out.writeDoubleLE(Number(revokedAt ?? 0), at + 2 + length)
    out[at + 2 + length + 8] = Number(reason)
    at += 2 + length + 9
    count++
    next++
  }
  return { used: at, count, done: done && next === rows.length }
}

parentPort.on('message', ({ buffer }) => {
  try {
    const { used, count, done: finished } = fill(Buffer.from(buffer))
    parentPort.postMessage({ buffer, used, count, done: finished }, [buffer])
  } catch (error) {
    parentPort.postMessage({ error: { message: error.message, code: error.code } })
  }
})
