/*
 * Certificate requests (manual §1.5.2, §1.6, §6.1): a CSR submitted against a template waits
 * as a pending request until an approver signs (optionally overriding subject, SANs and
 * validity) or declines it, one by one or in bulk.
 */
import db from '@adonisjs/lucid/services/db'
import CertificateRequest from '#models/certificate_request'
import CertificateAuthority from '#models/certificate_authority'
import Template from '#models/template'
import { KernelError, notFound } from '#exceptions/kernel_error'
import * as pki from '#pki/index'
import type { Actor } from './actor.js'
import { assertCaAccess } from './access.js'
import { audit } from './audit_service.js'
import {
  checkTemplateRules,
  issuanceService,
  readCsr,
  type IssueOverrides,
} from './issuance_service.js'
import { writeServiceLog } from './service_log.js'

export function serializeRequest(r: CertificateRequest) {
  return {
    id: r.id,
    caId: r.caId,
    templateId: r.templateId,
    status: r.status,
    subjectDn: r.subjectDn,
    sans: r.sans,
    keyType: r.keyType,
    source: r.source,
    requestedBy: r.requestedBy,
    certificateId: r.certificateId,
    decidedBy: r.decidedBy,
    decidedAt: r.decidedAt ? new Date(r.decidedAt).toISOString() : null,
    declineReason: r.declineReason,
    createdAt: new Date(r.createdAt).toISOString(),
    csrPem: pki.toPem(r.csr, 'CERTIFICATE REQUEST'),
  }
}

/** How long a claimed request may stay in `signing` before another approver may take it over. */
const STALE_CLAIM_MS = 5 * 60_000

/** Rows of one page of requests (list() also reads one more, to tell whether more follow). */
export const MAX_PAGE = 500
/** The longest decline reason kept (the admin form's limit too). */
export const MAX_DECLINE_REASON = 500

/** A decline reason: text up to MAX_DECLINE_REASON characters, trimmed; empty or null is none. */
function declineReason(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string')
    throw new KernelError('E_VALIDATION', 'reason must be text (or left out).')
  const reason = value.trim()
  if (reason.length > MAX_DECLINE_REASON)
    throw new KernelError(
      'E_VALIDATION',
      `Keep the decline reason under ${MAX_DECLINE_REASON} characters (it has ${reason.length}).`
    )
  return reason || undefined
}

/** 409 for a request that is not pending: being approved right now, or already decided. */
function alreadyDecided(request: CertificateRequest) {
  if (request.status === 'signing') return beingApproved(request.id)
  return new KernelError('E_CONFLICT', `Request ${request.id} was already ${request.status}.`)
}

function beingApproved(id: number) {
  return new KernelError(
    'E_CONFLICT',
    `Request ${id} is being approved by someone else right now; reload it in a moment to see the outcome.`
  )
}

export const requestService = {
  async submit(actor: Actor, template: Template, csrInput: unknown, source = 'api') {
    if (typeof csrInput !== 'string' || !csrInput.trim()) {
      throw new KernelError('E_INVALID_CSR', 'Paste a PEM certificate signing request ("csr").')
    }
    if (!template.options.enabled)
      throw new KernelError('E_TEMPLATE_DISABLED', `Template "${template.name}" is disabled.`)
    let csr: pki.ParsedCsr
    try {
      csr = await readCsr(csrInput)
      checkTemplateRules(template, csr)
    } catch (error: any) {
      await writeServiceLog({
        service: 'kernel',
        caId: template.caId,
        level: 'warn',
        event: 'request.refused',
        message: `A request for template "${template.name}" was refused: ${error?.message ?? error}`,
        details: { template: template.id, source, actor: actor.label, code: error?.code },
      })
      throw error
    }
    const created = await db.transaction(async (trx) => {
      const request = await CertificateRequest.create(
        {
          caId: template.caId,
          templateId: template.id,
          status: 'pending',
          csr: Buffer.from(csr.der),
          subjectDn: pki.nameToString(csr.subjectDer),
          sans: csr.sans,
          keyType: csr.publicKey.keyType ?? csr.publicKey.name,
          source,
          requestedBy: actor.label,
          requesterIp: actor.ip ?? null,
        },
        { client: trx }
      )
      await audit(
        actor,
        {
          action: 'request.submit',
          objectType: 'request',
          objectId: request.id,
          caId: template.caId,
          details: { template: template.name, subject: request.subjectDn },
        },
        trx
      )
      return request
    })
    await writeServiceLog({
      service: 'kernel',
      caId: template.caId,
      level: 'info',
      event: 'request.submitted',
      message: `Request #${created.id} for "${created.subjectDn}" submitted (${source}) by ${actor.label} on template "${template.name}".`,
      details: { request: created.id, template: template.id, source },
    })
    return created
  },

  async find(actor: Actor, id: number) {
    const request = Number.isInteger(id) ? await CertificateRequest.find(id) : null
    if (!request) throw notFound('request', id)
    await assertCaAccess(actor, request.caId)
    return request
  },

  /**
   * A CA's requests, newest first, a page at a time: `before` is the id the previous page ended
   * at (keyset paging; no OFFSET scans), `limit` at most 501 (a page of 500 and one more row that
   * tells whether another page follows).
   */
  async list(
    actor: Actor,
    caId: number,
    status = 'pending',
    page: { before?: number; limit?: number } = {}
  ) {
    await assertCaAccess(actor, caId)
    if (!['pending', 'issued', 'declined', 'all'].includes(status)) {
      throw new KernelError('E_VALIDATION', 'status must be pending, issued, declined or all.')
    }
    const limit = Math.min(Math.max(Math.trunc(page.limit ?? 500), 1), MAX_PAGE + 1)
    const q = CertificateRequest.query().where('ca_id', caId).orderBy('id', 'desc').limit(limit)
    if (status !== 'all') q.where('status', status)
    if (page.before !== undefined) q.where('id', '<', page.before)
    return q
  },

  async approve(actor: Actor, id: number, overrides?: IssueOverrides) {
    const request = await this.find(actor, id)
    // A claim older than this is left over from a process that died while signing.
    const staleClaim = Date.now() - STALE_CLAIM_MS
    const abandoned = request.status === 'signing' && (request.decidedAt ?? 0) < staleClaim
    if (request.status !== 'pending' && !abandoned) throw alreadyDecided(request)
    const template = await Template.find(request.templateId)
    const ca = await CertificateAuthority.find(request.caId)
    if (!template || !ca) throw notFound('template', request.templateId)
    // Claim the request first so two approvers cannot sign it twice. The decided_at written is
    // the claim token: storing the certificate, and putting the request back after a failure,
    // only happen while the request still carries it (another approver may take over a stale claim).
    const claim = Math.max(Date.now(), Number(request.decidedAt ?? 0) + 1)
    const claimed = await db
      .from('certificate_requests')
      .where('id', id)
      .where((q) =>
        q
          .where('status', 'pending')
          .orWhere((w) => w.where('status', 'signing').where('decided_at', '<', staleClaim))
      )
      .update({ status: 'signing', decided_at: claim })
    if (Number(claimed) === 0) throw beingApproved(id)
    try {
      const csr = await readCsr(request.csr)
      const issued = await issuanceService.issue({
        ca,
        template,
        csr,
        overrides,
        actor,
        source: `request:${request.source}`,
        requestId: request.id,
        requestClaim: claim,
      })
      await writeServiceLog({
        service: 'kernel',
        caId: request.caId,
        level: 'info',
        event: 'request.approved',
        message: `Request #${id} approved by ${actor.label}: certificate ${issued.serial} issued for "${issued.subjectDn}".`,
        details: { request: id, certificate: issued.id, overrides: overrides ?? null },
      })
      return issued
    } catch (error) {
      // Only this approver's own claim is put back, never one taken over meanwhile.
      await db
        .from('certificate_requests')
        .where({ id, status: 'signing', decided_at: claim })
        .update({ status: 'pending', decided_at: null })
      throw error
    }
  },

  async decline(actor: Actor, id: number, reasonInput?: unknown) {
    const reason = declineReason(reasonInput)
    const request = await this.find(actor, id)
    if (request.status !== 'pending') throw alreadyDecided(request)
    await db.transaction(async (trx) => {
      const declined = await trx
        .from('certificate_requests')
        .where({ id, status: 'pending' })
        .update({
          status: 'declined',
          decided_by: actor.label,
          decided_at: Date.now(),
          decline_reason: reason ?? null,
        })
      // An approver claimed it since it was read: nothing is declined, audited or logged.
      if (Number(declined) === 0) throw beingApproved(id)
      await audit(
        actor,
        {
          action: 'request.decline',
          objectType: 'request',
          objectId: id,
          caId: request.caId,
          details: { reason: reason ?? null },
        },
        trx
      )
    })
    await writeServiceLog({
      service: 'kernel',
      caId: request.caId,
      level: 'info',
      event: 'request.declined',
      message: `Request #${id} for "${request.subjectDn}" declined by ${actor.label}${reason ? `: ${reason}` : '.'}`,
      details: { request: id, reason: reason ?? null },
    })
    return this.find(actor, id)
  },

  /** Approves or declines many requests; each succeeds or fails on its own. */
  async bulk(actor: Actor, action: 'approve' | 'decline', ids: number[], reasonInput?: unknown) {
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 500) {
      throw new KernelError('E_VALIDATION', 'Give between 1 and 500 request ids.')
    }
    if (action !== 'approve' && action !== 'decline')
      throw new KernelError('E_VALIDATION', 'action must be approve or decline.')
    const reason = declineReason(reasonInput)
    const results = []
    for (const id of ids) {
      try {
        if (action === 'approve') {
          const cert = await this.approve(actor, Number(id))
          results.push({ id, ok: true, certificateId: cert.id, serial: cert.serial })
        } else {
          await this.decline(actor, Number(id), reason)
          results.push({ id, ok: true })
        }
      } catch (error: any) {
        results.push({
          id,
          ok: false,
          error: { code: error?.code ?? 'E_INTERNAL', message: error?.message ?? String(error) },
        })
      }
    }
    return results
  },
}
