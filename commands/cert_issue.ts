import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, readInputFile, runCommand } from './_helpers.js'

export default class CertIssue extends BaseCommand {
  static commandName = 'cert:issue'
  static description =
    'Issue a certificate for a CSR directly (no pending step) and print it as PEM'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'CA name', required: true })
  declare ca: string

  @flags.string({ description: 'Template name', required: true })
  declare template: string

  @flags.string({ description: 'CSR file (PEM or DER; - for stdin)', required: true })
  declare csr: string

  @flags.number({ description: "Validity in days (default: the template's)" })
  declare days?: number

  async run() {
    await runCommand(this, async () => {
      const { caService } = await import('#services/ca_service')
      const { templateService } = await import('#services/template_service')
      const { issuanceService, readCsr } = await import('#services/issuance_service')
      const { cliActor } = await import('#services/actor')
      const pki = await import('#pki/index')
      const actor = cliActor()
      const ca = await caService.find(actor, this.ca)
      const template = await templateService.find(actor, this.template, ca.id)
      const raw = await readInputFile(this.csr, 'CSR')
      const csr = await readCsr(raw.includes('-----BEGIN') ? raw : Buffer.from(raw, 'latin1'))
      const issued = await issuanceService.issue({
        ca,
        template,
        csr,
        overrides: this.days !== undefined ? { validityDays: this.days } : undefined,
        actor,
        source: 'cli',
      })
      out(pki.toPem(issued.der, 'CERTIFICATE'))
    })
  }
}
