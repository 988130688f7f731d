import type { HttpContext } from '@adonisjs/core/http'
import { caService } from '#services/ca_service'
import { serializeTemplate, templateService } from '#services/template_service'
import { listServiceUrls } from '#services/service_urls'

export default class TemplatesController {
  async starters() {
    return { starters: templateService.starters() }
  }

  async index({ params, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const templates = await templateService.list(actor, ca.id)
    return { templates: templates.map(serializeTemplate) }
  }

  /** POST /api/v1/cas/:id/templates { name, starter, options? } */
  async store({ params, request, response, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const body = request.only(['name', 'starter', 'options'])
    const template = await templateService.create(actor, ca.id, body)
    return response.status(201).send({ template: serializeTemplate(template) })
  }

  async show({ params, actor }: HttpContext) {
    return { template: serializeTemplate(await templateService.find(actor, params.id)) }
  }

  /** PATCH /api/v1/templates/:id { name?, options? } — options are merged, then validated whole. */
  async update({ params, request, actor }: HttpContext) {
    const template = await templateService.find(actor, params.id)
    return {
      template: serializeTemplate(
        await templateService.update(actor, template, request.only(['name', 'options']))
      ),
    }
  }

  async destroy({ params, response, actor }: HttpContext) {
    const template = await templateService.find(actor, params.id)
    await templateService.delete(actor, template)
    return response.status(204)
  }

  async serviceUrls({ params, actor }: HttpContext) {
    const template = await templateService.find(actor, params.id)
    const ca = await caService.find(actor, template.caId)
    return {
      serviceUrls: listServiceUrls('template', {
        caId: ca.id,
        caName: ca.name,
        templateId: template.id,
      }),
    }
  }
}
