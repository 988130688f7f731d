/*
 * Revoked-entries reader (SQLite): reads a CA's revoked and held certificates in id order on its
 * own read-only connection and packs them into buffers the main thread lends it, so that reading
 * a million rows neither stops the event loop nor fills the main thread's heap with row objects
 * (see revoked_pages.ts). Plain JavaScript so it loads with or without the TypeScript loader.
 *
 * Each message carries an ArrayBuffer (transferred) to fill; the reply gives it back with
 * `used` bytes of records, their `count`, and `done` once every row has been sent. A record:
 *   u16 LE serial length, the serial (latin1), f64 LE revocation time (ms), u8 reason index
 *   (into workerData.reasons; 255: none).
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const { filename, sql, caId, reasons, pageSize } = workerData
const NONE = 255
const reasonIndex = new Map(reasons.map((name, i) => [name, i]))

const db = new Database(filename, { readonly: true, fileMustExist: true })
db.pragma('busy_timeout = 10000')
// columns: id, serial, revoked_at, revocation_reason, status
const page = db.prepare(sql).raw(true)

let lastId = 0
let done = false

function fill(out) {
  let at = 0
  let count = 0
  while (!done) {
    let rows = 0
    let full = false
    for (const [id, serial, revokedAt, reason, status] of page.iterate(caId, 0, lastId, pageSize)) {
      rows++
      const text = String(serial)
      const length = Buffer.byteLength(text, 'latin1')
      if (at + 2 + length + 9 > out.length) {
        if (at === 0) throw new Error(`a serial of ${length} characters does not fit a page`)
        full = true
        break
      }
      out.writeUInt16LE(length, at)
      out.write(text, at + 2, length, 'latin1')
      out.writeDoubleLE(Number(revokedAt ?? 0), at + 2 + length)
      out[at + 2 + length + 8] =
        status === 'hold'
          ? reasonIndex.get('certificateHold')
          : reason === null || reason === undefined
            ? NONE
            : (reasonIndex.get(String(reason)) ?? NONE)
      at += 2 + length + 9
      count++
      lastId = Number(id)
    }
    if (full) break
    if (rows < pageSize) done = true
  }
  return { used: at, count }
}

parentPort.on('message', ({ buffer }) => {
  try {
    const { used, count } = fill(Buffer.from(buffer))
    parentPort.postMessage({ buffer, used, count, done }, [buffer])
  } catch (error) {
    parentPort.postMessage({ error: { message: error.message, code: error.code } })
  }
})
