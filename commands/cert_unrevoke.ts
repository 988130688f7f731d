import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class CertUnrevoke extends BaseCommand {
  static commandName = 'cert:unrevoke'
  static description = 'Release a certificate from hold (certificateHold)'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'CA name', required: true })
  declare ca: string

  @flags.string({ description: 'Serial number in hex', required: true })
  declare serial: string

  async run() {
    await runCommand(this, async () => {
      const { caService } = await import('#services/ca_service')
      const { certificateService } = await import('#services/certificate_service')
      const { revocationService } = await import('#services/revocation_service')
      const { cliActor } = await import('#services/actor')
      const actor = cliActor()
      const ca = await caService.find(actor, this.ca)
      const cert = await certificateService.findBySerial(actor, ca.id, this.serial)
      const restored = await revocationService.unrevoke(actor, cert)
      out(`Certificate ${restored.serial} is valid again.`)
    })
  }
}
