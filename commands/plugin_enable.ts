import { BaseCommand, args } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class PluginEnable extends BaseCommand {
  static commandName = 'plugin:enable'
  static description =
    'Enable a plugin for the whole install; returns once the running server nodes have applied it'
  static options: CommandOptions = { startApp: true }

  @args.string({ description: 'Plugin id (see plugin:list)' })
  declare id: string

  async run() {
    await runCommand(this, async () => {
      const { pluginHost } = await import('#plugins/host')
      const { cliActor } = await import('#services/actor')
      const { changed, generation } = await pluginHost.setEnabled(this.id, true, cliActor())
      const nodes = await pluginHost.waitForNodes(generation)
      const state = changed ? 'enabled' : 'already enabled'
      const ack = nodes.pending
        ? `; ${nodes.pending} server node(s) did not confirm within 2 s (each applies it within a second)`
        : nodes.acknowledged
          ? `; applied on ${nodes.acknowledged} running server node(s)`
          : ''
      out(`${this.id}: ${state}${ack}`)
    })
  }
}
