/*
 * POST /api/v1/templates/:id/issue { csr, subject?, sans?, validityDays? | notBefore+notAfter }:
 * direct issuance (no pending step) for an API caller. ?format=pem answers with the PEM alone.
 * Served by the early API route (app/http/early_api.ts, JSON bodies) and by the framework's
 * route (CertificatesController.issue, every other body type): both answer through this.
 */
import { templateService } from '#services/template_service'
import { issuanceService, readCsr } from '#services/issuance_service'
import { KernelError } from '#exceptions/kernel_error'
import type { Actor } from '#services/actor'
import * as pki from '#pki/index'
import { overridesFrom } from '#validators/overrides'

export interface EndpointAnswer {
  status: number
  contentType: string
  body: string
}

export async function directIssue(
  actor: Actor,
  templateId: number,
  body: Record<string, any>,
  format: string | undefined
): Promise<EndpointAnswer> {
  const { template, ca } = await templateService.findForIssuance(actor, templateId)
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
  const pem = pki.toPem(issued.der, 'CERTIFICATE')
  if (format === 'pem') return { status: 201, contentType: 'application/x-pem-file', body: pem }
  return {
    status: 201,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify({
      certificate: {
        id: issued.id,
        serial: issued.serial,
        subjectDn: issued.subjectDn,
        notBefore: new Date(issued.notBefore).toISOString(),
        notAfter: new Date(issued.notAfter).toISOString(),
        certificatePem: pem,
      },
    }),
  }
}
