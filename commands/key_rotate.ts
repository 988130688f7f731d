import { BaseCommand } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class KeyRotate extends BaseCommand {
  static commandName = 'key:rotate'
  static description =
    'Re-encrypt every stored CA key under the current master key (old key in PKI_PREVIOUS_MASTER_KEYS)'
  static options: CommandOptions = { startApp: true }

  async run() {
    await runCommand(this, async () => {
      const { rotateMasterKey } = await import('#services/key_rotation')
      const { cliActor } = await import('#services/actor')
      const result = await rotateMasterKey(cliActor())
      out(
        `Re-encrypted ${result.rotated} CA key(s) under master key ${result.keyId}; ${result.unchanged} already used it.` +
          (result.serviceKeys ? ` Also ${result.serviceKeys} service certificate key(s).` : '')
      )
    })
  }
}
