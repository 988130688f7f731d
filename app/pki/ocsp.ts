/*
 * OCSP (RFC 6960, RFC 5019 / RFC 9919 lightweight profile, RFC 9654 nonce): the request
 * parser, GET path decoding, the CertID hashes of an issuer, and the encoders of SingleResponse,
 * ResponseData, the signed BasicOCSPResponse and the unsigned error responses.
 *
 * Protocol-agnostic: no HTTP, no database. The responder plugin matches CertIDs against
 * `issuerHashes` of the CAs it serves, encodes one SingleResponse per answered CertID (which
 * can be pre-signed and cached: RFC 5019), and signs through a Signer like certificates do.
 */
import { createHash } from 'node:crypto'
import type { HashName, KeyType } from '../../hsm/types.js'
import { algorithmIdentifierDer, signatureAlgorithm, spkiKeyBits } from './algorithms.js'
import { parseCertificate, type ParsedCertificate } from './certificate.js'
import {
  bitString,
  children,
  content,
  decodeOid,
  isSingleSequence,
  oidDer,
  readSingle,
  sequence,
  slice,
  TAG,
  tlv,
  type Tlv,
  toBuffer,
  unsignedInteger,
} from './der.js'
import { PkiError } from './errors.js'
import { HASH } from './oids.js'
import { serialFromHex, serialHex } from './serial.js'

/** OCSP-specific object identifiers (RFC 6960 4.4, RFC 9654). */
export const OCSP_OID = {
  basic: '1.3.6.1.5.5.7.48.1.1',
  nonce: '1.3.6.1.5.5.7.48.1.2',
} as const

/** CertID hash algorithms we match (RFC 6960 uses SHA-1; RFC 9919 allows SHA-256). */
export type OcspHash = 'sha1' | 'sha256' | 'sha384' | 'sha512'
export const OCSP_HASHES: readonly OcspHash[] = Object.freeze([
  'sha1',
  'sha256',
  'sha384',
  'sha512',
])

const HASH_BY_OID: Record<string, OcspHash> = {
  [HASH.sha1]: 'sha1',
  [HASH.sha256]: 'sha256',
  [HASH.sha384]: 'sha384',
  [HASH.sha512]: 'sha512',
}

export function isOcspHash(value: string): value is OcspHash {
  return (OCSP_HASHES as readonly string[]).includes(value)
}

/** Largest nonce accepted (RFC 9654: 1..128 octets). */
export const OCSP_MAX_NONCE_BYTES = 128

function malformed(message: string, cause?: unknown): PkiError {
  return new PkiError(
    'E_INVALID_OCSP_REQUEST',
    `malformed OCSP request: ${message}`,
    cause === undefined ? {} : { cause }
  )
}

/* ------------------------------------------------------------ request */

export interface OcspCertIdRequest {
  /** 'sha1' | 'sha256' | 'sha384' | 'sha512', or the dotted OID of a hash we do not match */
  hashAlgorithm: OcspHash | (string & {})
  /** false when `hashAlgorithm` is not one of OCSP_HASHES: answer with an unsigned error */
  hashSupported: boolean
  issuerNameHash: Uint8Array
  issuerKeyHash: Uint8Array
  /** lowercase hex of the serial's value (same form as `serialHex`) */
  serial: string
  /** the CertID exactly as in the request, to echo in the SingleResponse */
  certIdDer: Uint8Array
}

export interface ParsedOcspRequest {
  requests: OcspCertIdRequest[]
  /** the RFC 9654 nonce value (contents of the inner OCTET STRING), when present */
  nonce?: Uint8Array
  /** DER of the requestorName GeneralName, when present */
  requestorName?: Uint8Array
  /** whether the request carries an optionalSignature (not verified here) */
  signed: boolean
}

function expectTag(el: Tlv | undefined, tag: number, what: string): Tlv {
  if (!el || el.tag !== tag) throw malformed(`${what} is missing or has the wrong type`)
  return el
}

function parseCertId(der: Uint8Array, el: Tlv): OcspCertIdRequest {
  const parts = children(der, expectTag(el, TAG.SEQUENCE, 'CertID'))
  if (parts.length !== 4) throw malformed('a CertID has four fields')
  const [alg, nameHash, keyHash, serial] = parts
  const algParts = children(der, expectTag(alg, TAG.SEQUENCE, 'CertID hashAlgorithm'))
  const oid = expectTag(algParts[0], TAG.OID, 'CertID hashAlgorithm OID')
  if (algParts.length > 2) throw malformed('the CertID hashAlgorithm has extra fields')
  const oidText = decodeOid(content(der, oid))
  const hash = HASH_BY_OID[oidText]
  expectTag(nameHash, TAG.OCTET_STRING, 'issuerNameHash')
  expectTag(keyHash, TAG.OCTET_STRING, 'issuerKeyHash')
  expectTag(serial, TAG.INTEGER, 'serialNumber')
  const serialBytes = content(der, serial)
  if (serialBytes.length === 0) throw malformed('the serialNumber is empty')
  return {
    hashAlgorithm: hash ?? oidText,
    hashSupported: hash !== undefined,
    issuerNameHash: content(der, nameHash),
    issuerKeyHash: content(der, keyHash),
    serial: serialHex(serialBytes),
    certIdDer: slice(der, el),
  }
}

/** The nonce value of a requestExtensions [2] element, if it has the nonce extension. */
function nonceOf(der: Uint8Array, explicit: Tlv): Uint8Array | undefined {
  const list = children(der, explicit)
  const extensions = children(der, expectTag(list[0], TAG.SEQUENCE, 'requestExtensions'))
  if (list.length !== 1) throw malformed('requestExtensions has extra elements')
  let nonce: Uint8Array | undefined
  for (const ext of extensions) {
    const fields = children(der, expectTag(ext, TAG.SEQUENCE, 'an extension'))
    const oid = decodeOid(content(der, expectTag(fields[0], TAG.OID, 'an extension OID')))
    const value = fields[fields.length - 1]
    expectTag(value, TAG.OCTET_STRING, 'an extension value')
    if (oid !== OCSP_OID.nonce) continue
    if (nonce) throw malformed('the nonce extension appears twice')
    // RFC 9654: Nonce ::= OCTET STRING (SIZE(1..128)), inside extnValue
    const inner = content(der, value)
    let el: Tlv
    try {
      el = readSingle(inner, TAG.OCTET_STRING)
    } catch (error) {
      throw malformed('the nonce is not an OCTET STRING', error)
    }
    const bytes = content(inner, el)
    if (bytes.length < 1 || bytes.length > OCSP_MAX_NONCE_BYTES) {
      throw malformed(`the nonce has ${bytes.length} octets (1..${OCSP_MAX_NONCE_BYTES} allowed)`)
    }
    nonce = bytes
  }
  return nonce
}

/**
 * Parses a DER OCSPRequest. Throws PkiError E_INVALID_OCSP_REQUEST (answer
 * `malformedRequest`) for anything that is not one well-formed request with at least one
 * CertID. A CertID hashed with an algorithm we do not match is returned with
 * `hashSupported: false` (see `unsupportedOcspHash`). The byte fields are views into `der`.
 */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  try {
    const top = readSingle(der, TAG.SEQUENCE)
    const outer = children(der, top)
    if (outer.length < 1 || outer.length > 2) throw malformed('an OCSPRequest has one or two parts')
    const signed = outer.length === 2
    if (signed && outer[1].tag !== 0xa0) throw malformed('unexpected element after tbsRequest')
    const fields = children(der, expectTag(outer[0], TAG.SEQUENCE, 'tbsRequest'))
    let i = 0
    if (fields[i]?.tag === 0xa0) {
      const version = children(der, fields[i])[0]
      const bytes = content(der, expectTag(version, TAG.INTEGER, 'version'))
      if (bytes.length !== 1 || bytes[0] !== 0) throw malformed('unsupported version (only v1)')
      i++
    }
    let requestorName: Uint8Array | undefined
    if (fields[i]?.tag === 0xa1) {
      const name = children(der, fields[i])
      if (name.length !== 1) throw malformed('requestorName is not one GeneralName')
      requestorName = slice(der, name[0])
      i++
    }
    const list = children(der, expectTag(fields[i], TAG.SEQUENCE, 'requestList'))
    i++
    if (list.length === 0) throw malformed('the requestList is empty')
    let nonce: Uint8Array | undefined
    if (fields[i]?.tag === 0xa2) {
      nonce = nonceOf(der, fields[i])
      i++
    }
    if (i !== fields.length) throw malformed('unexpected fields in tbsRequest')
    const requests = list.map((request) => {
      const parts = children(der, expectTag(request, TAG.SEQUENCE, 'Request'))
      if (parts.length < 1 || parts.length > 2 || (parts[1] && parts[1].tag !== 0xa0)) {
        throw malformed('unexpected fields in a Request')
      }
      return parseCertId(der, parts[0])
    })
    const parsed: ParsedOcspRequest = { requests, signed }
    if (nonce) parsed.nonce = nonce
    if (requestorName) parsed.requestorName = requestorName
    return parsed
  } catch (error) {
    if (PkiError.is(error)) throw error
    throw malformed((error as Error).message, error)
  }
}

/**
 * The first CertID hash of `request` we do not match, if any: the responder then answers
 * with an unsigned error response (never a signed answer about an unmatched CertID).
 */
export function unsupportedOcspHash(request: ParsedOcspRequest): string | undefined {
  return request.requests.find((r) => !r.hashSupported)?.hashAlgorithm
}

/**
 * The DER OCSPRequest of a GET URL's last part (RFC 6960 A.1: URL-encoded standard base64).
 * Tolerates extra leading slashes, percent-encoding (including %2F, %2B, %3D), a '+' turned
 * into a space by a query-style decoder, missing padding and the base64url alphabet. Throws
 * E_INVALID_OCSP_REQUEST.
 */
export function decodeOcspGetPath(pathSegment: string): Uint8Array {
  let text = pathSegment.replace(/^\/+/, '')
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text)
    } catch (error) {
      throw malformed('the GET path has a broken percent-encoding', error)
    }
  }
  text = text.replace(/ /g, '+').replace(/-/g, '+').replace(/_/g, '/').replace(/\s+/g, '')
  text = text.replace(/^\/+/, '')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw malformed('the GET path is not base64')
  }
  const der = Buffer.from(text, 'base64')
  if (der.length === 0) throw malformed('the GET path is empty')
  return new Uint8Array(der.buffer, der.byteOffset, der.byteLength)
}

/* ------------------------------------------------------------ hot path */

/** The one CertID of a plain OCSP request, as views into the request bytes. */
export interface OcspQuickCertId {
  hash: OcspHash
  issuerNameHash: Buffer
  issuerKeyHash: Buffer
  /** the serial's big-endian magnitude (leading zero octets dropped, as `serialHex`) */
  serial: Buffer
}

const QUICK_HASH_OIDS: Array<[OcspHash, Buffer]> = OCSP_HASHES.map((h) => [
  h,
  oidDer(Object.entries(HASH_BY_OID).find(([, name]) => name === h)![0]),
])

// Scratch registers of the walker below (single-threaded: no allocation per element).
let elStart = 0
let elEnd = 0

/** Reads the TLV header at `pos` with `tag`, ending within `limit`; sets elStart/elEnd. */
function enter(buf: Buffer, pos: number, limit: number, tag: number): boolean {
  if (pos + 2 > limit || buf[pos] !== tag) return false
  let length = buf[pos + 1]
  let start = pos + 2
  if (length & 0x80) {
    const count = length & 0x7f
    if (count === 0 || count > 3 || start + count > limit) return false
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + buf[start + i]
    start += count
  }
  if (start + length > limit) return false
  elStart = start
  elEnd = start + length
  return true
}

/**
 * The CertID of the common request (RFC 5019): one Request with a CertID hashed with SHA-1,
 * SHA-256, SHA-384 or SHA-512, no version, requestor name, extensions or signature. Returns
 * null for anything else, well-formed or not: the caller then uses `parseOcspRequest`, which
 * reads every form and names what is wrong. No exceptions, no allocation but the views.
 */
export function quickOcspCertId(der: Buffer): OcspQuickCertId | null {
  const n = der.length
  if (!enter(der, 0, n, TAG.SEQUENCE) || elEnd !== n) return null // OCSPRequest
  if (!enter(der, elStart, n, TAG.SEQUENCE) || elEnd !== n) return null // tbsRequest only
  if (!enter(der, elStart, n, TAG.SEQUENCE) || elEnd !== n) return null // requestList only
  if (!enter(der, elStart, n, TAG.SEQUENCE) || elEnd !== n) return null // one Request
  if (!enter(der, elStart, n, TAG.SEQUENCE) || elEnd !== n) return null // CertID, no extensions
  if (!enter(der, elStart, n, TAG.SEQUENCE)) return null // hashAlgorithm
  const algEnd = elEnd
  let hash: OcspHash | undefined
  for (const [name, oid] of QUICK_HASH_OIDS) {
    if (
      elStart + oid.length <= algEnd &&
      der.compare(oid, 0, oid.length, elStart, elStart + oid.length) === 0
    ) {
      const rest = algEnd - elStart - oid.length
      // absent or NULL parameters
      if (rest === 0 || (rest === 2 && der[algEnd - 2] === TAG.NULL && der[algEnd - 1] === 0)) {
        hash = name
      }
      break
    }
  }
  if (!hash) return null
  if (!enter(der, algEnd, n, TAG.OCTET_STRING)) return null
  const issuerNameHash = der.subarray(elStart, elEnd)
  if (!enter(der, elEnd, n, TAG.OCTET_STRING)) return null
  const issuerKeyHash = der.subarray(elStart, elEnd)
  if (!enter(der, elEnd, n, TAG.INTEGER) || elEnd !== n || elEnd === elStart) return null
  let start = elStart
  while (start < elEnd - 1 && der[start] === 0) start++
  return { hash, issuerNameHash, issuerKeyHash, serial: der.subarray(start, elEnd) }
}

/* ------------------------------------------------------------ issuer */

export interface OcspIssuerHashes {
  hash: OcspHash
  /** hash of the issuer's subject Name DER */
  nameHash: Buffer
  /** hash of the issuer's subjectPublicKey BIT STRING contents */
  keyHash: Buffer
}

/** The CertID hashes of the CA certificate (DER, PEM or parsed). Throws E_INVALID_CERTIFICATE. */
export function issuerHashes(
  caCertificate: Uint8Array | string | ParsedCertificate,
  hash: OcspHash
): OcspIssuerHashes {
  if (!isOcspHash(hash)) {
    throw new PkiError('E_UNSUPPORTED_ALGORITHM', `unsupported OCSP CertID hash "${String(hash)}"`)
  }
  const cert =
    typeof caCertificate === 'string' || caCertificate instanceof Uint8Array
      ? parseCertificate(caCertificate)
      : caCertificate
  return {
    hash,
    nameHash: createHash(hash).update(cert.subjectDer).digest(),
    keyHash: createHash(hash).update(spkiKeyBits(cert.spki)).digest(),
  }
}

/** ResponderID byKey value: SHA-1 of the responder's subjectPublicKey bits (RFC 6960 4.2.1). */
export function ocspResponderKeyHash(responderSpki: Uint8Array): Buffer {
  return createHash('sha1').update(spkiKeyBits(responderSpki)).digest()
}

/* ------------------------------------------------------------ responses */

/** Revocation reasons by the kernel's names, with their RFC 5280 CRLReason codes. */
export const OCSP_REASON_CODES = Object.freeze({
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const)

export type OcspRevocationReason = keyof typeof OCSP_REASON_CODES

export type OcspCertStatus =
  { good: true } | { revoked: { at: Date; reason?: OcspRevocationReason } } | { unknown: true }

export interface OcspCertIdFields {
  hash: OcspHash
  issuerNameHash: Uint8Array
  issuerKeyHash: Uint8Array
  /** hex (as `serialHex`) or the big-endian magnitude */
  serial: string | Uint8Array
}

export interface OcspSingleResponseInput {
  /** the request's CertID DER (`certIdDer`, echoed byte for byte) or its fields */
  certId: Uint8Array | OcspCertIdFields
  status: OcspCertStatus
  thisUpdate: Date
  /** RFC 5019: present in pre-produced responses */
  nextUpdate?: Date
}

function draftError(message: string): PkiError {
  return new PkiError('E_INVALID_DRAFT', message)
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

/** GeneralizedTime, Zulu, whole seconds (RFC 5280 4.1.2.5.2; OCSP times are always this). */
export function generalizedTimeDer(date: Date): Buffer {
  const ms = date instanceof Date ? date.getTime() : Number.NaN
  if (!Number.isFinite(ms)) throw draftError('invalid date in an OCSP response')
  const year = date.getUTCFullYear()
  if (year < 0 || year > 9999) throw draftError(`year ${year} cannot be encoded`)
  const text =
    pad(year, 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z'
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(text, 'latin1'))
}

const HASH_ALG_DER: Record<OcspHash, Buffer> = {
  // SHA-1 with NULL parameters, as OpenSSL and most clients write it
  sha1: sequence(oidDer(HASH.sha1), Buffer.from([TAG.NULL, 0])),
  sha256: sequence(oidDer(HASH.sha256)),
  sha384: sequence(oidDer(HASH.sha384)),
  sha512: sequence(oidDer(HASH.sha512)),
}

function certIdDer(certId: Uint8Array | OcspCertIdFields): Uint8Array {
  if (certId instanceof Uint8Array) {
    if (!isSingleSequence(certId)) throw draftError('certId is not a DER CertID')
    return certId
  }
  const alg = HASH_ALG_DER[certId.hash]
  if (!alg) throw draftError(`unsupported CertID hash "${String(certId.hash)}"`)
  let serial: Uint8Array
  try {
    serial = typeof certId.serial === 'string' ? serialFromHex(certId.serial) : certId.serial
  } catch (error) {
    throw draftError(`invalid serial: ${(error as Error).message}`)
  }
  if (serial.length === 0) throw draftError('the serial number is empty')
  return sequence(
    alg,
    tlv(TAG.OCTET_STRING, certId.issuerNameHash),
    tlv(TAG.OCTET_STRING, certId.issuerKeyHash),
    unsignedInteger(serial)
  )
}

const GOOD = Buffer.from([0x80, 0x00])
const UNKNOWN = Buffer.from([0x82, 0x00])

function certStatusDer(status: OcspCertStatus): Buffer {
  if ('good' in status) return GOOD
  if ('unknown' in status) return UNKNOWN
  if (!('revoked' in status) || !status.revoked) throw draftError('unknown certificate status')
  const { at, reason } = status.revoked
  const parts = [generalizedTimeDer(at)]
  // like CRL entries (RFC 5280 5.3.1), unspecified is expressed by leaving the reason out
  if (reason !== undefined && reason !== 'unspecified') {
    const code = OCSP_REASON_CODES[reason] as number | undefined
    if (code === undefined) throw draftError(`unknown revocation reason "${String(reason)}"`)
    parts.push(tlv(0xa0, tlv(0x0a, Buffer.from([code]))))
  }
  return tlv(0xa1, ...parts)
}

/** DER of one SingleResponse. Throws E_INVALID_DRAFT on malformed pieces. */
export function encodeSingleResponse(input: OcspSingleResponseInput): Buffer {
  if (input.nextUpdate && input.nextUpdate.getTime() < input.thisUpdate.getTime()) {
    throw draftError('nextUpdate is before thisUpdate')
  }
  const parts: Uint8Array[] = [
    certIdDer(input.certId),
    certStatusDer(input.status),
    generalizedTimeDer(input.thisUpdate),
  ]
  if (input.nextUpdate) parts.push(tlv(0xa0, generalizedTimeDer(input.nextUpdate)))
  return sequence(...parts)
}

export interface OcspResponseDataInput {
  /** ResponderID byKey: `ocspResponderKeyHash(responder SPKI)` (20 octets) */
  responderKeyHash: Uint8Array
  producedAt: Date
  /** SingleResponse DER from `encodeSingleResponse` */
  responses: Uint8Array[]
  /** echo of the request's nonce; leave out for pre-signed responses (RFC 5019) */
  nonce?: Uint8Array
}

/** DER of the tbsResponseData (ResponseData, v1). Throws E_INVALID_DRAFT. */
export function encodeBasicResponseTbs(input: OcspResponseDataInput): Buffer {
  if (input.responderKeyHash.length === 0) throw draftError('the responder key hash is empty')
  if (input.responses.length === 0) throw draftError('a response needs at least one SingleResponse')
  for (const single of input.responses) {
    if (!isSingleSequence(single)) throw draftError('a response is not a DER SingleResponse')
  }
  const parts: Uint8Array[] = [
    tlv(0xa2, tlv(TAG.OCTET_STRING, input.responderKeyHash)),
    generalizedTimeDer(input.producedAt),
    sequence(...input.responses),
  ]
  if (input.nonce) {
    if (input.nonce.length < 1 || input.nonce.length > OCSP_MAX_NONCE_BYTES) {
      throw draftError(`the nonce has ${input.nonce.length} octets`)
    }
    const ext = sequence(
      oidDer(OCSP_OID.nonce),
      tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, input.nonce))
    )
    parts.push(tlv(0xa1, sequence(ext)))
  }
  return sequence(...parts)
}

const BASIC_OID_DER = oidDer(OCSP_OID.basic)

/** What signs a response: a signer backend, a CA's purpose signer or a service certificate. */
export interface OcspSigner {
  readonly keyType: string
  sign(data: Uint8Array, hash: HashName): Promise<Uint8Array>
}

/**
 * Signs `tbs` (from `encodeBasicResponseTbs`) and returns the BasicOCSPResponse's content
 * without its optional certificates: tbsResponseData ‖ signatureAlgorithm ‖ signature. A
 * responder keeps these bodies per certificate and the responder certificate once
 * (`ocspCertsField`), and joins them with `assembleOcspResponse` when it answers.
 */
export async function signOcspBody(
  tbs: Uint8Array,
  signer: OcspSigner,
  hash: HashName
): Promise<Buffer> {
  if (!isSingleSequence(tbs)) throw draftError('tbs is not a DER ResponseData')
  const sigAlg = signatureAlgorithm(signer.keyType as KeyType, hash)
  const signature = await signer.sign(tbs, hash)
  return Buffer.concat([toBuffer(tbs), algorithmIdentifierDer(sigAlg), bitString(signature)])
}

/** The `certs [0] EXPLICIT SEQUENCE OF Certificate` field of a BasicOCSPResponse (empty: none). */
export function ocspCertsField(certs: Uint8Array[]): Buffer {
  return certs.length === 0 ? Buffer.alloc(0) : tlv(0xa0, sequence(...certs.map(toBuffer)))
}

/** Bytes of a DER length. */
function lengthOf(length: number): number {
  return length < 0x80 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 4
}

function writeHeader(out: Buffer, pos: number, tag: number, length: number): number {
  out[pos++] = tag
  if (length < 0x80) out[pos++] = length
  else if (length < 0x100) {
    out[pos++] = 0x81
    out[pos++] = length
  } else if (length < 0x10000) {
    out[pos++] = 0x82
    out[pos++] = length >> 8
    out[pos++] = length & 0xff
  } else {
    out[pos++] = 0x83
    out[pos++] = length >> 16
    out[pos++] = (length >> 8) & 0xff
    out[pos++] = length & 0xff
  }
  return pos
}

/**
 * The complete OCSPResponse (successful, id-pkix-ocsp-basic) around a body from
 * `signOcspBody` and a certs field from `ocspCertsField`, in one allocation (the responder's
 * hot path).
 */
export function assembleOcspResponse(body: Uint8Array, certsField?: Uint8Array): Buffer {
  const certsLength = certsField ? certsField.length : 0
  const basic = body.length + certsLength
  if (basic >= 0x1000000 - 64) throw draftError('the OCSP response is too large')
  const basicTlv = 1 + lengthOf(basic) + basic
  const octetTlv = 1 + lengthOf(basicTlv) + basicTlv
  const bytes = BASIC_OID_DER.length + octetTlv
  const bytesTlv = 1 + lengthOf(bytes) + bytes
  const explicitTlv = 1 + lengthOf(bytesTlv) + bytesTlv
  const outer = 3 + explicitTlv
  const out = Buffer.allocUnsafe(1 + lengthOf(outer) + outer)
  let pos = writeHeader(out, 0, TAG.SEQUENCE, outer)
  out[pos++] = 0x0a
  out[pos++] = 1
  out[pos++] = 0
  pos = writeHeader(out, pos, 0xa0, bytesTlv)
  pos = writeHeader(out, pos, TAG.SEQUENCE, bytes)
  pos += BASIC_OID_DER.copy(out, pos)
  pos = writeHeader(out, pos, TAG.OCTET_STRING, basicTlv)
  pos = writeHeader(out, pos, TAG.SEQUENCE, basic)
  out.set(body, pos)
  pos += body.length
  if (certsField && certsLength > 0) out.set(certsField, pos)
  return out
}

/**
 * Signs `tbs` (from `encodeBasicResponseTbs`) with `signer` and returns the complete
 * OCSPResponse DER (successful, id-pkix-ocsp-basic). `certs` are included in the
 * BasicOCSPResponse: the delegated responder certificate (not needed when the CA signs).
 */
export async function signOcspResponse(
  tbs: Uint8Array,
  signer: OcspSigner,
  hash: HashName,
  certs: Uint8Array[] = []
): Promise<Buffer> {
  return assembleOcspResponse(await signOcspBody(tbs, signer, hash), ocspCertsField(certs))
}

/** OCSPResponseStatus values of the unsigned error responses (RFC 6960 4.2.1). */
export const OCSP_ERROR_STATUS = Object.freeze({
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const)

export type OcspErrorStatus = keyof typeof OCSP_ERROR_STATUS

const ERROR_RESPONSES = new Map<OcspErrorStatus, Buffer>()
for (const [name, code] of Object.entries(OCSP_ERROR_STATUS)) {
  ERROR_RESPONSES.set(name as OcspErrorStatus, sequence(tlv(0x0a, Buffer.from([code]))))
}

/** The unsigned OCSPResponse with only a responseStatus (shared bytes: do not mutate). */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  const der = ERROR_RESPONSES.get(status)
  if (!der) throw draftError(`unknown OCSP error status "${String(status)}"`)
  return der
}
