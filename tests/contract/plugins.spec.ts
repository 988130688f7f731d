/*
 * Plugin contract conformance: runs against every installed plugin (config/plugins.ts: the
 * folders under plugins/ and PKI_PLUGINS) and checks what can be checked mechanically — unique
 * id, compatible apiVersion and kernel range, settings schemas that compile with defaults that
 * validate, tables prefixed with the id (by running the plugin's migrations on a scratch SQLite
 * database), routes under the plugin's own prefix, declared dependencies present, setup() free
 * of I/O. The last group proves the checks catch broken plugins (tests/fixtures/plugins).
 */
import { test } from '@japa/runner'
import { createHook } from 'node:async_hooks'
import fs from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import knex from 'knex'
import type { PluginDefinition } from '#plugin-api'
import { PLUGIN_API_VERSION } from '#plugin-api'
import { installedEntries, importPlugin, type ImportedPlugin } from '#plugins/loader'
import { checkIdentity, createSetupApi, emptyRegistrations, KERNEL_VERSION } from '#plugins/host'
import { CompiledSettings } from '#plugins/settings_store'
import { loadMigrations, tablePrefix } from '#plugins/migrations'

const installed: ImportedPlugin[] = await Promise.all(installedEntries().map(importPlugin))

const FS_SYNC = [
  'readFileSync',
  'writeFileSync',
  'appendFileSync',
  'openSync',
  'existsSync',
  'readdirSync',
  'statSync',
  'lstatSync',
  'mkdirSync',
  'rmSync',
] as const

/**
 * Runs setup() with the recording api and watches for I/O: any asynchronous resource created
 * while it runs (a promise, timer, socket, file request...) or any synchronous fs call.
 */
export function runSetupWatched(def: PluginDefinition) {
  const reg = emptyRegistrations()
  const asyncResources: string[] = []
  const fsCalls: string[] = []
  const originals = new Map<string, any>()
  for (const name of FS_SYNC) {
    const original = (fs as any)[name]
    originals.set(name, original)
    ;(fs as any)[name] = (...args: unknown[]) => {
      fsCalls.push(`${name}(${String(args[0])})`)
      return original(...args)
    }
  }
  syncBuiltinESMExports()
  const hook = createHook({
    init(_id, type) {
      asyncResources.push(type)
    },
  })
  let result: unknown
  let error: unknown
  hook.enable()
  try {
    result = def.setup(createSetupApi(def.id, reg))
  } catch (e) {
    error = e
  } finally {
    hook.disable()
    for (const [name, original] of originals) (fs as any)[name] = original
    syncBuiltinESMExports()
  }
  return { reg, result, error, asyncResources, fsCalls }
}

/** Runs a plugin's migrations on a scratch SQLite database; returns the tables they created. */
export async function tablesCreatedBy(def: PluginDefinition) {
  const dir = mkdtempSync(join(tmpdir(), 'plugin-contract-'))
  const scratch = knex({
    client: 'better-sqlite3',
    connection: { filename: join(dir, 'scratch.sqlite') },
    useNullAsDefault: true,
  })
  // A fresh Knex builder per statement, as the host gives it.
  const schema = new Proxy(
    {},
    {
      get(_, prop) {
        const builder: any = scratch.schema
        const value = builder[prop]
        return typeof value === 'function' ? value.bind(builder) : value
      },
    }
  )
  try {
    const migrations = await loadMigrations(def)
    for (const m of migrations) await m.up(schema)
    const rows = await scratch('sqlite_master').where('type', 'table').select('name')
    const created = rows.map((r: any) => String(r.name)).filter((n) => n !== 'sqlite_sequence')
    for (const m of [...migrations].reverse()) if (m.down) await m.down(schema)
    const left = await scratch('sqlite_master').where('type', 'table').select('name')
    return {
      created,
      leftAfterDown: left.map((r: any) => String(r.name)).filter((n) => n !== 'sqlite_sequence'),
      hasDown: migrations.every((m) => typeof m.down === 'function'),
    }
  } finally {
    await scratch.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Every mechanical finding about one plugin (empty = conforms). */
export async function conformanceProblems(
  def: PluginDefinition,
  others: PluginDefinition[]
): Promise<string[]> {
  const problems: string[] = []
  const identity = checkIdentity(def)
  if (identity) problems.push(identity)
  if (others.some((o) => o !== def && o.id === def.id))
    problems.push(`id "${def.id}" is not unique`)
  for (const dep of def.requires ?? []) {
    if (!others.some((o) => o.id === dep))
      problems.push(`requires "${dep}", which is not installed`)
  }
  for (const [scope, spec] of Object.entries(def.settings ?? {})) {
    try {
      const compiled = new CompiledSettings(def.id, scope as any, spec!)
      if (spec!.version > 1 && typeof spec!.upgrade !== 'function') {
        problems.push(`${scope} settings are version ${spec!.version} but have no upgrade()`)
      }
      if (compiled.fields.length === 0) problems.push(`${scope} settings declare no field`)
    } catch (error) {
      problems.push(`settings: ${(error as Error).message}`)
    }
  }
  const watched = runSetupWatched(def)
  if (watched.error) problems.push(`setup() threw: ${(watched.error as Error).message}`)
  if (watched.result !== undefined)
    problems.push('setup() returned a value (it must be synchronous)')
  if (watched.asyncResources.length) {
    problems.push(
      `setup() started asynchronous work: ${[...new Set(watched.asyncResources)].join(', ')}`
    )
  }
  if (watched.fsCalls.length)
    problems.push(`setup() touched the file system: ${watched.fsCalls.join(', ')}`)
  const reg = watched.reg
  for (const route of reg.routes) {
    if (!route.path.startsWith('/') || route.path.includes('..') || route.path.includes('//')) {
      problems.push(`route ${route.method} ${route.path} is not a path under the plugin's prefix`)
    }
  }
  const adminGets = new Set(
    reg.routes.filter((r) => r.surface === 'admin' && r.method === 'GET').map((r) => r.path)
  )
  for (const nav of reg.nav) {
    if (!adminGets.has(nav.path)) {
      problems.push(
        `nav entry "${nav.label}" points to ${nav.path}, which is no admin GET route of the plugin`
      )
    }
  }
  for (const name of Object.keys(def.extensionPoints ?? {})) {
    if (!name.startsWith(`${def.id}.`))
      problems.push(`extension point "${name}" is not under "${def.id}."`)
  }
  for (const { point } of reg.provides) {
    const owner = others.find((o) => point.startsWith(`${o.id}.`))
    if (owner && !(point in (owner.extensionPoints ?? {}))) {
      problems.push(`provides to "${point}", which ${owner.id} does not declare`)
    }
  }
  if (def.migrations) {
    try {
      const { created, leftAfterDown, hasDown } = await tablesCreatedBy(def)
      const prefix = tablePrefix(def.id)
      for (const table of created) {
        if (!table.startsWith(prefix))
          problems.push(`migration creates table "${table}" without the prefix "${prefix}"`)
      }
      if (hasDown && leftAfterDown.length) {
        problems.push(`down() leaves tables behind: ${leftAfterDown.join(', ')}`)
      }
    } catch (error) {
      problems.push(`migrations: ${(error as Error).message}`)
    }
  }
  return problems
}

const definitions = installed.flatMap((p) => (p.definition ? [p.definition] : []))

test.group('Plugin contract: every installed plugin', () => {
  test('at least the example plugin is installed, and every entry imports', ({ assert }) => {
    assert.isAbove(installed.length, 0, 'no plugin is installed (PKI_PLUGINS is empty?)')
    for (const p of installed) assert.isUndefined(p.error, `${p.source}: ${p.error}`)
    assert.include(
      definitions.map((d) => d.id),
      'example'
    )
  })

  test('{label} conforms to the contract')
    .with(definitions.map((def) => ({ def, label: `${def.id} (${def.name} ${def.version})` })))
    .run(async ({ assert }, { def }) => {
      assert.equal(def.apiVersion, PLUGIN_API_VERSION)
      assert.deepEqual(await conformanceProblems(def, definitions), [])
    })
})

test.group('Plugin contract: the checks catch broken plugins', () => {
  const fixture = async (name: string) => {
    const url = pathToFileURL(resolve('tests/fixtures/plugins', name, 'plugin.js')).href
    return (await import(url)).default as PluginDefinition
  }
  const example = () => definitions.find((d) => d.id === 'example')!

  test('a kernel range that does not match', async ({ assert }) => {
    const problems = await conformanceProblems(await fixture('kernel-mismatch'), definitions)
    assert.include(problems, `it needs kernel >=99.0.0, but this kernel is ${KERNEL_VERSION}`)
  })

  test('a setup() that does I/O, is async, or uses a foreign table prefix', async ({ assert }) => {
    const base = example()
    const io = await conformanceProblems(
      {
        ...base,
        id: 'io-plugin',
        migrations: undefined,
        setup: () => {
          fs.existsSync('/etc/hostname')
          setTimeout(() => {}, 0)
        },
      },
      definitions
    )
    assert.isTrue(io.some((p) => p.startsWith('setup() started asynchronous work: Timeout')))
    assert.isTrue(io.some((p) => p.startsWith('setup() touched the file system: existsSync')))

    const asyncSetup = await conformanceProblems(
      { ...base, id: 'async-plugin', migrations: undefined, setup: (async () => {}) as any },
      definitions
    )
    assert.include(asyncSetup, 'setup() returned a value (it must be synchronous)')

    // The example's migrations create example_* tables: under another id they are foreign.
    const foreign = await conformanceProblems(
      { ...base, id: 'other-id', extensionPoints: {}, setup: () => {} },
      definitions
    )
    assert.include(
      foreign,
      'migration creates table "example_greetings" without the prefix "other_id_"'
    )
  })

  test('settings whose defaults do not validate; a missing dependency; an undeclared point', async ({
    assert,
  }) => {
    const base = example()
    const problems = await conformanceProblems(
      {
        ...base,
        id: 'bad-settings',
        migrations: undefined,
        requires: ['not-installed'],
        settings: {
          install: {
            version: 1,
            schema: {
              type: 'object',
              properties: { port: { type: 'integer', minimum: 1, default: 0 } },
            },
          },
        },
        setup: (api) => api.provide('example.no-such-point', () => null),
      },
      definitions
    )
    assert.isTrue(
      problems.some((p) => p.includes('defaults of its install settings do not validate'))
    )
    assert.include(problems, 'requires "not-installed", which is not installed')
    assert.include(problems, 'provides to "example.no-such-point", which example does not declare')
  })
})
