/*
 * Ace commands declared by plugins (`api.command()`), listed in adonisrc's `commands`. The
 * loader imports the installed plugins and runs their setup() into scratch registrations,
 * turns each CommandSpec into an ace command class, and runs it with the application started.
 * A command of a disabled (or failed) plugin refuses to run and says why.
 */
import { BaseCommand } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import type { CommandSpec } from './contract.js'

interface Declared {
  pluginId: string
  spec: CommandSpec
}

let declared: Declared[] | undefined

async function collect(): Promise<Declared[]> {
  if (declared) return declared
  // Before the application boots: import the plugins and record their declarations in
  // scratch registrations (the host loads them for real once the app starts).
  const { createSetupApi, emptyRegistrations } = await import('./host.js')
  const { installedEntries, importPlugin } = await import('./loader.js')
  const names = new Set<string>()
  declared = []
  for (const entry of await Promise.all(installedEntries().map(importPlugin))) {
    const def = entry.definition
    if (!def || typeof def.id !== 'string') continue
    const reg = emptyRegistrations()
    try {
      def.setup(createSetupApi(def.id, reg))
    } catch {
      continue // the host reports the failure when it loads the plugin
    }
    for (const spec of reg.commands) {
      if (names.has(spec.name)) continue
      names.add(spec.name)
      declared.push({ pluginId: def.id, spec })
    }
  }
  return declared
}

const classes = new Map<string, typeof BaseCommand>()

function commandClass({ pluginId, spec }: Declared): typeof BaseCommand {
  const cached = classes.get(spec.name)
  if (cached) return cached
  const flagNames = Object.keys(spec.flags ?? {})

  class PluginCommand extends BaseCommand {
    static commandName = spec.name
    static description = spec.description
    static options: CommandOptions = { startApp: true }

    async run() {
      const { pluginHost } = await import('./host.js')
      const rec = pluginHost.get(pluginId)
      if (!rec || rec.failed || !pluginHost.isActive(pluginId)) {
        const why = rec?.failed ? `it failed to load: ${rec.failed}` : 'it is disabled'
        this.logger.error(
          `The ${pluginId} plugin cannot run "${spec.name}": ${why}. Enable it with: node ace plugin:enable ${pluginId}`
        )
        this.exitCode = 1
        return
      }
      const flags: Record<string, string | number | boolean | undefined> = {}
      for (const name of flagNames) flags[name] = (this as any)[name]
      try {
        const code = await spec.run({
          flags,
          runtime: rec.runtime!,
          out: (line) => process.stdout.write(line.endsWith('\n') ? line : line + '\n'),
          err: (line) => process.stderr.write(line.endsWith('\n') ? line : line + '\n'),
        })
        if (typeof code === 'number') this.exitCode = code
      } catch (error: any) {
        this.logger.error(error?.message ?? String(error))
        this.exitCode = 1
      }
    }
  }
  for (const [name, def] of Object.entries(spec.flags ?? {})) {
    PluginCommand.defineFlag(name, {
      type: def.type,
      description: def.description,
      required: def.required ?? false,
    } as any)
  }
  classes.set(spec.name, PluginCommand)
  return PluginCommand
}

export async function getMetaData() {
  const all = await collect()
  return all.map((d) => commandClass(d).serialize())
}

export async function getCommand(meta: { commandName: string }) {
  const all = await collect()
  const found = all.find((d) => d.spec.name === meta.commandName)
  return found ? commandClass(found) : null
}
