/*
 * Certificate store worker (SQLite). Commits batches of certificates on its own connection, so
 * the fsync of each durable commit (synchronous=FULL) happens off the main thread. Plain
 * JavaScript so it loads with or without the TypeScript loader. See certificate_store.ts.
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { setUpConnection } from './sqlite_setup.js'
import { checkExpectation, insertedRowid, resolveRefs } from './batch_statements.js'

const db = new Database(workerData.filename)
setUpConnection(db)

const insertCertificate = db.prepare(workerData.sql.insertCertificate)
const insertAudit = db.prepare(workerData.sql.insertAudit)
const updateRequest = db.prepare(workerData.sql.updateRequest)
const insertName = db.prepare(workerData.sql.insertName)

/**
 * A plugin's write batch: every statement in one transaction; each one's result. A statement with
 * `expect` must change exactly that many rows, or the whole batch rolls back (E_WRITE_EXPECTATION,
 * with the statement's index).
 */
function runBatch(batch) {
  const results = []
  db.exec('BEGIN IMMEDIATE')
  for (const [index, { sql, bindings, expect }] of batch.entries()) {
    // prepared once per SQL text (the connection's statement cache)
    const prepared = db.prepare(sql)
    const args = resolveRefs(bindings, results)
    let result
    if (prepared.reader) {
      // e.g. INSERT ... RETURNING: its rows are the result
      const rows = prepared.all(...args)
      result = { changes: rows.length, lastId: null, rows }
    } else {
      const info = prepared.run(...args)
      result = { changes: info.changes, lastId: insertedRowid(sql, info) }
    }
    checkExpectation(index, result.changes, expect)
    results.push(result)
  }
  db.exec('COMMIT')
  return results
}

/** The certificate batch: each certificate with its audit entry, request update and names. */
function storeCertificates(items) {
  db.exec('BEGIN IMMEDIATE')
  const ids = []
  for (const item of items) {
    const certificateId = Number(insertCertificate.run(...item.certificate).lastInsertRowid)
    // audit values: at, actor, action, object_type, object_id (the new id), ca_id, ip, details
    const audit = [...item.audit]
    audit[4] = String(certificateId)
    insertAudit.run(...audit)
    if (item.requestId) {
      // Only while the request is still claimed by this approver (claim token = its decided_at).
      const claim = item.claim ?? null
      const info = updateRequest.run(
        certificateId,
        audit[1],
        audit[0],
        item.requestId,
        claim,
        claim
      )
      if (info.changes === 0) {
        throw Object.assign(
          new Error(`Request ${item.requestId} is no longer claimed by this approver.`),
          { code: 'E_CONFLICT' }
        )
      }
    }
    // searchable names (certificate_names): certificate_id, ca_id (first certificate column), name
    for (const name of item.names ?? []) insertName.run(certificateId, item.certificate[0], name)
    ids.push(certificateId)
  }
  db.exec('COMMIT')
  return ids
}

parentPort.on('message', ({ id, items, batch }) => {
  try {
    if (batch) parentPort.postMessage({ id, results: runBatch(batch) })
    else parentPort.postMessage({ id, ids: storeCertificates(items) })
  } catch (error) {
    try {
      if (db.inTransaction) db.exec('ROLLBACK')
    } catch {}
    parentPort.postMessage({
      id,
      error: { message: error?.message ?? String(error), code: error?.code, index: error?.index },
    })
  }
})
