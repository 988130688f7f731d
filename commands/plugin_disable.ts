import { BaseCommand, args } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { switchPlugin } from './_helpers.js'

export default class PluginDisable extends BaseCommand {
  static commandName = 'plugin:disable'
  static description =
    'Disable a plugin for the whole install; returns once the running server nodes have applied it'
  static options: CommandOptions = { startApp: true }

  @args.string({ description: 'Plugin id (see plugin:list)' })
  declare id: string

  async run() {
    await switchPlugin(this, this.id, false)
  }
}
