import type { HttpContext } from '@adonisjs/core/http'
import { caService } from '#services/ca_service'
import { templateService } from '#services/template_service'
import { MAX_PAGE, requestService, serializeRequest } from '#services/request_service'
import { serializeCertificate } from '#services/certificate_service'
import Certificate from '#models/certificate'
import { overridesFrom } from '#validators/overrides'
import { queryCursor, queryInteger, queryText } from '#validators/query'

export default class RequestsController {
  /** POST /api/v1/templates/:id/requests { csr } — queues a pending request. */
  async submit({ params, request, response, actor }: HttpContext) {
    const template = await templateService.find(actor, params.id)
    const created = await requestService.submit(actor, template, request.input('csr'), 'api')
    return response.status(201).send({ request: serializeRequest(created) })
  }

  async index({ params, request, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const qs = request.qs()
    const before = queryCursor(qs.before)
    const limit = queryInteger(qs.limit, 'limit', { fallback: 100, min: 1, max: MAX_PAGE })
    const status = queryText(qs.status, 'status') ?? 'pending'
    const requests = await requestService.list(actor, ca.id, status, {
      before,
      limit: limit + 1,
    })
    const pageRows = requests.slice(0, limit)
    const more = requests.length > pageRows.length
    return {
      requests: pageRows.map(serializeRequest),
      // keyset paging: pass `before` to get the next (older) page
      next: more ? { before: pageRows[pageRows.length - 1].id } : null,
    }
  }

  async show({ params, actor }: HttpContext) {
    return { request: serializeRequest(await requestService.find(actor, Number(params.id))) }
  }

  /** POST /api/v1/requests/:id/approve { subject?, sans?, validityDays? | notBefore+notAfter } */
  async approve({ params, request, response, actor }: HttpContext) {
    const issued = await requestService.approve(
      actor,
      Number(params.id),
      overridesFrom(request.body())
    )
    const cert = await Certificate.findOrFail(issued.id)
    return response.status(201).send({ certificate: serializeCertificate(cert) })
  }

  async decline({ params, request, actor }: HttpContext) {
    const declined = await requestService.decline(actor, Number(params.id), request.input('reason'))
    return { request: serializeRequest(declined) }
  }

  /** POST /api/v1/requests/bulk { action: approve|decline, ids: [...], reason? } */
  async bulk({ request, actor }: HttpContext) {
    const { action, ids, reason } = request.only(['action', 'ids', 'reason'])
    return { results: await requestService.bulk(actor, action, ids, reason) }
  }
}
