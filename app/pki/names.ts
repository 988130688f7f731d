/*
 * Distinguished names (SubjectFields ↔ asn1-x509 Name ↔ DER), subject alternative names
 * (SanEntry ↔ GeneralName), and the validation helpers used by templates and lint.
 */
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema'
import {
  AttributeTypeAndValue,
  AttributeValue,
  GeneralName,
  Name,
  RelativeDistinguishedName,
} from '@peculiar/asn1-x509'
import {
  children,
  content,
  decodeOid,
  DerError,
  hex,
  oidDer,
  readSingle,
  sequence,
  slice,
  TAG,
  tlv,
  type Tlv,
  toBuffer,
} from './der.js'
import { PkiError } from './errors.js'
import { ATTR } from './oids.js'

/* ------------------------------------------------------------ subject */

/** An attribute we have no named field for (or a repeated one), kept in order. */
export interface NameAttribute {
  oid: string
  value: string
  /** The value is not a string type: `value` is "#" and its DER in hex (RFC 4514 §2.4). */
  hex?: boolean
}

export interface SubjectFields {
  commonName?: string
  organization?: string
  organizationalUnit?: string
  country?: string
  state?: string
  locality?: string
  streetAddress?: string
  postalCode?: string
  email?: string
  serialNumber?: string
  title?: string
  givenName?: string
  surname?: string
  organizationIdentifier?: string
  userId?: string
  /** DC components, most significant first as they appear in the name (e.g. ['com', 'example']) */
  domainComponent?: string[]
  /** further attributes (unknown ones, or the second OU of a name that has two), in order */
  extra?: NameAttribute[]
}

type SingleField = Exclude<keyof SubjectFields, 'domainComponent' | 'extra'>
type StringKind = 'printable' | 'utf8' | 'ia5'

interface FieldSpec {
  field: SingleField
  oid: string
  short: string
  kind: StringKind
  /** upper bound from RFC 5280 Appendix A / X.520 */
  max: number
}

/** Encoding order of a name built from SubjectFields (DCs come first, extras last). */
const FIELD_SPECS: FieldSpec[] = [
  { field: 'country', oid: ATTR.country, short: 'C', kind: 'printable', max: 2 },
  { field: 'state', oid: ATTR.state, short: 'ST', kind: 'utf8', max: 128 },
  { field: 'locality', oid: ATTR.locality, short: 'L', kind: 'utf8', max: 128 },
  { field: 'streetAddress', oid: ATTR.streetAddress, short: 'STREET', kind: 'utf8', max: 128 },
  { field: 'postalCode', oid: ATTR.postalCode, short: 'postalCode', kind: 'utf8', max: 40 },
  { field: 'organization', oid: ATTR.organization, short: 'O', kind: 'utf8', max: 64 },
  { field: 'organizationalUnit', oid: ATTR.organizationalUnit, short: 'OU', kind: 'utf8', max: 64 },
  {
    field: 'organizationIdentifier',
    oid: ATTR.organizationIdentifier,
    short: 'organizationIdentifier',
    kind: 'utf8',
    max: 64,
  },
  { field: 'title', oid: ATTR.title, short: 'title', kind: 'utf8', max: 64 },
  { field: 'surname', oid: ATTR.surname, short: 'SN', kind: 'utf8', max: 64 },
  { field: 'givenName', oid: ATTR.givenName, short: 'GN', kind: 'utf8', max: 64 },
  { field: 'commonName', oid: ATTR.commonName, short: 'CN', kind: 'utf8', max: 64 },
  { field: 'userId', oid: ATTR.userId, short: 'UID', kind: 'utf8', max: 256 },
  {
    field: 'serialNumber',
    oid: ATTR.serialNumber,
    short: 'serialNumber',
    kind: 'printable',
    max: 64,
  },
  { field: 'email', oid: ATTR.emailAddress, short: 'emailAddress', kind: 'ia5', max: 255 },
]

const SPEC_BY_OID = new Map(FIELD_SPECS.map((spec) => [spec.oid, spec]))
const SHORT_NAMES: Record<string, string> = {
  [ATTR.domainComponent]: 'DC',
  [ATTR.businessCategory]: 'businessCategory',
  [ATTR.dnQualifier]: 'dnQualifier',
  [ATTR.pseudonym]: 'pseudonym',
  [ATTR.initials]: 'initials',
  [ATTR.generationQualifier]: 'generationQualifier',
  [ATTR.jurisdictionCountry]: 'jurisdictionC',
  [ATTR.jurisdictionState]: 'jurisdictionST',
  [ATTR.jurisdictionLocality]: 'jurisdictionL',
}
for (const spec of FIELD_SPECS) SHORT_NAMES[spec.oid] = spec.short

/** String type used for attributes given through `extra`. */
const EXTRA_KINDS: Record<string, StringKind> = {
  [ATTR.domainComponent]: 'ia5',
  [ATTR.dnQualifier]: 'printable',
  [ATTR.jurisdictionCountry]: 'printable',
}

/** Upper bounds we know for an attribute type, by OID. */
export function attributeMaxLength(oid: string): number | undefined {
  if (oid === ATTR.domainComponent) return 63
  return SPEC_BY_OID.get(oid)?.max
}

/** A short name for an attribute OID (CN, O, OU, C, ...), or the OID. */
export function attributeShortName(oid: string): string {
  return SHORT_NAMES[oid] ?? oid
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/
// eslint-disable-next-line no-control-regex
const IA5 = /^[\x00-\x7f]*$/
const OID_PATTERN = /^[0-2](\.(0|[1-9][0-9]*))+$/

interface ResolvedAttribute {
  oid: string
  kind: StringKind
  value: string
}

function checkValue(value: string, kind: StringKind, label: string): void {
  if (kind === 'printable' && !PRINTABLE.test(value)) {
    throw new PkiError(
      'E_INVALID_NAME',
      `${label} "${value}" may only contain letters, digits, spaces and ' ( ) + , - . / : = ?`
    )
  }
  if (kind === 'ia5' && !IA5.test(value))
    throw new PkiError('E_INVALID_NAME', `${label} "${value}" must be ASCII`)
}

/**
 * The attributes of a subject in encoding order — DC…, C, ST, L, STREET, postalCode, O, OU,
 * organizationIdentifier, title, SN, GN, CN, UID, serialNumber, emailAddress, extras — each
 * validated against its string type. Empty or undefined fields are left out.
 */
function resolveSubject(fields: SubjectFields): ResolvedAttribute[] {
  const out: ResolvedAttribute[] = []
  for (const dc of fields.domainComponent ?? []) {
    if (!dc) continue
    checkValue(dc, 'ia5', 'domainComponent')
    // One DNS label per DC (RFC 4519 §2.4): example.com is DC=example, DC=com.
    if (!LABEL.test(dc)) {
      throw new PkiError(
        'E_INVALID_NAME',
        `domainComponent "${dc}" is not one DNS label (give example.com as two: "example", "com")`
      )
    }
    out.push({ oid: ATTR.domainComponent, kind: 'ia5', value: dc })
  }
  for (const spec of FIELD_SPECS) {
    let value = fields[spec.field]
    if (value === undefined || value === null || value === '') continue
    if (typeof value !== 'string')
      throw new PkiError('E_INVALID_NAME', `${spec.field} must be a string`)
    if (spec.field === 'country') {
      value = value.toUpperCase()
      if (!/^[A-Z]{2}$/.test(value)) {
        throw new PkiError(
          'E_INVALID_NAME',
          `country must be a two-letter ISO 3166 code, got "${value}"`
        )
      }
    }
    checkValue(value, spec.kind, spec.field)
    out.push({ oid: spec.oid, kind: spec.kind, value })
  }
  for (const attr of fields.extra ?? []) {
    if (typeof attr.oid !== 'string' || !OID_PATTERN.test(attr.oid)) {
      throw new PkiError('E_INVALID_NAME', `"${attr.oid}" is not an attribute type OID`)
    }
    if (attr.value === '' || attr.value === undefined || attr.value === null) continue
    if (typeof attr.value !== 'string')
      throw new PkiError('E_INVALID_NAME', `the value of ${attr.oid} must be a string`)
    if (attr.hex) {
      // Read from a name whose value is no string (an INTEGER, say): writing "#…" as text would
      // change the attribute, so it is refused rather than re-encoded.
      throw new PkiError(
        'E_INVALID_NAME',
        `the subject attribute ${attributeShortName(attr.oid)} has a value that is no string (${attr.value.length > 41 ? `${attr.value.slice(0, 40)}…` : attr.value}); certificates are issued with text values only — give the subject without it, or as text`
      )
    }
    const kind = EXTRA_KINDS[attr.oid] ?? SPEC_BY_OID.get(attr.oid)?.kind ?? 'utf8'
    let value = attr.value
    // EV jurisdiction country: a two-letter ISO 3166 code, as countryName (EV Guidelines 9.2.4).
    if (attr.oid === ATTR.jurisdictionCountry) {
      value = value.toUpperCase()
      if (!/^[A-Z]{2}$/.test(value)) {
        throw new PkiError(
          'E_INVALID_NAME',
          `jurisdictionCountryName must be a two-letter ISO 3166 code, got "${attr.value}"`
        )
      }
    }
    checkValue(value, kind, attributeShortName(attr.oid))
    out.push({ oid: attr.oid, kind, value })
  }
  return out
}

/** SubjectFields → asn1-x509 Name (one attribute per RDN, order as in `nameToDer`). */
export function subjectToName(fields: SubjectFields): Name {
  return new Name(
    resolveSubject(fields).map(({ oid, kind, value }) => {
      const attributeValue =
        kind === 'printable'
          ? new AttributeValue({ printableString: value })
          : kind === 'ia5'
            ? new AttributeValue({ ia5String: value })
            : new AttributeValue({ utf8String: value })
      return new RelativeDistinguishedName([
        new AttributeTypeAndValue({ type: oid, value: attributeValue }),
      ])
    })
  )
}

const KIND_TAG: Record<StringKind, number> = {
  printable: TAG.PRINTABLE_STRING,
  ia5: TAG.IA5_STRING,
  utf8: TAG.UTF8_STRING,
}

/**
 * SubjectFields (or an asn1-x509 Name) → Name DER. Fields are written straight to DER (the
 * issuance hot path); the bytes are those `AsnConvert.serialize(subjectToName(fields))` gives,
 * which the unit tests check.
 */
export function nameToDer(subject: SubjectFields | Name): Uint8Array {
  if (subject instanceof Name) return new Uint8Array(AsnConvert.serialize(subject))
  const rdns = resolveSubject(subject).map(({ oid, kind, value }) =>
    tlv(
      TAG.SET,
      sequence(
        oidDer(oid),
        tlv(KIND_TAG[kind], Buffer.from(value, kind === 'utf8' ? 'utf8' : 'latin1'))
      )
    )
  )
  return sequence(...rdns)
}

function valueToString(value: AttributeValue): string {
  if (value.anyValue) return `#${hex(value.anyValue)}`
  return value.toString()
}

/** Every attribute of an asn1-x509 Name, flattened in encoding order. */
export function nameAttributes(name: Name): NameAttribute[] {
  const out: NameAttribute[] = []
  for (const set of name)
    for (const atv of set) out.push({ oid: atv.type, value: valueToString(atv.value) })
  return out
}

/**
 * Text of a directory string TLV, or null for another value type (nameRdnsFromDer then gives the
 * RFC 4514 hexstring: "#" and the TLV in hex).
 */
function attributeText(der: Uint8Array, el: Tlv): string | null {
  const bytes = content(der, el)
  switch (el.tag) {
    case TAG.UTF8_STRING:
      return bytes.toString('utf8')
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case 0x12: // NumericString
    case 0x14: // TeletexString (read as Latin-1, as asn1js does)
    case 0x1a: // VisibleString
      return bytes.toString('latin1')
    case 0x1e: {
      // BMPString: UTF-16BE
      const swapped = Buffer.from(bytes)
      if (swapped.length % 2 !== 0) break
      return swapped.swap16().toString('utf16le')
    }
    case 0x1c: {
      // UniversalString: UTF-32BE
      if (bytes.length % 4 !== 0) break
      let text = ''
      for (let i = 0; i < bytes.length; i += 4)
        text += String.fromCodePoint(Math.min(bytes.readUInt32BE(i), 0x10ffff))
      return text
    }
  }
  return null
}

/** RDNs of a Name DER, each a list of attributes (walked directly, no schema objects). */
export function nameRdnsFromDer(der: Uint8Array): NameAttribute[][] {
  try {
    const top = readSingle(der, TAG.SEQUENCE)
    return children(der, top).map((set) => {
      if (set.tag !== TAG.SET) throw new DerError('an RDN is a SET')
      const atvs = children(der, set)
      if (atvs.length === 0) throw new DerError('an RDN cannot be empty')
      return atvs.map((atv) => {
        const [type, value, extra] = atv.tag === TAG.SEQUENCE ? children(der, atv) : []
        if (!type || type.tag !== TAG.OID || !value || extra)
          throw new DerError('malformed AttributeTypeAndValue')
        const oid = decodeOid(content(der, type))
        const text = attributeText(der, value)
        if (text !== null) return { oid, value: text }
        return { oid, value: `#${slice(der, value).toString('hex')}`, hex: true }
      })
    })
  } catch (error) {
    throw new PkiError('E_INVALID_NAME', 'the distinguished name is not valid DER', {
      cause: error,
    })
  }
}

/** Every attribute of a Name DER, flattened in encoding order. */
export function nameAttributesFromDer(der: Uint8Array): NameAttribute[] {
  return nameRdnsFromDer(der).flat()
}

function attributesToSubject(attributes: NameAttribute[]): SubjectFields {
  const fields: SubjectFields = {}
  for (const { oid, value, hex: notText } of attributes) {
    // A value that is no string stays marked as such (resolveSubject refuses to write it as text).
    if (notText) {
      ;(fields.extra ??= []).push({ oid, value, hex: true })
      continue
    }
    if (oid === ATTR.domainComponent) {
      ;(fields.domainComponent ??= []).push(value)
      continue
    }
    const spec = SPEC_BY_OID.get(oid)
    if (spec && fields[spec.field] === undefined) fields[spec.field] = value
    else (fields.extra ??= []).push({ oid, value })
  }
  return fields
}

/** asn1-x509 Name → SubjectFields. A repeated or unknown attribute goes to `extra`. */
export function nameToSubject(name: Name): SubjectFields {
  return attributesToSubject(nameAttributes(name))
}

/** asn1-x509 Name from DER (schema objects; `nameFromDer` is the cheap path to fields). */
export function parseName(der: Uint8Array): Name {
  try {
    return AsnParser.parse(toBuffer(der), Name)
  } catch (error) {
    throw new PkiError('E_INVALID_NAME', 'the distinguished name is not valid DER', {
      cause: error,
    })
  }
}

/** Name DER → SubjectFields. A repeated or unknown attribute goes to `extra`. */
export function nameFromDer(der: Uint8Array): SubjectFields {
  return attributesToSubject(nameAttributesFromDer(der))
}

function escapeRfc4514(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
  out = out.replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ')
  // eslint-disable-next-line no-control-regex
  return out.replace(/[\x00-\x1f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * A display/search string, RFC 4514 style: most specific RDN first ("CN=a,O=b,C=US"), values
 * escaped. `order: 'encoded'` keeps the DER order instead ("C=US,O=b,CN=a").
 */
export function nameToString(
  subject: Uint8Array | Name | SubjectFields,
  options: { order?: 'rfc4514' | 'encoded'; separator?: string } = {}
): string {
  let rdns: NameAttribute[][]
  if (subject instanceof Name) {
    rdns = [...subject].map((set) =>
      [...set].map((atv) => ({ oid: atv.type, value: valueToString(atv.value) }))
    )
  } else if (subject instanceof Uint8Array) {
    rdns = nameRdnsFromDer(subject)
  } else {
    rdns = resolveSubject(subject).map(({ oid, value }) => [{ oid, value }])
  }
  const parts = rdns.map((set) =>
    // A hexstring (#…, a value that is no string) is written as it is: escaping its "#" would
    // make it the text "#0204…".
    set
      .map(
        (attr) =>
          `${attributeShortName(attr.oid)}=${attr.hex ? attr.value : escapeRfc4514(attr.value)}`
      )
      .join('+')
  )
  if ((options.order ?? 'rfc4514') === 'rfc4514') parts.reverse()
  return parts.join(options.separator ?? ',')
}

/** True when the subject has no attribute at all. */
export function isEmptySubject(fields: SubjectFields): boolean {
  return resolveSubject(fields).length === 0
}

/* ------------------------------------------------------------ validation */

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i

/** One DNS label (letters, digits, inner hyphens, at most 63 characters). */
export function isDnsLabel(label: string): boolean {
  return LABEL.test(label)
}

/**
 * A DNS name in preferred name syntax (RFC 1034 / RFC 5280 4.2.1.6): LDH labels of 1-63
 * characters, no leading/trailing hyphen, ≤ 253 characters, no trailing dot; a single leading
 * "*." wildcard label is allowed. Internationalised names must be given as A-labels (xn--).
 */
export function isValidDnsName(name: string, options: { allowWildcard?: boolean } = {}): boolean {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) return false
  let rest = name
  if (rest.startsWith('*.')) {
    if (options.allowWildcard === false) return false
    rest = rest.slice(2)
  }
  const labels = rest.split('.')
  if (labels.length === 0) return false
  // An all-numeric last label is no host name (RFC 1123 §2.1): 10.0.0.1 is an IP address.
  if (/^\d+$/.test(labels[labels.length - 1])) return false
  return labels.every((label) => LABEL.test(label))
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const out: number[] = []
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    out.push(n)
  }
  return out
}

function parseIpv6(text: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null
  let tail: number[] = []
  let body = text
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1))
    if (!v4) return null
    tail = v4
    body = text.slice(0, lastColon + 1) + '0:0' // placeholder groups, replaced below
  }
  const halves = body.split('::')
  if (halves.length > 2) return null
  const toGroups = (s: string): string[] | null => {
    if (s === '') return []
    const groups = s.split(':')
    return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? groups : null
  }
  const left = toGroups(halves[0])
  const right = halves.length === 2 ? toGroups(halves[1]) : []
  if (!left || !right) return null
  let groups: string[]
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length
    if (missing < 1) return null
    groups = [...left, ...Array<string>(missing).fill('0'), ...right]
  } else {
    groups = left
  }
  if (groups.length !== 8) return null
  const bytes: number[] = []
  for (const g of groups) {
    const n = Number.parseInt(g, 16)
    bytes.push(n >> 8, n & 0xff)
  }
  if (tail.length === 4) bytes.splice(12, 4, ...tail)
  return bytes
}

/** IPv4 dotted quad (no leading zeros) or IPv6 text (RFC 4291, incl. "::" and a v4 tail) → bytes. */
export function ipToBytes(ip: string): Uint8Array | null {
  if (typeof ip !== 'string' || ip.length === 0 || ip.length > 45) return null
  const bytes = ip.includes(':') ? parseIpv6(ip) : parseIpv4(ip)
  return bytes ? new Uint8Array(bytes) : null
}

/** 4 or 16 bytes → canonical text (IPv6 as RFC 5952: lower case, longest zero run as "::"). */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  if (bytes.length !== 16)
    throw new PkiError('E_INVALID_SAN', `an IP address has 4 or 16 bytes, not ${bytes.length}`)
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1])
  // IPv4-mapped (::ffff:a.b.c.d)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
  }
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const text = groups.map((g) => g.toString(16))
  if (bestLen < 2) return text.join(':')
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLen).join(':')}`
}

export function isValidIp(ip: string): boolean {
  return ipToBytes(ip) !== null
}

/** Canonical text of an IP address, or null when invalid. */
export function normalizeIp(ip: string): string | null {
  const bytes = ipToBytes(ip)
  return bytes ? bytesToIp(bytes) : null
}

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/

/** An RFC 5321 mailbox usable as rfc822Name: ASCII dot-atom local part @ a DNS name. */
export function isValidEmail(email: string): boolean {
  if (typeof email !== 'string' || email.length > 254) return false
  const at = email.lastIndexOf('@')
  if (at < 1) return false
  const local = email.slice(0, at)
  const domain = email.slice(at + 1)
  return (
    local.length <= 64 && LOCAL_PART.test(local) && isValidDnsName(domain, { allowWildcard: false })
  )
}

/** An absolute ASCII URI with a scheme (RFC 3986); http(s)/ldap(s) URIs must have a host. */
export function isValidUri(uri: string): boolean {
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > 2048) return false
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[!-~]+$/.test(uri)) return false
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return false
  }
  if (/^(https?|ldaps?|ftp):$/.test(url.protocol) && url.hostname === '') return false
  return true
}

/* ------------------------------------------------------------ SANs */

export type SanType = 'dns' | 'ip' | 'email' | 'uri'

export interface SanEntry {
  type: SanType
  value: string
}

/** Validates one SAN; IP addresses are returned in canonical text form. Throws E_INVALID_SAN. */
export function normalizeSan(entry: SanEntry): SanEntry {
  const { type, value } = entry
  switch (type) {
    case 'dns':
      if (!isValidDnsName(value))
        throw new PkiError('E_INVALID_SAN', `"${value}" is not a valid DNS name`)
      return { type, value }
    case 'ip': {
      const ip = normalizeIp(value)
      if (!ip) throw new PkiError('E_INVALID_SAN', `"${value}" is not a valid IPv4 or IPv6 address`)
      return { type, value: ip }
    }
    case 'email':
      if (!isValidEmail(value))
        throw new PkiError('E_INVALID_SAN', `"${value}" is not a valid email address`)
      return { type, value }
    case 'uri':
      if (!isValidUri(value))
        throw new PkiError('E_INVALID_SAN', `"${value}" is not a valid absolute URI`)
      return { type, value }
    default:
      throw new PkiError(
        'E_INVALID_SAN',
        `unsupported subject alternative name type "${String(type)}"`
      )
  }
}

/** SanEntry → GeneralName (validated). */
export function sanToGeneralName(entry: SanEntry): GeneralName {
  const { type, value } = normalizeSan(entry)
  switch (type) {
    case 'dns':
      return new GeneralName({ dNSName: value })
    case 'email':
      return new GeneralName({ rfc822Name: value })
    case 'uri':
      return new GeneralName({ uniformResourceIdentifier: value })
    case 'ip': {
      // Hand asn1-x509 an unambiguous form: dotted quad, or eight full IPv6 groups.
      const bytes = ipToBytes(value)!
      if (bytes.length === 4) return new GeneralName({ iPAddress: value })
      const groups: string[] = []
      for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16))
      return new GeneralName({ iPAddress: groups.join(':') })
    }
  }
}

/** GeneralName → SanEntry; undefined for kinds we do not map (otherName, directoryName, ...). */
export function generalNameToSan(name: GeneralName): SanEntry | undefined {
  if (name.dNSName !== undefined) return { type: 'dns', value: name.dNSName }
  if (name.rfc822Name !== undefined) return { type: 'email', value: name.rfc822Name }
  if (name.uniformResourceIdentifier !== undefined)
    return { type: 'uri', value: name.uniformResourceIdentifier }
  if (name.iPAddress !== undefined) {
    const ip = normalizeIp(name.iPAddress)
    // 8/32-byte values (address + mask) only belong in name constraints: keep the library's text
    return { type: 'ip', value: ip ?? name.iPAddress }
  }
  return undefined
}

export function encodeSans(entries: readonly SanEntry[]): GeneralName[] {
  return entries.map(sanToGeneralName)
}

export function decodeSans(names: readonly GeneralName[]): SanEntry[] {
  const out: SanEntry[] = []
  for (const name of names) {
    const san = generalNameToSan(name)
    if (san) out.push(san)
  }
  return out
}

const SAN_TAG: Record<SanType, number> = { email: 0x81, dns: 0x82, uri: 0x86, ip: 0x87 }

/**
 * GeneralNames DER for validated SAN entries, written directly (the issuance hot path): the
 * same bytes as `AsnConvert.serialize(new GeneralNames(encodeSans(entries)))`.
 */
export function generalNamesDer(entries: readonly SanEntry[]): Buffer {
  return sequence(
    ...entries.map((entry) => {
      const { type, value } = normalizeSan(entry)
      const bytes = type === 'ip' ? ipToBytes(value)! : Buffer.from(value, 'latin1')
      return tlv(SAN_TAG[type], bytes)
    })
  )
}

/** SAN entries of a GeneralNames DER, and how many entries are of kinds we do not map. */
export function decodeGeneralNamesDer(der: Uint8Array): { sans: SanEntry[]; otherCount: number } {
  let names: Tlv[]
  try {
    names = children(der, readSingle(der, TAG.SEQUENCE))
  } catch (error) {
    throw new PkiError('E_INVALID_SAN', 'the subjectAltName value is not valid DER', {
      cause: error,
    })
  }
  const sans: SanEntry[] = []
  let otherCount = 0
  for (const name of names) {
    const bytes = content(der, name)
    switch (name.tag) {
      case 0x82:
        sans.push({ type: 'dns', value: bytes.toString('latin1') })
        break
      case 0x81:
        sans.push({ type: 'email', value: bytes.toString('latin1') })
        break
      case 0x86:
        sans.push({ type: 'uri', value: bytes.toString('latin1') })
        break
      case 0x87:
        if (bytes.length === 4 || bytes.length === 16)
          sans.push({ type: 'ip', value: bytesToIp(bytes) })
        else sans.push({ type: 'ip', value: `#${bytes.toString('hex')}` })
        break
      default:
        otherCount++
    }
  }
  return { sans, otherCount }
}

/* ------------------------------------------------------------ serials */

/**
 * Normalises a serial number given as hex — case-insensitive, with or without colons/spaces,
 * an optional "0x" prefix or DER leading 00 — to the lowercase, minimal, even-length hex of the
 * positive integer (e.g. "00:AB:CD" → "abcd", "ABC" → "0abc"). Throws E_INVALID_SERIAL.
 */
export function normalizeSerialHex(input: string): string {
  if (typeof input !== 'string')
    throw new PkiError('E_INVALID_SERIAL', 'a serial number must be a hex string')
  let text = input.trim().replace(/^0x/i, '')
  text = text.replace(/[:\s]/g, '')
  if (text.length === 0 || !/^[0-9a-fA-F]+$/.test(text)) {
    throw new PkiError('E_INVALID_SERIAL', `"${input}" is not a hexadecimal serial number`)
  }
  text = text.toLowerCase().replace(/^0+/, '')
  if (text.length === 0)
    throw new PkiError('E_INVALID_SERIAL', 'a serial number must be a positive integer')
  if (text.length % 2 === 1) text = `0${text}`
  return text
}
