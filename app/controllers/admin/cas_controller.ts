/*
 * Admin UI: Certificate Authorities (manual §1.2, §4). Create New CA (every option of the
 * kernel's CA creation, CSR-only intermediates, imported keys), Manage CAs, the CA page with its
 * tabs (details, CSR + "Import Signed Certificate", edit, plugin tabs), delete, service URLs and
 * certificate downloads. Every change goes through caService with ctx.actor (access + audit).
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { caService, serializeCa, defaultHash } from '#services/ca_service'
import { listServiceUrls } from '#services/service_urls'
import { sendCertificates } from '#services/downloads'
import { uiRegistry } from '#plugins/ui_registry'
import { KernelError } from '#exceptions/kernel_error'
import { KEY_USAGES, EXT_KEY_USAGES } from '#services/template_options'
import type CertificateAuthority from '#models/certificate_authority'
import * as pki from '#pki/index'
import { KEY_TYPES, type KeyType } from '../../../hsm/types.js'
import {
  checked,
  fieldErrors,
  isHtmx,
  list,
  redirectAfterForm,
  textOrFile,
  type FieldErrors,
} from './_form_errors.js'

/** Key types grouped the way the form offers them (manual §3.2.1: ML-DSA-65 by default). */
export const KEY_FAMILIES = [
  {
    id: 'rsa',
    label: 'RSA',
    paramLabel: 'Key size',
    default: 'rsa-2048',
    params: [
      { value: 'rsa-2048', label: '2048 bits' },
      { value: 'rsa-3072', label: '3072 bits' },
      { value: 'rsa-4096', label: '4096 bits' },
    ],
  },
  {
    id: 'ecdsa',
    label: 'ECDSA',
    paramLabel: 'Curve',
    default: 'ecdsa-p256',
    params: [
      { value: 'ecdsa-p256', label: 'P-256' },
      { value: 'ecdsa-p384', label: 'P-384' },
      { value: 'ecdsa-p521', label: 'P-521' },
    ],
  },
  {
    id: 'ed25519',
    label: 'Ed25519',
    paramLabel: 'Curve',
    default: 'ed25519',
    params: [{ value: 'ed25519', label: 'Ed25519' }],
  },
  {
    id: 'ml-dsa',
    label: 'ML-DSA (post-quantum, FIPS 204)',
    paramLabel: 'Parameter set',
    default: 'ml-dsa-65',
    params: [
      { value: 'ml-dsa-44', label: 'ML-DSA-44 (security level 2)' },
      { value: 'ml-dsa-65', label: 'ML-DSA-65 (security level 3)' },
      { value: 'ml-dsa-87', label: 'ML-DSA-87 (security level 5)' },
    ],
  },
  {
    id: 'slh-dsa',
    label: 'SLH-DSA (post-quantum, FIPS 205)',
    paramLabel: 'Parameter set',
    default: 'slh-dsa-sha2-128s',
    params: [
      { value: 'slh-dsa-sha2-128s', label: 'SLH-DSA-SHA2-128s (level 1)' },
      { value: 'slh-dsa-sha2-192s', label: 'SLH-DSA-SHA2-192s (level 3)' },
      { value: 'slh-dsa-sha2-256s', label: 'SLH-DSA-SHA2-256s (level 5)' },
    ],
  },
] as const

export function keyTypeLabel(keyType: string) {
  for (const f of KEY_FAMILIES) {
    const p = f.params.find((x) => x.value === keyType)
    if (p)
      return f.id === 'rsa' ? `RSA ${p.label}` : f.id === 'ecdsa' ? `ECDSA ${p.label}` : p.label
  }
  return keyType
}

const familyOf = (keyType: string) =>
  KEY_FAMILIES.find((f) => f.params.some((p) => p.value === keyType))?.id ?? 'ecdsa'

const HASHES = ['sha256', 'sha384', 'sha512']

/** Kernel field paths → the create form's input names. */
const CREATE_FIELDS = {
  rename: {
    'subject.commonName': 'name',
    'subject.organization': 'organization',
    'subject.organizationalUnit': 'organizationalUnit',
    'subject.country': 'country',
    'subject.state': 'state',
    'subject.locality': 'locality',
    'subject.email': 'email',
    'serviceSettings.keyType': 'serviceKeyType',
    'serviceSettings.hash': 'serviceHash',
    'serviceSettings': 'serviceKeyType',
  },
  byCode: { E_INVALID_KEY: 'importKeyPem', E_CONFLICT: 'name' },
}

const EDIT_FIELDS = {
  rename: CREATE_FIELDS.rename,
  byCode: { E_CONFLICT: 'name' },
}

function createDefaults() {
  return {
    name: '',
    organization: '',
    organizationalUnit: '',
    country: '',
    state: '',
    locality: '',
    email: '',
    keySource: 'generate',
    keyFamily: 'ecdsa',
    keyType: 'ecdsa-p256',
    signatureHash: '',
    validityDays: '3650',
    pathLength: '',
    keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'] as string[],
    extKeyUsage: [] as string[],
    csrOnly: false,
    /** A private key was pasted: it is never sent back, the form asks for it again. */
    importKeyGiven: false,
    cpsUrl: '',
    policyOid: '',
  }
}

type CreateForm = ReturnType<typeof createDefaults>

function str(value: unknown) {
  return value === undefined || value === null ? '' : String(value)
}

export default class CasController {
  /** GET /admin/cas — Manage CAs. */
  async index({ view, actor }: HttpContext) {
    const cas = await caService.list(actor)
    const ids = cas.map((c) => c.id)
    const counts = new Map<number, number>()
    if (ids.length) {
      const rows = await db
        .from('certificates')
        .whereIn('ca_id', ids)
        .groupBy('ca_id')
        .select('ca_id')
        .count('* as n')
      for (const r of rows as any[]) counts.set(Number(r.ca_id), Number(r.n))
    }
    return view.render('pages/cas/index', {
      rows: cas.map((ca) => ({
        ...serializeCa(ca),
        keyLabel: keyTypeLabel(ca.keyType),
        certificates: counts.get(ca.id) ?? 0,
        expired: ca.notAfter !== null && ca.notAfter < Date.now(),
      })),
    })
  }

  /** GET /admin/cas/new — Create New CA. */
  async create({ view }: HttpContext) {
    return view.render('pages/cas/new', this.formData(createDefaults(), {}))
  }

  /** POST /admin/cas */
  async store(ctx: HttpContext) {
    const { request, response, session, actor } = ctx
    const form = this.readCreateForm(ctx)
    let created: CertificateAuthority
    try {
      let importKeyPem: string | undefined
      // Without JavaScript the key-size list does not follow the key type: ask again.
      if (form.keySource === 'generate' && familyOf(form.keyType) !== form.keyFamily) {
        const family = KEY_FAMILIES.find((f) => f.id === form.keyFamily)
        if (family) {
          form.keyType = family.default
          throw new KernelError(
            'E_VALIDATION',
            `Choose the ${family.paramLabel.toLowerCase()} for ${family.label}, then create the CA.`,
            { field: 'keyType' }
          )
        }
      }
      if (form.keySource === 'import') {
        const key = await textOrFile(ctx, 'importKeyPem', 'importKeyFile')
        if (key === undefined) {
          throw new KernelError(
            'E_VALIDATION',
            'Paste the private key (PEM) or choose a key file to import.',
            { field: 'importKeyPem' }
          )
        }
        if (typeof key !== 'string') {
          throw new KernelError(
            'E_INVALID_KEY',
            'The key file is not PEM text: import a PEM private key (PKCS#8, PKCS#1 or SEC1).',
            { field: 'importKeyFile' }
          )
        }
        importKeyPem = key
      }
      created = await caService.create(actor, {
        name: form.name,
        subject: {
          commonName: form.name.trim(),
          organization: form.organization,
          organizationalUnit: form.organizationalUnit,
          country: form.country,
          state: form.state,
          locality: form.locality,
          email: form.email,
        },
        keyType: importKeyPem ? undefined : form.keyType,
        signatureHash: form.signatureHash || undefined,
        validityDays: form.validityDays === '' ? undefined : (Number(form.validityDays) as number),
        pathLength: form.pathLength === '' ? null : Number(form.pathLength),
        keyUsage: form.keyUsage,
        extKeyUsage: form.extKeyUsage,
        csrOnly: form.csrOnly,
        importKeyPem,
        importKeyPassword: str(request.input('importKeyPassword')) || undefined,
        cpsUrl: form.cpsUrl || null,
        policyOid: form.policyOid || null,
      })
    } catch (error) {
      const errors = fieldErrors(error, CREATE_FIELDS)
      if (!errors) throw error
      if (errors.importKeyPem && /password/i.test(errors.importKeyPem)) {
        errors.importKeyPassword = errors.importKeyPem
        delete errors.importKeyPem
      }
      response.status(422)
      const data = this.formData(form, errors)
      if (isHtmx(ctx)) return ctx.view.render('partials/ca_form', data)
      return ctx.view.render('pages/cas/new', data)
    }
    // The new CA becomes the current one (manual §1.2.1: it appears in the dropdown).
    session.put('caId', created.id)
    const target = created.status === 'pending' ? `/admin/cas/${created.id}/csr` : '/admin/cas'
    session.flash(
      'notice',
      created.status === 'pending'
        ? `CA "${created.name}" was created with a CSR: have it signed, then import the certificate below.`
        : `CA "${created.name}" was created and is ready to issue certificates.`
    )
    return redirectAfterForm(ctx, target, 201)
  }

  /** GET /admin/cas/:id — details tab. */
  async show(ctx: HttpContext) {
    return this.renderTab(ctx, 'details', {})
  }

  /** GET /admin/cas/:id/csr — the CSR of a CSR-only CA and "Import Signed Certificate". */
  async csr(ctx: HttpContext) {
    return this.renderTab(ctx, 'csr', {})
  }

  /** GET /admin/cas/:id/csr.pem */
  async csrDownload({ params, response, actor }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    if (!ca.csr)
      throw new KernelError('E_NOT_FOUND', `CA "${ca.name}" was not created as CSR-only.`)
    response.header('content-type', 'application/pkcs10')
    response.header('content-disposition', `attachment; filename="${safeName(ca.name)}.csr"`)
    return response.send(pki.toPem(ca.csr, 'CERTIFICATE REQUEST'))
  }

  /** POST /admin/cas/:id/certificate — activates a CSR-only CA. */
  async importCertificate(ctx: HttpContext) {
    const { params, actor, response, session } = ctx
    const ca = await caService.find(actor, params.id)
    const form = {
      certificatePem: str(ctx.request.input('certificatePem')),
      chainPem: str(ctx.request.input('chainPem')),
    }
    try {
      const cert = await readCertificates(ctx, 'certificatePem', 'certificateFile', false)
      if (!cert) {
        throw new KernelError(
          'E_INVALID_CERTIFICATE',
          'Paste the signed CA certificate (PEM) or choose its file (PEM or DER).',
          { field: 'certificatePem' }
        )
      }
      const chain = await readCertificates(ctx, 'chainPem', 'chainFile', true)
      await caService.importCertificate(actor, ca.id, cert, chain)
    } catch (error) {
      const errors = fieldErrors(error, {
        byCode: { E_INVALID_CERTIFICATE: 'certificatePem', E_CONFLICT: '_form' },
      })
      if (!errors) throw error
      response.status(422)
      return this.renderTab(ctx, 'csr', { importForm: form, errors }, ca)
    }
    session.flash('notice', `CA "${ca.name}" is now active and can issue certificates.`)
    const target = `/admin/cas/${ca.id}`
    return redirectAfterForm(ctx, target)
  }

  /** GET /admin/cas/:id/edit */
  async edit(ctx: HttpContext) {
    return this.renderTab(ctx, 'edit', {})
  }

  /** POST /admin/cas/:id/edit — name, CPS URL, policy OID, signature hash, service certificates. */
  async update(ctx: HttpContext) {
    const { params, actor, request, response, session } = ctx
    const ca = await caService.find(actor, params.id)
    const form = {
      name: str(request.input('name')),
      cpsUrl: str(request.input('cpsUrl')),
      policyOid: str(request.input('policyOid')),
      signatureHash: str(request.input('signatureHash')),
      serviceKeyType: str(request.input('serviceKeyType')),
      serviceHash: str(request.input('serviceHash')),
    }
    try {
      await caService.update(actor, ca.id, {
        name: form.name,
        cpsUrl: form.cpsUrl || null,
        policyOid: form.policyOid || null,
        signatureHash: form.signatureHash || null,
        serviceSettings: { keyType: form.serviceKeyType || null, hash: form.serviceHash || null },
      })
    } catch (error) {
      const errors = fieldErrors(error, EDIT_FIELDS)
      if (!errors) throw error
      response.status(422)
      return this.renderTab(ctx, 'edit', { editForm: form, errors }, ca)
    }
    session.flash('notice', `CA "${form.name.trim()}" was saved.`)
    const target = `/admin/cas/${ca.id}/edit`
    return redirectAfterForm(ctx, target)
  }

  /** GET /admin/cas/:id/delete — the confirmation, naming what goes with the CA. */
  async confirmDelete(ctx: HttpContext) {
    const ca = await caService.find(ctx.actor, ctx.params.id)
    return this.renderDelete(ctx, ca, {}, '')
  }

  /** POST /admin/cas/:id/delete { confirmName } */
  async destroy(ctx: HttpContext) {
    const { actor, params, request, response, session } = ctx
    const ca = await caService.find(actor, params.id)
    const typed = str(request.input('confirmName')).trim()
    if (typed !== ca.name) {
      response.status(422)
      return this.renderDelete(
        ctx,
        ca,
        { confirmName: `Type the CA name exactly ("${ca.name}") to confirm.` },
        typed
      )
    }
    await caService.delete(actor, ca.id)
    if (Number(session.get('caId')) === ca.id) session.forget('caId')
    session.flash('notice', `CA "${ca.name}" was deleted with its templates and certificates.`)
    return redirectAfterForm(ctx, '/admin/cas')
  }

  /** GET /admin/cas/:id/service-urls — the "Show CA Service URLs" modal. */
  async serviceUrls({ params, actor, view }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    const urls = listServiceUrls('ca', { caId: ca.id, caName: ca.name })
    return view.render('partials/ca_service_urls', { ca: serializeCa(ca), urls })
  }

  /** GET /admin/cas/:id/downloads — the "Get CA Certificate(s)" modal. */
  async downloads({ params, actor, view }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    return view.render('partials/ca_downloads', {
      ca: serializeCa(ca),
      chainLength: caService.chainOf(ca).length,
    })
  }

  /** GET /admin/cas/:id/download?format=pem|der|chain|p7b */
  async download({ params, actor, request, response }: HttpContext) {
    const ca = await caService.find(actor, params.id)
    if (!ca.certificate) {
      throw new KernelError(
        'E_CA_INACTIVE',
        `CA "${ca.name}" has no certificate yet: download its CSR and import the signed certificate first.`
      )
    }
    const format = String(request.qs().format ?? 'pem')
    switch (format) {
      case 'pem':
      case 'der':
        return sendCertificates(response, [ca.certificate], format, ca.name)
      case 'chain':
        return sendCertificates(response, caService.chainOf(ca), 'pem', `${ca.name}-chain`)
      case 'p7b':
        return sendCertificates(response, caService.chainOf(ca), 'p7b', ca.name)
      default:
        throw new KernelError(
          'E_VALIDATION',
          `Unknown format "${format}": choose pem, der, chain or p7b.`
        )
    }
  }

  // ---------------------------------------------------------------------------------------

  private readCreateForm({ request }: HttpContext): CreateForm {
    const keyType = str(request.input('keyType')) || 'ecdsa-p256'
    return {
      name: str(request.input('name')),
      organization: str(request.input('organization')),
      organizationalUnit: str(request.input('organizationalUnit')),
      country: str(request.input('country')),
      state: str(request.input('state')),
      locality: str(request.input('locality')),
      email: str(request.input('email')),
      keySource: request.input('keySource') === 'import' ? 'import' : 'generate',
      // One of the known families only: the value goes back into the form's Alpine state.
      keyFamily: KEY_FAMILIES.some((f) => f.id === request.input('keyFamily'))
        ? String(request.input('keyFamily'))
        : familyOf(keyType),
      keyType,
      signatureHash: str(request.input('signatureHash')),
      validityDays: str(request.input('validityDays')),
      pathLength: str(request.input('pathLength')),
      keyUsage: list(request.input('keyUsage')),
      extKeyUsage: list(request.input('extKeyUsage')),
      csrOnly: checked(request.input('csrOnly')),
      // The pasted private key itself stays out of the form: it must never be rendered back.
      importKeyGiven: str(request.input('importKeyPem')).trim() !== '',
      cpsUrl: str(request.input('cpsUrl')),
      policyOid: str(request.input('policyOid')),
    }
  }

  private formData(form: CreateForm, errors: FieldErrors) {
    return {
      form,
      errors,
      keyFamilies: KEY_FAMILIES,
      hashes: HASHES,
      keyUsages: KEY_USAGES,
      extKeyUsages: EXT_KEY_USAGES,
    }
  }

  private async renderDelete(
    ctx: HttpContext,
    ca: CertificateAuthority,
    errors: FieldErrors,
    typed: string
  ) {
    const [templates, certs, requests] = await Promise.all([
      db.from('templates').where('ca_id', ca.id).count('* as n').first(),
      db
        .from('certificates')
        .where('ca_id', ca.id)
        .groupBy('status')
        .select('status')
        .count('* as n'),
      db
        .from('certificate_requests')
        .where('ca_id', ca.id)
        .where('status', 'pending')
        .count('* as n')
        .first(),
    ])
    const byStatus: Record<string, number> = {}
    for (const r of certs as any[]) byStatus[r.status] = Number(r.n)
    const data = {
      ca: serializeCa(ca),
      templates: Number(templates?.n ?? 0),
      certificates: Object.values(byStatus).reduce((a, b) => a + b, 0),
      byStatus,
      pendingRequests: Number(requests?.n ?? 0),
      errors,
      typed,
      modal: isHtmx(ctx),
    }
    if (isHtmx(ctx)) return ctx.view.render('partials/ca_delete', data)
    return ctx.view.render('pages/cas/delete', data)
  }

  /**
   * Renders one tab of the CA page: the tab's fragment when htmx loads it into #tab-panel,
   * otherwise the whole page with that tab selected.
   */
  private async renderTab(
    ctx: HttpContext,
    tab: 'details' | 'csr' | 'edit',
    extra: Record<string, unknown>,
    loaded?: CertificateAuthority
  ) {
    const { actor, params, view } = ctx
    const ca = loaded ?? (await caService.find(actor, params.id))
    const data: Record<string, unknown> = {
      ca: serializeCa(ca),
      keyLabel: keyTypeLabel(ca.keyType),
      tab,
      errors: {},
      ...extra,
    }
    if (tab === 'details') Object.assign(data, await this.detailsData(ctx, ca))
    if (tab === 'edit') {
      data.editForm ??= {
        name: ca.name,
        cpsUrl: ca.cpsUrl ?? '',
        policyOid: ca.policyOid ?? '',
        signatureHash: ca.signatureHash,
        serviceKeyType: ca.serviceSettings?.keyType ?? '',
        serviceHash: ca.serviceSettings?.hash ?? '',
      }
      data.hashes = HASHES
      data.keyTypes = KEY_TYPES.map((k: KeyType) => ({ value: k, label: keyTypeLabel(k) }))
      data.defaultHash = defaultHash(ca.keyType)
      data.hashApplies = ca.keyType.startsWith('rsa') || ca.keyType.startsWith('ecdsa')
    }
    if (tab === 'csr') data.importForm ??= { certificatePem: '', chainPem: '' }
    const partial = `partials/ca_tab_${tab}`
    if (isHtmx(ctx) && ctx.request.header('hx-target') === 'tab-panel') {
      return view.render(partial, data)
    }
    data.partial = partial
    data.pluginTabs = uiRegistry
      .tabs('ca')
      .map((t) => ({ owner: t.owner, id: t.id, label: t.label }))
    return view.render('pages/cas/show', data)
  }

  private async detailsData(ctx: HttpContext, ca: CertificateAuthority) {
    const [templates, certs, pending] = await Promise.all([
      db.from('templates').where('ca_id', ca.id).count('* as n').first(),
      db
        .from('certificates')
        .where('ca_id', ca.id)
        .groupBy('status')
        .select('status')
        .count('* as n'),
      db
        .from('certificate_requests')
        .where('ca_id', ca.id)
        .where('status', 'pending')
        .count('* as n')
        .first(),
    ])
    const byStatus: Record<string, number> = { valid: 0, hold: 0, revoked: 0 }
    for (const r of certs as any[]) byStatus[r.status] = Number(r.n)
    const parsed = ca.certificate ? pki.parseCertificate(ca.certificate) : null
    return {
      stats: {
        templates: Number(templates?.n ?? 0),
        pending: Number(pending?.n ?? 0),
        ...byStatus,
      },
      issuerDn: parsed ? parsed.issuerString : null,
      fingerprint: parsed ? parsed.fingerprintSha256.match(/../g)!.join(':').toUpperCase() : null,
      chainLength: caService.chainOf(ca).length,
      fragments: await uiRegistry.fragments('ca.details.after', {
        actor: ctx.actor,
        caId: ca.id,
        objectId: ca.id,
      }),
    }
  }
}

function safeName(name: string) {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_')
}

/**
 * A certificate (or, with `many`, a bundle) from a pasted field or an uploaded PEM/DER file, as
 * PEM text for caService.importCertificate. Errors name the field the bad input came from.
 */
async function readCertificates(
  ctx: HttpContext,
  textField: string,
  fileField: string,
  many: boolean
): Promise<string | undefined> {
  const input = await textOrFile(ctx, textField, fileField)
  if (input === undefined || (typeof input === 'string' && !many)) return input
  try {
    const ders = many ? pki.certificatesFromInput(input) : [pki.certificateFromInput(input)]
    return ders.map((d) => pki.toPem(d, 'CERTIFICATE')).join('')
  } catch (error) {
    throw new KernelError(
      'E_INVALID_CERTIFICATE',
      `Not a certificate${many ? ' bundle' : ''}: ${(error as Error).message}`,
      { field: textField }
    )
  }
}
