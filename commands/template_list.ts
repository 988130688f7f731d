import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'
import { out, runCommand } from './_helpers.js'

export default class TemplateList extends BaseCommand {
  static commandName = 'template:list'
  static description = "List a CA's certificate templates"
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'CA name', required: true })
  declare ca: string

  @flags.boolean({ description: 'Print JSON' })
  declare json?: boolean

  async run() {
    await runCommand(this, async () => {
      const { caService } = await import('#services/ca_service')
      const { templateService, serializeTemplate } = await import('#services/template_service')
      const { cliActor } = await import('#services/actor')
      const ca = await caService.find(cliActor(), this.ca)
      const list = await templateService.list(cliActor(), ca.id)
      const templates = list.map(serializeTemplate)
      if (this.json) return out(JSON.stringify(templates, null, 2))
      for (const t of templates)
        out(
          [
            t.name,
            t.options.enabled ? 'enabled' : 'disabled',
            `${t.options.validityDays}d`,
            t.starter ?? '-',
          ].join('\t')
        )
    })
  }
}
