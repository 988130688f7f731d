import type { HttpContext } from '@adonisjs/core/http'
import { caService, serializeCa } from '#services/ca_service'
import { listServiceUrls } from '#services/service_urls'
import { sendCertificates } from '#services/downloads'
import { KernelError } from '#exceptions/kernel_error'
import * as pki from '#pki/index'

export default class CasController {
  async index({ actor }: HttpContext) {
    const cas = await caService.list(actor)
    return { cas: cas.map(serializeCa) }
  }

  /** POST /api/v1/cas — create a root CA, a CSR-only intermediate, or a CA from an imported key. */
  async store({ request, response, actor }: HttpContext) {
    const body = request.body()
    const ca = await caService.create(actor, {
      name: body.name,
      subject: body.subject,
      keyType: body.keyType,
      signatureHash: body.signatureHash,
      validityDays: body.validityDays,
      pathLength: body.pathLength,
      keyUsage: body.keyUsage,
      extKeyUsage: body.extKeyUsage,
      csrOnly: body.csrOnly === true || body.csrOnly === 'true',
      importKeyPem: body.importKeyPem,
      importKeyPassword: body.importKeyPassword,
      cpsUrl: body.cpsUrl,
      policyOid: body.policyOid,
      serviceSettings: body.serviceSettings,
    })
    return response.status(201).send({ ca: serializeCa(ca) })
  }

  async show({ params, actor }: HttpContext) {
    return { ca: serializeCa(await caService.find(actor, params.id)) }
  }

  async update({ params, request, actor }: HttpContext) {
    return { ca: serializeCa(await caService.update(actor, params.id, request.body())) }
  }

  async destroy({ params, response, actor }: HttpContext) {
    await caService.delete(actor, params.id)
    return response.status(204)
  }

  /** POST /api/v1/cas/:id/certificate { certificatePem, chainPem? } — activates a CSR-only CA. */
  async importCertificate({ params, request, actor }: HttpContext) {
    const { certificatePem, chainPem } = request.only(['certificatePem', 'chainPem'])
    if (typeof certificatePem !== 'string' || !certificatePem.trim()) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        'Give the signed CA certificate as "certificatePem".'
      )
    }
    // The chain as one PEM text, or as a list of PEM certificates.
    const chain = Array.isArray(chainPem) ? chainPem : [chainPem]
    if (chain.some((c) => c !== undefined && c !== null && typeof c !== 'string')) {
      throw new KernelError(
        'E_VALIDATION',
        'Give "chainPem" as PEM text (or a list of PEM certificates).',
        { field: 'chainPem' }
      )
    }
    const chainText = chain.filter((c) => typeof c === 'string' && c.trim()).join('\n')
    const ca = await caService.importCertificate(
      actor,
      params.id,
      certificatePem,
      chainText || undefined
    )
    return { ca: serializeCa(ca) }
  }

  /** GET /api/v1/cas/:id/certificate?format=pem|der|p7b */
  async certificate({ params, request, response, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    if (!ca.certificate)
      throw new KernelError(
        'E_CA_INACTIVE',
        `CA "${ca.name}" has no certificate yet; download its CSR instead.`
      )
    return sendCertificates(response, [ca.certificate], request.qs().format, `${ca.name}`)
  }

  /** GET /api/v1/cas/:id/chain?format=pem|p7b — the CA certificate and its issuers up to the root. */
  async chain({ params, request, response, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    if (!ca.certificate)
      throw new KernelError('E_CA_INACTIVE', `CA "${ca.name}" has no certificate yet.`)
    return sendCertificates(
      response,
      caService.chainOf(ca),
      request.qs().format ?? 'pem',
      `${ca.name}-chain`
    )
  }

  async csr({ params, response, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    if (!ca.csr)
      throw new KernelError('E_NOT_FOUND', `CA "${ca.name}" was not created as CSR-only.`)
    response.header('content-type', 'application/pkcs10')
    return response.send(pki.toPem(ca.csr, 'CERTIFICATE REQUEST'))
  }

  async serviceUrls({ params, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    return { serviceUrls: listServiceUrls('ca', { caId: ca.id, caName: ca.name }) }
  }
}
