/*
 * Signature algorithm identifiers for each key type, their cached DER, and the reverse
 * mapping (OID → family/hash) used to verify CSR and certificate signatures. Also detects the
 * key type of a SubjectPublicKeyInfo.
 */
import { AsnConvert } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import type { HashName, KeyType } from '../../hsm/types.js'
import { describeSpki as describeKey } from '../../hsm/keys.js'
import { children, content, readSingle, TAG, toBuffer } from './der.js'
import { PkiError } from './errors.js'
import { SIG } from './oids.js'

export type KeyFamily = 'rsa' | 'ec' | 'ed25519' | 'ml-dsa' | 'slh-dsa'

/** Every key type a CA can have (from hsm/types), for messages and forms. */

export function keyFamily(keyType: KeyType): KeyFamily {
  if (keyType.startsWith('rsa-')) return 'rsa'
  if (keyType.startsWith('ecdsa-')) return 'ec'
  if (keyType === 'ed25519') return 'ed25519'
  if (keyType.startsWith('ml-dsa-')) return 'ml-dsa'
  return 'slh-dsa'
}

const ALL_HASHES: readonly HashName[] = Object.freeze(['sha256', 'sha384', 'sha512'])
const NO_HASHES: readonly HashName[] = Object.freeze([])

/**
 * Hashes a key type may be used with. ECDSA follows the usual curve/hash pairing (P-256 with
 * SHA-256, P-384 with SHA-384, P-521 with SHA-512, as Mozilla's policy and RFC 5480 advise).
 * Ed25519, ML-DSA and SLH-DSA sign the message itself: the list is empty and the `hash`
 * argument given to `Signer.sign` is ignored (pass `defaultHash()`).
 */
export function allowedHashes(keyType: KeyType): readonly HashName[] {
  switch (keyType) {
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return ALL_HASHES
    case 'ecdsa-p256':
      return Object.freeze(['sha256'] as HashName[])
    case 'ecdsa-p384':
      return Object.freeze(['sha384'] as HashName[])
    case 'ecdsa-p521':
      return Object.freeze(['sha512'] as HashName[])
    default:
      return NO_HASHES
  }
}

/** Whether the key type signs with a separate digest (RSA, ECDSA). */
export function usesHash(keyType: KeyType): boolean {
  const family = keyFamily(keyType)
  return family === 'rsa' || family === 'ec'
}

/**
 * The digest to use by default: sha384 for P-384, sha512 for P-521, sha256 otherwise. For
 * Ed25519 / ML-DSA / SLH-DSA the value is a placeholder the signer ignores.
 */
export function defaultHash(keyType: KeyType): HashName {
  if (keyType === 'ecdsa-p384') return 'sha384'
  if (keyType === 'ecdsa-p521') return 'sha512'
  return 'sha256'
}

const RSA_BY_HASH: Record<HashName, string> = {
  sha256: SIG.sha256WithRSAEncryption,
  sha384: SIG.sha384WithRSAEncryption,
  sha512: SIG.sha512WithRSAEncryption,
}
const ECDSA_BY_HASH: Record<HashName, string> = {
  sha256: SIG.ecdsaWithSHA256,
  sha384: SIG.ecdsaWithSHA384,
  sha512: SIG.ecdsaWithSHA512,
}
const PURE_BY_KEY: Partial<Record<KeyType, string>> = {
  'ed25519': SIG.ed25519,
  'ml-dsa-44': SIG.mlDsa44,
  'ml-dsa-65': SIG.mlDsa65,
  'ml-dsa-87': SIG.mlDsa87,
  'slh-dsa-sha2-128s': SIG.slhDsaSha2_128s,
  'slh-dsa-sha2-192s': SIG.slhDsaSha2_192s,
  'slh-dsa-sha2-256s': SIG.slhDsaSha2_256s,
}

/** DER NULL, the parameters of the PKCS#1 v1.5 signature identifiers (RFC 4055 2.1). */
const DER_NULL = new Uint8Array([0x05, 0x00])

/** identifiers we created, frozen, with their DER */
const derCache = new WeakMap<AlgorithmIdentifier, Buffer>()
const byKey = new Map<string, AlgorithmIdentifier>()

function cachedIdentifier(oid: string, nullParams: boolean): AlgorithmIdentifier {
  const key = `${oid}|${nullParams ? 'null' : 'absent'}`
  let alg = byKey.get(key)
  if (!alg) {
    alg = new AlgorithmIdentifier({ algorithm: oid })
    if (nullParams) alg.parameters = DER_NULL.slice().buffer
    derCache.set(alg, toBuffer(new Uint8Array(AsnConvert.serialize(alg))))
    Object.freeze(alg)
    byKey.set(key, alg)
  }
  return alg
}

/**
 * The signatureAlgorithm for a CA key: sha*WithRSAEncryption (NULL parameters),
 * ecdsa-with-SHA* (parameters absent), Ed25519 / ML-DSA / SLH-DSA (parameters absent, `hash`
 * ignored). The returned object is shared and frozen; its DER is cached.
 */
export function signatureAlgorithm(keyType: KeyType, hash: HashName): AlgorithmIdentifier {
  const family = keyFamily(keyType)
  if (family === 'rsa') {
    const oid = RSA_BY_HASH[hash]
    if (!oid) throw new PkiError('E_UNSUPPORTED_ALGORITHM', `unsupported hash "${hash}" for RSA`)
    return cachedIdentifier(oid, true)
  }
  if (family === 'ec') {
    const oid = ECDSA_BY_HASH[hash]
    if (!oid) throw new PkiError('E_UNSUPPORTED_ALGORITHM', `unsupported hash "${hash}" for ECDSA`)
    return cachedIdentifier(oid, false)
  }
  const oid = PURE_BY_KEY[keyType]
  if (!oid) throw new PkiError('E_UNSUPPORTED_ALGORITHM', `unsupported key type "${keyType}"`)
  return cachedIdentifier(oid, false)
}

/** DER of an AlgorithmIdentifier (cached for the identifiers `signatureAlgorithm` returns). */
export function algorithmIdentifierDer(alg: AlgorithmIdentifier): Buffer {
  const cached = derCache.get(alg)
  if (cached) return cached
  return toBuffer(new Uint8Array(AsnConvert.serialize(alg)))
}

/* ------------------------------------------------------- reverse mapping */

export interface SignatureAlgorithmInfo {
  oid: string
  family: KeyFamily
  /** digest for RSA/ECDSA; undefined for pure-signature algorithms */
  hash?: HashName | 'sha1'
}

const SIG_INFO: Record<string, SignatureAlgorithmInfo> = {}
function addInfo(oid: string, family: KeyFamily, hash?: HashName | 'sha1'): void {
  SIG_INFO[oid] = hash ? { oid, family, hash } : { oid, family }
}
addInfo(SIG.sha1WithRSAEncryption, 'rsa', 'sha1')
addInfo(SIG.sha256WithRSAEncryption, 'rsa', 'sha256')
addInfo(SIG.sha384WithRSAEncryption, 'rsa', 'sha384')
addInfo(SIG.sha512WithRSAEncryption, 'rsa', 'sha512')
addInfo(SIG.ecdsaWithSHA1, 'ec', 'sha1')
addInfo(SIG.ecdsaWithSHA256, 'ec', 'sha256')
addInfo(SIG.ecdsaWithSHA384, 'ec', 'sha384')
addInfo(SIG.ecdsaWithSHA512, 'ec', 'sha512')
addInfo(SIG.ed25519, 'ed25519')
addInfo(SIG.mlDsa44, 'ml-dsa')
addInfo(SIG.mlDsa65, 'ml-dsa')
addInfo(SIG.mlDsa87, 'ml-dsa')
for (const oid of [
  SIG.slhDsaSha2_128s,
  SIG.slhDsaSha2_128f,
  SIG.slhDsaSha2_192s,
  SIG.slhDsaSha2_192f,
  SIG.slhDsaSha2_256s,
  SIG.slhDsaSha2_256f,
  SIG.slhDsaShake_128s,
  SIG.slhDsaShake_128f,
  SIG.slhDsaShake_192s,
  SIG.slhDsaShake_192f,
  SIG.slhDsaShake_256s,
  SIG.slhDsaShake_256f,
]) {
  addInfo(oid, 'slh-dsa')
}

const UNSUPPORTED_SIG: Record<string, string> = {
  [SIG.rsassaPss]:
    'RSASSA-PSS signatures are not supported; sign with PKCS#1 v1.5 (e.g. sha256WithRSAEncryption)',
  [SIG.sha224WithRSAEncryption]: 'SHA-224 signatures are not supported; use SHA-256 or stronger',
  [SIG.ecdsaWithSHA224]: 'SHA-224 signatures are not supported; use SHA-256 or stronger',
  [SIG.ed448]: 'Ed448 signatures are not supported',
}

/**
 * Family and digest of a signature algorithm OID. Throws E_UNSUPPORTED_ALGORITHM (with an
 * explanation) for RSASSA-PSS and anything unknown.
 */
export function signatureAlgorithmInfo(oid: string): SignatureAlgorithmInfo {
  const info = SIG_INFO[oid]
  if (info) return info
  const reason = UNSUPPORTED_SIG[oid]
  throw new PkiError('E_UNSUPPORTED_ALGORITHM', reason ?? `unsupported signature algorithm ${oid}`)
}

/* ------------------------------------------------------------------ SPKI */

export interface SpkiInfo {
  /** undefined when the key algorithm is not one we issue for */
  family?: KeyFamily
  algorithmOid: string
  /** the matching install key type, when the key is one of them */
  keyType?: KeyType
  /** for EC keys: 'P-256', 'P-384', 'P-521', or another curve's name or OID */
  curve?: string
  /** for RSA keys */
  rsaBits?: number
  /** for messages: 'RSA 2048', 'ECDSA P-256', 'ML-DSA-65'... */
  name: string
}

/**
 * Describes a DER SubjectPublicKeyInfo: algorithm, matching KeyType, curve, RSA modulus size.
 * The key parsing itself lives in hsm/ (one implementation for the install); this adds the PKI
 * view: families we issue for, and E_UNSUPPORTED_ALGORITHM for malformed input.
 */
export function describeSpki(spki: Uint8Array): SpkiInfo {
  let key: ReturnType<typeof describeKey>
  try {
    key = describeKey(spki)
  } catch (error) {
    // The key reader's own words when it has them (e.g. "the public exponent must be odd…").
    const detail =
      (error as { code?: string })?.code === 'E_KEY_INVALID' ? `: ${(error as Error).message}` : ''
    throw new PkiError(
      'E_UNSUPPORTED_ALGORITHM',
      `the public key (SubjectPublicKeyInfo) is malformed${detail}`,
      {
        cause: error,
      }
    )
  }
  const issuable = key.family !== 'ed448' && key.family !== 'unknown' && !key.rsaPss
  return {
    family: issuable ? (key.family as KeyFamily) : undefined,
    algorithmOid: key.oid,
    keyType: key.keyType,
    curve: key.curve,
    rsaBits: key.family === 'rsa' ? key.bits : undefined,
    name: key.name,
  }
}

/** The contents of the subjectPublicKey BIT STRING (without the unused-bits octet). */
export function spkiKeyBits(spki: Uint8Array): Buffer {
  const top = readSingle(spki, TAG.SEQUENCE)
  const parts = children(spki, top)
  const bits = parts[1]
  if (!bits || bits.tag !== TAG.BIT_STRING || bits.end - bits.contentStart < 1) {
    throw new PkiError(
      'E_UNSUPPORTED_ALGORITHM',
      'the public key (SubjectPublicKeyInfo) is malformed'
    )
  }
  return content(spki, bits).subarray(1)
}
