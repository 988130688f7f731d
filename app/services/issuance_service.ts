/*
 * The issuance cycle — the one place certificates are made (docs/issuance-cycle.md):
 *   parse + verify CSR → template enforcement → validateIssue → build draft → beforeIssue
 *   → lint → (onPrecertificate) → sign → store (one short transaction) → afterIssue
 */
import { createHash } from 'node:crypto'
import type { Extension } from '@peculiar/asn1-x509'
import type CertificateAuthority from '#models/certificate_authority'
import type Template from '#models/template'
import { KernelError } from '#exceptions/kernel_error'
import { verifySignatureOffThread } from '../../hsm/keys.js'
import * as pki from '#pki/index'
import pkiConfig from '#config/pki'
import { caMaterial } from './ca_material.js'
import { hooks, type IssueContext } from './hooks.js'
import { embeddedUrls } from './service_urls.js'
import {
  PREDEFINED_POLICIES,
  type SubjectDefaults,
  type TemplateOptions,
} from './template_options.js'
import type { Actor } from './actor.js'
import { storeCertificate, type CertificateRow } from './certificate_store.js'
import { auditRow } from './audit_service.js'
import { queueServiceLog } from './service_log.js'

export type SanEntry = { type: 'dns' | 'ip' | 'email' | 'uri'; value: string }

export interface IssueOverrides {
  subject?: SubjectDefaults
  sans?: SanEntry[]
  /** Days from now. */
  validityDays?: number
  /** Explicit window (ISO strings or Dates); both or neither. */
  notBefore?: string | Date
  notAfter?: string | Date
}

export interface IssueInput {
  ca: CertificateAuthority
  template: Template
  csr: pki.ParsedCsr
  overrides?: IssueOverrides
  actor: Actor
  source: string
  requestId?: number
  /** The approver's claim on the request (its decided_at): stored only while it still holds. */
  requestClaim?: number
  kind?: string
}

export interface IssuedCertificate {
  id: number
  serial: string
  der: Uint8Array
  notBefore: number
  notAfter: number
  subjectDn: string
}

const RSA_ONLY_USAGES = new Set(['keyEncipherment', 'dataEncipherment'])
const DAY = 86400_000

/** Parses a CSR and checks its signature; every failure is E_INVALID_CSR with a reason. */
export async function readCsr(input: string | Uint8Array): Promise<pki.ParsedCsr> {
  let csr: pki.ParsedCsr
  try {
    csr = pki.parseCsr(input)
  } catch (error: any) {
    throw new KernelError(
      'E_INVALID_CSR',
      error?.message ?? 'The certificate signing request could not be read.'
    )
  }
  let verified: unknown
  try {
    verified = await pki.verifyCsrSignature(csr, verifySignatureOffThread)
  } catch (error: any) {
    if (error?.code === 'E_SIGNER_UNAVAILABLE')
      throw new KernelError(
        'E_SIGNER_UNAVAILABLE',
        `The CSR's signature could not be checked now (${error.message}); try again.`
      )
    const code = error?.code === 'E_UNSUPPORTED_ALGORITHM' ? 'E_POLICY_DENIED' : 'E_INVALID_CSR'
    throw new KernelError(
      code,
      `Invalid CSR: ${error?.message ?? 'its signature could not be checked'}.`
    )
  }
  if (verified === false) {
    throw new KernelError(
      'E_INVALID_CSR',
      'Invalid CSR: its signature does not verify; the request was altered or not signed by the key it carries.'
    )
  }
  return csr
}

function checkKeyPolicy(options: TemplateOptions, key: pki.SpkiInfo, templateName: string) {
  const family = key.family
  if (!family || !options.keys.allowed.includes(family)) {
    throw new KernelError(
      'E_POLICY_DENIED',
      `Template "${templateName}" does not accept ${key.name} keys; allowed: ${options.keys.allowed.join(', ')}.`
    )
  }
  if (family === 'rsa' && (key.rsaBits ?? 0) < options.keys.minRsaBits) {
    throw new KernelError(
      'E_POLICY_DENIED',
      `Template "${templateName}" needs RSA keys of at least ${options.keys.minRsaBits} bits; this one has ${key.rsaBits}.`
    )
  }
  if (family === 'ec' && !options.keys.ecCurves.includes(key.curve as any)) {
    throw new KernelError(
      'E_POLICY_DENIED',
      `Template "${templateName}" does not accept the EC curve ${key.curve ?? 'given by explicit parameters (use a named curve)'}; allowed: ${options.keys.ecCurves.join(', ')}.`
    )
  }
  return { family, keyType: key.keyType ?? key.name }
}

function resolveSubject(
  options: TemplateOptions,
  csr: pki.ParsedCsr,
  overrides?: SubjectDefaults
): SubjectDefaults {
  let subject: SubjectDefaults
  if (options.subject.fromCsr) {
    subject = { ...(csr.subject as SubjectDefaults) }
  } else {
    subject = { ...options.subject.defaults }
    // Defaults replace the CSR's subject; a common name the defaults leave open comes from the CSR.
    if (!subject.commonName && csr.subject.commonName) subject.commonName = csr.subject.commonName
  }
  if (overrides) {
    for (const [k, v] of Object.entries(overrides)) {
      if (v === null || v === '') delete (subject as any)[k]
      else (subject as any)[k] = v
    }
  }
  for (const [k, v] of Object.entries(subject))
    if (v === undefined || v === null || v === '') delete (subject as any)[k]
  return subject
}

function resolveSans(
  options: TemplateOptions,
  csr: pki.ParsedCsr,
  subject: SubjectDefaults,
  overrides?: SanEntry[],
  /** At a request's submission: what an approver may still add or replace is not refused. */
  submission = false
): SanEntry[] {
  // Names of kinds this CA does not issue (otherName such as a Windows UPN, directoryName...)
  // are refused, not dropped: the certificate would lack a name the requester relies on.
  const unmapped = overrides || submission ? 0 : (csr.extensions.otherSanCount ?? 0)
  if (unmapped > 0) {
    throw new KernelError(
      'E_POLICY_DENIED',
      `The request asks for ${unmapped} subject alternative name${unmapped > 1 ? 's' : ''} of a kind this CA does not issue (otherName such as a Windows UPN, directoryName, registeredID...); only dns, ip, email and uri names are issued. Leave ${unmapped > 1 ? 'them' : 'it'} out of the request, or give the names to issue explicitly.`
    )
  }
  // IP addresses in one spelling (RFC 5952), so that 2001:db8:0::1 and 2001:db8::1 are one SAN.
  const sans: SanEntry[] = (overrides ?? (csr.sans as SanEntry[])).map((s) => {
    const value = String(s.value).trim()
    return { type: s.type, value: s.type === 'ip' ? (pki.normalizeIp(value) ?? value) : value }
  })
  const cn = subject.commonName
  if (options.sans.copyCommonName && cn) {
    const ip = pki.normalizeIp(cn)
    const type = ip ? 'ip' : pki.isValidDnsName(cn) ? 'dns' : undefined
    const value = ip ?? cn
    if (type && !options.sans.allowed.includes(type) && (ip || cn.includes('.'))) {
      // A host name or address in the CN is read as one by clients that fall back to the CN:
      // it is held to the same rule as the SAN it would have been copied to.
      throw new KernelError(
        'E_POLICY_DENIED',
        `The common name "${cn}" is ${type === 'ip' ? 'an IP address' : 'a DNS name'}, which this template does not allow (allowed SANs: ${options.sans.allowed.join(', ') || 'none'}).`
      )
    }
    if (
      type &&
      options.sans.allowed.includes(type) &&
      !sans.some((s) => s.type === type && s.value.toLowerCase() === value.toLowerCase())
    ) {
      sans.unshift({ type, value })
    }
  }
  for (const san of sans) {
    if (!['dns', 'ip', 'email', 'uri'].includes(san.type)) {
      throw new KernelError(
        'E_VALIDATION',
        `Unknown SAN type "${san.type}"; use dns, ip, email or uri.`
      )
    }
    if (!options.sans.allowed.includes(san.type)) {
      throw new KernelError(
        'E_POLICY_DENIED',
        `This template does not allow ${san.type.toUpperCase()} subject alternative names (${san.value}); allowed: ${options.sans.allowed.join(', ') || 'none'}.`
      )
    }
    const ok =
      san.type === 'dns'
        ? pki.isValidDnsName(san.value)
        : san.type === 'ip'
          ? pki.isValidIp(san.value)
          : san.type === 'email'
            ? pki.isValidEmail(san.value)
            : pki.isValidUri(san.value)
    if (!ok)
      throw new KernelError(
        'E_VALIDATION',
        `"${san.value}" is not a well-formed ${san.type.toUpperCase()} name.${san.type === 'dns' ? dnsHint(san.value) : ''}`
      )
  }
  if (options.sans.required && sans.length === 0 && !submission) {
    throw new KernelError(
      'E_POLICY_DENIED',
      'This template requires at least one subject alternative name (for example a DNS name); the request has none.'
    )
  }
  return sans
}

/**
 * The template's rules a request is held to when it is submitted for approval (request_service):
 * the key policy, the subject and the SANs as the cycle applies them without overrides — except
 * what an approver may still add or replace (a missing SAN, names of kinds this CA does not
 * issue, manual §6.1.1). The same refusals as an approval would give.
 */
export function checkTemplateRules(template: Template, csr: pki.ParsedCsr): void {
  const options = template.options
  checkKeyPolicy(options, csr.publicKey, template.name)
  const subject = resolveSubject(options, csr)
  subjectToDer(subject)
  resolveSans(options, csr, subject, undefined, true)
}

/** The subject's Name DER; a subject that cannot be encoded is E_VALIDATION (422). */
function subjectToDer(subject: SubjectDefaults): Uint8Array {
  try {
    return pki.nameToDer(subject)
  } catch (error: any) {
    throw new KernelError('E_VALIDATION', error?.message ?? 'The subject is not well-formed.')
  }
}

function toDate(value: string | Date, label: string): Date {
  const d = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(d.getTime()))
    throw new KernelError(
      'E_VALIDATION',
      `${label} "${value}" is not a valid date (use ISO 8601, e.g. 2027-01-31T00:00:00Z).`
    )
  return d
}

/** Why a DNS name may have been refused, when it is one of the usual mistakes. */
function dnsHint(value: string): string {
  if (pki.normalizeIp(value)) return ' It is an IP address: give it as an IP SAN.'
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(value))
    return ' Give an internationalised name in its ASCII form (xn--…, IDNA A-labels).'
  return ''
}

function resolveValidity(
  options: TemplateOptions,
  ca: { notBefore: number; notAfter: number },
  overrides?: IssueOverrides
) {
  const caNotAfter = ca.notAfter
  const now = Date.now()
  // Back-dated for clocks running behind, but never to before the CA certificate itself.
  const backdated = Math.max(now - pkiConfig.backdateSeconds * 1000, ca.notBefore)
  const caEnd = new Date(caNotAfter).toISOString()
  let notBefore: Date
  let notAfter: Date
  let explicit = true
  if (overrides?.notBefore !== undefined || overrides?.notAfter !== undefined) {
    if (overrides.notBefore === undefined || overrides.notAfter === undefined) {
      throw new KernelError(
        'E_VALIDATION',
        'Give both notBefore and notAfter for an explicit validity window, or validityDays.'
      )
    }
    notBefore = toDate(overrides.notBefore, 'notBefore')
    notAfter = toDate(overrides.notAfter, 'notAfter')
    if (notAfter.getTime() <= notBefore.getTime())
      throw new KernelError('E_VALIDATION', 'notAfter must be later than notBefore.')
    if (notAfter.getTime() <= now) throw new KernelError('E_VALIDATION', 'notAfter is in the past.')
    if (notBefore.getTime() < ca.notBefore)
      throw new KernelError(
        'E_VALIDATION',
        `notBefore is before the CA's own certificate starts (${new Date(ca.notBefore).toISOString()}); choose a start on or after it.`
      )
  } else if (overrides?.validityDays !== undefined && overrides.validityDays !== null) {
    const days = Number(overrides.validityDays)
    if (!Number.isInteger(days) || days < 1)
      throw new KernelError(
        'E_VALIDATION',
        'validityDays must be a whole number of days, at least 1.'
      )
    notBefore = new Date(backdated)
    // Capped (27,000 years) so that an absurd figure is refused below as too long, not as a date.
    notAfter = new Date(now + Math.min(days, 10_000_000) * DAY)
  } else {
    explicit = false
    notBefore = new Date(backdated)
    // A template saved before its default was checked against its maximum: the maximum wins.
    const days = Math.min(options.validityDays, options.maxValidityDays ?? Infinity)
    notAfter = new Date(Math.min(now + days * DAY, caNotAfter))
  }
  // The whole window counts: a start in the past does not make room for a later end.
  const days = (notAfter.getTime() - notBefore.getTime()) / DAY
  if (explicit && options.maxValidityDays !== null && days > options.maxValidityDays + 1 / 24) {
    throw new KernelError(
      'E_VALIDATION',
      `This template allows at most ${options.maxValidityDays} days of validity.`
    )
  }
  if (notAfter.getTime() > caNotAfter) {
    throw new KernelError(
      'E_VALIDATION',
      `The requested validity ends after the CA itself expires (${caEnd}); choose an end on or before it.`
    )
  }
  if (notBefore.getTime() > caNotAfter)
    throw new KernelError('E_VALIDATION', 'notBefore is after the CA expires.')
  // Certificates carry whole seconds; keep the stored and returned times equal to the encoded ones.
  return {
    notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
    notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
  }
}

function adaptKeyUsage(options: TemplateOptions, family: string): string[] {
  let usages = [...options.keyUsage]
  if (options.keyUsageByKeyType) {
    if (family !== 'rsa') usages = usages.filter((u) => !RSA_ONLY_USAGES.has(u))
    // Key agreement (and its encipher/decipher-only refinements) needs an ECDH-capable key.
    if (family !== 'ec')
      usages = usages.filter(
        (u) => u !== 'keyAgreement' && u !== 'encipherOnly' && u !== 'decipherOnly'
      )
  }
  if (usages.length === 0) usages = ['digitalSignature']
  return usages
}

interface FixedExtensions {
  basicConstraints: Extension
  keyUsage: Extension
  extKeyUsage?: Extension
  policies?: Extension
}

const fixedCache = new Map<string, FixedExtensions>()

/**
 * The extensions that depend only on the template, the CA and the subject key's family, built
 * once per template and CA version instead of for every certificate.
 */
function fixedExtensions(
  template: Template,
  ca: CertificateAuthority,
  family: string
): FixedExtensions {
  const cacheKey = `${template.id}:${template.updatedAt}:${ca.id}:${ca.updatedAt}:${family}`
  const hit = fixedCache.get(cacheKey)
  if (hit) return hit
  const options = template.options
  const fixed: FixedExtensions = {
    basicConstraints: pki.basicConstraints(
      options.basicConstraints.ca
        ? { ca: true, pathLength: options.basicConstraints.pathLength ?? undefined }
        : { ca: false },
      { critical: true }
    ),
    keyUsage: pki.keyUsage(adaptKeyUsage(options, family) as pki.KeyUsageName[]),
  }
  const ekus = [...options.extKeyUsage, ...options.customEkuOids]
  // RFC 3161 §2.3: a time-stamping certificate's EKU is critical.
  if (ekus.length)
    fixed.extKeyUsage = pki.extendedKeyUsage(ekus, { critical: ekus.includes('timeStamping') })
  if (options.cps.include) {
    const oid = options.cps.policy
      ? (PREDEFINED_POLICIES[options.cps.policy] ?? options.cps.policy)
      : ca.policyOid
    if (oid) fixed.policies = pki.certificatePolicies([{ oid, cpsUri: ca.cpsUrl ?? undefined }])
    else if (ca.cpsUrl)
      fixed.policies = pki.certificatePolicies([
        { oid: PREDEFINED_POLICIES['any-policy'], cpsUri: ca.cpsUrl },
      ])
  }
  if (fixedCache.size > 10_000) fixedCache.clear()
  fixedCache.set(cacheKey, fixed)
  return fixed
}

/** Refusals an operator can act on (policy, lint, input); anything else is an error. */
const REFUSALS = new Set([
  'E_POLICY_DENIED',
  'E_LINT',
  'E_VALIDATION',
  'E_INVALID_CSR',
  'E_TEMPLATE_DISABLED',
  'E_CA_INACTIVE',
])

export const issuanceService = {
  /** Runs the cycle; every issuance and every refusal is written to the service log (after). */
  async issue(input: IssueInput): Promise<IssuedCertificate> {
    try {
      return await issuanceService.cycle(input)
    } catch (error: any) {
      issuanceService.logFailure(input, error)
      throw error
    }
  },

  /**
   * Writes an issuance refusal or failure to the service log (the Logs page). Also for callers
   * that fail before the cycle starts, e.g. a CSR that cannot be read.
   */
  logFailure(
    input: Pick<IssueInput, 'ca' | 'template' | 'actor' | 'source' | 'requestId'>,
    error: any
  ) {
    const refused = error instanceof KernelError && REFUSALS.has(error.code)
    queueServiceLog({
      service: 'kernel',
      caId: input.ca.id,
      level: refused ? 'warn' : 'error',
      event: refused ? 'issuance.refused' : 'issuance.failed',
      message: `${refused ? 'Issuance refused' : 'Issuance failed'} (${input.source}, template "${input.template.name}", ${input.actor.label}): ${error?.message ?? error}`,
      details: {
        code: error?.code ?? null,
        template: input.template.id,
        source: input.source,
        request: input.requestId ?? null,
      },
    })
  },

  /** The cycle itself, without the service log entries; call issue(). */
  async cycle(input: IssueInput): Promise<IssuedCertificate> {
    const { ca, template, csr, overrides, actor } = input
    const options = template.options
    if (template.caId !== ca.id)
      throw new KernelError(
        'E_VALIDATION',
        `Template "${template.name}" does not belong to CA "${ca.name}".`
      )
    if (!options.enabled)
      throw new KernelError(
        'E_TEMPLATE_DISABLED',
        `Template "${template.name}" is disabled; enable it to issue certificates.`
      )
    const material = await caMaterial.get(ca)
    if (material.notAfter <= Date.now())
      throw new KernelError(
        'E_CA_INACTIVE',
        `CA "${ca.name}" has expired and cannot issue certificates.`
      )

    // Template enforcement (validate / modify)
    const key = checkKeyPolicy(options, csr.publicKey, template.name)
    const subject = resolveSubject(options, csr, overrides?.subject)
    const sans = resolveSans(options, csr, subject, overrides?.sans)
    if (!subject.commonName && sans.length === 0) {
      throw new KernelError(
        'E_VALIDATION',
        'The certificate would have neither a subject nor a subject alternative name; add a common name or a SAN.'
      )
    }
    const { notBefore, notAfter } = resolveValidity(options, material, overrides)
    const subjectDer = subjectToDer(subject)
    const subjectDn = pki.nameToString(subjectDer)

    const ctx: IssueContext = {
      caId: ca.id,
      caName: ca.name,
      templateId: template.id,
      templateName: template.name,
      actor,
      source: input.source,
      subjectDn,
      sans,
      keyType: key.keyType,
      meta: {},
    }
    await runVetoHook('validateIssue', ctx)

    // Build the draft
    const serial = pki.newSerial()
    const serialHex = pki.serialHex(serial)
    const urlCtx = { caId: ca.id, caName: ca.name, templateId: template.id, serial: serialHex }
    const fixed = fixedExtensions(template, ca, key.family)
    const extensions: Extension[] = [
      fixed.basicConstraints,
      fixed.keyUsage,
      ...(fixed.extKeyUsage ? [fixed.extKeyUsage] : []),
      pki.subjectKeyIdentifier(csr.spki),
      material.authorityKeyIdentifier,
    ]
    if (sans.length)
      extensions.push(pki.subjectAltName(sans, { critical: pki.isEmptySubject(subject) }))
    if (options.aia.include) {
      const caIssuers = options.aia.customUrl
        ? [options.aia.customUrl]
        : embeddedUrls('aia.caIssuers', urlCtx)
      const ocsp = options.includeOcsp ? embeddedUrls('aia.ocsp', urlCtx) : []
      if (caIssuers.length || ocsp.length)
        extensions.push(pki.authorityInfoAccess({ ocsp, caIssuers }))
    }
    if (options.includeCrl) {
      const cdp = embeddedUrls('crl.distributionPoints', urlCtx)
      if (cdp.length) extensions.push(pki.crlDistributionPoints(cdp))
      const freshest = embeddedUrls('crl.freshest', urlCtx)
      if (freshest.length) extensions.push(pki.freshestCrl(freshest))
    }
    if (fixed.policies) extensions.push(fixed.policies)
    const hash = options.signatureHash ?? material.hash
    const draft: pki.CertificateDraft = {
      serial,
      issuerDer: material.issuerDer,
      subjectDer,
      notBefore,
      notAfter,
      spki: csr.spki,
      extensions,
      signatureAlgorithm: pki.signatureAlgorithm(ca.keyType, hash),
    }
    await runVetoHook('beforeIssue', { ...ctx, draft })

    // Lint: refuse a bad draft before anything is signed
    const problems = pki.lintDraft(draft, {
      keyFamily: key.family,
      isCaTemplate: options.basicConstraints.ca,
      requireSan: options.sans.required,
      caNotBefore: new Date(material.notBefore),
      caNotAfter: new Date(material.notAfter),
      maxValidityDays: undefined,
    })
    if (problems.length)
      throw new KernelError('E_LINT', `The certificate was not issued: ${problems.join('; ')}.`, {
        problems,
      })

    if (hooks.has('onPrecertificate')) await runVetoHook('onPrecertificate', { ...ctx, draft })

    // Sign (outside any transaction), then store durably before returning
    const der = await pki.signCertificate(draft, material.signer, hash)
    const fingerprint = createHash('sha256').update(der).digest('hex')
    const row: CertificateRow = {
      ca_id: ca.id,
      template_id: template.id,
      request_id: input.requestId ?? null,
      serial: serialHex,
      kind: input.kind ?? (options.basicConstraints.ca ? 'ca' : 'end-entity'),
      subject_dn: subjectDn,
      common_name: subject.commonName ?? null,
      sans: JSON.stringify(sans),
      key_type: key.keyType,
      not_before: notBefore.getTime(),
      not_after: notAfter.getTime(),
      status: 'valid',
      der: Buffer.from(der),
      fingerprint,
      issued_by: actor.label,
      created_at: Date.now(),
    }
    const id = await storeCertificate(
      row,
      auditRow(actor, {
        action: 'certificate.issue',
        objectType: 'certificate',
        caId: ca.id,
        details: {
          serial: serialHex,
          subject: subjectDn,
          template: template.id,
          request: input.requestId ?? null,
        },
      }),
      input.requestId,
      input.requestClaim
    )
    queueServiceLog({
      service: 'kernel',
      caId: ca.id,
      level: 'info',
      event: 'certificate.issued',
      message: `Certificate ${serialHex} issued for "${subjectDn}" (${input.source}, template "${template.name}", ${actor.label}).`,
      details: { certificate: id, serial: serialHex, template: template.id, source: input.source },
    })
    const issued: IssuedCertificate = {
      id,
      serial: serialHex,
      der,
      notBefore: row.not_before,
      notAfter: row.not_after,
      subjectDn,
    }
    await hooks.run('afterIssue', {
      ...ctx,
      certificateId: id,
      serial: serialHex,
      der,
      notAfter: row.not_after,
    })
    return issued
  },
}

async function runVetoHook(name: 'validateIssue' | 'beforeIssue' | 'onPrecertificate', ctx: any) {
  try {
    await hooks.run(name, ctx)
  } catch (error: any) {
    if (error instanceof KernelError) throw error
    throw new KernelError(
      'E_POLICY_DENIED',
      `Issuance refused by ${name}: ${error?.message ?? error}`
    )
  }
}
