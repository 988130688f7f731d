import type { HttpContext } from '@adonisjs/core/http'
import Certificate from '#models/certificate'
import { caService } from '#services/ca_service'
import { certificateService, serializeCertificate } from '#services/certificate_service'
import { directIssue } from '#http/direct_issue'
import { revocationService } from '#services/revocation_service'
import { sendCertificates } from '#services/downloads'
import { queryInteger, queryText } from '#validators/query'

export default class CertificatesController {
  /** POST /api/v1/templates/:id/issue: see app/http/direct_issue.ts (JSON bodies arrive early). */
  async issue({ params, request, response, actor }: HttpContext) {
    const answer = await directIssue(actor, Number(params.id), request.body(), request.qs().format)
    response.header('content-type', answer.contentType)
    return response.status(answer.status).send(answer.body)
  }

  async index({ params, request, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const qs = request.qs()
    const page = await certificateService.list(actor, ca.id, {
      status: queryText(qs.status, 'status'),
      q: queryText(qs.q, 'q'),
      page: queryInteger(qs.page, 'page', { fallback: 1, min: 1, max: 1_000_000_000 }),
      perPage: queryInteger(qs.perPage, 'perPage', { fallback: 50, min: 1, max: 500 }),
    })
    return {
      certificates: page.all().map((c) => serializeCertificate(c, false)),
      meta: page.getMeta(),
    }
  }

  async show({ params, request, response, actor }: HttpContext) {
    const cert = await certificateService.find(actor, Number(params.id))
    return this.#render(cert, request.qs().format, response)
  }

  async bySerial({ params, request, response, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const cert = await certificateService.findBySerial(actor, ca.id, safeDecode(params.serial))
    return this.#render(cert, request.qs().format, response)
  }

  /** POST /api/v1/certificates/:id/revoke { reason } */
  async revoke({ params, request, actor }: HttpContext) {
    const cert = await certificateService.find(actor, Number(params.id))
    return {
      certificate: serializeCertificate(
        await revocationService.revoke(actor, cert, request.input('reason', 'unspecified'))
      ),
    }
  }

  async unrevoke({ params, actor }: HttpContext) {
    const cert = await certificateService.find(actor, Number(params.id))
    return { certificate: serializeCertificate(await revocationService.unrevoke(actor, cert)) }
  }

  #render(cert: Certificate, format: string | undefined, response: HttpContext['response']) {
    if (format) return sendCertificates(response, [cert.der], format, cert.serial)
    return { certificate: serializeCertificate(cert) }
  }
}

/** Route params arrive percent-encoded ("00%3A4c..."): decode, keeping malformed input as is. */
function safeDecode(value: string) {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}
