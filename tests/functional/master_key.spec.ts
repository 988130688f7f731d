/*
 * The master key at start-up, seen from outside: a process given the wrong key refuses to start
 * and says why; a fresh data folder gets an owner-only key file and a WAL-mode SQLite database;
 * a rotation (new key + old key as previous, `key:rotate`) leaves an install that works with the
 * new key alone and refuses the old one.
 */
import { test } from '@japa/runner'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { opensslCsr } from '#tests/helpers/api'
import { opensslVerify } from '#tests/helpers/external'
import {
  describeAce,
  flat,
  freePort,
  healthStatus,
  runAce,
  spawnServer,
  type EnvOverrides,
} from '#tests/helpers/processes'

const MISMATCH = 'The master key does not match this install'
const randomKey = () => randomBytes(32).toString('base64')
const keyId = (base64: string) =>
  createHash('sha256').update(Buffer.from(base64, 'base64')).digest().subarray(0, 8).toString('hex')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test.group('Master key: a wrong key at start-up', () => {
  test('node ace refuses to start with a different master key and says why', async ({ assert }) => {
    const result = await runAce(['ca:list'], { env: { PKI_MASTER_KEY: randomKey() } })
    assert.notEqual(result.code, 0, describeAce(result))
    const said = flat(`${result.stderr}\n${result.stdout}`)
    assert.include(said, MISMATCH, describeAce(result))
    assert.include(said, 'PKI_PREVIOUS_MASTER_KEYS')
    // no CA listing was printed
    assert.notMatch(result.stdout, /\tactive\t/)
  }).timeout(120000)

  test('a server process with a different master key exits non-zero without ever answering /health', async ({
    assert,
  }) => {
    const server = spawnServer({ port: await freePort(), env: { PKI_MASTER_KEY: randomKey() } })
    try {
      const deadline = Date.now() + 30_000
      let answered = 0
      while (!server.hasExited() && Date.now() < deadline) {
        const status = await healthStatus(server.url, 1000)
        if (status !== 0) answered = status
        await sleep(250)
      }
      assert.equal(
        answered,
        0,
        `the server answered GET /health with ${answered}:\n${server.output()}`
      )
      assert.include(flat(server.output()), MISMATCH, server.output())
      assert.isTrue(
        server.hasExited(),
        'the server printed the master-key error but was still running 30 s later (never listening): ' +
          'a failed start must end the process with a non-zero exit code'
      )
      assert.notEqual(await server.exited, 0, server.output())
    } finally {
      await server.stop(5000)
    }
  }).timeout(120000)
})

test.group('Master key: a fresh data folder, and rotation', (group) => {
  let root: string
  let dataDir: string
  // The fresh install's own defaults: DATA_DIR/master.key and DATA_DIR/pki.sqlite3.
  const fresh = (extra: EnvOverrides = {}): EnvOverrides => ({
    DATA_DIR: dataDir,
    DB_CONNECTION: 'sqlite',
    DB_DATABASE: undefined,
    PKI_MASTER_KEY_FILE: undefined,
    PKI_MASTER_KEY: undefined,
    PKI_PREVIOUS_MASTER_KEYS: undefined,
    ...extra,
  })

  group.setup(async () => {
    root = await mkdtemp(join(tmpdir(), 'open-pki-fresh-'))
    dataDir = join(root, 'data') // does not exist yet
    return () => rm(root, { recursive: true, force: true })
  })

  test('the first start creates the data folder, an owner-only master key file and a WAL SQLite database', async ({
    assert,
  }) => {
    assert.isFalse(existsSync(dataDir))
    const result = await runAce(['ca:list'], { env: fresh() })
    assert.equal(result.code, 0, describeAce(result))
    assert.equal(result.stdout.trim(), '', 'a fresh install has no CA')

    const keyFile = join(dataDir, 'master.key')
    const keyStat = await stat(keyFile)
    assert.equal(
      (keyStat.mode & 0o777).toString(8),
      '600',
      `master.key mode is ${(keyStat.mode & 0o777).toString(8)}`
    )
    assert.equal(
      ((await stat(dataDir)).mode & 0o077).toString(8),
      '0',
      'the data folder is owner-only'
    )
    assert.lengthOf(Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64'), 32)

    const dbFile = join(dataDir, 'pki.sqlite3')
    assert.isTrue(existsSync(dbFile), 'no pki.sqlite3 in the data folder')
    const sqlite = new Database(dbFile, { readonly: true, fileMustExist: true })
    try {
      assert.equal(sqlite.pragma('journal_mode', { simple: true }), 'wal')
      // migrated, with the master-key check stored
      assert.exists(
        sqlite.prepare("select value from kernel_meta where key = 'master_key_canary'").get()
      )
    } finally {
      sqlite.close()
    }

    // A key file others can read is used, with a warning that says how to fix it (the warning
    // was made and dropped).
    await chmod(keyFile, 0o644)
    try {
      const warned = await runAce(['ca:list'], { env: fresh() })
      assert.equal(warned.code, 0, describeAce(warned))
      assert.include(warned.stderr, `chmod 600 ${keyFile}`)
    } finally {
      await chmod(keyFile, 0o600)
    }
  }).timeout(120000)

  test('key:rotate with the new key and the old one as previous: the new key alone works, the old one is refused', async ({
    assert,
  }) => {
    const caPem = await runAce(
      ['ca:create', '--name', 'Rotation Root', '--key-type', 'ecdsa-p256'],
      { env: fresh() }
    )
    assert.equal(caPem.code, 0, describeAce(caPem))
    const oldKey = (await readFile(join(dataDir, 'master.key'), 'utf8')).trim()
    const newKey = randomKey()

    const rotated = await runAce(['key:rotate'], {
      env: fresh({ PKI_MASTER_KEY: newKey, PKI_PREVIOUS_MASTER_KEYS: oldKey }),
    })
    assert.equal(rotated.code, 0, describeAce(rotated))
    assert.match(rotated.stdout, /Re-encrypted 1 CA key\(s\) under master key [0-9a-f]{16}/)
    assert.include(rotated.stdout, keyId(newKey))

    // The stored CA key is now encrypted under the new key (format v1.<keyId>.…).
    const sqlite = new Database(join(dataDir, 'pki.sqlite3'), {
      readonly: true,
      fileMustExist: true,
    })
    try {
      const rows = sqlite
        .prepare('select key_material from cas where key_material is not null')
        .all() as Array<{ key_material: string }>
      assert.lengthOf(rows, 1)
      assert.isTrue(
        rows[0].key_material.startsWith(`v1.${keyId(newKey)}.`),
        rows[0].key_material.slice(0, 30)
      )
    } finally {
      sqlite.close()
    }

    const { csrPem } = await opensslCsr({ subject: '/CN=rotated.example.com' })
    const csrFile = join(root, 'rotated.csr')
    await writeFile(csrFile, csrPem)
    const issueArgs = [
      'cert:issue',
      '--ca',
      'Rotation Root',
      '--template',
      'Web Server',
      '--csr',
      csrFile,
    ]
    const withNew = await runAce(issueArgs, { env: fresh({ PKI_MASTER_KEY: newKey }) })
    assert.equal(withNew.code, 0, describeAce(withNew))
    const verdict = await opensslVerify({
      roots: [caPem.stdout],
      cert: withNew.stdout,
      purpose: 'sslserver',
    })
    assert.isTrue(verdict.ok, verdict.output)

    // Only the old key: the command refuses to start.
    const withOld = await runAce(issueArgs, { env: fresh({ PKI_MASTER_KEY: oldKey }) })
    assert.notEqual(withOld.code, 0, describeAce(withOld))
    assert.include(flat(`${withOld.stderr}\n${withOld.stdout}`), MISMATCH, describeAce(withOld))
    assert.notInclude(withOld.stdout, 'BEGIN CERTIFICATE')

    const check = new Database(join(dataDir, 'pki.sqlite3'), {
      readonly: true,
      fileMustExist: true,
    })
    try {
      const row = check.prepare('select count(*) as n from certificates').get() as { n: number }
      assert.equal(row.n, 1, 'only the certificate issued with the new key exists')
    } finally {
      check.close()
    }
  }).timeout(180000)
})
