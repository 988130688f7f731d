import { BaseCommand, args, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

/**
 * `node ace plugin:settings ID` prints a plugin's install settings (secrets as "(set)" or
 * "(not set)"); with `--set name=value` (repeatable) it changes them, validated like the
 * Plugins page form: nothing is written when a value is refused. Every node applies the change
 * within a second.
 */
export default class PluginSettings extends BaseCommand {
  static commandName = 'plugin:settings'
  static description =
    "Show a plugin's install settings, or change them with --set name=value (validated, audited)"
  static options: CommandOptions = { startApp: true }

  @args.string({ description: 'Plugin id (see plugin:list)' })
  declare id: string

  @flags.array({ description: 'name=value to change (repeat for several)' })
  declare set?: string[]

  @flags.boolean({ description: 'Print JSON' })
  declare json?: boolean

  async run() {
    await runCommand(this, async () => {
      const { pluginHost } = await import('#plugins/host')
      const { cliActor } = await import('#services/actor')
      const rec = pluginHost.get(this.id)
      if (!rec) throw new Error(`No plugin "${this.id}" is installed (see node ace plugin:list).`)
      const compiled = rec.settings.install
      if (!compiled) throw new Error(`The ${this.id} plugin has no install settings.`)

      if (this.set?.length) {
        const { values } = await pluginHost.formValues(this.id, 'install', 0)
        const input: Record<string, string> = {}
        for (const field of compiled.fields) {
          const value = values[field.name]
          if (field.secret) input[field.name] = ''
          else if (value !== undefined && value !== null) input[field.name] = String(value)
        }
        for (const pair of this.set) {
          const eq = pair.indexOf('=')
          const name = eq > 0 ? pair.slice(0, eq) : ''
          if (!compiled.fields.some((f) => f.name === name)) {
            throw new Error(
              `"${pair}": give name=value with one of: ${compiled.fields.map((f) => f.name).join(', ')}.`
            )
          }
          input[name] = pair.slice(eq + 1)
        }
        try {
          await pluginHost.saveSettings(this.id, 'install', 0, input, cliActor())
        } catch (error: any) {
          if (error?.fields) {
            throw new Error(
              Object.entries(error.fields as Record<string, string>)
                .map(([field, message]) => `${field}: ${message}`)
                .join(' ')
            )
          }
          throw error
        }
      }

      const { values, secretsSet } = await pluginHost.formValues(this.id, 'install', 0)
      const shown: Record<string, unknown> = {}
      for (const field of compiled.fields) {
        shown[field.name] = field.secret
          ? secretsSet[field.name]
            ? '(set)'
            : '(not set)'
          : values[field.name]
      }
      if (this.json) return out(JSON.stringify(shown, null, 2))
      for (const [name, value] of Object.entries(shown)) out(`${name}\t${JSON.stringify(value)}`)
    })
  }
}
