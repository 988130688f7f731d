import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class CaList extends BaseCommand {
  static commandName = 'ca:list'
  static description = 'List certificate authorities'
  static options: CommandOptions = { startApp: true }

  @flags.boolean({ description: 'Print JSON' })
  declare json?: boolean

  async run() {
    await runCommand(this, async () => {
      const { caService, serializeCa } = await import('#services/ca_service')
      const { cliActor } = await import('#services/actor')
      const list = await caService.list(cliActor())
      const cas = list.map(serializeCa)
      if (this.json)
        return out(
          JSON.stringify(
            cas.map(({ certificatePem, csrPem, ...rest }) => rest),
            null,
            2
          )
        )
      for (const ca of cas)
        out([ca.name, ca.status, ca.keyType, ca.notAfter ?? '-', ca.subjectDn].join('\t'))
    })
  }
}
