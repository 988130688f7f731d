/*
 * What plugins are installed. Two sources, loaded in this order:
 *  - built-in plugins: every folder under plugins/ that has a plugin.ts (or plugin.js);
 *  - extra plugins: npm package names (resolved from node_modules) or paths (relative to the
 *    application root), comma-separated in PKI_PLUGINS, e.g.
 *    PKI_PLUGINS=pki-plugin-example,./vendor/my-plugin
 * Which of them are enabled is per install, in the database (Plugins page, `node ace plugin:*`).
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const appRoot = fileURLToPath(new URL('../', import.meta.url))
const pluginsDir = join(appRoot, 'plugins')

function builtInFolders(): string[] {
  if (!existsSync(pluginsDir)) return []
  return readdirSync(pluginsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !d.name.startsWith('_'))
    .filter((d) =>
      ['plugin.ts', 'plugin.js'].some((file) => existsSync(join(pluginsDir, d.name, file)))
    )
    .map((d) => d.name)
    .sort()
}

const pluginsConfig = {
  appRoot,
  /** Folder names under plugins/. */
  builtIn: builtInFolders(),
  /** npm package names or paths. */
  packages: (process.env.PKI_PLUGINS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean),
  /** How long a hook handler may take before it is passed over (per hook, overridable). */
  hookTimeoutMs: 5000,
  /** How often each server node checks for plugin changes made elsewhere. */
  pollMs: 250,
  /** A node that has not reported for this long is not waited for by plugin:enable/disable. */
  nodeStaleMs: 5000,
}

export default pluginsConfig
export type PluginsConfig = typeof pluginsConfig
