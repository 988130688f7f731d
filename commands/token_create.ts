import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class TokenCreate extends BaseCommand {
  static commandName = 'token:create'
  static description = 'Create an API token for a user and print it (shown once)'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'Email of the user', required: true })
  declare user: string

  @flags.string({ description: 'Token name', default: 'cli' })
  declare name: string

  @flags.number({ description: 'Expire after this many days' })
  declare expiresDays?: number

  async run() {
    await runCommand(this, async () => {
      const { tokenService } = await import('#services/token_service')
      const { cliActor } = await import('#services/actor')
      const user = await tokenService.findUser(this.user)
      out(await tokenService.createToken(cliActor(), user, this.name, this.expiresDays))
    })
  }
}
