/*
 * Admin UI: Certificate Templates (manual §1.4, §5). Create from one of the starters, Manage
 * Templates (the current CA's), the edit page with one kernel tab per group of options of
 * §5.3.1 plus the plugins' template tabs, delete, and the template service-URL modal.
 * The option schema (template_options.ts) is the source of truth: TEMPLATE_TABS only says on
 * which tab each option is shown and how a form value becomes a JSON value.
 */
import type { HttpContext } from '@adonisjs/core/http'
import { caService } from '#services/ca_service'
import { templateService } from '#services/template_service'
import {
  EXT_KEY_USAGES,
  KEY_FAMILIES,
  KEY_USAGES,
  PREDEFINED_POLICIES,
  SAN_TYPES,
  STARTER_TEMPLATES,
  type TemplateOptions,
} from '#services/template_options'
import { embeddedUrls, listServiceUrls } from '#services/service_urls'
import { dashboardStats } from '#services/dashboard_stats'
import { uiRegistry } from '#plugins/ui_registry'
import { KernelError } from '#exceptions/kernel_error'
import type Template from '#models/template'
import {
  checked,
  fieldErrors,
  isHtmx,
  list,
  redirectAfterForm,
  type FieldErrors,
} from './_form_errors.js'

export type FieldType =
  | 'bool'
  | 'int'
  | 'intOrNull'
  | 'text'
  | 'textOrNull'
  | 'optionalText'
  | 'enumOrNull'
  | 'list'
  | 'csv'
  | 'policy'

export interface TabSpec {
  id: string
  label: string
  fields: Array<{ path: string; type: FieldType }>
}

/** Every template option, by tab (manual §5.3.1). A unit test checks none is missing. */
export const TEMPLATE_TABS: TabSpec[] = [
  {
    id: 'general',
    label: 'General',
    fields: [
      { path: 'enabled', type: 'bool' },
      { path: 'description', type: 'text' },
      { path: 'allowUnsolicited', type: 'bool' },
      { path: 'renewal.allowWithValidCertificate', type: 'bool' },
      { path: 'renewal.revokeOld', type: 'bool' },
      { path: 'renewal.withinDays', type: 'intOrNull' },
      { path: 'renewal.copySubjectAndSans', type: 'bool' },
      { path: 'signatureHash', type: 'enumOrNull' },
      { path: 'validityDays', type: 'int' },
      { path: 'maxValidityDays', type: 'intOrNull' },
    ],
  },
  {
    id: 'subject',
    label: 'Subject',
    fields: [
      { path: 'subject.fromCsr', type: 'bool' },
      { path: 'subject.defaults.commonName', type: 'optionalText' },
      { path: 'subject.defaults.organization', type: 'optionalText' },
      { path: 'subject.defaults.organizationalUnit', type: 'optionalText' },
      { path: 'subject.defaults.country', type: 'optionalText' },
      { path: 'subject.defaults.state', type: 'optionalText' },
      { path: 'subject.defaults.locality', type: 'optionalText' },
      { path: 'subject.defaults.email', type: 'optionalText' },
    ],
  },
  {
    id: 'key-usage',
    label: 'Key Usage',
    fields: [
      { path: 'keyUsage', type: 'list' },
      { path: 'keyUsageByKeyType', type: 'bool' },
      { path: 'extKeyUsage', type: 'list' },
      { path: 'customEkuOids', type: 'csv' },
    ],
  },
  {
    id: 'basic-constraints',
    label: 'Basic Constraints',
    fields: [
      { path: 'basicConstraints.ca', type: 'bool' },
      { path: 'basicConstraints.pathLength', type: 'intOrNull' },
    ],
  },
  {
    id: 'keys',
    label: 'Keys & SANs',
    fields: [
      { path: 'keys.allowed', type: 'list' },
      { path: 'keys.minRsaBits', type: 'int' },
      { path: 'keys.ecCurves', type: 'list' },
      { path: 'sans.allowed', type: 'list' },
      { path: 'sans.required', type: 'bool' },
      { path: 'sans.copyCommonName', type: 'bool' },
    ],
  },
  {
    id: 'revocation',
    label: 'CRL / OCSP / AIA / CPS',
    fields: [
      { path: 'aia.include', type: 'bool' },
      { path: 'aia.customUrl', type: 'textOrNull' },
      { path: 'includeOcsp', type: 'bool' },
      { path: 'includeCrl', type: 'bool' },
      { path: 'cps.include', type: 'bool' },
      { path: 'cps.policy', type: 'policy' },
    ],
  },
]

const TAB_IDS = TEMPLATE_TABS.map((t) => t.id)

/** Friendlier words for the schema's messages, by option. */
const HINTS: Record<string, string> = {
  'customEkuOids': 'Each custom EKU must be a dotted OID such as 1.3.6.1.4.1.311.20.2.2.',
  'cps.policy': 'Choose a predefined policy or enter a dotted OID such as 1.3.6.1.4.1.99999.1.',
  'aia.customUrl': 'The custom URL must start with http:// or https://.',
  'subject.defaults.country': 'Country must be a two-letter ISO 3166 code such as US or DE.',
}

/** The schema's (ajv's) message in plain words. */
function friendly(f: { keyword: string; message: string; params?: any }) {
  const p = f.params ?? {}
  switch (f.keyword) {
    case 'minimum':
      return `Must be at least ${p.limit}.`
    case 'maximum':
      return `Must be at most ${p.limit}.`
    case 'type':
      return String(p.type).includes('integer') ? 'Must be a whole number.' : `Must be ${p.type}.`
    case 'minItems':
      return `Choose at least ${p.limit}.`
    case 'maxLength':
      return `At most ${p.limit} characters.`
    case 'enum':
      return `Must be one of: ${(p.allowedValues ?? []).filter((v: unknown) => v !== null).join(', ')}.`
    default:
      return f.message.charAt(0).toUpperCase() + f.message.slice(1) + '.'
  }
}

function getPath(obj: any, path: string) {
  return path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj)
}

function setPath(obj: any, path: string, value: unknown) {
  const keys = path.split('.')
  let o = obj
  for (const k of keys.slice(0, -1)) {
    if (o[k] === null || typeof o[k] !== 'object') o[k] = {}
    o = o[k]
  }
  if (value === undefined) delete o[keys[keys.length - 1]]
  else o[keys[keys.length - 1]] = value
}

/** A form value as the JSON the schema expects (left as given when it is not one, so the schema's message applies). */
function coerce(type: FieldType, raw: unknown, body: Record<string, any>): unknown {
  const text = raw === undefined || raw === null ? '' : String(raw).trim()
  switch (type) {
    case 'bool':
      return checked(raw)
    case 'int':
      return /^-?\d+$/.test(text) ? Number(text) : text === '' ? null : text
    case 'intOrNull':
      return text === '' ? null : /^-?\d+$/.test(text) ? Number(text) : text
    case 'text':
      return text
    case 'textOrNull':
      return text === '' ? null : text
    case 'optionalText':
      return text === '' ? undefined : text
    case 'enumOrNull':
      return text === '' ? null : text
    case 'list':
      return list(raw)
    case 'csv':
      return text
        .split(/[\s,]+/)
        .map((x) => x.trim())
        .filter(Boolean)
    case 'policy': {
      if (text === '' || text === 'none') return null
      if (text === 'custom') {
        const custom = String(body.cpsPolicyCustom ?? '').trim()
        return custom === '' ? 'custom' : custom
      }
      return text
    }
  }
}

function policyChoice(policy: string | null) {
  if (policy === null) return { choice: 'none', custom: '' }
  if (policy in PREDEFINED_POLICIES) return { choice: policy, custom: '' }
  return { choice: 'custom', custom: policy }
}

export default class TemplatesController {
  /** GET /admin/templates — Manage Templates (the current CA's). */
  async index({ view, currentCa, actor, response }: HttpContext) {
    if (!currentCa) return response.redirect('/admin/cas/new')
    const templates = await templateService.list(actor, currentCa.id)
    const active = await dashboardStats.activeByTemplate(templates.map((t) => t.id))
    const rows = []
    for (const t of templates) {
      rows.push({
        id: t.id,
        name: t.name,
        starter: t.starter ? (STARTER_TEMPLATES[t.starter]?.label ?? t.starter) : 'custom',
        options: t.options,
        active: active.get(t.id) ?? 0,
        menu: await uiRegistry.fragments('template.menu', {
          actor,
          caId: t.caId,
          objectId: t.id,
        }),
      })
    }
    return view.render('pages/templates/index', { rows })
  }

  /** GET /admin/templates/new — Create Template: a name and a starter. */
  async create({ view, currentCa, response }: HttpContext) {
    if (!currentCa) return response.redirect('/admin/cas/new')
    return view.render('pages/templates/new', this.newData({ name: '', starter: 'web-server' }, {}))
  }

  /** POST /admin/templates { name, starter } → the edit page. */
  async store(ctx: HttpContext) {
    const { request, response, actor, currentCa, session } = ctx
    if (!currentCa) return response.redirect('/admin/cas/new')
    const form = {
      name: String(request.input('name') ?? ''),
      starter: String(request.input('starter') ?? ''),
    }
    let template: Template
    try {
      if (!form.starter)
        throw new KernelError('E_VALIDATION', 'Choose a starter template.', { field: 'starter' })
      template = await templateService.create(actor, currentCa.id, form)
    } catch (error) {
      const errors = fieldErrors(error, { byCode: { E_CONFLICT: 'name' } })
      if (!errors) throw error
      if (errors._form && /starter/i.test(errors._form)) {
        errors.starter = errors._form
        delete errors._form
      }
      response.status(422)
      const data = this.newData(form, errors)
      if (isHtmx(ctx)) return ctx.view.render('partials/template_new_form', data)
      return ctx.view.render('pages/templates/new', data)
    }
    session.flash('notice', `Template "${template.name}" was created: review its options and save.`)
    const target = `/admin/templates/${template.id}`
    return redirectAfterForm(ctx, target, 201)
  }

  /** GET /admin/templates/:id — the edit page, General tab. */
  async edit(ctx: HttpContext) {
    return this.renderTab(ctx, 'general', {})
  }

  /** GET /admin/templates/:id/tabs/:tab */
  async tab(ctx: HttpContext) {
    return this.renderTab(ctx, this.tabId(ctx), {})
  }

  /** POST /admin/templates/:id/tabs/:tab — saves the options on that tab. */
  async save(ctx: HttpContext) {
    const { actor, params, request, response, session } = ctx
    const tabId = this.tabId(ctx)
    const template = await templateService.find(actor, params.id)
    const spec = TEMPLATE_TABS.find((t) => t.id === tabId)!
    const body = request.all()
    const options = structuredClone(template.options) as TemplateOptions
    // Form bodies are parsed with dots as nesting: "renewal.withinDays" arrives as body.renewal.withinDays.
    for (const f of spec.fields)
      setPath(options, f.path, coerce(f.type, getPath(body, f.path), body))
    const name = tabId === 'general' ? String(body.name ?? '') : undefined
    try {
      await templateService.update(actor, template, { name, options, replaceOptions: true })
    } catch (error) {
      const errors = fieldErrors(error, { byCode: { E_CONFLICT: 'name' } })
      if (!errors) throw error
      for (const f of ((error as KernelError).details as any)?.fields ?? []) {
        errors[f.field] = friendly(f)
      }
      for (const key of Object.keys(errors)) if (HINTS[key]) errors[key] = HINTS[key]
      response.status(422)
      const fresh = await templateService.find(actor, template.id)
      return this.renderTab(ctx, tabId, { errors, options, name: name ?? fresh.name }, fresh)
    }
    session.flash('notice', `Template "${template.name}" was saved.`)
    const target = `/admin/templates/${template.id}/tabs/${tabId}`
    return redirectAfterForm(ctx, target)
  }

  /** POST /admin/templates/:id/delete — refused by the kernel while active certificates exist. */
  async destroy(ctx: HttpContext) {
    const { actor, params, response, session } = ctx
    const template = await templateService.find(actor, params.id)
    try {
      await templateService.delete(actor, template)
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_CONFLICT') throw error
      if (isHtmx(ctx)) {
        response.status(409)
        response.header('HX-Retarget', '#flash')
        response.header('HX-Reswap', 'innerHTML')
        return ctx.view.render('partials/flash', { level: 'error', message: error.message })
      }
      session.flash('error', error.message)
      return response.redirect(`/admin/templates/${template.id}`)
    }
    session.flash('notice', `Template "${template.name}" was deleted.`)
    return redirectAfterForm(ctx, '/admin/templates')
  }

  /** GET /admin/templates/:id/service-urls — the "Show Template Service URLs" modal. */
  async serviceUrls({ params, actor, view }: HttpContext) {
    const template = await templateService.find(actor, params.id)
    const ca = await caService.find(actor, template.caId)
    const urls = listServiceUrls('template', {
      caId: ca.id,
      caName: ca.name,
      templateId: template.id,
    })
    return view.render('partials/template_service_urls', {
      template: { id: template.id, name: template.name },
      urls,
    })
  }

  // ---------------------------------------------------------------------------------------

  private tabId(ctx: HttpContext) {
    const tab = String(ctx.params.tab)
    if (!TAB_IDS.includes(tab)) throw new KernelError('E_NOT_FOUND', `No template tab "${tab}".`)
    return tab
  }

  private newData(form: { name: string; starter: string }, errors: FieldErrors) {
    return {
      form,
      errors,
      starters: Object.entries(STARTER_TEMPLATES).map(([id, s]) => ({
        id,
        label: s.label,
        description: String((s.options as any).description ?? ''),
      })),
    }
  }

  private async renderTab(
    ctx: HttpContext,
    tabId: string,
    extra: { errors?: FieldErrors; options?: TemplateOptions; name?: string },
    loaded?: Template
  ) {
    const { actor, params, view } = ctx
    const template = loaded ?? (await templateService.find(actor, params.id))
    const ca = await caService.find(actor, template.caId)
    const options = extra.options ?? template.options
    const data: Record<string, unknown> = {
      template: { id: template.id, name: extra.name ?? template.name, caId: template.caId },
      savedName: template.name,
      ca: {
        id: ca.id,
        name: ca.name,
        keyType: ca.keyType,
        signatureHash: ca.signatureHash,
        cpsUrl: ca.cpsUrl,
      },
      starterLabel: template.starter
        ? (STARTER_TEMPLATES[template.starter]?.label ?? template.starter)
        : 'custom',
      tab: tabId,
      tabs: TEMPLATE_TABS.map((t) => ({ id: t.id, label: t.label })),
      o: options,
      v: (path: string) => getPath(options, path),
      policy: policyChoice(options.cps.policy),
      errors: extra.errors ?? {},
      keyUsages: KEY_USAGES,
      extKeyUsages: EXT_KEY_USAGES,
      keyFamilies: KEY_FAMILIES,
      sanTypes: SAN_TYPES,
      policies: Object.entries(PREDEFINED_POLICIES).map(([id, oid]) => ({ id, oid })),
      keyFamilyLabels: {
        'rsa': 'RSA',
        'ec': 'ECDSA',
        'ed25519': 'Ed25519',
        'ml-dsa': 'ML-DSA',
        'slh-dsa': 'SLH-DSA',
      },
      sanLabels: { dns: 'DNS names', ip: 'IP addresses', email: 'Email addresses', uri: 'URIs' },
    }
    if (tabId === 'revocation') {
      // What the enabled services would put into a certificate issued now.
      const urlCtx = { caId: ca.id, caName: ca.name, templateId: template.id }
      data.embedded = {
        caIssuers: embeddedUrls('aia.caIssuers', urlCtx),
        ocsp: embeddedUrls('aia.ocsp', urlCtx),
        crl: embeddedUrls('crl.distributionPoints', urlCtx),
      }
    }
    const partial = `partials/template_tab_${tabId.replace('-', '_')}`
    if (isHtmx(ctx) && ctx.request.header('hx-target') === 'tab-panel') {
      return view.render('partials/template_tab', { ...data, partial })
    }
    data.partial = partial
    data.pluginTabs = uiRegistry
      .tabs('template')
      .map((t) => ({ owner: t.owner, id: t.id, label: t.label }))
    data.row = {
      id: template.id,
      name: template.name,
      menu: await uiRegistry.fragments('template.menu', {
        actor,
        caId: template.caId,
        objectId: template.id,
      }),
    }
    const active = await dashboardStats.activeByTemplate([template.id])
    data.activeCertificates = active.get(template.id) ?? 0
    return view.render('pages/templates/edit', data)
  }
}
