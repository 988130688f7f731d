/*
 * X509 Certificates → Pending Requests (manual §1.6, §6.1): the current CA's requests, the
 * request modal (details, Requested Attributes and Validity override tabs), Sign / Decline,
 * and bulk approve / decline of the checked rows. The request service checks access and
 * writes the audit and service logs.
 */
import type { HttpContext } from '@adonisjs/core/http'
import { checked } from './_form_errors.js'
import db from '@adonisjs/lucid/services/db'
import { MAX_DECLINE_REASON, requestService } from '#services/request_service'
import type CertificateRequest from '#models/certificate_request'
import Template from '#models/template'
import CertificateAuthority from '#models/certificate_authority'
import { KernelError } from '#exceptions/kernel_error'
import { queryCursor } from '#validators/query'
import type { IssueOverrides, SanEntry } from '#services/issuance_service'
import * as pki from '#pki/index'

const STATUSES = ['pending', 'issued', 'declined', 'all'] as const
const DAY = 86400_000

export const SUBJECT_FIELDS = [
  { key: 'commonName', label: 'Common name (CN)' },
  { key: 'organization', label: 'Organization (O)' },
  { key: 'organizationalUnit', label: 'Organizational unit (OU)' },
  { key: 'locality', label: 'Locality (L)' },
  { key: 'state', label: 'State or province (ST)' },
  { key: 'country', label: 'Country (C, two letters)' },
  { key: 'email', label: 'Email address' },
] as const
const SAN_TYPES = ['dns', 'ip', 'email', 'uri']

/** What the modal's form shows: the request's values or what the approver typed. */
interface FormState {
  overrideAttributes: boolean
  subject: Record<string, string>
  sans: Array<{ type: string; value: string }>
  overrideValidity: boolean
  validityMode: 'days' | 'window'
  validityDays: string
  notBefore: string
  notAfter: string
  declineReason: string
}

/** A form field as a list: one value, repeated values, or an indexed object (`ids[0]=…`). */
const asList = (v: unknown): string[] =>
  v === undefined || v === null
    ? []
    : Array.isArray(v)
      ? v.map(String)
      : typeof v === 'object'
        ? Object.values(v).map(String)
        : [String(v)]

/** datetime-local (UTC) → ISO, or '' → undefined. */
function utcInput(value: string) {
  const v = value.trim()
  if (!v) return undefined
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(v) ? `${v}:00Z` : v
}

const toInput = (ms: number) => new Date(ms).toISOString().slice(0, 16)

function firstTab(errors: Record<string, string>) {
  if (errors.validityDays || errors.notBefore || errors.notAfter) return 'validity'
  if (Object.keys(errors).some((k) => k.startsWith('subject') || k === 'sans')) return 'attributes'
  return undefined
}

/** Requests per page of the Pending Requests table (keyset pages, newest first). */
const PAGE_SIZE = 100

export default class AdminRequestsController {
  async index(ctx: HttpContext) {
    const { currentCa, response, view, request } = ctx
    if (!currentCa) return response.redirect('/admin/cas/new')
    const status = (STATUSES as readonly string[]).includes(request.qs().status)
      ? request.qs().status
      : 'pending'
    const data = await this.#tableData(ctx, status)
    if (request.header('hx-request') && request.header('hx-target') === 'requests-table') {
      return view.render('partials/request_table', data)
    }
    const openId = /^\d+$/.test(String(request.qs().id ?? '')) ? Number(request.qs().id) : null
    return view.render('pages/requests/index', { ...data, openId })
  }

  async show(ctx: HttpContext) {
    const item = await requestService.find(ctx.actor, Number(ctx.params.id))
    return this.#renderModal(ctx, item, await this.#defaultForm(item), {}, null, 200)
  }

  async approve(ctx: HttpContext) {
    const { actor, params, request } = ctx
    const item = await requestService.find(actor, Number(params.id))
    const { form, errors, overrides } = this.#readForm(request.all())
    if (Object.keys(errors).length) {
      return this.#renderModal(ctx, item, form, errors, 'Check the highlighted fields.', 422)
    }
    try {
      const issued = await requestService.approve(actor, item.id, overrides)
      const message = `Request #${item.id} approved: certificate ${issued.serial} issued for ${issued.subjectDn || 'the requested names'}.`
      return this.#done(ctx, item.caId, message)
    } catch (error) {
      if (!(error instanceof KernelError)) throw error
      const fresh = await requestService.find(actor, item.id)
      return this.#renderModal(ctx, fresh, form, {}, error.message, error.status)
    }
  }

  async decline(ctx: HttpContext) {
    const { actor, params, request } = ctx
    const item = await requestService.find(actor, Number(params.id))
    const { form } = this.#readForm(request.all())
    const reason = form.declineReason.trim()
    if (reason.length > MAX_DECLINE_REASON) {
      return this.#renderModal(
        ctx,
        item,
        form,
        { declineReason: `Keep the reason under ${MAX_DECLINE_REASON} characters.` },
        null,
        422
      )
    }
    try {
      await requestService.decline(actor, item.id, reason || undefined)
      return this.#done(
        ctx,
        item.caId,
        `Request #${item.id} declined${reason ? `: ${reason}` : '.'}`
      )
    } catch (error) {
      if (!(error instanceof KernelError)) throw error
      return this.#renderModal(ctx, item, form, {}, error.message, error.status)
    }
  }

  async bulk(ctx: HttpContext) {
    const { actor, request, session, response, currentCa } = ctx
    if (!currentCa) return response.redirect('/admin/cas/new')
    const ids = asList(request.input('ids'))
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
    const action = request.input('action')
    const reason = String(request.input('reason') ?? '').trim()
    let level: 'notice' | 'error' = 'notice'
    let message: string
    if (ids.length === 0) {
      level = 'error'
      message = 'Select at least one request first.'
    } else if (action !== 'approve' && action !== 'decline') {
      level = 'error'
      message = 'Choose Approve selected or Decline selected.'
    } else if (reason.length > 500) {
      level = 'error'
      message = 'Keep the decline reason under 500 characters.'
    } else if (ids.length > 500) {
      level = 'error'
      message = 'Select at most 500 requests at a time.'
    } else {
      // Only the shown CA's requests (a stale tab may post another CA's ids).
      const inCa: Array<{ id: number }> = await db
        .from('certificate_requests')
        .whereIn('id', ids)
        .where('ca_id', currentCa.id)
        .select('id')
      const here = new Set(inCa.map((r) => Number(r.id)))
      const results: Array<{ id: number; ok: boolean; error?: { message: string } }> = []
      if (here.size) {
        results.push(
          ...(await requestService.bulk(
            actor,
            action,
            ids.filter((id) => here.has(id)),
            reason || undefined
          ))
        )
      }
      for (const id of ids.filter((i) => !here.has(i))) {
        results.push({ id, ok: false, error: { message: `not a request of ${currentCa.name}.` } })
      }
      const ok = results.filter((r) => r.ok).length
      const failed = results.filter((r) => !r.ok)
      const verb = action === 'approve' ? 'approved' : 'declined'
      message = `${ok} request${ok === 1 ? '' : 's'} ${verb}.`
      if (failed.length) {
        level = ok ? 'notice' : 'error'
        message += ` ${failed.length} failed: ${failed
          .slice(0, 5)
          .map((f: any) => `#${f.id}: ${f.error.message}`)
          .join(' ')}${failed.length > 5 ? ' …' : ''}`
      }
    }
    if (request.header('hx-request')) {
      const data = await this.#tableData(ctx, 'pending')
      return ctx.view.render('partials/request_table', { ...data, oobFlash: { level, message } })
    }
    session.flash(level, message)
    return response.redirect('/admin/requests')
  }

  /* ------------------------------------------------------------------------------------- */

  async #tableData(ctx: HttpContext, status: string) {
    const caId = ctx.currentCa!.id
    const qs = ctx.request.qs()
    // A cursor that is no number is refused (422), not read as "from the newest".
    const before = queryCursor(qs.before)
    const fetched = await requestService.list(ctx.actor, caId, status, {
      before,
      limit: PAGE_SIZE + 1,
    })
    const rows = fetched.slice(0, PAGE_SIZE)
    const nextBefore = fetched.length > PAGE_SIZE ? rows[rows.length - 1].id : null
    const templates = await db.from('templates').where('ca_id', caId).select('id', 'name')
    const names = new Map(templates.map((t: any) => [Number(t.id), String(t.name)]))
    return {
      status,
      statuses: STATUSES,
      before: before ?? null,
      nextBefore,
      requests: rows.map((r) => ({
        id: r.id,
        status: r.status,
        subjectDn: r.subjectDn,
        sans: r.sans ?? [],
        keyType: r.keyType,
        source: r.source,
        requestedBy: r.requestedBy,
        template: names.get(r.templateId) ?? `#${r.templateId}`,
        createdAt: new Date(r.createdAt).toISOString().replace('T', ' ').slice(0, 16),
        certificateId: r.certificateId,
        declineReason: r.declineReason,
      })),
    }
  }

  async #defaultForm(item: CertificateRequest): Promise<FormState> {
    const template = await Template.find(item.templateId)
    // The subject the certificate would get: the CSR's, or the template's fixed one (with the
    // CSR's common name where the template leaves it open), so that overriding only the SANs
    // does not send the requester's subject in place of the template's.
    let requested: Record<string, unknown> = {}
    try {
      requested = pki.parseCsr(item.csr).subject as Record<string, unknown>
    } catch {}
    const fixed = template && !template.options.subject.fromCsr
    const source: Record<string, unknown> = fixed
      ? {
          ...template.options.subject.defaults,
          commonName: template.options.subject.defaults.commonName || requested.commonName,
        }
      : requested
    const subject: Record<string, string> = Object.fromEntries(
      SUBJECT_FIELDS.map((f) => [f.key, String(source[f.key] ?? '')])
    )
    const days = template?.options.validityDays ?? 365
    const now = Date.now()
    return {
      overrideAttributes: false,
      subject,
      sans: (item.sans ?? []).map((s) => ({ type: s.type, value: s.value })),
      overrideValidity: false,
      validityMode: 'days',
      validityDays: String(days),
      notBefore: toInput(now),
      notAfter: toInput(now + days * DAY),
      declineReason: '',
    }
  }

  #readForm(body: Record<string, any>) {
    const errors: Record<string, string> = {}
    const subject: Record<string, string> = {}
    for (const f of SUBJECT_FIELDS) subject[f.key] = String(body[`subject_${f.key}`] ?? '').trim()
    const types = asList(body.sanType)
    const values = asList(body.sanValue)
    const sans = values
      .map((value, i) => ({ type: String(types[i] ?? 'dns'), value: value.trim() }))
      .filter((s) => s.value)
    const form: FormState = {
      overrideAttributes: checked(body.overrideAttributes),
      subject,
      sans,
      overrideValidity: checked(body.overrideValidity),
      validityMode: body.validityMode === 'window' ? 'window' : 'days',
      validityDays: String(body.validityDays ?? '').trim(),
      notBefore: String(body.notBefore ?? '').trim(),
      notAfter: String(body.notAfter ?? '').trim(),
      declineReason: String(body.reason ?? ''),
    }
    const overrides: IssueOverrides = {}
    if (form.overrideAttributes) {
      if (subject.country && !/^[A-Za-z]{2}$/.test(subject.country))
        errors.subject_country = 'Use a two-letter ISO 3166 code such as US or DE.'
      for (const s of sans) {
        if (!SAN_TYPES.includes(s.type)) errors.sans = `Unknown SAN type "${s.type}".`
      }
      // Empty fields are removed from the certificate's subject.
      overrides.subject = Object.fromEntries(
        Object.entries(subject).map(([k, v]) => [k, v || null])
      ) as any
      overrides.sans = sans as SanEntry[]
    }
    if (form.overrideValidity) {
      if (form.validityMode === 'days') {
        const days = Number(form.validityDays)
        if (!/^\d+$/.test(form.validityDays) || days < 1)
          errors.validityDays = 'Enter a whole number of days (at least 1).'
        else overrides.validityDays = days
      } else {
        const nb = utcInput(form.notBefore)
        const na = utcInput(form.notAfter)
        if (!nb || Number.isNaN(new Date(nb).getTime()))
          errors.notBefore = 'Enter the start date and time (UTC).'
        if (!na || Number.isNaN(new Date(na).getTime()))
          errors.notAfter = 'Enter the end date and time (UTC).'
        else if (nb && new Date(na).getTime() <= new Date(nb).getTime())
          errors.notAfter = 'The end must be after the start.'
        if (!errors.notBefore && !errors.notAfter) {
          overrides.notBefore = nb
          overrides.notAfter = na
        }
      }
    }
    return {
      form,
      errors,
      overrides: Object.keys(overrides).length ? overrides : undefined,
    }
  }

  async #renderModal(
    ctx: HttpContext,
    item: CertificateRequest,
    form: FormState,
    errors: Record<string, string>,
    error: string | null,
    status: number
  ) {
    const template = await Template.find(item.templateId)
    const ca = await CertificateAuthority.find(item.caId)
    const data = {
      item: {
        id: item.id,
        status: item.status,
        subjectDn: item.subjectDn,
        sans: item.sans ?? [],
        keyType: item.keyType,
        source: item.source,
        requestedBy: item.requestedBy,
        requesterIp: item.requesterIp,
        createdAt: new Date(item.createdAt).toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
        decidedBy: item.decidedBy,
        declineReason: item.declineReason,
        certificateId: item.certificateId,
        csrPem: pki.toPem(item.csr, 'CERTIFICATE REQUEST'),
      },
      template: template
        ? {
            id: template.id,
            name: template.name,
            validityDays: template.options.validityDays,
            maxValidityDays: template.options.maxValidityDays,
            allowedSans: template.options.sans.allowed,
          }
        : null,
      caName: ca?.name ?? '',
      caNotAfter: ca?.notAfter ? new Date(ca.notAfter).toISOString().slice(0, 10) : null,
      form,
      errors,
      error,
      tab: firstTab(errors) ?? 'details',
      subjectFields: SUBJECT_FIELDS,
      sanTypes: SAN_TYPES,
      isPending: item.status === 'pending',
      standalone: !ctx.request.header('hx-request'),
    }
    ctx.response.status(status)
    if (ctx.request.header('hx-request')) return ctx.view.render('partials/request_modal', data)
    return ctx.view.render('pages/requests/show', data)
  }

  /** After a decision: htmx swaps the table, closes the modal and flashes; otherwise redirect. */
  async #done(ctx: HttpContext, _caId: number, message: string) {
    if (ctx.request.header('hx-request')) {
      const data = await this.#tableData(ctx, 'pending')
      ctx.response.header('HX-Retarget', '#requests-table')
      ctx.response.header('HX-Reswap', 'outerHTML')
      ctx.response.header('HX-Trigger', 'closeModal')
      return ctx.view.render('partials/request_table', {
        ...data,
        oobFlash: { level: 'notice', message },
      })
    }
    ctx.session.flash('notice', message)
    return ctx.response.redirect('/admin/requests')
  }
}
