import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class CertRevoke extends BaseCommand {
  static commandName = 'cert:revoke'
  static description =
    'Revoke a certificate by serial (reasons as in RFC 5280, e.g. keyCompromise, certificateHold)'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'CA name', required: true })
  declare ca: string

  @flags.string({ description: 'Serial number in hex', required: true })
  declare serial: string

  @flags.string({ description: 'Revocation reason', default: 'unspecified' })
  declare reason: string

  async run() {
    await runCommand(this, async () => {
      const { caService } = await import('#services/ca_service')
      const { certificateService } = await import('#services/certificate_service')
      const { revocationService } = await import('#services/revocation_service')
      const { cliActor } = await import('#services/actor')
      const actor = cliActor()
      const ca = await caService.find(actor, this.ca)
      const cert = await certificateService.findBySerial(actor, ca.id, this.serial)
      const revoked = await revocationService.revoke(actor, cert, this.reason)
      out(
        `Certificate ${revoked.serial} is ${revoked.status === 'hold' ? 'on hold' : 'revoked'} (${revoked.revocationReason}).`
      )
    })
  }
}
