// Drops and re-creates a PostgreSQL database for a test run (connection from DB_* variables).
import pg from 'pg'

const name = process.argv[2]
if (!/^[a-z_][a-z0-9_]*$/.test(name ?? '')) {
  console.error(`refusing to reset database "${name}"`)
  process.exit(1)
}
const client = new pg.Client({
  host: process.env.DB_HOST ?? '127.0.0.1',
  port: Number(process.env.DB_PORT ?? 5432),
  user: process.env.DB_USER ?? 'postgres',
  password: process.env.DB_PASSWORD ?? '',
  database: 'postgres',
})
try {
  await client.connect()
  await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await client.query(`CREATE DATABASE ${name}`)
} catch (error) {
  console.error(`PostgreSQL is not reachable or refused the reset: ${error.message}`)
  process.exit(1)
} finally {
  await client.end().catch(() => {})
}
