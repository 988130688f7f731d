/*
 * X.509 v3 extension builders (returning asn1-x509 `Extension` objects whose values are
 * encoded by the @peculiar/asn1-x509 schemas) and a parser that summarises the extensions of a
 * certificate or CSR.
 *
 * Cheap issuance: extensions that are the same for every certificate of a template (key
 * usage, EKU, basic constraints, AIA, CDP, policies, the AKI of the CA) can be built once and
 * the same objects reused for each draft; only SKI and SAN are per certificate.
 */
import { createHash } from 'node:crypto'
import { AsnConvert, AsnParser, OctetString } from '@peculiar/asn1-schema'
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  CertificatePolicies,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  FreshestCRL,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  PolicyInformation,
  PolicyQualifierInfo,
  Qualifier,
} from '@peculiar/asn1-x509'
import { CertificationRequest } from '@peculiar/asn1-csr'
import { spkiKeyBits } from './algorithms.js'
import {
  children,
  content,
  decodeOid,
  DerError,
  hex,
  oidDer,
  readSingle,
  sequence,
  TAG,
  tlv,
  toBuffer,
} from './der.js'
import { PkiError } from './errors.js'
import { decodeGeneralNamesDer, generalNamesDer, isValidUri, type SanEntry } from './names.js'
import { ACCESS, EKU, EXT, oidName, PKCS9, POLICY, type EkuName } from './oids.js'
import { derOrPem } from './pem.js'

const OID_PATTERN = /^[0-2](\.(0|[1-9][0-9]*))+$/

function valueDer(value: unknown): ArrayBuffer {
  return AsnConvert.serialize(value)
}

/** An extension from an OID, criticality and the DER of its value. */
export function rawExtension(
  oid: string,
  value: Uint8Array | ArrayBuffer,
  critical = false
): Extension {
  if (!OID_PATTERN.test(oid)) throw new PkiError('E_INVALID_EXTENSION', `"${oid}" is not an OID`)
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(value) })
}

/** DER of one Extension, for the TBS encoder (same bytes as AsnConvert.serialize, faster). */
export function extensionDer(ext: Extension): Buffer {
  const value = toBuffer(new Uint8Array(ext.extnValue.buffer))
  return ext.critical
    ? sequence(oidDer(ext.extnID), CRITICAL_TRUE, tlv(TAG.OCTET_STRING, value))
    : sequence(oidDer(ext.extnID), tlv(TAG.OCTET_STRING, value))
}
const CRITICAL_TRUE = Buffer.from([0x01, 0x01, 0xff])

/* ------------------------------------------------------ key identifiers */

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(spkiKeyBits(spki)).digest())
}

/** Subject key identifier computed from the subject's SubjectPublicKeyInfo (non-critical). */
export function subjectKeyIdentifier(spki: Uint8Array): Extension {
  return subjectKeyIdentifierFromId(keyIdentifier(spki))
}

/** Subject key identifier with a given identifier (e.g. kept from a CA certificate). */
export function subjectKeyIdentifierFromId(keyId: Uint8Array): Extension {
  // SubjectKeyIdentifier ::= KeyIdentifier ::= OCTET STRING (per certificate: written directly)
  return rawExtension(EXT.subjectKeyIdentifier, tlv(TAG.OCTET_STRING, keyId))
}

/** Authority key identifier carrying only keyIdentifier (the issuer's SKI), non-critical. */
export function authorityKeyIdentifier(keyId: Uint8Array): Extension {
  const aki = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) })
  return rawExtension(EXT.authorityKeyIdentifier, valueDer(aki))
}

/* ------------------------------------------------------ key usage */

export const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number]
/** Accepted on input: the canonical names plus `contentCommitment` (= nonRepudiation) and `crlSign`. */
export type KeyUsageInput = KeyUsageName | 'contentCommitment' | 'crlSign'

const KU_FLAG: Record<KeyUsageInput, number> = {
  digitalSignature: KeyUsageFlags.digitalSignature,
  nonRepudiation: KeyUsageFlags.nonRepudiation,
  contentCommitment: KeyUsageFlags.nonRepudiation,
  keyEncipherment: KeyUsageFlags.keyEncipherment,
  dataEncipherment: KeyUsageFlags.dataEncipherment,
  keyAgreement: KeyUsageFlags.keyAgreement,
  keyCertSign: KeyUsageFlags.keyCertSign,
  cRLSign: KeyUsageFlags.cRLSign,
  crlSign: KeyUsageFlags.cRLSign,
  encipherOnly: KeyUsageFlags.encipherOnly,
  decipherOnly: KeyUsageFlags.decipherOnly,
}

export function normalizeKeyUsage(name: string): KeyUsageName {
  if (name === 'contentCommitment') return 'nonRepudiation'
  if (name === 'crlSign') return 'cRLSign'
  if ((KEY_USAGE_NAMES as readonly string[]).includes(name)) return name as KeyUsageName
  throw new PkiError(
    'E_INVALID_EXTENSION',
    `unknown key usage "${name}"; use one of ${KEY_USAGE_NAMES.join(', ')}`
  )
}

/** keyUsage, critical by default (RFC 5280 4.2.1.3: SHOULD be critical). */
export function keyUsage(
  usages: readonly (KeyUsageInput | (string & {}))[],
  options: { critical?: boolean } = {}
): Extension {
  let flags = 0
  for (const usage of usages) flags |= KU_FLAG[normalizeKeyUsage(usage)]
  if (flags === 0) throw new PkiError('E_INVALID_EXTENSION', 'keyUsage needs at least one usage')
  return rawExtension(EXT.keyUsage, valueDer(new KeyUsage(flags)), options.critical ?? true)
}

/* ------------------------------------------------------ EKU, BC */

/** Resolves an EKU name (serverAuth, clientAuth, ...) or a dotted OID. */
export function ekuOid(purpose: string): string {
  if (Object.prototype.hasOwnProperty.call(EKU, purpose)) return EKU[purpose as EkuName]
  if (OID_PATTERN.test(purpose)) return purpose
  throw new PkiError(
    'E_INVALID_EXTENSION',
    `unknown extended key usage "${purpose}"; use a name (${Object.keys(EKU).join(', ')}) or an OID`
  )
}

/** extKeyUsage from names and/or OIDs, non-critical unless asked (RFC 3161 TSA certificates). */
export function extendedKeyUsage(
  purposes: readonly (EkuName | (string & {}))[],
  options: { critical?: boolean } = {}
): Extension {
  const oids = [...new Set(purposes.map(ekuOid))]
  if (oids.length === 0)
    throw new PkiError('E_INVALID_EXTENSION', 'extKeyUsage needs at least one purpose')
  return rawExtension(
    EXT.extKeyUsage,
    valueDer(new ExtendedKeyUsage(oids)),
    options.critical ?? false
  )
}

/**
 * basicConstraints, critical by default: RFC 5280 4.2.1.9 requires it for CAs, and the CA/B
 * Forum BRs (7.1.2.7.8) require it for subscriber certificates that carry the extension.
 */
export function basicConstraints(
  value: { ca: boolean; pathLength?: number },
  options: { critical?: boolean } = {}
): Extension {
  if (value.pathLength !== undefined) {
    if (!value.ca)
      throw new PkiError('E_INVALID_EXTENSION', 'pathLength is only allowed when ca is true')
    if (!Number.isInteger(value.pathLength) || value.pathLength < 0) {
      throw new PkiError('E_INVALID_EXTENSION', 'pathLength must be a non-negative integer')
    }
  }
  const bc = new BasicConstraints({ cA: value.ca })
  if (value.pathLength !== undefined) bc.pathLenConstraint = value.pathLength
  return rawExtension(EXT.basicConstraints, valueDer(bc), options.critical ?? true)
}

/* ------------------------------------------------------ SAN */

/**
 * subjectAltName from validated entries. Pass `critical: true` when the subject is empty
 * (RFC 5280 4.2.1.6).
 */
export function subjectAltName(
  sans: readonly SanEntry[],
  options: { critical?: boolean } = {}
): Extension {
  if (sans.length === 0)
    throw new PkiError('E_INVALID_SAN', 'subjectAltName needs at least one name')
  // per certificate: GeneralNames written directly (same bytes as asn1-x509's SubjectAlternativeName)
  return rawExtension(EXT.subjectAltName, generalNamesDer(sans), options.critical ?? false)
}

/* ------------------------------------------------------ AIA, CDP */

function uriName(uri: string, what: string): GeneralName {
  if (!isValidUri(uri))
    throw new PkiError('E_INVALID_EXTENSION', `${what} URL "${uri}" is not a valid absolute URI`)
  return new GeneralName({ uniformResourceIdentifier: uri })
}

/*
 * The URL extensions (AIA, CDP, freshest CRL) are the same for every certificate of a CA (or of
 * a CRL shard) and cost more to serialise than the rest of a certificate: each distinct input is
 * built once and the (never modified) Extension reused. Bounded: cleared past 4096 entries.
 */
const urlExtensions = new Map<string, Extension>()

function memoUrlExtension(key: string, build: () => Extension): Extension {
  let ext = urlExtensions.get(key)
  if (!ext) {
    ext = build()
    if (urlExtensions.size >= 4096) urlExtensions.clear()
    urlExtensions.set(key, ext)
  }
  return ext
}

/** authorityInfoAccess with OCSP responder and CA issuer URLs (non-critical). */
export function authorityInfoAccess(urls: {
  ocsp?: readonly string[]
  caIssuers?: readonly string[]
}): Extension {
  return memoUrlExtension(
    `aia\n${(urls.ocsp ?? []).join('\n')}\n\n${(urls.caIssuers ?? []).join('\n')}`,
    () => buildAuthorityInfoAccess(urls)
  )
}

function buildAuthorityInfoAccess(urls: {
  ocsp?: readonly string[]
  caIssuers?: readonly string[]
}): Extension {
  const items: AccessDescription[] = []
  for (const url of urls.ocsp ?? []) {
    items.push(
      new AccessDescription({ accessMethod: ACCESS.ocsp, accessLocation: uriName(url, 'OCSP') })
    )
  }
  for (const url of urls.caIssuers ?? []) {
    items.push(
      new AccessDescription({
        accessMethod: ACCESS.caIssuers,
        accessLocation: uriName(url, 'CA issuers'),
      })
    )
  }
  if (items.length === 0)
    throw new PkiError('E_INVALID_EXTENSION', 'authorityInfoAccess needs at least one URL')
  return rawExtension(EXT.authorityInfoAccess, valueDer(new AuthorityInfoAccessSyntax(items)))
}

function distributionPoints(
  uris: readonly string[],
  onePointPerUri: boolean,
  what: string
): DistributionPoint[] {
  if (uris.length === 0) throw new PkiError('E_INVALID_EXTENSION', `${what} needs at least one URL`)
  const names = uris.map((uri) => uriName(uri, what))
  const point = (fullName: GeneralName[]) =>
    new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName }) })
  return onePointPerUri ? names.map((name) => point([name])) : [point(names)]
}

export interface DistributionPointOptions {
  /**
   * false (default): one DistributionPoint whose fullName lists every URL (alternatives for
   * the same CRL); true: one DistributionPoint per URL. Neither form carries cRLIssuer/reasons.
   */
  onePointPerUri?: boolean
}

/** cRLDistributionPoints (non-critical). */
export function crlDistributionPoints(
  uris: readonly string[],
  options: DistributionPointOptions = {}
): Extension {
  return memoUrlExtension(`cdp\n${options.onePointPerUri === true}\n${uris.join('\n')}`, () => {
    const points = distributionPoints(
      uris,
      options.onePointPerUri ?? false,
      'cRLDistributionPoints'
    )
    return rawExtension(EXT.cRLDistributionPoints, valueDer(new CRLDistributionPoints(points)))
  })
}

/** freshestCRL (delta CRL locations, non-critical), same shape as cRLDistributionPoints. */
export function freshestCrl(
  uris: readonly string[],
  options: DistributionPointOptions = {}
): Extension {
  return memoUrlExtension(`fresh\n${options.onePointPerUri === true}\n${uris.join('\n')}`, () => {
    const points = distributionPoints(uris, options.onePointPerUri ?? false, 'freshestCRL')
    return rawExtension(EXT.freshestCRL, valueDer(new FreshestCRL(points)))
  })
}

/* ------------------------------------------------------ policies, misc */

export type PolicyInput = string | { oid: string; cpsUri?: string | readonly string[] | null }

/** Resolves a policy name from `POLICY` (domainValidated, anyPolicy, ...) or a dotted OID. */
export function policyOid(policy: string): string {
  if (OID_PATTERN.test(policy)) return policy
  if (Object.prototype.hasOwnProperty.call(POLICY, policy))
    return POLICY[policy as keyof typeof POLICY]
  throw new PkiError('E_INVALID_EXTENSION', `unknown certificate policy "${policy}"; give its OID`)
}

/** certificatePolicies with optional CPS URI qualifiers (non-critical). */
export function certificatePolicies(
  policies: readonly PolicyInput[],
  options: { critical?: boolean } = {}
): Extension {
  if (policies.length === 0)
    throw new PkiError('E_INVALID_EXTENSION', 'certificatePolicies needs at least one policy')
  const seen = new Set<string>()
  const infos = policies.map((input) => {
    const { oid, cpsUri } = typeof input === 'string' ? { oid: input, cpsUri: undefined } : input
    const policyIdentifier = policyOid(oid)
    if (seen.has(policyIdentifier)) {
      throw new PkiError(
        'E_INVALID_EXTENSION',
        `certificate policy ${policyIdentifier} is listed twice`
      )
    }
    seen.add(policyIdentifier)
    const info = new PolicyInformation({ policyIdentifier })
    const uris =
      cpsUri === undefined || cpsUri === null || cpsUri === ''
        ? []
        : typeof cpsUri === 'string'
          ? [cpsUri]
          : cpsUri
    if (uris.length > 0) {
      info.policyQualifiers = uris.map((uri) => {
        if (!isValidUri(uri))
          throw new PkiError('E_INVALID_EXTENSION', `CPS URI "${uri}" is not a valid absolute URI`)
        return new PolicyQualifierInfo({
          policyQualifierId: POLICY.qualifierCps,
          qualifier: valueDer(new Qualifier({ cPSuri: uri })),
        })
      })
    }
    return info
  })
  return rawExtension(
    EXT.certificatePolicies,
    valueDer(new CertificatePolicies(infos)),
    options.critical ?? false
  )
}

/** id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1) for OCSP responder certificates: NULL, non-critical. */
export function ocspNoCheck(): Extension {
  return rawExtension(EXT.ocspNoCheck, new Uint8Array([0x05, 0x00]))
}

/* ------------------------------------------------------ reading */

export interface ExtensionSummary {
  /** every extension present, in order */
  all: { oid: string; name: string; critical: boolean }[]
  /** OIDs of the extensions marked critical */
  critical: string[]
  keyUsage?: KeyUsageName[]
  /** EKU OIDs */
  eku?: string[]
  basicConstraints?: { ca: boolean; pathLength?: number }
  /** subject alternative names we map (dns, ip, email, uri) */
  sans: SanEntry[]
  /** number of SAN entries of other kinds (otherName, directoryName, ...) */
  otherSanCount: number
  /** hex */
  ski?: string
  /** hex of AKI keyIdentifier */
  aki?: string
  aia: { ocsp: string[]; caIssuers: string[] }
  cdp: string[]
  freshestCrl: string[]
  policies: { oid: string; cpsUris: string[] }[]
  ocspNoCheck: boolean
}

function parseValue<T>(ext: Extension, type: new () => T): T {
  try {
    return AsnParser.parse(ext.extnValue.buffer, type)
  } catch (error) {
    throw new PkiError('E_INVALID_EXTENSION', `the ${oidName(ext.extnID)} extension is malformed`, {
      cause: error,
    })
  }
}

function uriValues(names: readonly GeneralName[] | undefined): string[] {
  return (names ?? []).flatMap((n) =>
    n.uniformResourceIdentifier === undefined ? [] : [n.uniformResourceIdentifier]
  )
}

function pointUris(points: readonly DistributionPoint[]): string[] {
  return points.flatMap((p) => uriValues(p.distributionPoint?.fullName))
}

/** What one extension contributes to a summary (treated as immutable: it may be cached). */
type Piece = Partial<Omit<ExtensionSummary, 'all' | 'critical'>>

function readPiece(ext: Extension): Piece {
  switch (ext.extnID) {
    case EXT.keyUsage: {
      const flags = parseValue(ext, KeyUsage).toNumber()
      return { keyUsage: KEY_USAGE_NAMES.filter((name) => flags & KU_FLAG[name]) }
    }
    case EXT.extKeyUsage:
      return { eku: [...parseValue(ext, ExtendedKeyUsage)] }
    case EXT.basicConstraints: {
      const bc = parseValue(ext, BasicConstraints)
      return {
        basicConstraints:
          bc.pathLenConstraint === undefined
            ? { ca: bc.cA }
            : { ca: bc.cA, pathLength: bc.pathLenConstraint },
      }
    }
    case EXT.subjectAltName: {
      try {
        const { sans, otherCount } = decodeGeneralNamesDer(new Uint8Array(ext.extnValue.buffer))
        return { sans, otherSanCount: otherCount }
      } catch (error) {
        throw new PkiError('E_INVALID_EXTENSION', 'the subjectAltName extension is malformed', {
          cause: error,
        })
      }
    }
    case EXT.subjectKeyIdentifier: {
      const value = new Uint8Array(ext.extnValue.buffer)
      try {
        return { ski: content(value, readSingle(value, TAG.OCTET_STRING)).toString('hex') }
      } catch (error) {
        throw new PkiError(
          'E_INVALID_EXTENSION',
          'the subjectKeyIdentifier extension is malformed',
          { cause: error }
        )
      }
    }
    case EXT.authorityKeyIdentifier: {
      const aki = parseValue(ext, AuthorityKeyIdentifier)
      return aki.keyIdentifier ? { aki: hex(aki.keyIdentifier.buffer) } : {}
    }
    case EXT.authorityInfoAccess: {
      const aia = { ocsp: [] as string[], caIssuers: [] as string[] }
      for (const ad of parseValue(ext, AuthorityInfoAccessSyntax)) {
        const uri = ad.accessLocation.uniformResourceIdentifier
        if (uri === undefined) continue
        if (ad.accessMethod === ACCESS.ocsp) aia.ocsp.push(uri)
        else if (ad.accessMethod === ACCESS.caIssuers) aia.caIssuers.push(uri)
      }
      return { aia }
    }
    case EXT.cRLDistributionPoints:
      return { cdp: pointUris([...parseValue(ext, CRLDistributionPoints)]) }
    case EXT.freshestCRL:
      return { freshestCrl: pointUris([...parseValue(ext, FreshestCRL)]) }
    case EXT.certificatePolicies:
      return {
        policies: [...parseValue(ext, CertificatePolicies)].map((info) => ({
          oid: info.policyIdentifier,
          cpsUris: (info.policyQualifiers ?? []).flatMap((q) => {
            if (q.policyQualifierId !== POLICY.qualifierCps) return []
            try {
              const uri = AsnParser.parse(q.qualifier, Qualifier).cPSuri
              return uri === undefined ? [] : [uri]
            } catch {
              return []
            }
          }),
        })),
      }
    case EXT.ocspNoCheck:
      return { ocspNoCheck: true }
    default:
      return {}
  }
}

/*
 * Extensions shared by every certificate of a template (KU, EKU, BC, AKI, AIA, CDP, policies)
 * are linted on each issuance: their parsed pieces are cached by content (OID, criticality and
 * value bytes), so a changed value is a different key. SKI and SAN differ per certificate and
 * are not cached.
 */
const pieceCache = new Map<string, Piece>()
const PIECE_CACHE_MAX = 1024
const UNCACHED = new Set<string>([EXT.subjectKeyIdentifier, EXT.subjectAltName])

function pieceOf(ext: Extension): Piece {
  if (UNCACHED.has(ext.extnID)) return readPiece(ext)
  const key = `${ext.extnID}${ext.critical ? '!' : ':'}${Buffer.from(ext.extnValue.buffer).toString('latin1')}`
  let piece = pieceCache.get(key)
  if (!piece) {
    piece = readPiece(ext)
    if (pieceCache.size >= PIECE_CACHE_MAX) pieceCache.clear()
    pieceCache.set(key, piece)
  }
  return piece
}

/** Summary of a list of extensions. Throws E_INVALID_EXTENSION when a known one is malformed. */
export function summarizeExtensions(extensions: readonly Extension[]): ExtensionSummary {
  const summary: ExtensionSummary = {
    all: [],
    critical: [],
    sans: [],
    otherSanCount: 0,
    aia: { ocsp: [], caIssuers: [] },
    cdp: [],
    freshestCrl: [],
    policies: [],
    ocspNoCheck: false,
  }
  for (const ext of extensions) {
    summary.all.push({ oid: ext.extnID, name: oidName(ext.extnID), critical: ext.critical })
    if (ext.critical) summary.critical.push(ext.extnID)
    const piece = pieceOf(ext)
    // copy arrays and objects out of the (possibly cached) piece
    if (piece.keyUsage) summary.keyUsage = [...piece.keyUsage]
    if (piece.eku) summary.eku = [...piece.eku]
    if (piece.basicConstraints) summary.basicConstraints = { ...piece.basicConstraints }
    if (piece.sans) summary.sans = piece.sans.map((san) => ({ ...san }))
    if (piece.otherSanCount !== undefined) summary.otherSanCount = piece.otherSanCount
    if (piece.ski !== undefined) summary.ski = piece.ski
    if (piece.aki !== undefined) summary.aki = piece.aki
    if (piece.aia) summary.aia = { ocsp: [...piece.aia.ocsp], caIssuers: [...piece.aia.caIssuers] }
    if (piece.cdp) summary.cdp = [...piece.cdp]
    if (piece.freshestCrl) summary.freshestCrl = [...piece.freshestCrl]
    if (piece.policies)
      summary.policies = piece.policies.map((p) => ({ oid: p.oid, cpsUris: [...p.cpsUris] }))
    if (piece.ocspNoCheck) summary.ocspNoCheck = true
  }
  return summary
}

/**
 * Parses the DER of an `Extensions` SEQUENCE (e.g. the value of a CSR extensionRequest) into
 * asn1-x509 Extension objects, walking the three fields directly.
 */
export function parseExtensions(der: Uint8Array | ArrayBuffer): Extension[] {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der)
  try {
    return children(bytes, readSingle(bytes, TAG.SEQUENCE)).map((el) => {
      const fields = el.tag === TAG.SEQUENCE ? children(bytes, el) : []
      const [id, second, third] = fields
      if (!id || id.tag !== TAG.OID || fields.length > 3) throw new DerError('malformed Extension')
      const critical = fields.length === 3 ? second : undefined
      const value = fields.length === 3 ? third : second
      if (
        critical &&
        (critical.tag !== TAG.BOOLEAN || critical.end - critical.contentStart !== 1)
      ) {
        throw new DerError('malformed Extension critical flag')
      }
      if (!value || value.tag !== TAG.OCTET_STRING) throw new DerError('malformed Extension value')
      return new Extension({
        extnID: decodeOid(content(bytes, id)),
        critical: critical ? bytes[critical.contentStart] !== 0 : false,
        extnValue: new OctetString(content(bytes, value)),
      })
    })
  } catch (error) {
    throw new PkiError('E_INVALID_EXTENSION', 'the extension list is malformed', { cause: error })
  }
}

/** Extensions requested in a CSR (PKCS#9 extensionRequest, or Microsoft's equivalent). */
export function csrRequestedExtensions(csr: CertificationRequest): Extension[] {
  const out: Extension[] = []
  for (const attribute of csr.certificationRequestInfo.attributes ?? []) {
    if (attribute.type !== PKCS9.extensionRequest && attribute.type !== PKCS9.msCertExtensions)
      continue
    for (const value of attribute.values) out.push(...parseExtensions(value))
  }
  return out
}

/** Whether DER is a certificate (true) or a CSR (false), from the shape of its first element. */
function isCertificateDer(der: Uint8Array): boolean {
  const top = readSingle(der, TAG.SEQUENCE)
  const [info] = children(der, top)
  if (!info || info.tag !== TAG.SEQUENCE) throw new Error('not a SEQUENCE')
  const fields = children(der, info)
  return fields[0]?.tag === 0xa0 || fields.length >= 6
}

/**
 * Summary of the extensions of a certificate or CSR (DER or PEM), or of an extension list.
 * For a CSR these are the requested extensions.
 */
export function readExtensions(
  certOrCsr: Uint8Array | string | readonly Extension[]
): ExtensionSummary {
  if (Array.isArray(certOrCsr)) return summarizeExtensions(certOrCsr)
  const der = derOrPem(certOrCsr as Uint8Array | string)
  let extensions: Extension[]
  try {
    if (isCertificateDer(der)) {
      extensions = [...(AsnParser.parse(der, Certificate).tbsCertificate.extensions ?? [])]
    } else {
      extensions = csrRequestedExtensions(AsnParser.parse(der, CertificationRequest))
    }
  } catch (error) {
    if (error instanceof PkiError) throw error
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      'not a DER or PEM certificate or certificate signing request',
      {
        cause: error,
      }
    )
  }
  return summarizeExtensions(extensions)
}

/** The first extension with `oid`, if any. */
export function findExtension(
  extensions: readonly Extension[],
  oid: string
): Extension | undefined {
  return extensions.find((ext) => ext.extnID === oid)
}
