/*
 * Database: SQLite (embedded default, a file in the data folder) or PostgreSQL (DB_CONNECTION=pg)
 * for installs with several server nodes.
 */
import { mkdirSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import env from '#start/env'
import pkiConfig from '#config/pki'
import { defineConfig } from '@adonisjs/lucid'
import pg from 'pg'

/* Kernel times are epoch milliseconds in BIGINT columns: read them back as numbers. */
pg.types.setTypeParser(20, (value: string) => Number.parseInt(value, 10))

const sqliteFile = (() => {
  const given = env.get('DB_CONNECTION', 'sqlite') === 'sqlite' ? env.get('DB_DATABASE') : undefined
  const file = given
    ? isAbsolute(given)
      ? given
      : join(pkiConfig.appRoot, given)
    : join(pkiConfig.dataDir, 'pki.sqlite3')
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  return file
})()

/** Prepared statements kept per SQLite connection (most recently used). */
const STATEMENT_CACHE = 500

/**
 * Knex prepares every query anew on better-sqlite3 (tens of microseconds each, a good part of a
 * hot request's database time); the same SQL text is the same statement, so the connection keeps
 * them. Safe as knex uses them: run or all to completion, never an open iterator, never a mode
 * change. Code that changes a statement's mode (raw rows) prepares its own: `prepareUncached`.
 */
function cacheStatements(conn: any) {
  const prepare = conn.prepare.bind(conn)
  const cache = new Map<string, unknown>()
  conn.prepareUncached = prepare
  conn.prepare = (sql: string) => {
    let statement = cache.get(sql)
    if (statement) {
      cache.delete(sql)
    } else {
      statement = prepare(sql)
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!)
    }
    cache.set(sql, statement)
    return statement
  }
}

const dbConfig = defineConfig({
  connection: env.get('DB_CONNECTION', 'sqlite'),
  connections: {
    sqlite: {
      client: 'better-sqlite3',
      connection: { filename: sqliteFile },
      useNullAsDefault: true,
      pool: {
        /*
         * WAL lets ace commands and the server use the file together; the busy timeout makes
         * a writer wait for another instead of failing; synchronous=FULL makes each commit
         * durable before a certificate is returned.
         */
        afterCreate: (conn: any, done: (err: Error | null, conn: any) => void) => {
          try {
            conn.pragma('journal_mode = WAL')
            conn.pragma('busy_timeout = 10000')
            conn.pragma('synchronous = FULL')
            conn.pragma('foreign_keys = ON')
            cacheStatements(conn)
            done(null, conn)
          } catch (error) {
            done(error as Error, conn)
          }
        },
      },
      migrations: { naturalSort: true, paths: ['database/migrations'] },
    },
    pg: {
      client: 'pg',
      connection: {
        host: env.get('DB_HOST', '127.0.0.1'),
        port: env.get('DB_PORT', 5432),
        user: env.get('DB_USER', 'postgres'),
        password: env.get('DB_PASSWORD', ''),
        database: env.get('DB_DATABASE', 'pki'),
      },
      pool: { min: 0, max: env.get('DB_POOL_MAX', 10) },
      migrations: { naturalSort: true, paths: ['database/migrations'] },
    },
  },
})

export default dbConfig
export { sqliteFile }
