/*
 * Finds and imports installed plugins (config/plugins.ts): built-in folders under plugins/ and
 * npm packages or paths from PKI_PLUGINS. An entry that cannot be imported becomes a failed
 * plugin with the reason; the server runs on.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import pluginsConfig from '#config/plugins'
import type { PluginDefinition } from './contract.js'

export interface PluginEntry {
  /** How the plugin was listed: "plugins/<folder>" or the PKI_PLUGINS entry. */
  source: string
  /** What to import (a file URL or a package name). */
  specifier: string
}

export interface ImportedPlugin {
  source: string
  definition?: PluginDefinition
  error?: string
}

export function installedEntries(config = pluginsConfig): PluginEntry[] {
  const entries: PluginEntry[] = config.builtIn.map((folder) => {
    // plugin.ts in development (the TypeScript loader resolves .js to .ts), plugin.js when built.
    const dir = join(config.appRoot, 'plugins', folder)
    return { source: `plugins/${folder}`, specifier: pathToFileURL(join(dir, 'plugin.js')).href }
  })
  for (const entry of config.packages) {
    if (entry.startsWith('.') || isAbsolute(entry)) {
      const path = isAbsolute(entry) ? entry : resolve(config.appRoot, entry)
      entries.push({ source: entry, specifier: pathToFileURL(entryFile(path)).href })
    } else {
      entries.push({ source: entry, specifier: entry })
    }
  }
  return entries
}

/** A package folder's ESM entry (exports "." → import/default, or main), or the file itself. */
function entryFile(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) return path
  const manifest = join(path, 'package.json')
  if (existsSync(manifest)) {
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'))
    const dot = typeof pkg.exports === 'string' ? pkg.exports : pkg.exports?.['.']
    const target =
      typeof dot === 'string' ? dot : (dot?.import ?? dot?.default ?? pkg.main ?? 'index.js')
    return join(path, target)
  }
  for (const name of ['plugin.js', 'index.js'])
    if (existsSync(join(path, name))) return join(path, name)
  return join(path, 'index.js')
}

function looksLikeDefinition(value: any): value is PluginDefinition {
  return Boolean(value && typeof value === 'object' && typeof value.setup === 'function')
}

export async function importPlugin(entry: PluginEntry): Promise<ImportedPlugin> {
  try {
    const mod = await import(entry.specifier)
    const definition = mod.default ?? mod.plugin
    if (!looksLikeDefinition(definition)) {
      return {
        source: entry.source,
        error: 'it does not export a plugin definition (export default definePlugin({...}))',
      }
    }
    return { source: entry.source, definition }
  } catch (error) {
    const e = error as any
    const reason =
      e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND'
        ? `it cannot be found (${e.message.split('\n')[0]})`
        : `it could not be loaded: ${e?.message ?? e}`
    return { source: entry.source, error: reason }
  }
}
