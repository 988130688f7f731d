/*
 * X509 Certificates → Issued Certificates (manual §6.2): search (prefix of CN, SAN or serial),
 * filters (template, status, expiring within N days), keyset pages, and the certificate modal
 * with details, downloads, plugin fragments and the Revocation tab.
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import type Certificate from '#models/certificate'
import CertificateAuthority from '#models/certificate_authority'
import { certificateService } from '#services/certificate_service'
import {
  certificateSearch,
  CERT_STATUSES,
  COUNT_CAP,
  type CertificateQuery,
  type CertStatusFilter,
} from '#services/certificate_search'
import { revocationService, REVOCATION_REASONS } from '#services/revocation_service'
import { caService } from '#services/ca_service'
import { sendCertificates } from '#services/downloads'
import { uiRegistry } from '#plugins/ui_registry'
import { KernelError } from '#exceptions/kernel_error'
import * as pki from '#pki/index'

const STATUS_LABELS: Record<string, string> = {
  valid: 'Valid',
  revoked: 'Revoked',
  hold: 'On hold',
  expired: 'Expired',
}

/** RFC 5280 §5.3.1 reasons with what they mean, in the order of the manual's dropdown. */
const REASON_LABELS: Record<string, string> = {
  unspecified: 'Unspecified',
  keyCompromise: 'Key compromise',
  cACompromise: 'CA compromise',
  affiliationChanged: 'Affiliation changed',
  superseded: 'Superseded',
  cessationOfOperation: 'Cessation of operation',
  certificateHold: 'Certificate hold (can be undone)',
  privilegeWithdrawn: 'Privilege withdrawn',
  aACompromise: 'AA compromise',
}

const fmtDate = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC'
const fmtDay = (ms: number) => new Date(ms).toISOString().slice(0, 10)

function displayStatus(cert: { status: string; notAfter: number }) {
  return cert.status === 'valid' && cert.notAfter < Date.now() ? 'expired' : cert.status
}

function rowOf(cert: Certificate, templateName: string | null) {
  return {
    id: cert.id,
    serial: cert.serial,
    commonName: cert.commonName,
    subjectDn: cert.subjectDn,
    sans: cert.sans ?? [],
    notAfter: cert.notAfter,
    notAfterText: fmtDay(cert.notAfter),
    status: displayStatus(cert),
    revocationReason: cert.revocationReason,
    template: templateName,
  }
}

export default class AdminCertificatesController {
  async index(ctx: HttpContext) {
    const { currentCa, request, response, view, actor } = ctx
    if (!currentCa) return response.redirect('/admin/cas/new')
    const qs = request.qs()
    const templates = await db
      .from('templates')
      .where('ca_id', currentCa.id)
      .orderBy('name')
      .select('id', 'name')
    const templateNames = new Map<number, string>(
      templates.map((t: any) => [Number(t.id), String(t.name)])
    )

    const filters = {
      q: String(qs.q ?? '').trim(),
      template: String(qs.template ?? '').trim(),
      status: String(qs.status ?? '').trim(),
      expiring: String(qs.expiring ?? '').trim(),
    }
    const errors: Record<string, string> = {}
    const query: CertificateQuery = { after: qs.after || null, before: qs.before || null }
    if (filters.q.length > 255) errors.q = 'Search for at most 255 characters.'
    else if (filters.q) query.q = filters.q
    if (filters.template) {
      const id = Number(filters.template)
      if (!templateNames.has(id)) errors.template = 'Choose one of this CA’s templates.'
      else query.templateId = id
    }
    if (filters.status) {
      if (!(CERT_STATUSES as readonly string[]).includes(filters.status))
        errors.status = 'Choose valid, revoked, on hold or expired.'
      else query.status = filters.status as CertStatusFilter
    }
    if (filters.expiring) {
      const days = Number(filters.expiring)
      if (!/^\d+$/.test(filters.expiring) || days < 1 || days > 3650)
        errors.expiring = 'Enter a whole number of days between 1 and 3650.'
      else query.expiringDays = days
    }

    let page = null
    let pageError: string | null = null
    if (Object.keys(errors).length === 0) {
      try {
        page = await certificateSearch.page(actor, currentCa.id, query)
      } catch (error) {
        if (!(error instanceof KernelError)) throw error
        pageError = error.message
      }
    }
    const base = new URLSearchParams()
    for (const [k, v] of Object.entries(filters)) if (v) base.set(k, v)
    const link = (extra: Record<string, string>) => {
      const p = new URLSearchParams(base)
      for (const [k, v] of Object.entries(extra)) p.set(k, v)
      return `/admin/certificates?${p.toString()}`
    }
    const data = {
      filters,
      errors,
      pageError,
      templates: templates.map((t: any) => ({ id: Number(t.id), name: String(t.name) })),
      statuses: CERT_STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] })),
      rows: (page?.rows ?? []).map((r) => ({
        ...r,
        notAfterText: fmtDay(r.notAfter),
        template: r.templateId ? (templateNames.get(r.templateId) ?? null) : null,
      })),
      order: page?.order ?? 'newest',
      countText: page
        ? page.countCapped
          ? `${COUNT_CAP.toLocaleString('en-US')}+`
          : page.count.toLocaleString('en-US')
        : '0',
      nextUrl: page?.next ? link({ after: page.next }) : null,
      prevUrl: page?.prev ? link({ before: page.prev }) : null,
      searching: Boolean(query.q),
      filtered: Boolean(query.q || query.templateId || query.status || query.expiringDays),
      openId: /^\d+$/.test(String(qs.id ?? '')) ? Number(qs.id) : null,
    }
    if (Object.keys(errors).length || pageError) response.status(422)
    if (request.header('hx-request') && request.header('hx-target') === 'cert-results') {
      return view.render('partials/certificate_results', data)
    }
    return view.render('pages/certificates/index', data)
  }

  async show(ctx: HttpContext) {
    const cert = await certificateService.find(ctx.actor, Number(ctx.params.id))
    const tab = ctx.request.qs().tab === 'revocation' ? 'revocation' : 'details'
    return this.#renderModal(ctx, cert, { tab })
  }

  async download({ params, actor, response }: HttpContext) {
    const cert = await certificateService.find(actor, Number(params.id))
    const format = String(params.format)
    const base = (cert.commonName || cert.serial).replace(/^\*\./, 'wildcard.')
    if (format === 'chain' || format === 'p7b') {
      const ca = await CertificateAuthority.findOrFail(cert.caId)
      const certs = [cert.der, ...caService.chainOf(ca)]
      if (format === 'chain') return sendCertificates(response, certs, 'pem', `${base}-chain`)
      return sendCertificates(response, certs, 'p7b', base)
    }
    if (format !== 'pem' && format !== 'der')
      throw new KernelError(
        'E_NOT_FOUND',
        `No download format "${format}"; use pem, der, chain or p7b.`
      )
    return sendCertificates(response, [cert.der], format, base)
  }

  async revoke(ctx: HttpContext) {
    const cert = await certificateService.find(ctx.actor, Number(ctx.params.id))
    const reason = String(ctx.request.input('reason') ?? '').trim()
    if (!reason) {
      return this.#renderModal(
        ctx,
        cert,
        { tab: 'revocation', error: 'Choose a revocation reason.', reasonError: true },
        422
      )
    }
    return this.#act(ctx, cert, async () => {
      const before = cert.status
      const updated = await revocationService.revoke(ctx.actor, cert, reason)
      if (before === 'revoked')
        return [updated, `Revocation reason of ${cert.serial} changed to keyCompromise.`] as const
      if (updated.status === 'hold')
        return [updated, `Certificate ${cert.serial} is on hold; you can unrevoke it.`] as const
      return [
        updated,
        `Certificate ${cert.serial} revoked (${updated.revocationReason}). This cannot be undone.`,
      ] as const
    })
  }

  async unrevoke(ctx: HttpContext) {
    const cert = await certificateService.find(ctx.actor, Number(ctx.params.id))
    return this.#act(ctx, cert, async () => {
      const updated = await revocationService.unrevoke(ctx.actor, cert)
      return [updated, `Certificate ${cert.serial} is valid again (taken off hold).`] as const
    })
  }

  /* ------------------------------------------------------------------------------------- */

  async #act(
    ctx: HttpContext,
    cert: Certificate,
    action: () => Promise<readonly [Certificate, string]>
  ) {
    const hx = Boolean(ctx.request.header('hx-request'))
    try {
      const [updated, message] = await action()
      if (!hx) {
        ctx.session.flash('notice', message)
        return ctx.response.redirect(`/admin/certificates/${cert.id}?tab=revocation`)
      }
      return this.#renderModal(ctx, updated, { tab: 'revocation', notice: message, oobRow: true })
    } catch (error) {
      if (!(error instanceof KernelError)) throw error
      return this.#renderModal(ctx, cert, { tab: 'revocation', error: error.message }, error.status)
    }
  }

  async #renderModal(
    ctx: HttpContext,
    cert: Certificate,
    options: {
      tab: string
      notice?: string
      error?: string
      reasonError?: boolean
      oobRow?: boolean
    },
    status = 200
  ) {
    const { actor, request, response, view } = ctx
    const ca = await CertificateAuthority.find(cert.caId)
    const template = cert.templateId
      ? await db.from('templates').where('id', cert.templateId).select('id', 'name').first()
      : null
    let parsed: pki.ParsedCertificate | null = null
    try {
      parsed = pki.parseCertificate(cert.der)
    } catch {}
    const ext = parsed?.extensions
    const fragments = await uiRegistry.fragments('certificate.details.after', {
      actor,
      caId: cert.caId,
      objectId: cert.id,
    })
    const statusNow = displayStatus(cert)
    const data = {
      cert: {
        id: cert.id,
        serial: cert.serial,
        serialColons: cert.serial.match(/../g)?.join(':') ?? cert.serial,
        subjectDn: cert.subjectDn,
        commonName: cert.commonName,
        issuer: parsed?.issuerString ?? ca?.subjectDn ?? '',
        sans: cert.sans ?? [],
        keyType: cert.keyType,
        notBefore: fmtDate(cert.notBefore),
        notAfter: fmtDate(cert.notAfter),
        status: statusNow,
        rawStatus: cert.status,
        revocationReason: cert.revocationReason,
        revokedAt: cert.revokedAt ? fmtDate(cert.revokedAt) : null,
        fingerprint: cert.fingerprint.match(/../g)?.join(':').toUpperCase() ?? cert.fingerprint,
        issuedBy: cert.issuedBy,
        kind: cert.kind,
        requestId: cert.requestId,
        pem: pki.toPem(cert.der, 'CERTIFICATE'),
      },
      caName: ca?.name ?? '',
      template: template ? { id: Number(template.id), name: String(template.name) } : null,
      extensions: ext
        ? {
            list: ext.all,
            keyUsage: ext.keyUsage ?? [],
            eku: (ext.eku ?? []).map((oid) => pki.oidName(oid)),
            basicConstraints: ext.basicConstraints ?? null,
            ocsp: ext.aia.ocsp,
            caIssuers: ext.aia.caIssuers,
            cdp: ext.cdp,
            policies: ext.policies.map((p) => pki.oidName(p.oid)),
          }
        : null,
      fragments,
      tab: options.tab,
      notice: options.notice ?? null,
      error: options.error ?? null,
      reasonError: Boolean(options.reasonError),
      reasons: REVOCATION_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] ?? r })),
      permanentReasons: REVOCATION_REASONS.filter((r) => r !== 'certificateHold').map((r) => ({
        value: r,
        label: REASON_LABELS[r] ?? r,
      })),
      standalone: !request.header('hx-request'),
      oobRow: options.oobRow ? rowOf(cert, template ? String(template.name) : null) : null,
    }
    response.status(status)
    if (request.header('hx-request')) return view.render('partials/certificate_modal', data)
    return view.render('pages/certificates/show', data)
  }
}
