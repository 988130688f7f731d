/*
 * app/services/sqlite_setup.js on real SQLite files (a temporary folder): knex's deferred `BEGIN;`
 * is run as BEGIN IMMEDIATE, so a transaction that reads before it writes waits for the write
 * lock instead of failing when another connection committed in between.
 */
import { test } from '@japa/runner'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { setUpConnection } from '../../../app/services/sqlite_setup.js'

test.group('sqlite_setup: transactions take the write lock when they begin', (group) => {
  let dir = ''
  group.each.setup(() => {
    dir = mkdtempSync(join(tmpdir(), 'pki-sqlite-setup-'))
    return () => rmSync(dir, { recursive: true, force: true })
  })

  /** Two connections on one file: `ours` set up like the pool's, `other` a plain writer. */
  function open(setUp: boolean) {
    const file = join(dir, 'db.sqlite3')
    const ours = new Database(file)
    if (setUp) setUpConnection(ours)
    else ours.pragma('journal_mode = WAL')
    ours.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)')
    const other = new Database(file)
    other.pragma('busy_timeout = 0')
    return { ours, other }
  }

  test('without it: read, another connection commits, then the write fails at once', ({
    assert,
  }) => {
    const { ours, other } = open(false)
    ours.prepare('BEGIN;').run()
    ours.prepare('SELECT count(*) AS n FROM t').get()
    other.prepare("INSERT INTO t (v) VALUES ('other')").run()
    assert.throws(() => ours.prepare("INSERT INTO t (v) VALUES ('ours')").run(), /locked|busy/i)
    ours.prepare('ROLLBACK;').run()
    ours.close()
    other.close()
  })

  test("with it: knex's BEGIN holds the write lock, so the same sequence commits", ({ assert }) => {
    const { ours, other } = open(true)
    ours.prepare('BEGIN;').run()
    assert.isTrue(ours.inTransaction)
    ours.prepare('SELECT count(*) AS n FROM t').get()
    // the other writer cannot slip in between (it would wait up to its busy timeout)
    assert.throws(() => other.prepare("INSERT INTO t (v) VALUES ('other')").run(), /locked|busy/i)
    ours.prepare("INSERT INTO t (v) VALUES ('ours')").run()
    ours.prepare('COMMIT;').run()
    other.prepare("INSERT INTO t (v) VALUES ('other')").run()
    assert.deepEqual(
      ours
        .prepare('SELECT v FROM t ORDER BY id')
        .all()
        .map((r: any) => r.v),
      ['ours', 'other']
    )
    // other statements are left as they are, and prepared once
    assert.strictEqual(ours.prepare('SELECT 1'), ours.prepare('SELECT 1'))
    ours.close()
    other.close()
  })
})
