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
import type { HashName, Signer } from '../../hsm/types.js'
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

/**
 * Signs `tbs` (from `encodeBasicResponseTbs`) with `signer` and returns the complete
 * OCSPResponse DER (successful, id-pkix-ocsp-basic). `certs` are included in the
 * BasicOCSPResponse: the delegated responder certificate (not needed when the CA signs).
 */
export async function signOcspResponse(
  tbs: Uint8Array,
  signer: Signer,
  hash: HashName,
  certs: Uint8Array[] = []
): Promise<Uint8Array> {
  if (!isSingleSequence(tbs)) throw draftError('tbs is not a DER ResponseData')
  const sigAlg = signatureAlgorithm(signer.keyType, hash)
  const signature = await signer.sign(tbs, hash)
  const basicParts: Uint8Array[] = [tbs, algorithmIdentifierDer(sigAlg), bitString(signature)]
  if (certs.length > 0) basicParts.push(tlv(0xa0, sequence(...certs.map(toBuffer))))
  const basic = sequence(...basicParts)
  return sequence(
    tlv(0x0a, Buffer.from([0])),
    tlv(0xa0, sequence(BASIC_OID_DER, tlv(TAG.OCTET_STRING, basic)))
  )
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
