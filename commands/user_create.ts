import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

/** Everything on stdin (a pipe, a file or a socket). */
async function readStdin() {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks).toString('utf8')
}

export default class UserCreate extends BaseCommand {
  static commandName = 'user:create'
  static description =
    'Create a user (--admin for an install administrator; --password-stdin to set a local password, else they log in through an external provider)'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'Email address', required: true })
  declare email: string

  @flags.boolean({ description: 'Install administrator' })
  declare admin?: boolean

  @flags.boolean({
    description: 'Read a local password (at least 12 characters) from the first line of stdin',
  })
  declare passwordStdin?: boolean

  async run() {
    await runCommand(this, async () => {
      const { tokenService, accountService } = await import('#services/token_service')
      const { cliActor } = await import('#services/actor')
      if (this.passwordStdin) {
        const stdin = await readStdin()
        const password = stdin.split(/\r?\n/)[0] ?? ''
        if (!password) throw new Error('No password on stdin (give it on the first line).')
        const user = await accountService.createUser(cliActor(), {
          email: this.email,
          isAdmin: this.admin,
          password,
        })
        out(
          `Created user ${user.email}${user.isAdmin ? ' (administrator)' : ''} with a local password.`
        )
        return
      }
      const user = await tokenService.createUser(cliActor(), {
        email: this.email,
        isAdmin: this.admin,
      })
      out(`Created user ${user.email}${user.isAdmin ? ' (administrator)' : ''}.`)
    })
  }
}
