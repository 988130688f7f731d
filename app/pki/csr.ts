/*
 * PKCS#10 certificate signing requests: parsing (with the exact to-be-signed bytes kept for
 * signature verification), signature verification through an injected verifier, and building
 * a CSR for a CSR-only intermediate CA.
 */
import { AsnParser } from '@peculiar/asn1-schema'
import { DirectoryString, type Extension } from '@peculiar/asn1-x509'
import type { HashName, Signer } from '../../hsm/types.js'
import {
  algorithmIdentifierDer,
  describeSpki,
  signatureAlgorithm,
  signatureAlgorithmInfo,
  type SpkiInfo,
} from './algorithms.js'
import {
  bitString,
  children,
  content,
  decodeOid,
  oidDer,
  readSingle,
  sequence,
  setOf,
  slice,
  TAG,
  tlv,
} from './der.js'
import { PkiError } from './errors.js'
import {
  basicConstraints,
  parseExtensions,
  extendedKeyUsage,
  extensionDer,
  keyUsage,
  summarizeExtensions,
  type ExtensionSummary,
  type KeyUsageInput,
} from './extensions.js'
import { nameFromDer, nameToDer, type SanEntry, type SubjectFields } from './names.js'
import { oidName, PKCS9 } from './oids.js'
import { derOrPem, PEM_LABELS } from './pem.js'

/**
 * Verifies `signature` over `data` with the public key `spki`. `hash` is the digest for RSA
 * and ECDSA (undefined for Ed25519, ML-DSA, SLH-DSA). Same shape as `verifySignature` of
 * `hsm/keys.ts`.
 */
export type SignatureVerifier = (
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  hash?: HashName | 'sha1'
) => boolean

/** A `SignatureVerifier` that answers later (e.g. one that checks on a worker thread). */
export type AsyncSignatureVerifier = (...args: Parameters<SignatureVerifier>) => Promise<boolean>

export interface CsrAttribute {
  oid: string
  /** DER of each value */
  values: Uint8Array[]
}

export interface ParsedCsr {
  der: Uint8Array
  subject: SubjectFields
  /** the subject Name exactly as in the request */
  subjectDer: Uint8Array
  /** subject alternative names from the extensionRequest (dns, ip, email, uri) */
  sans: SanEntry[]
  /** DER SubjectPublicKeyInfo exactly as in the request */
  spki: Uint8Array
  /** key algorithm, key type, curve, RSA size of `spki` */
  publicKey: SpkiInfo
  requestedExtensions: Extension[]
  /** summary of `requestedExtensions` */
  extensions: ExtensionSummary
  /** the PKCS#9 challengePassword, when present (SCEP) */
  challengePassword?: string
  /** every attribute, raw */
  attributes: CsrAttribute[]
  signatureAlgorithmOid: string
  /** certificationRequestInfo exactly as it appears in the input */
  tbsDer: Uint8Array
  signature: Uint8Array
}

const CSR_LABELS = [PEM_LABELS.csr, PEM_LABELS.csrLegacy]
const NOT_A_CSR = 'not a PEM or DER certificate signing request (PKCS#10)'

function invalid(message: string, cause?: unknown): PkiError {
  return new PkiError('E_INVALID_CSR', message, cause === undefined ? {} : { cause })
}

function challengePasswordOf(values: Uint8Array[]): string | undefined {
  const bytes = values[0]
  if (!bytes) return undefined
  try {
    // DirectoryString CHOICE (PrintableString / UTF8String / ...); some clients use IA5String
    if (bytes[0] === TAG.IA5_STRING) {
      const el = readSingle(bytes, TAG.IA5_STRING)
      return Buffer.from(content(bytes, el)).toString('latin1')
    }
    return AsnParser.parse(bytes, DirectoryString).toString()
  } catch {
    return undefined
  }
}

/**
 * Parses a PKCS#10 request given as PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE
 * REQUEST"), bare base64 or DER. Does not verify the signature (see `verifyCsrSignature`).
 * Throws PkiError E_INVALID_CSR with a message a person can act on.
 *
 * The structure is walked once (strict DER lengths, no trailing bytes) to keep the exact
 * bytes. `der`, `tbsDer`, `subjectDer`, `spki` and `signature` are views into the input (no
 * copies): copy them before mutating the input buffer.
 */
export function parseCsr(input: string | Uint8Array): ParsedCsr {
  let der: Uint8Array
  try {
    der = derOrPem(input, CSR_LABELS)
  } catch (error) {
    throw invalid(`${NOT_A_CSR}: ${(error as Error).message}`, error)
  }

  let tbsDer: Buffer
  let subjectDer: Buffer
  let spki: Buffer
  let signature: Buffer
  let signatureAlgorithmOid: string
  const rawAttributes: { oid: string; values: Buffer[] }[] = []
  try {
    const top = readSingle(der, TAG.SEQUENCE)
    const parts = children(der, top)
    if (parts.length !== 3) throw new Error('a CSR has three parts')
    const [info, alg, sig] = parts
    if (info.tag !== TAG.SEQUENCE || alg.tag !== TAG.SEQUENCE || sig.tag !== TAG.BIT_STRING) {
      throw new Error('unexpected element types')
    }
    const fields = children(der, info)
    if (fields.length < 3 || fields.length > 4)
      throw new Error('certificationRequestInfo has 3 or 4 fields')
    const [version, subject, key, attributes] = fields
    if (version.tag !== TAG.INTEGER || subject.tag !== TAG.SEQUENCE || key.tag !== TAG.SEQUENCE) {
      throw new Error('unexpected certificationRequestInfo fields')
    }
    const versionBytes = content(der, version)
    if (versionBytes.length !== 1 || versionBytes[0] !== 0) {
      throw new Error(`unsupported version (only v1, encoded 0, exists)`)
    }
    if (attributes) {
      if (attributes.tag !== 0xa0) throw new Error('unexpected attributes tag')
      for (const attribute of children(der, attributes)) {
        const [type, set] = attribute.tag === TAG.SEQUENCE ? children(der, attribute) : []
        if (!type || type.tag !== TAG.OID || !set || set.tag !== TAG.SET)
          throw new Error('malformed attribute')
        rawAttributes.push({
          oid: decodeOid(content(der, type)),
          values: children(der, set).map((v) => slice(der, v)),
        })
      }
    }
    const algOid = children(der, alg)[0]
    if (!algOid || algOid.tag !== TAG.OID) throw new Error('malformed signatureAlgorithm')
    signatureAlgorithmOid = decodeOid(content(der, algOid))
    tbsDer = slice(der, info)
    subjectDer = slice(der, subject)
    spki = slice(der, key)
    const bits = content(der, sig)
    if (bits.length < 2 || bits[0] !== 0) throw new Error('malformed signature BIT STRING')
    signature = bits.subarray(1)
  } catch (error) {
    throw invalid(`${NOT_A_CSR}: ${(error as Error).message}`, error)
  }

  let subject: SubjectFields
  try {
    subject = nameFromDer(subjectDer)
  } catch (error) {
    throw invalid(`the CSR's subject name is malformed`, error)
  }
  let publicKey: SpkiInfo
  try {
    publicKey = describeSpki(spki)
  } catch (error) {
    // What the key reader found wrong (e.g. an RSA public exponent of 1): describeSpki's cause.
    const cause = (error as { cause?: { code?: string; message?: string } })?.cause
    const reason = cause?.code === 'E_KEY_INVALID' ? `: ${cause.message}` : ''
    throw invalid(`the CSR's public key is malformed${reason}`, error)
  }

  const requestedExtensions: Extension[] = []
  const attributes: CsrAttribute[] = []
  let challengePassword: string | undefined
  let extensions: ExtensionSummary
  try {
    for (const { oid, values } of rawAttributes) {
      attributes.push({ oid, values })
      if (oid === PKCS9.extensionRequest || oid === PKCS9.msCertExtensions) {
        for (const value of values) {
          for (const ext of parseExtensions(value)) addRequested(requestedExtensions, ext)
        }
      } else if (oid === PKCS9.challengePassword) {
        challengePassword = challengePasswordOf(values)
      }
    }
    extensions = summarizeExtensions(requestedExtensions)
  } catch (error) {
    throw invalid(
      `the CSR's requested extensions are malformed: ${(error as Error).message}`,
      error
    )
  }

  const parsed: ParsedCsr = {
    der,
    subject,
    subjectDer,
    sans: extensions.sans,
    spki,
    publicKey,
    requestedExtensions,
    extensions,
    attributes,
    signatureAlgorithmOid,
    tbsDer,
    signature,
  }
  if (challengePassword !== undefined) parsed.challengePassword = challengePassword
  return parsed
}

/**
 * Adds a requested extension. The same extension asked twice (Windows clients may put it both
 * in extensionRequest and in msCertExtensions) counts once; the same type asked twice with
 * different contents is refused: which one would be meant? (Only the last SAN list was kept.)
 */
function addRequested(list: Extension[], ext: Extension) {
  const same = list.find((e) => e.extnID === ext.extnID)
  if (!same) {
    list.push(ext)
    return
  }
  const value = (e: Extension) => Buffer.from(new Uint8Array(e.extnValue.buffer))
  if (same.critical !== ext.critical || !value(same).equals(value(ext))) {
    throw new Error(`extension ${oidName(ext.extnID)} is requested twice with different contents`)
  }
}

/**
 * Checks the CSR's self-signature (proof of possession) with `verifier`: true when it
 * verifies, false when it does not. Throws E_INVALID_CSR when the signature algorithm does not
 * fit the key or the verifier fails, and E_UNSUPPORTED_ALGORITHM for RSASSA-PSS and other
 * algorithms we do not accept. See `assertCsrSignature` for the throwing form.
 */
export function verifyCsrSignature(parsed: ParsedCsr, verifier: SignatureVerifier): boolean
export function verifyCsrSignature(
  parsed: ParsedCsr,
  verifier: AsyncSignatureVerifier
): Promise<boolean>
export function verifyCsrSignature(
  parsed: ParsedCsr,
  verifier: SignatureVerifier | AsyncSignatureVerifier
): boolean | Promise<boolean> {
  const info = signatureAlgorithmInfo(parsed.signatureAlgorithmOid)
  const key = parsed.publicKey
  if (key.family !== info.family) {
    throw invalid(
      `the CSR is signed with a ${info.family} algorithm (${parsed.signatureAlgorithmOid}) but its public key is ` +
        `${key.family ?? `of unsupported type ${key.algorithmOid}`}`
    )
  }
  const failed = (error: unknown) =>
    invalid(`the CSR signature could not be checked: ${(error as Error).message}`, error)
  let verdict: boolean | Promise<boolean>
  try {
    verdict = verifier(parsed.spki, parsed.tbsDer, parsed.signature, info.hash)
  } catch (error) {
    throw failed(error)
  }
  if (verdict instanceof Promise)
    return verdict.then(
      (ok) => ok === true,
      (error) => {
        // The checker itself was unavailable (its worker died): a server fault, not a bad CSR.
        if ((error as { code?: unknown })?.code === 'E_SIGNER_UNAVAILABLE') throw error
        throw failed(error)
      }
    )
  return verdict === true
}

/** Like `verifyCsrSignature`, but a signature that does not verify throws E_INVALID_CSR. */
export function assertCsrSignature(parsed: ParsedCsr, verifier: SignatureVerifier): void {
  if (!verifyCsrSignature(parsed, verifier)) {
    throw invalid(
      'CSR signature does not verify: the request was altered or not signed by the key it contains'
    )
  }
}

export interface BuildCsrOptions {
  /** subject fields, or a Name DER to use as is */
  subject: SubjectFields | Uint8Array
  /**
   * extensions to request, used as given; when absent: basicConstraints CA (critical, with
   * `ca.pathLength`), keyUsage (`keyUsage`, default keyCertSign + cRLSign, critical), and
   * extKeyUsage when `extKeyUsage` is non-empty — a request for an intermediate CA certificate
   */
  extensions?: Extension[]
  ca?: { pathLength?: number | null }
  keyUsage?: readonly (KeyUsageInput | (string & {}))[]
  extKeyUsage?: readonly string[]
  signer: Signer
  hash: HashName
  /** optional PKCS#9 challengePassword (UTF8String) */
  challengePassword?: string
}

/** Builds and signs a PKCS#10 request (DER) for `signer`'s key. */
export async function buildCsr(options: BuildCsrOptions): Promise<Uint8Array> {
  const subjectDer =
    options.subject instanceof Uint8Array ? options.subject : nameToDer(options.subject)
  const extensions = options.extensions ?? [
    basicConstraints(
      options.ca?.pathLength === undefined || options.ca?.pathLength === null
        ? { ca: true }
        : { ca: true, pathLength: options.ca.pathLength }
    ),
    keyUsage(options.keyUsage ?? ['keyCertSign', 'cRLSign']),
    ...(options.extKeyUsage && options.extKeyUsage.length > 0
      ? [extendedKeyUsage(options.extKeyUsage)]
      : []),
  ]
  const attributes: Uint8Array[] = []
  if (extensions.length > 0) {
    const extList = sequence(...extensions.map(extensionDer))
    attributes.push(sequence(oidDer(PKCS9.extensionRequest), setOf([extList])))
  }
  if (options.challengePassword !== undefined) {
    const value = tlv(TAG.UTF8_STRING, Buffer.from(options.challengePassword, 'utf8'))
    attributes.push(sequence(oidDer(PKCS9.challengePassword), setOf([value])))
  }
  // attributes [0] IMPLICIT SET OF Attribute
  const attributesField = setOf(attributes, 0xa0)
  const info = sequence(
    Buffer.from([TAG.INTEGER, 1, 0]),
    subjectDer,
    options.signer.publicKeySpki,
    attributesField
  )
  const algorithm = signatureAlgorithm(options.signer.keyType, options.hash)
  const signature = await options.signer.sign(info, options.hash)
  return new Uint8Array(sequence(info, algorithmIdentifierDer(algorithm), bitString(signature)))
}
