import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, readInputFile, runCommand } from './_helpers.js'

export default class CaImportCert extends BaseCommand {
  static commandName = 'ca:import-cert'
  static description = 'Activate a CSR-only CA with its signed certificate'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'CA name', required: true })
  declare ca: string

  @flags.string({ description: 'PEM file with the signed CA certificate', required: true })
  declare cert: string

  @flags.string({ description: 'PEM file with the issuing CA certificates up to the root' })
  declare chain?: string

  async run() {
    await runCommand(this, async () => {
      const { caService } = await import('#services/ca_service')
      const { cliActor } = await import('#services/actor')
      const ca = await caService.importCertificate(
        cliActor(),
        this.ca,
        await readInputFile(this.cert, 'certificate'),
        this.chain ? await readInputFile(this.chain, 'chain') : undefined
      )
      out(
        `CA "${ca.name}" is active (serial ${ca.serial}, valid until ${new Date(ca.notAfter!).toISOString()}).`
      )
    })
  }
}
