/*
 * Database access for the issuance hot path: a few fixed statements that run for every
 * certificate (token lookup, template/CA version check, the certificate insert). On SQLite they
 * are prepared once per connection and run synchronously on the connection borrowed from the
 * pool for that moment (so knex queries simply wait their turn); on PostgreSQL they go through
 * knex as raw SQL. Placeholders are `?` on both.
 */
import db from '@adonisjs/lucid/services/db'

export type Row = Record<string, any>

interface SqliteStatement {
  get(...params: unknown[]): Row | undefined
  all(...params: unknown[]): any[]
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint }
  raw(on: boolean): SqliteStatement
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement
  /** a statement of its own (config/database.ts caches `prepare`'s, shared with knex) */
  prepareUncached?(sql: string): SqliteStatement
  exec(sql: string): void
}

const statements = new WeakMap<object, Map<string, SqliteStatement>>()

/**
 * The primary connection as Lucid keeps it (connected on first use), without the query client
 * and dialect objects `db.connection()` builds on every call: this runs several times per
 * certificate.
 */
function primary(): { clientName: string; client: any } {
  const name = db.primaryConnectionName
  db.manager.connect(name)
  return db.getRawConnection(name)!.connection as any
}

export function isSqlite() {
  return primary().clientName === 'better-sqlite3'
}

/** Runs `fn` with the raw SQLite connection; `fn` must be synchronous. */
export async function withSqlite<T>(fn: (conn: SqliteConnection) => T): Promise<T> {
  const client = primary().client.client
  const conn = await client.acquireConnection()
  try {
    return fn(conn)
  } finally {
    client.releaseConnection(conn)
  }
}

/** The raw-mode statement cached under `key` on `conn`, made by `make` on first use. */
function cached(conn: SqliteConnection, key: string, make: () => SqliteStatement): SqliteStatement {
  let cache = statements.get(conn)
  if (!cache) statements.set(conn, (cache = new Map()))
  let statement = cache.get(key)
  if (!statement) {
    statement = make()
    cache.set(key, statement)
  }
  return statement
}

/** The statement for `sql` on `conn`: the connection keeps its statements (sqlite_setup.js). */
export function prepared(conn: SqliteConnection, sql: string): SqliteStatement {
  return conn.prepare(sql)
}

/** The statement for `sql` on `conn` in raw mode (rows as arrays), prepared on first use. */
function preparedRaw(conn: SqliteConnection, sql: string): SqliteStatement {
  // Raw mode changes the statement: one of its own, not the one knex shares (config/database.ts).
  return cached(conn, `raw:${sql}`, () =>
    (conn.prepareUncached ?? conn.prepare).call(conn, sql).raw(true)
  )
}

/** SQLite cannot bind booleans or dates. */
export const bindable = (params: unknown[]) =>
  params.map((p) => (typeof p === 'boolean' ? Number(p) : p instanceof Date ? p.getTime() : p))

export const fastDb = {
  async first(sql: string, params: unknown[] = []): Promise<Row | undefined> {
    if (isSqlite()) return withSqlite((conn) => prepared(conn, sql).get(...bindable(params)))
    const result = await db.rawQuery(sql, params as any[])
    return result.rows[0]
  },

  /**
   * Every row of a SELECT as an array of its columns in select order: on SQLite without building
   * an object per row (about twice as fast for bulk reads such as a CRL's entries).
   */
  async tuples(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    if (isSqlite()) return withSqlite((conn) => preparedRaw(conn, sql).all(...bindable(params)))
    const result = await db.rawQuery(sql, params as any[])
    return result.rows.map((row: Row) => Object.values(row))
  },

  async run(sql: string, params: unknown[] = []): Promise<void> {
    if (isSqlite()) {
      await withSqlite((conn) => prepared(conn, sql).run(...bindable(params)))
      return
    }
    await db.rawQuery(sql, params as any[])
  },
}
