import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, readInputFile, runCommand } from './_helpers.js'

export default class CaCreate extends BaseCommand {
  static commandName = 'ca:create'
  static description =
    'Create a root CA (or a CSR-only intermediate) and print its certificate (or CSR) as PEM'
  static options: CommandOptions = { startApp: true }

  @flags.string({
    description: 'CA name (unique; also the common name unless --cn is given)',
    required: true,
  })
  declare name: string

  @flags.string({
    description:
      'rsa-2048 rsa-3072 rsa-4096 ecdsa-p256 ecdsa-p384 ecdsa-p521 ed25519 ml-dsa-44 ml-dsa-65 ml-dsa-87 slh-dsa-sha2-128s slh-dsa-sha2-192s slh-dsa-sha2-256s (default ecdsa-p256; with --key-file, the key must be of this type)',
  })
  declare keyType?: string

  @flags.number({ description: 'Validity in days (default 3650)' })
  declare validityDays?: number

  @flags.boolean({
    description: 'Generate a key and CSR; the CA stays inactive until ca:import-cert',
  })
  declare csrOnly?: boolean

  @flags.string({ description: 'Common name (defaults to --name)' })
  declare cn?: string

  @flags.string({ description: 'Organisation' })
  declare org?: string

  @flags.string({ description: 'Two-letter country code' })
  declare country?: string

  @flags.number({ description: 'Path length constraint (omit for none)' })
  declare pathLength?: number

  @flags.string({ description: 'Import this PEM private key instead of generating one' })
  declare keyFile?: string

  @flags.string({ description: 'Password of an encrypted PKCS#8 key file' })
  declare keyPassword?: string

  async run() {
    await runCommand(this, async () => {
      const { caService } = await import('#services/ca_service')
      const { cliActor } = await import('#services/actor')
      const pki = await import('#pki/index')
      const ca = await caService.create(cliActor(), {
        name: this.name,
        keyType: this.keyType ?? (this.keyFile ? undefined : 'ecdsa-p256'),
        subject: {
          commonName: this.cn ?? this.name,
          organization: this.org,
          country: this.country,
        },
        validityDays: this.validityDays,
        pathLength: this.pathLength,
        csrOnly: this.csrOnly,
        importKeyPem: this.keyFile ? await readInputFile(this.keyFile, 'key') : undefined,
        importKeyPassword: this.keyPassword,
      })
      out(
        ca.certificate
          ? pki.toPem(ca.certificate, 'CERTIFICATE')
          : pki.toPem(ca.csr!, 'CERTIFICATE REQUEST')
      )
    })
  }
}
