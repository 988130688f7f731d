/*
 * X.509 certificates: the TBS encoder of the issuance path, signing through a Signer,
 * assembly, a light parser, and the checks used when importing a CA certificate.
 *
 * The cheap path: the issuer Name DER, the AKI extension and the static extensions of a
 * template are computed once (see `issuerInfo`) and handed to every draft; `encodeTbs` only
 * concatenates pre-encoded DER, so nothing is parsed or re-encoded per certificate.
 */
import { createHash, createPublicKey } from 'node:crypto'
import { AsnParser } from '@peculiar/asn1-schema'
import { Certificate, type AlgorithmIdentifier, type Extension } from '@peculiar/asn1-x509'
import type { HashName, Signer } from '../../hsm/types.js'
import {
  algorithmIdentifierDer,
  describeSpki,
  signatureAlgorithm,
  signatureAlgorithmInfo,
  type KeyFamily,
} from './algorithms.js'
import {
  bitString,
  bytesEqual,
  children,
  content,
  decodeOid,
  DerError,
  isSingleSequence,
  readSingle,
  sequence,
  slice,
  TAG,
  timeDer,
  tlv,
  type Tlv,
  toBuffer,
  unsignedInteger,
} from './der.js'
import { PkiError } from './errors.js'
import {
  authorityKeyIdentifier,
  extensionDer,
  keyIdentifier,
  summarizeExtensions,
  type ExtensionSummary,
} from './extensions.js'
import { nameFromDer, nameToString, type SubjectFields } from './names.js'
import { derOrPem, PEM_LABELS, pemBlocks } from './pem.js'
import { certsFromPkcs7 } from './pkcs7.js'
import type { SignatureVerifier } from './csr.js'
import { serialHex } from './serial.js'

export interface CertificateDraft {
  /** big-endian magnitude of the positive serial (e.g. from `newSerial()`) */
  serial: Uint8Array
  /** DER Name of the issuer: the CA certificate's subject, byte for byte */
  issuerDer: Uint8Array
  /** DER Name of the subject */
  subjectDer: Uint8Array
  notBefore: Date
  notAfter: Date
  /** DER SubjectPublicKeyInfo of the subject key */
  spki: Uint8Array
  extensions: Extension[]
  /** from `signatureAlgorithm(caKeyType, hash)` (its DER is cached) */
  signatureAlgorithm: AlgorithmIdentifier
}

const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02])

function draftError(message: string): PkiError {
  return new PkiError('E_INVALID_DRAFT', message)
}

/** DER of the TBSCertificate (v3) for a draft. Throws E_INVALID_DRAFT on malformed pieces. */
export function encodeTbs(draft: CertificateDraft): Uint8Array {
  if (!draft.serial || draft.serial.length === 0) throw draftError('the serial number is empty')
  if (!isSingleSequence(draft.issuerDer)) throw draftError('issuerDer is not a DER Name')
  if (!isSingleSequence(draft.subjectDer)) throw draftError('subjectDer is not a DER Name')
  if (!isSingleSequence(draft.spki)) throw draftError('spki is not a DER SubjectPublicKeyInfo')
  let validity: Buffer
  try {
    validity = sequence(timeDer(draft.notBefore), timeDer(draft.notAfter))
  } catch (error) {
    throw draftError(`invalid validity dates: ${(error as Error).message}`)
  }
  const parts: Uint8Array[] = [
    VERSION_V3,
    unsignedInteger(draft.serial),
    algorithmIdentifierDer(draft.signatureAlgorithm),
    draft.issuerDer,
    validity,
    draft.subjectDer,
    draft.spki,
  ]
  if (draft.extensions.length > 0) {
    const seen = new Set<string>()
    const encoded: Buffer[] = []
    for (const ext of draft.extensions) {
      if (seen.has(ext.extnID)) throw draftError(`extension ${ext.extnID} appears more than once`)
      seen.add(ext.extnID)
      encoded.push(extensionDer(ext))
    }
    parts.push(tlv(0xa3, sequence(...encoded)))
  }
  return sequence(...parts)
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }. */
export function assembleCertificate(
  tbsDer: Uint8Array,
  sigAlg: AlgorithmIdentifier,
  signature: Uint8Array
): Uint8Array {
  return sequence(tbsDer, algorithmIdentifierDer(sigAlg), bitString(signature))
}

/**
 * Encodes the draft, signs it with `signer` and returns the certificate DER. The draft's
 * signatureAlgorithm must be the one `signatureAlgorithm(signer.keyType, hash)` gives.
 */
export async function signCertificate(
  draft: CertificateDraft,
  signer: Signer,
  hash: HashName
): Promise<Uint8Array> {
  const expected = signatureAlgorithm(signer.keyType, hash)
  if (draft.signatureAlgorithm.algorithm !== expected.algorithm) {
    throw draftError(
      `the draft's signatureAlgorithm ${draft.signatureAlgorithm.algorithm} does not match the signer ` +
        `(${signer.keyType} with ${hash} → ${expected.algorithm})`
    )
  }
  const tbs = encodeTbs(draft)
  const signature = await signer.sign(tbs, hash)
  return assembleCertificate(tbs, draft.signatureAlgorithm, signature)
}

/* ------------------------------------------------------------ parsing */

interface CertificateSlices {
  tbs: Tlv
  serial: Tlv
  innerAlgorithm: Tlv
  issuer: Tlv
  subject: Tlv
  spki: Tlv
  outerAlgorithm: Tlv
  signature: Buffer
}

function sliceCertificate(der: Uint8Array): CertificateSlices {
  const top = readSingle(der, TAG.SEQUENCE)
  const parts = children(der, top)
  if (parts.length !== 3) throw new DerError('a certificate has three parts')
  const [tbs, outerAlgorithm, sig] = parts
  if (
    tbs.tag !== TAG.SEQUENCE ||
    outerAlgorithm.tag !== TAG.SEQUENCE ||
    sig.tag !== TAG.BIT_STRING
  ) {
    throw new DerError('unexpected certificate element types')
  }
  const fields = children(der, tbs)
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0
  const [serial, innerAlgorithm, issuer, validity, subject, spki] = fields.slice(offset, offset + 6)
  if (
    !spki ||
    serial.tag !== TAG.INTEGER ||
    innerAlgorithm.tag !== TAG.SEQUENCE ||
    issuer.tag !== TAG.SEQUENCE ||
    validity.tag !== TAG.SEQUENCE ||
    subject.tag !== TAG.SEQUENCE ||
    spki.tag !== TAG.SEQUENCE
  ) {
    throw new DerError('unexpected TBSCertificate fields')
  }
  const bits = content(der, sig)
  if (bits.length < 2 || bits[0] !== 0) throw new DerError('malformed signature BIT STRING')
  return {
    tbs,
    serial,
    innerAlgorithm,
    issuer,
    subject,
    spki,
    outerAlgorithm,
    signature: bits.subarray(1),
  }
}

function certificateDer(input: Uint8Array | string): Uint8Array {
  try {
    return derOrPem(input, [PEM_LABELS.certificate])
  } catch (error) {
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      `not a PEM or DER certificate: ${(error as Error).message}`,
      {
        cause: error,
      }
    )
  }
}

/** Certificate DER from DER, PEM ("CERTIFICATE") or bare base64. Throws E_INVALID_CERTIFICATE. */
export function certificateFromInput(input: Uint8Array | string): Uint8Array {
  const der = certificateDer(input)
  slicesOrThrow(der)
  return der
}

/**
 * Every certificate in `input`: PEM text with any number of CERTIFICATE blocks (other blocks
 * are ignored), a PKCS#7 bundle (PEM "PKCS7" or DER), or one DER certificate.
 * Throws E_INVALID_CERTIFICATE when nothing usable is found.
 */
export function certificatesFromInput(input: Uint8Array | string): Uint8Array[] {
  const text =
    typeof input === 'string'
      ? input
      : input[0] === 0x30
        ? undefined
        : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1')
  if (text !== undefined && text.includes('-----BEGIN')) {
    let blocks
    try {
      blocks = pemBlocks(text)
    } catch (error) {
      throw new PkiError('E_INVALID_CERTIFICATE', `unreadable PEM: ${(error as Error).message}`, {
        cause: error,
      })
    }
    const out: Uint8Array[] = []
    for (const block of blocks) {
      if (block.label === PEM_LABELS.certificate) out.push(certificateFromInput(block.der))
      else if (block.label === PEM_LABELS.pkcs7 || block.label === PEM_LABELS.cms)
        out.push(...certsFromPkcs7(block.der))
    }
    if (out.length === 0)
      throw new PkiError(
        'E_INVALID_CERTIFICATE',
        'no CERTIFICATE or PKCS7 block found in the PEM text'
      )
    return out
  }
  const der = certificateDer(input)
  try {
    sliceCertificate(der)
    return [der]
  } catch {
    return certsFromPkcs7(der)
  }
}

function slicesOrThrow(der: Uint8Array): CertificateSlices {
  try {
    return sliceCertificate(der)
  } catch (error) {
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      `not a PEM or DER certificate: ${(error as Error).message}`,
      {
        cause: error,
      }
    )
  }
}

export interface ParsedCertificate {
  der: Uint8Array
  /** tbsCertificate exactly as in the input */
  tbsDer: Uint8Array
  version: number
  /** serial INTEGER content bytes as encoded */
  serial: Uint8Array
  /** lowercase hex of the serial's value (same form as `serialHex` / `normalizeSerialHex`) */
  serialHex: string
  subject: SubjectFields
  subjectDer: Uint8Array
  /** RFC 4514-style display string of the subject */
  subjectString: string
  issuer: SubjectFields
  issuerDer: Uint8Array
  issuerString: string
  notBefore: Date
  notAfter: Date
  spki: Uint8Array
  extensions: ExtensionSummary
  extensionList: Extension[]
  isCa: boolean
  /** issuer and subject names are byte-identical */
  selfIssued: boolean
  fingerprintSha256: string
  signatureAlgorithmOid: string
  signature: Uint8Array
}

/**
 * A light summary of a certificate (DER or PEM). The byte fields are views into the input.
 * Throws E_INVALID_CERTIFICATE.
 */
export function parseCertificate(input: Uint8Array | string): ParsedCertificate {
  const der = certificateDer(input)
  const slices = slicesOrThrow(der)
  let cert: Certificate
  try {
    cert = AsnParser.parse(toBuffer(der), Certificate)
  } catch (error) {
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      `not a PEM or DER certificate: ${(error as Error).message}`,
      {
        cause: error,
      }
    )
  }
  const tbs = cert.tbsCertificate
  const extensionList = [...(tbs.extensions ?? [])]
  let extensions: ExtensionSummary
  try {
    extensions = summarizeExtensions(extensionList)
  } catch (error) {
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      `the certificate has a malformed extension: ${(error as Error).message}`,
      {
        cause: error,
      }
    )
  }
  const subjectDer = slice(der, slices.subject)
  const issuerDer = slice(der, slices.issuer)
  const serial = content(der, slices.serial)
  return {
    der,
    tbsDer: slice(der, slices.tbs),
    version: tbs.version + 1,
    serial,
    serialHex: serialHex(serial),
    subject: nameFromDer(subjectDer),
    subjectDer,
    subjectString: nameToString(subjectDer),
    issuer: nameFromDer(issuerDer),
    issuerDer,
    issuerString: nameToString(issuerDer),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    spki: slice(der, slices.spki),
    extensions,
    extensionList,
    isCa: extensions.basicConstraints?.ca === true,
    selfIssued: bytesEqual(subjectDer, issuerDer),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    signatureAlgorithmOid: cert.signatureAlgorithm.algorithm,
    signature: slices.signature,
  }
}

/** Whether the certificate's public key is `spki` (byte-equal, or the same key re-encoded). */
export function certificateMatchesKey(certDer: Uint8Array | string, spki: Uint8Array): boolean {
  const der = certificateDer(certDer)
  const certSpki = slice(der, slicesOrThrow(der).spki)
  if (bytesEqual(certSpki, spki)) return true
  try {
    const a = createPublicKey({ key: toBuffer(certSpki), format: 'der', type: 'spki' })
    const b = createPublicKey({ key: toBuffer(spki), format: 'der', type: 'spki' })
    return a.equals(b)
  } catch {
    return false
  }
}

/**
 * Whether `certDer` was signed by the key `issuerSpki` (e.g. an imported intermediate against
 * its parent). False when the signature, the algorithm/key pairing or the inner/outer
 * algorithm identifiers disagree; throws E_UNSUPPORTED_ALGORITHM for algorithms we do not
 * handle (RSASSA-PSS, ...) and E_INVALID_CERTIFICATE for malformed input.
 */
export function verifyCertificateSignature(
  certDer: Uint8Array | string,
  issuerSpki: Uint8Array,
  verifier: SignatureVerifier
): boolean {
  const der = certificateDer(certDer)
  const slices = slicesOrThrow(der)
  if (!bytesEqual(slice(der, slices.innerAlgorithm), slice(der, slices.outerAlgorithm)))
    return false
  const algorithm = children(der, slices.outerAlgorithm)[0]
  if (!algorithm || algorithm.tag !== TAG.OID) {
    throw new PkiError('E_INVALID_CERTIFICATE', 'the certificate signature algorithm is malformed')
  }
  const oid = decodeOid(content(der, algorithm))
  const info = signatureAlgorithmInfo(oid)
  if (describeSpki(issuerSpki).family !== info.family) return false
  try {
    return verifier(issuerSpki, slice(der, slices.tbs), slices.signature, info.hash)
  } catch (error) {
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      `the certificate signature could not be checked: ${(error as Error).message}`,
      {
        cause: error,
      }
    )
  }
}

/* ------------------------------------------------------------ issuer */

/** Everything the issuance path needs from a CA certificate, computed once. */
export interface IssuerInfo {
  /** the CA certificate's subject Name DER: the issuerDer of every draft */
  issuerDer: Uint8Array
  /** the CA's key identifier (its SKI, or computed from its key when it has none) */
  keyIdentifier: Uint8Array
  /** ready-made AKI extension for the certificates it issues */
  authorityKeyIdentifier: Extension
  notBefore: Date
  notAfter: Date
  spki: Uint8Array
  keyFamily?: KeyFamily
  isCa: boolean
  certificate: ParsedCertificate
}

/** Pre-computes the issuer side of every draft from the CA certificate (DER, PEM or parsed). */
export function issuerInfo(caCertificate: Uint8Array | string | ParsedCertificate): IssuerInfo {
  const cert =
    typeof caCertificate === 'string' || caCertificate instanceof Uint8Array
      ? parseCertificate(caCertificate)
      : caCertificate
  const keyId = cert.extensions.ski
    ? new Uint8Array(Buffer.from(cert.extensions.ski, 'hex'))
    : keyIdentifier(cert.spki)
  const info: IssuerInfo = {
    issuerDer: cert.subjectDer,
    keyIdentifier: keyId,
    authorityKeyIdentifier: authorityKeyIdentifier(keyId),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    spki: cert.spki,
    isCa: cert.isCa,
    certificate: cert,
  }
  const family = describeSpki(cert.spki).family
  if (family) info.keyFamily = family
  return info
}
