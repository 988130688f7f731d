/*
 * Every SQLite connection the server writes through — the pool's (config/database.ts) and the
 * certificate store worker's (store_worker.js) — is set up here, once. Plain JavaScript so that
 * the worker loads it with or without the TypeScript loader.
 *
 * WAL lets ace commands and the server use the file together; the busy timeout makes a writer wait
 * for another instead of failing; synchronous=FULL makes each commit durable before a certificate
 * is returned.
 */

/** Prepared statements kept per connection (most recently used). */
const STATEMENT_CACHE = 500

/** Pragmas and the statement cache of a better-sqlite3 connection opened for writing. */
export function setUpConnection(conn) {
  conn.pragma('journal_mode = WAL')
  conn.pragma('busy_timeout = 10000')
  conn.pragma('synchronous = FULL')
  conn.pragma('foreign_keys = ON')
  cacheStatements(conn)
}

/**
 * Knex opens transactions with a deferred `BEGIN;`: the write lock is taken at the first write. A
 * transaction that reads first (plugin:enable, settings, …) then fails at once with "database is
 * locked" when another connection (the server, an ace command, the store worker) committed in
 * between: SQLite cannot upgrade a read snapshot that is no longer the latest, and the busy
 * timeout does not apply. `BEGIN IMMEDIATE` takes the write lock at the start, waiting for it up
 * to the busy timeout, so such a transaction waits its turn instead. Readers are not blocked (WAL).
 */
const IMMEDIATE = 'BEGIN IMMEDIATE;'

/**
 * `conn.prepare` returns the statement already prepared for the same SQL text, and prepares
 * knex's `BEGIN;` as `BEGIN IMMEDIATE;` (see IMMEDIATE). Knex prepares every query anew (tens of
 * microseconds each, a good part of a hot request's database time). Safe as knex and the store
 * worker use statements: run or all to completion, never an open iterator, never a mode change
 * (knex would call safeIntegers() on a query that asks for it; none does). Code that changes a statement's mode (raw rows) prepares its own with
 * `conn.prepareUncached`.
 */
function cacheStatements(conn) {
  const prepare = conn.prepare.bind(conn)
  const cache = new Map()
  conn.prepareUncached = prepare
  conn.prepare = (text) => {
    const sql = text === 'BEGIN;' ? IMMEDIATE : text
    let statement = cache.get(sql)
    if (statement) {
      cache.delete(sql)
    } else {
      statement = prepare(sql)
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value)
    }
    cache.set(sql, statement)
    return statement
  }
}
