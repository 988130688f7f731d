/*
 * X.509 v2 CRLs (RFC 5280 §5): the revokedCertificates entry encoder, the TBSCertList encoder
 * (whole, or as parts for streaming), signing through a Signer and assembly. Protocol-agnostic:
 * the CRL plugin decides what is listed, numbers the CRLs and stores/serves the bytes.
 *
 * The cheap path: an entry is the serial INTEGER, a Time and (optionally) a pre-encoded
 * reasonCode extension, concatenated; nothing is parsed or re-encoded per entry.
 *
 * Streaming a large CRL: TBSCertList is
 *   SEQUENCE { head (version … nextUpdate), SEQUENCE OF entry, [0] crlExtensions }
 * so its length prefix depends only on the total length of the entries. A caller can read the
 * entries from the database once to sum their lengths (`entry.length`), then a second time to
 * write/hash them after `crlTbsPrefix(parts, total)` and before `parts.tail`, never holding
 * them all. RSA and ECDSA signers can hash the TBS incrementally; `crlEnvelope` then gives the
 * bytes around it. Ed25519, ML-DSA and SLH-DSA sign the whole message (pure mode), so for them
 * `signCrl` takes the full TBS buffer.
 */
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import type { HashName, Signer } from '../../hsm/types.js'
import { algorithmIdentifierDer, signatureAlgorithm } from './algorithms.js'
import {
  bitString,
  bytesEqual,
  DerError,
  isSingleSequence,
  oidDer,
  readSingle,
  readTlv,
  sequence,
  slice,
  TAG,
  timeDer,
  tlv,
  toBuffer,
  unsignedInteger,
} from './der.js'
import { PkiError } from './errors.js'
import { authorityKeyIdentifier, extensionDer, freshestCrl } from './extensions.js'
import { EXT } from './oids.js'
import { isValidUri, normalizeSerialHex } from './names.js'
import { serialFromHex } from './serial.js'

/* ------------------------------------------------------------ reasons */

/**
 * CRLReason codes (RFC 5280 §5.3.1) under the kernel's revocation reason names. Value 7 is
 * unused; removeFromCRL only appears in delta CRLs (a certificate taken off hold).
 */
export const CRL_REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const

export type CrlReason = keyof typeof CRL_REASON_CODES

const TAG_ENUMERATED = 0x0a
const CRITICAL_TRUE = Buffer.from([0x01, 0x01, 0xff])
const VERSION_V2 = Buffer.from([0x02, 0x01, 0x01])
/** RFC 5280 §5.2.3: a CRL number is at most 20 octets. */
const MAX_CRL_NUMBER_OCTETS = 20

/* One pre-encoded reasonCode Extension per reason (none for 'unspecified', §5.3.1: omitted). */
const reasonExtensions = new Map<CrlReason, Buffer>()
for (const [name, code] of Object.entries(CRL_REASON_CODES) as [CrlReason, number][]) {
  if (code === 0) continue
  const value = tlv(TAG_ENUMERATED, Buffer.from([code]))
  reasonExtensions.set(name, sequence(oidDer(EXT.cRLReason), tlv(TAG.OCTET_STRING, value)))
}

function crlError(message: string, cause?: unknown): PkiError {
  return new PkiError('E_INVALID_DRAFT', message, cause === undefined ? {} : { cause })
}

/* ------------------------------------------------------------ DER helpers */

/** Tag and definite length of a TLV whose content is `length` bytes (content not included). */
export function derHeader(tag: number, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new DerError(`bad length ${length}`)
  if (length < 0x80) return Buffer.from([tag, length])
  const bytes: number[] = []
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes])
}

/** DER INTEGER of a non-negative bigint. */
function bigintDer(value: bigint, what: string): Buffer {
  if (typeof value !== 'bigint' || value < 0n)
    throw crlError(`${what} must be a non-negative bigint`)
  let text = value.toString(16)
  if (text.length % 2 === 1) text = `0${text}`
  const der = unsignedInteger(Buffer.from(text, 'hex'))
  if (der.length - 2 > MAX_CRL_NUMBER_OCTETS) {
    throw crlError(`${what} ${value} is longer than ${MAX_CRL_NUMBER_OCTETS} octets`)
  }
  return der
}

function timeOrThrow(date: Date, what: string): Buffer {
  try {
    return timeDer(date)
  } catch (error) {
    throw crlError(`invalid ${what}: ${(error as Error).message}`, error)
  }
}

/** GeneralizedTime (whole seconds, Zulu) whatever the year: invalidityDate (§5.3.2). */
function generalizedTime(date: Date, what: string): Buffer {
  const der = timeOrThrow(date, what)
  if (der[0] === TAG.GENERALIZED_TIME) return der
  const rest = der.subarray(4).toString('latin1') // UTCTime content without its YY
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(date.getUTCFullYear()) + rest, 'latin1'))
}

/* ------------------------------------------------------------ entries */

export interface CrlEntry {
  /** big-endian magnitude of the serial, or hex in any form `serialFromHex` accepts */
  serial: Uint8Array | string
  revokedAt: Date
  /** omitted, like 'unspecified', writes no reasonCode */
  reason?: CrlReason
  /** when the key is known or suspected to have been compromised (crlEntryExtension) */
  invalidityDate?: Date
}

/** DER of one revokedCertificates entry. Throws E_INVALID_SERIAL / E_INVALID_DRAFT. */
export function encodeCrlEntry(entry: CrlEntry): Buffer {
  const serial = typeof entry.serial === 'string' ? serialFromHex(entry.serial) : entry.serial
  if (!serial || serial.length === 0) throw crlError('the serial number is empty')
  const parts: Uint8Array[] = [unsignedInteger(serial), timeOrThrow(entry.revokedAt, 'revokedAt')]
  const extensions: Buffer[] = []
  if (entry.reason !== undefined && entry.reason !== 'unspecified') {
    const ext = reasonExtensions.get(entry.reason)
    if (!ext) throw crlError(`"${entry.reason}" is not a CRL reason`)
    extensions.push(ext)
  }
  if (entry.invalidityDate !== undefined) {
    const value = generalizedTime(entry.invalidityDate, 'invalidityDate')
    extensions.push(sequence(oidDer(EXT.invalidityDate), tlv(TAG.OCTET_STRING, value)))
  }
  if (extensions.length > 0) parts.push(sequence(...extensions))
  return sequence(...parts)
}

/*
 * The same entry written straight into a caller's buffer (no allocation per entry): what a CRL
 * of a million entries is built with. Equal byte for byte to `encodeCrlEntry`.
 */

/** SEQUENCE { reasonCode extension } per reason, pre-encoded. */
const reasonExtensionsField = new Map<CrlReason, Buffer>(
  [...reasonExtensions].map(([name, ext]) => [name, sequence(ext)])
)
/** Whether `text` is non-empty lowercase hex (a loop: the regex cost a fifth of a CRL's build). */
function isLowerHex(text: string): boolean {
  if (text.length === 0) return false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false
  }
  return true
}

function hexNibble(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57 // '0'-'9', 'a'-'f'
}

/** Writes two ASCII digits. */
function digits2(out: Buffer, at: number, value: number): void {
  out[at] = 0x30 + Math.floor(value / 10)
  out[at + 1] = 0x30 + (value % 10)
}

/** Civil date of a day count since 1970-01-01 (H. Hinnant's days_from_civil, inverted). */
function civil(days: number): [number, number, number] {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day]
}

/**
 * Writes one revokedCertificates entry (serial as hex, revocation time in ms, optional reason)
 * into `out` at `at`; returns the offset after it, or -1 when it does not fit before `out`'s end
 * (nothing written). Throws like `encodeCrlEntry` on a bad serial, time or reason.
 */
export function writeCrlEntry(
  out: Buffer,
  at: number,
  serialHex: string,
  revokedAtMs: number,
  reason?: CrlReason
): number {
  let hex = isLowerHex(serialHex) ? serialHex : normalizeSerialHex(serialHex)
  let start = 0
  while (start < hex.length - 1 && hex.charCodeAt(start) === 0x30) start++
  if (start > 0) hex = hex.slice(start)
  if (hex === '0') throw crlError('a serial number must be a positive integer')
  const odd = hex.length % 2
  const magnitude = (hex.length + odd) / 2
  const first = odd
    ? hexNibble(hex.charCodeAt(0))
    : (hexNibble(hex.charCodeAt(0)) << 4) | hexNibble(hex.charCodeAt(1))
  const pad = first & 0x80 ? 1 : 0
  const serialLength = magnitude + pad
  if (!Number.isFinite(revokedAtMs)) throw crlError('invalid revokedAt: invalid date')
  const seconds = Math.floor(revokedAtMs / 1000)
  const days = Math.floor(seconds / 86400)
  const [year, month, day] = civil(days)
  if (year < 0 || year > 9999) throw crlError(`invalid revokedAt: year ${year} cannot be encoded`)
  const utc = year >= 1950 && year < 2050
  const timeLength = utc ? 13 : 15
  let extensions: Buffer | undefined
  if (reason !== undefined && reason !== 'unspecified') {
    extensions = reasonExtensionsField.get(reason)
    if (!extensions) throw crlError(`"${reason}" is not a CRL reason`)
  }
  const content = 2 + serialLength + 2 + timeLength + (extensions?.length ?? 0)
  if (serialLength > 127 || content > 127) {
    const der = encodeCrlEntry({ serial: serialHex, revokedAt: new Date(revokedAtMs), reason })
    if (at + der.length > out.length) return -1
    der.copy(out, at)
    return at + der.length
  }
  const end = at + 2 + content
  if (end > out.length) return -1
  let p = at
  out[p++] = TAG.SEQUENCE
  out[p++] = content
  out[p++] = TAG.INTEGER
  out[p++] = serialLength
  if (pad) out[p++] = 0
  out[p++] = first
  for (let i = odd ? 1 : 2; i < hex.length; i += 2) {
    out[p++] = (hexNibble(hex.charCodeAt(i)) << 4) | hexNibble(hex.charCodeAt(i + 1))
  }
  out[p++] = utc ? TAG.UTC_TIME : TAG.GENERALIZED_TIME
  out[p++] = timeLength
  if (utc) {
    digits2(out, p, year % 100)
    p += 2
  } else {
    digits2(out, p, Math.floor(year / 100))
    digits2(out, p + 2, year % 100)
    p += 4
  }
  const inDay = seconds - days * 86400
  digits2(out, p, month)
  digits2(out, p + 2, day)
  digits2(out, p + 4, Math.floor(inDay / 3600))
  digits2(out, p + 6, Math.floor((inDay % 3600) / 60))
  digits2(out, p + 8, inDay % 60)
  out[p + 10] = 0x5a // 'Z'
  p += 11
  if (extensions) {
    extensions.copy(out, p)
    p += extensions.length
  }
  return end
}

/* ------------------------------------------------------------ TBSCertList */

export interface IssuingDistributionPointOptions {
  /** the URL this CRL is published at (as in the certificates' CDP) */
  url: string
  onlyContainsUserCerts?: boolean
  onlyContainsCACerts?: boolean
}

export interface CrlDraft {
  /** DER Name of the issuer: the CA certificate's subject, byte for byte */
  issuerDer: Uint8Array
  /** from `signatureAlgorithm(caKeyType, hash)` (its DER is cached) */
  signatureAlgorithm: AlgorithmIdentifier
  thisUpdate: Date
  nextUpdate: Date
  /** persisted, increasing; one sequence shared by full and delta CRLs */
  crlNumber: bigint
  /** the CA's key identifier (its SKI), for the AKI extension */
  authorityKeyId: Uint8Array
  /** critical IDP extension (scope of the CRL; a shard's URL) */
  issuingDistributionPoint?: IssuingDistributionPointOptions
  /** the base CRL number: makes this a delta CRL (critical Delta CRL Indicator) */
  deltaCrlIndicator?: bigint
  /** where delta CRLs are published (Freshest CRL; full CRLs only) */
  freshestCrlUrls?: readonly string[]
}

export interface CrlDraftWithEntries extends CrlDraft {
  /** pre-encoded entries (`encodeCrlEntry`); none or empty: no revokedCertificates field */
  entries?: Iterable<Uint8Array>
}

/** The fixed pieces of a TBSCertList: everything but its length prefix and the entries. */
export interface CrlTbsParts {
  /** version, signature, issuer, thisUpdate, nextUpdate: the content before the entries */
  head: Buffer
  /** [0] crlExtensions: the content after the entries */
  tail: Buffer
}

function issuingDistributionPointDer(idp: IssuingDistributionPointOptions): Buffer {
  if (!isValidUri(idp.url)) {
    throw crlError(`issuing distribution point URL "${idp.url}" is not a valid absolute URI`)
  }
  if (idp.onlyContainsUserCerts && idp.onlyContainsCACerts) {
    throw crlError('a CRL cannot be limited to both user and CA certificates')
  }
  // distributionPoint [0] { fullName [0] IMPLICIT GeneralNames { uniformResourceIdentifier } }
  const parts: Buffer[] = [tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(idp.url, 'latin1'))))]
  if (idp.onlyContainsUserCerts) parts.push(tlv(0x81, Buffer.from([0xff])))
  if (idp.onlyContainsCACerts) parts.push(tlv(0x82, Buffer.from([0xff])))
  return sequence(...parts)
}

function crlExtensionsDer(draft: CrlDraft): Buffer {
  if (!draft.authorityKeyId || draft.authorityKeyId.length === 0) {
    throw crlError('the authority key identifier is empty')
  }
  const crlNumber = bigintDer(draft.crlNumber, 'the CRL number')
  const extensions: Buffer[] = [
    extensionDer(authorityKeyIdentifier(draft.authorityKeyId)),
    sequence(oidDer(EXT.cRLNumber), tlv(TAG.OCTET_STRING, crlNumber)),
  ]
  if (draft.deltaCrlIndicator !== undefined) {
    if (draft.deltaCrlIndicator >= draft.crlNumber) {
      throw crlError(
        `the base CRL number ${draft.deltaCrlIndicator} must be below the CRL number ${draft.crlNumber}`
      )
    }
    if (draft.freshestCrlUrls && draft.freshestCrlUrls.length > 0) {
      throw crlError('a delta CRL must not carry a Freshest CRL extension (RFC 5280 §5.2.6)')
    }
    const base = bigintDer(draft.deltaCrlIndicator, 'the base CRL number')
    extensions.push(
      sequence(oidDer(EXT.deltaCRLIndicator), CRITICAL_TRUE, tlv(TAG.OCTET_STRING, base))
    )
  }
  if (draft.issuingDistributionPoint) {
    const value = issuingDistributionPointDer(draft.issuingDistributionPoint)
    extensions.push(
      sequence(oidDer(EXT.issuingDistributionPoint), CRITICAL_TRUE, tlv(TAG.OCTET_STRING, value))
    )
  }
  if (draft.freshestCrlUrls && draft.freshestCrlUrls.length > 0) {
    try {
      extensions.push(extensionDer(freshestCrl(draft.freshestCrlUrls)))
    } catch (error) {
      throw crlError((error as Error).message, error)
    }
  }
  return tlv(0xa0, sequence(...extensions))
}

/** The head and tail of a TBSCertList (v2). Throws E_INVALID_DRAFT on malformed pieces. */
export function crlTbsParts(draft: CrlDraft): CrlTbsParts {
  if (!isSingleSequence(draft.issuerDer)) throw crlError('issuerDer is not a DER Name')
  const thisUpdate = timeOrThrow(draft.thisUpdate, 'thisUpdate')
  const nextUpdate = timeOrThrow(draft.nextUpdate, 'nextUpdate')
  if (draft.nextUpdate.getTime() <= draft.thisUpdate.getTime()) {
    throw crlError('nextUpdate must be after thisUpdate')
  }
  const head = Buffer.concat([
    VERSION_V2,
    algorithmIdentifierDer(draft.signatureAlgorithm),
    draft.issuerDer,
    thisUpdate,
    nextUpdate,
  ])
  return { head, tail: crlExtensionsDer(draft) }
}

/**
 * Header of the revokedCertificates SEQUENCE for entries totalling `entriesLength` bytes; empty
 * when there are none (RFC 5280 §5.1.2.6: the field is then absent, not an empty SEQUENCE).
 */
export function crlEntriesHeader(entriesLength: number): Buffer {
  return entriesLength === 0 ? Buffer.alloc(0) : derHeader(TAG.SEQUENCE, entriesLength)
}

/**
 * Everything before the entries: the TBSCertList SEQUENCE header, `parts.head` and the
 * revokedCertificates header. The TBS is then prefix ‖ entries ‖ parts.tail.
 */
export function crlTbsPrefix(parts: CrlTbsParts, entriesLength: number): Buffer {
  const entriesHeader = crlEntriesHeader(entriesLength)
  const length = parts.head.length + entriesHeader.length + entriesLength + parts.tail.length
  return Buffer.concat([derHeader(TAG.SEQUENCE, length), parts.head, entriesHeader])
}

/** DER of the TBSCertList (v2) with the given pre-encoded entries (held in memory). */
export function encodeCrlTbs(draft: CrlDraftWithEntries): Buffer {
  const parts = crlTbsParts(draft)
  const entries: Uint8Array[] = []
  let length = 0
  for (const entry of draft.entries ?? []) {
    entries.push(entry)
    length += entry.length
  }
  return Buffer.concat([crlTbsPrefix(parts, length), ...entries, parts.tail])
}

/* ------------------------------------------------------------ signing */

/** CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }. */
export function assembleCrl(
  tbsDer: Uint8Array,
  sigAlg: AlgorithmIdentifier,
  signature: Uint8Array
): Buffer {
  return sequence(tbsDer, algorithmIdentifierDer(sigAlg), bitString(signature))
}

/**
 * The bytes around a TBSCertList streamed in pieces: CertificateList = header ‖ tbs ‖ trailer,
 * where `tbs` is `tbsLength` bytes the caller keeps (e.g. in database chunks) and signed
 * incrementally. Same output as `assembleCrl` without holding the TBS.
 */
export function crlEnvelope(
  tbsLength: number,
  sigAlg: AlgorithmIdentifier,
  signature: Uint8Array
): { header: Buffer; trailer: Buffer } {
  const trailer = Buffer.concat([algorithmIdentifierDer(sigAlg), bitString(signature)])
  return { header: derHeader(TAG.SEQUENCE, tbsLength + trailer.length), trailer }
}

/** The signature AlgorithmIdentifier inside a TBSCertList (its second field), as encoded. */
function tbsSignatureAlgorithm(tbs: Uint8Array): Buffer {
  try {
    const top = readSingle(tbs, TAG.SEQUENCE)
    const version = readTlv(tbs, top.contentStart, top.end)
    if (version.tag !== TAG.INTEGER) throw new DerError('a v2 TBSCertList starts with its version')
    const algorithm = readTlv(tbs, version.end, top.end)
    if (algorithm.tag !== TAG.SEQUENCE) throw new DerError('expected the signature algorithm')
    return slice(tbs, algorithm)
  } catch (error) {
    throw crlError(`not a DER TBSCertList: ${(error as Error).message}`, error)
  }
}

/**
 * Signs a TBSCertList (from `encodeCrlTbs`, or streamed into one buffer) with `signer` and
 * returns the CertificateList DER. The TBS's signature algorithm must be the one
 * `signatureAlgorithm(signer.keyType, hash)` gives.
 */
export async function signCrl(
  tbs: Uint8Array,
  signer: Pick<Signer, 'keyType' | 'sign'>,
  hash: HashName
): Promise<Buffer> {
  const expected = signatureAlgorithm(signer.keyType, hash)
  if (!bytesEqual(tbsSignatureAlgorithm(tbs), algorithmIdentifierDer(expected))) {
    throw crlError(
      `the TBSCertList's signature algorithm does not match the signer ` +
        `(${signer.keyType} with ${hash} → ${expected.algorithm})`
    )
  }
  const signature = await signer.sign(tbs, hash)
  return assembleCrl(toBuffer(tbs), expected, signature)
}
