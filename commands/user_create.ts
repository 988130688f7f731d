import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class UserCreate extends BaseCommand {
  static commandName = 'user:create'
  static description = 'Create a user (--admin for an install administrator)'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'Email address', required: true })
  declare email: string

  @flags.boolean({ description: 'Install administrator' })
  declare admin?: boolean

  async run() {
    await runCommand(this, async () => {
      const { tokenService } = await import('#services/token_service')
      const { cliActor } = await import('#services/actor')
      const user = await tokenService.createUser(cliActor(), {
        email: this.email,
        isAdmin: this.admin,
      })
      out(`Created user ${user.email}${user.isAdmin ? ' (administrator)' : ''}.`)
    })
  }
}
