import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class PluginList extends BaseCommand {
  static commandName = 'plugin:list'
  static description =
    'List installed plugins: id, version, status (enabled, disabled, failed + reason)'
  static options: CommandOptions = { startApp: true }

  @flags.boolean({ description: 'Print JSON' })
  declare json?: boolean

  async run() {
    await runCommand(this, async () => {
      const { pluginHost } = await import('#plugins/host')
      const rows = pluginHost.list().map((rec) => ({
        id: rec.id,
        name: rec.definition?.name ?? rec.id,
        version: rec.definition?.version ?? null,
        status: pluginHost.status(rec),
        reason: rec.failed,
        source: rec.source,
      }))
      if (this.json) return out(JSON.stringify(rows, null, 2))
      if (rows.length === 0) return out('No plugins are installed.')
      for (const r of rows) {
        out([r.id, r.version ?? '-', r.status, r.name, r.reason ?? ''].join('\t').trimEnd())
      }
    })
  }
}
