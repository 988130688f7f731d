/*
 * Rules of a plugin's write batch (runtime.writeBatch) that both committers apply: the store
 * worker on SQLite (store_worker.js) and certificate_store.ts on PostgreSQL. Plain JavaScript:
 * the store worker loads it without the TypeScript loader.
 */

/**
 * The statement's bindings with every `{ ref: i }` replaced by the id statement i of the batch
 * inserted (its RETURNING id, else its rowid); `{ ref: i, text: true }` gives it as text (SQLite
 * would store a bound number 5 as '5.0' in a text column).
 * @param {unknown[]} bindings @param {{ rows?: { id?: unknown }[], lastId: number | null }[]} results
 */
export function resolveRefs(bindings, results) {
  return bindings.map((b) => {
    if (b === null || typeof b !== 'object' || !('ref' in b)) return b
    const ref = /** @type {{ ref: number, text?: boolean }} */ (b)
    const earlier = results[ref.ref]
    if (!earlier)
      throw new Error(`a binding refers to statement ${ref.ref}, which has not run before it`)
    const id = earlier.rows?.[0]?.id ?? earlier.lastId
    if (id === null || id === undefined)
      throw new Error(
        `statement ${ref.ref} inserted no row whose id can be bound (an insert needs returning('id') on PostgreSQL)`
      )
    return ref.text ? String(id) : id
  })
}

/**
 * Throws E_WRITE_EXPECTATION (with the statement's index) when a statement with `expect` changed
 * another number of rows: the committer then rolls the whole batch back.
 * @param {number} index @param {number} changes @param {number | undefined | null} expect
 */
export function checkExpectation(index, changes, expect) {
  if (expect === undefined || expect === null || changes === expect) return
  throw Object.assign(
    new Error(`statement ${index} of the batch changed ${changes} row(s), not ${expect}`),
    { code: 'E_WRITE_EXPECTATION', index }
  )
}

/**
 * The id a statement inserted, from better-sqlite3's run() info, or null: lastInsertRowid is the
 * connection's last insert, meaningful only when this statement is an insert that added a row.
 * @param {string} sql @param {{ changes: number, lastInsertRowid: number | bigint }} info
 */
export function insertedRowid(sql, info) {
  return info.changes > 0 && /^\s*insert\b/i.test(sql) ? Number(info.lastInsertRowid) : null
}
