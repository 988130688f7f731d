/*
 * Each plugin's own migrations: the files of its `migrations` folder, in name order. A file
 * exports `{ up(schema), down?(schema) }` (or `up` alone) where `schema` is a Knex schema
 * builder. The host runs the pending ones at start, each in a transaction with its record in
 * plugin_migrations, and refuses any table whose name does not start with the plugin's prefix.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import db from '@adonisjs/lucid/services/db'
import type { PluginDefinition } from './contract.js'

export interface PluginMigration {
  name: string
  up: (schema: any) => unknown
  down?: (schema: any) => unknown
}

/** The table prefix of a plugin: its id with dashes as underscores, then "_". */
export function tablePrefix(pluginId: string) {
  return `${pluginId.replace(/-/g, '_')}_`
}

export function migrationsFolder(definition: PluginDefinition): string | null {
  const m = definition.migrations
  if (!m) return null
  const path = m instanceof URL || String(m).startsWith('file:') ? fileURLToPath(m) : String(m)
  return path
}

export async function loadMigrations(definition: PluginDefinition): Promise<PluginMigration[]> {
  const folder = migrationsFolder(definition)
  if (!folder) return []
  if (!existsSync(folder)) throw new Error(`its migrations folder ${folder} does not exist`)
  const files = readdirSync(folder)
    .filter((f) => /\.(m?js|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const out: PluginMigration[] = []
  for (const file of files) {
    const mod = await import(pathToFileURL(join(folder, file)).href)
    const value = mod.default ?? mod
    const up = typeof value === 'function' ? value : value.up
    if (typeof up !== 'function') throw new Error(`migration ${file} exports no up(schema)`)
    out.push({ name: file.replace(/\.(m?js|ts)$/, ''), up, down: value.down })
  }
  return out
}

const GUARDED = new Set([
  'createTable',
  'createTableIfNotExists',
  'createTableLike',
  'alterTable',
  'table',
  'dropTable',
  'dropTableIfExists',
  'renameTable',
  'hasTable',
  'hasColumn',
  'createView',
  'dropView',
])

function guardCall(builder: any, prop: string, prefix: string, pluginId: string) {
  if (prop === 'raw' || prop === 'withSchema') {
    return () => {
      throw new Error(`plugin migrations may not use schema.${prop}() (plugin ${pluginId})`)
    }
  }
  const fn = builder[prop]
  if (!GUARDED.has(prop)) return fn.bind(builder)
  return (...args: any[]) => {
    const names =
      prop === 'renameTable' || prop === 'createTableLike' ? args.slice(0, 2) : [args[0]]
    for (const name of names) {
      if (typeof name !== 'string' || !name.startsWith(prefix)) {
        throw new Error(
          `plugin ${pluginId} may only create or change tables whose names start with "${prefix}" (not "${name}")`
        )
      }
    }
    return chained(fn.apply(builder, args), prefix, pluginId)
  }
}

function chained(builder: any, prefix: string, pluginId: string): any {
  return new Proxy(builder, {
    get(target, prop) {
      const value = Reflect.get(target, prop)
      if (typeof prop !== 'string' || typeof value !== 'function') return value
      return guardCall(target, prop, prefix, pluginId)
    },
  })
}

/**
 * A Knex schema builder that only touches tables starting with `prefix`. `source` gives a
 * fresh builder per statement (a Knex builder re-runs everything queued on it when awaited).
 */
export function guardedSchema(source: () => any, prefix: string, pluginId: string): any {
  return new Proxy(
    {},
    {
      get(_, prop) {
        const builder = source()
        const value = Reflect.get(builder, prop)
        if (typeof prop !== 'string' || typeof value !== 'function') return value
        return guardCall(builder, prop, prefix, pluginId)
      },
    }
  )
}

/** Runs the plugin's pending migrations. Returns the names that ran. */
export async function runPluginMigrations(definition: PluginDefinition): Promise<string[]> {
  const migrations = await loadMigrations(definition)
  if (migrations.length === 0) return []
  const prefix = tablePrefix(definition.id)
  const ran: string[] = []
  for (const migration of migrations) {
    for (let attempt = 1; ; attempt++) {
      const done = await db
        .from('plugin_migrations')
        .where({ plugin_id: definition.id, name: migration.name })
        .first()
      if (done) break
      try {
        await db.transaction(async (trx) => {
          if (trx.dialect.name === 'postgres') {
            await trx.rawQuery('SELECT pg_advisory_xact_lock(?)', [7_312_004_212])
            const again = await trx
              .from('plugin_migrations')
              .where({ plugin_id: definition.id, name: migration.name })
              .first()
            if (again) return
          }
          await migration.up(guardedSchema(() => trx.schema, prefix, definition.id))
          await trx
            .table('plugin_migrations')
            .insert({ plugin_id: definition.id, name: migration.name, ran_at: Date.now() })
        })
        ran.push(migration.name)
        break
      } catch (error) {
        // Another node may have run it at the same moment: look again before giving up.
        if (attempt >= 3) {
          throw new Error(`its migration ${migration.name} failed: ${(error as Error).message}`)
        }
        await new Promise((r) => setTimeout(r, 150 * attempt))
      }
    }
  }
  return ran
}
