import type { HttpContext } from '@adonisjs/core/http'
import Certificate from '#models/certificate'
import { caService } from '#services/ca_service'
import { templateService } from '#services/template_service'
import { certificateService, serializeCertificate } from '#services/certificate_service'
import { issuanceService, readCsr } from '#services/issuance_service'
import { revocationService } from '#services/revocation_service'
import { sendCertificates } from '#services/downloads'
import { KernelError } from '#exceptions/kernel_error'
import * as pki from '#pki/index'
import { overridesFrom } from '#validators/overrides'

export default class CertificatesController {
  /**
   * POST /api/v1/templates/:id/issue { csr, subject?, sans?, validityDays? | notBefore+notAfter }
   * Direct issuance (no pending step). ?format=pem answers with the PEM alone.
   */
  async issue({ params, request, response, actor }: HttpContext) {
    const { template, ca } = await templateService.findForIssuance(actor, Number(params.id))
    const body = request.body()
    let csr: Awaited<ReturnType<typeof readCsr>>
    try {
      if (typeof body.csr !== 'string' || !body.csr.trim())
        throw new KernelError('E_INVALID_CSR', 'Give the PEM certificate signing request as "csr".')
      csr = await readCsr(body.csr)
    } catch (error) {
      // Refused before the cycle starts: still an entry on the Logs page.
      issuanceService.logFailure({ ca, template, actor, source: 'api' }, error)
      throw error
    }
    const issued = await issuanceService.issue({
      ca,
      template,
      csr,
      overrides: overridesFrom(body),
      actor,
      source: 'api',
    })
    if (request.qs().format === 'pem') {
      response.header('content-type', 'application/x-pem-file')
      return response.status(201).send(pki.toPem(issued.der, 'CERTIFICATE'))
    }
    return response.status(201).send({
      certificate: {
        id: issued.id,
        serial: issued.serial,
        subjectDn: issued.subjectDn,
        notBefore: new Date(issued.notBefore).toISOString(),
        notAfter: new Date(issued.notAfter).toISOString(),
        certificatePem: pki.toPem(issued.der, 'CERTIFICATE'),
      },
    })
  }

  async index({ params, request, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const qs = request.qs()
    const page = await certificateService.list(actor, ca.id, {
      status: qs.status,
      q: qs.q,
      page: Number(qs.page ?? 1),
      perPage: Number(qs.perPage ?? 50),
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
