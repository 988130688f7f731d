import type { HttpContext } from '@adonisjs/core/http'
import CertificateAuthority from '#models/certificate_authority'
import { caService } from '#services/ca_service'
import { sendCertificates } from '#services/downloads'
import { notFound } from '#exceptions/kernel_error'
import { isRowId } from '#validators/query'

/** Unauthenticated downloads that relying parties fetch through AIA caIssuers URLs. */
export default class PublicController {
  async caCertificate({ params, response }: HttpContext) {
    const id = Number.parseInt(String(params.file), 10)
    const ca = isRowId(id) ? await CertificateAuthority.find(id) : null
    if (!ca || !ca.certificate) throw notFound('CA', id)
    response.header('cache-control', 'public, max-age=3600')
    return sendCertificates(response, [ca.certificate], 'der', ca.name)
  }

  async caChain({ params, response }: HttpContext) {
    const id = Number(params.id)
    const ca = isRowId(id) ? await CertificateAuthority.find(id) : null
    if (!ca || !ca.certificate) throw notFound('CA', params.id)
    response.header('cache-control', 'public, max-age=3600')
    return sendCertificates(response, caService.chainOf(ca), 'pem', `${ca.name}-chain`)
  }
}
