/*
 * Database: SQLite (embedded default, a file in the data folder) or PostgreSQL (DB_CONNECTION=pg)
 * for installs with several server nodes.
 */
import { setUpConnection } from '../app/services/sqlite_setup.js'
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

const dbConfig = defineConfig({
  connection: env.get('DB_CONNECTION', 'sqlite'),
  connections: {
    sqlite: {
      client: 'better-sqlite3',
      connection: { filename: sqliteFile },
      useNullAsDefault: true,
      pool: {
        // pragmas and the prepared-statement cache: app/services/sqlite_setup.js
        afterCreate: (conn: any, done: (err: Error | null, conn: any) => void) => {
          try {
            setUpConnection(conn)
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
