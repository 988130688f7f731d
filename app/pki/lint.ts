/*
 * Pre-signing checks on a certificate draft. Returns human-readable problems; an empty list
 * means the draft is fine. This is our own sanity net, not a replacement for zlint.
 */
import { describeSpki, type KeyFamily } from './algorithms.js'
import type { CertificateDraft } from './certificate.js'
import { PkiError } from './errors.js'
import { summarizeExtensions, type ExtensionSummary, type KeyUsageName } from './extensions.js'
import {
  attributeMaxLength,
  attributeShortName,
  isDnsLabel,
  isValidDnsName,
  isValidEmail,
  isValidUri,
  nameAttributesFromDer,
  normalizeIp,
  type NameAttribute,
} from './names.js'
import { ATTR, EKU, EXT, oidName } from './oids.js'

export interface LintContext {
  /** family of the subject's key (the one in draft.spki) */
  keyFamily: KeyFamily
  /** whether the template issues CA certificates */
  isCaTemplate: boolean
  /** whether the template needs at least one subjectAltName (TLS, S/MIME...) */
  requireSan: boolean
  caNotAfter: Date
  caNotBefore?: Date
  maxValidityDays?: number
}

const DAY_MS = 86_400_000

/** What each EKU needs from keyUsage when keyUsage is present (RFC 5280 4.2.1.12). */
const EKU_NEEDS: Record<string, KeyUsageName[]> = {
  [EKU.serverAuth]: ['digitalSignature', 'keyEncipherment', 'keyAgreement'],
  [EKU.clientAuth]: ['digitalSignature', 'keyAgreement'],
  [EKU.codeSigning]: ['digitalSignature'],
  [EKU.emailProtection]: ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'keyAgreement'],
  [EKU.timeStamping]: ['digitalSignature', 'nonRepudiation'],
  [EKU.OCSPSigning]: ['digitalSignature', 'nonRepudiation'],
  [EKU.documentSigning]: ['digitalSignature', 'nonRepudiation'],
}

/** keyUsage bits a key family cannot honour. */
const FORBIDDEN_KU: Record<KeyFamily, KeyUsageName[]> = {
  'rsa': ['keyAgreement', 'encipherOnly', 'decipherOnly'],
  'ec': ['keyEncipherment', 'dataEncipherment'],
  'ed25519': [
    'keyEncipherment',
    'dataEncipherment',
    'keyAgreement',
    'encipherOnly',
    'decipherOnly',
  ],
  'ml-dsa': ['keyEncipherment', 'dataEncipherment', 'keyAgreement', 'encipherOnly', 'decipherOnly'],
  'slh-dsa': [
    'keyEncipherment',
    'dataEncipherment',
    'keyAgreement',
    'encipherOnly',
    'decipherOnly',
  ],
}

/**
 * Key usages a key of `family` cannot carry (the table above: RFC 8410, RFC 9881, RFC 5480...),
 * and encipherOnly/decipherOnly without keyAgreement. Also used when a CA is created.
 */
export function keyUsageKeyProblems(family: KeyFamily, ku: readonly string[]): string[] {
  const problems: string[] = []
  for (const usage of FORBIDDEN_KU[family]) {
    if (ku.includes(usage)) problems.push(`keyUsage ${usage} is not possible with ${family} keys`)
  }
  if ((ku.includes('encipherOnly') || ku.includes('decipherOnly')) && !ku.includes('keyAgreement'))
    problems.push('encipherOnly/decipherOnly are only meaningful with keyAgreement')
  return problems
}

function lintValidity(draft: CertificateDraft, ctx: LintContext, problems: string[]): void {
  const nb = draft.notBefore.getTime()
  const na = draft.notAfter.getTime()
  if (!Number.isFinite(nb) || !Number.isFinite(na)) {
    problems.push('notBefore and notAfter must be valid dates')
    return
  }
  if (nb >= na) problems.push('notBefore must be earlier than notAfter')
  if (na > ctx.caNotAfter.getTime()) {
    problems.push(
      `notAfter ${draft.notAfter.toISOString()} is after the CA certificate's notAfter ${ctx.caNotAfter.toISOString()}`
    )
  }
  if (ctx.caNotBefore && nb < ctx.caNotBefore.getTime()) {
    problems.push(
      `notBefore ${draft.notBefore.toISOString()} is before the CA certificate's notBefore ${ctx.caNotBefore.toISOString()}`
    )
  }
  if (ctx.maxValidityDays !== undefined) {
    // RFC 5280 validity is inclusive of both ends: a period of N days is N*86400 seconds - 1
    const days = (na - nb + 1000) / DAY_MS
    if (days > ctx.maxValidityDays) {
      problems.push(
        `the validity period (${days.toFixed(2)} days) exceeds the maximum of ${ctx.maxValidityDays} days`
      )
    }
  }
}

function lintSerial(serial: Uint8Array, problems: string[]): void {
  let start = 0
  while (start < serial.length && serial[start] === 0) start++
  const magnitude = serial.length - start
  if (magnitude === 0) {
    problems.push('the serial number must be a positive, non-zero integer')
    return
  }
  const encodedLength = magnitude + (serial[start] & 0x80 ? 1 : 0)
  if (encodedLength > 20)
    problems.push(`the serial number is ${encodedLength} octets long; at most 20 are allowed`)
  if (magnitude < 8) problems.push('the serial number has fewer than 64 bits; use newSerial()')
}

function lintName(attrs: NameAttribute[], role: string, problems: string[]): void {
  for (const { oid, value } of attrs) {
    const label = `${role} ${attributeShortName(oid)}`
    if (value.length === 0) problems.push(`${label} is empty`)
    const max = attributeMaxLength(oid)
    if (max !== undefined && [...value].length > max) {
      problems.push(`${label} is ${[...value].length} characters long; at most ${max} are allowed`)
    }
    if ((oid === ATTR.country || oid === ATTR.jurisdictionCountry) && !/^[A-Z]{2}$/.test(value)) {
      problems.push(`${label} "${value}" must be a two-letter upper-case ISO 3166 code`)
    }
    if (oid === ATTR.emailAddress && !isValidEmail(value))
      problems.push(`${label} "${value}" is not a valid email address`)
    if (oid === ATTR.domainComponent && !isDnsLabel(value)) {
      problems.push(`${label} "${value}" is not a valid DNS label`)
    }
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(value)) problems.push(`${label} contains control characters`)
  }
}

function lintKeyUsage(summary: ExtensionSummary, ctx: LintContext, problems: string[]): void {
  const ku = summary.keyUsage
  const bc = summary.basicConstraints
  const isCa = bc?.ca === true
  if (ctx.isCaTemplate && !isCa)
    problems.push('a CA template must issue basicConstraints with cA true')
  if (!ctx.isCaTemplate && isCa)
    problems.push('basicConstraints cA is true but the template is not a CA template')
  if (isCa && !summary.critical.includes(EXT.basicConstraints)) {
    problems.push('basicConstraints must be critical in a CA certificate')
  }
  if (bc && !bc.ca && bc.pathLength !== undefined)
    problems.push('pathLenConstraint requires cA true')
  if (!ku) {
    if (isCa) problems.push('a CA certificate must have keyUsage with keyCertSign')
    return
  }
  if (ku.length === 0) problems.push('keyUsage has no bit set')
  if (!summary.critical.includes(EXT.keyUsage)) problems.push('keyUsage should be critical')
  problems.push(...keyUsageKeyProblems(ctx.keyFamily, ku))
  if (ku.includes('keyCertSign') && !isCa)
    problems.push('keyUsage keyCertSign requires basicConstraints cA true')
  if (isCa && !ku.includes('keyCertSign'))
    problems.push('a CA certificate must have keyUsage keyCertSign')
  for (const eku of summary.eku ?? []) {
    const needs = EKU_NEEDS[eku]
    if (needs && !needs.some((usage) => ku.includes(usage))) {
      problems.push(`extKeyUsage ${oidName(eku)} needs keyUsage ${needs.join(' or ')}`)
    }
  }
}

function lintEku(summary: ExtensionSummary, problems: string[]): void {
  const eku = summary.eku
  if (!eku) return
  if (eku.length === 0) problems.push('extKeyUsage is empty')
  if (eku.includes(EKU.timeStamping)) {
    if (eku.length > 1)
      problems.push('the timeStamping extKeyUsage must be the only purpose (RFC 3161)')
    if (!summary.critical.includes(EXT.extKeyUsage))
      problems.push('extKeyUsage must be critical for timeStamping (RFC 3161)')
  }
}

function lintSans(
  summary: ExtensionSummary,
  subject: NameAttribute[],
  ctx: LintContext,
  problems: string[]
): void {
  const hasSan = summary.all.some((e) => e.oid === EXT.subjectAltName)
  const commonNames = subject.filter((a) => a.oid === ATTR.commonName).map((a) => a.value)
  if (ctx.requireSan && !hasSan) problems.push('the template requires a subjectAltName')
  if (subject.length === 0) {
    if (!hasSan) problems.push('the subject is empty and there is no subjectAltName')
    else if (!summary.critical.includes(EXT.subjectAltName)) {
      problems.push('subjectAltName must be critical when the subject is empty')
    }
  } else if (commonNames.length === 0 && !hasSan && !ctx.isCaTemplate) {
    problems.push('the certificate has neither a commonName nor a subjectAltName')
  }
  for (const san of summary.sans) {
    if (san.type === 'dns' && !isValidDnsName(san.value))
      problems.push(`SAN DNS name "${san.value}" is not valid`)
    if (san.type === 'ip' && !normalizeIp(san.value))
      problems.push(`SAN IP address "${san.value}" is not valid`)
    if (san.type === 'email' && !isValidEmail(san.value))
      problems.push(`SAN email "${san.value}" is not valid`)
    if (san.type === 'uri' && !isValidUri(san.value))
      problems.push(`SAN URI "${san.value}" is not valid`)
  }
  const seen = new Set<string>()
  for (const san of summary.sans) {
    const key = `${san.type}:${san.type === 'uri' ? san.value : san.value.toLowerCase()}`
    if (seen.has(key)) problems.push(`SAN ${san.type} "${san.value}" appears more than once`)
    seen.add(key)
  }
  // a CN that is a host name or an address must also be in the SAN (CA/B BR 7.1.4.3)
  if (hasSan) {
    for (const cn of commonNames) {
      const ip = normalizeIp(cn)
      const isHost = ip !== null || (cn.includes('.') && isValidDnsName(cn))
      if (!isHost) continue
      const listed = summary.sans.some((san) =>
        ip !== null
          ? san.type === 'ip' && san.value === ip
          : san.type === 'dns' && san.value.toLowerCase() === cn.toLowerCase()
      )
      if (!listed) problems.push(`commonName "${cn}" is not among the subjectAltName entries`)
    }
  }
}

function lintKeyIdentifiers(
  draft: CertificateDraft,
  summary: ExtensionSummary,
  problems: string[]
): void {
  const selfIssued = Buffer.from(draft.issuerDer).equals(Buffer.from(draft.subjectDer))
  if (summary.basicConstraints?.ca && !summary.ski)
    problems.push('a CA certificate must have a subjectKeyIdentifier')
  if (!summary.aki && !selfIssued)
    problems.push('authorityKeyIdentifier is required (the certificate is not self-issued)')
  for (const oid of [
    EXT.subjectKeyIdentifier,
    EXT.authorityKeyIdentifier,
    EXT.authorityInfoAccess,
  ]) {
    if (summary.critical.includes(oid)) problems.push(`${oidName(oid)} must not be critical`)
  }
  if (summary.critical.includes(EXT.cRLDistributionPoints))
    problems.push('cRLDistributionPoints should not be critical')
}

function lintKey(draft: CertificateDraft, ctx: LintContext, problems: string[]): void {
  let info
  try {
    info = describeSpki(draft.spki)
  } catch {
    problems.push('the subject public key is malformed')
    return
  }
  if (!info.family) {
    problems.push(`the subject public key algorithm ${info.algorithmOid} is not supported`)
    return
  }
  if (info.family !== ctx.keyFamily) {
    problems.push(`the subject key is ${info.family} but the lint context says ${ctx.keyFamily}`)
  }
  if (info.family === 'rsa' && (info.rsaBits ?? 0) < 2048) {
    problems.push(`the RSA key has ${info.rsaBits} bits; at least 2048 are required`)
  }
  if (info.family === 'ec' && !info.keyType) {
    problems.push(`the EC key uses an unsupported curve (${info.curve ?? 'explicit parameters'})`)
  }
}

/** Problems found in `draft` (empty when it is fine to sign). */
export function lintDraft(draft: CertificateDraft, ctx: LintContext): string[] {
  const problems: string[] = []
  lintValidity(draft, ctx, problems)
  lintSerial(draft.serial, problems)
  lintKey(draft, ctx, problems)

  const oids = draft.extensions.map((e) => e.extnID)
  for (const oid of new Set(oids.filter((o, i) => oids.indexOf(o) !== i))) {
    problems.push(`extension ${oidName(oid)} appears more than once`)
  }

  let subject: NameAttribute[] = []
  try {
    subject = nameAttributesFromDer(draft.subjectDer)
    lintName(subject, 'subject', problems)
  } catch {
    problems.push('the subject name is not valid DER')
  }
  try {
    if (nameAttributesFromDer(draft.issuerDer).length === 0)
      problems.push('the issuer name is empty')
  } catch {
    problems.push('the issuer name is not valid DER')
  }
  if (ctx.isCaTemplate && subject.length === 0)
    problems.push('a CA certificate must have a non-empty subject')

  let summary: ExtensionSummary
  try {
    summary = summarizeExtensions(draft.extensions)
  } catch (error) {
    problems.push((error as Error).message)
    return problems
  }
  lintKeyUsage(summary, ctx, problems)
  lintEku(summary, problems)
  lintSans(summary, subject, ctx, problems)
  lintKeyIdentifiers(draft, summary, problems)
  return problems
}

/** Throws PkiError E_LINT (every problem in `details`) when `lintDraft` finds any. */
export function assertLint(draft: CertificateDraft, ctx: LintContext): void {
  const problems = lintDraft(draft, ctx)
  if (problems.length > 0) {
    throw new PkiError('E_LINT', `the certificate would be malformed: ${problems.join('; ')}`, {
      details: problems,
    })
  }
}
