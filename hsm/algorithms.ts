/*
 * Algorithm tables: object identifiers and parameter-set sizes for every key family hsm/ knows.
 * Pure data, no crypto.
 */
import type { KeyType } from './types.js'

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  x25519: '1.3.101.110',
  x448: '1.3.101.111',
  dsa: '1.2.840.10040.4.1',
} as const

/** Named curves, by OID, with the NIST name where there is one. */
export const EC_CURVES: Record<
  string,
  { name: string; nodeName: string; bits: number; keyType?: KeyType }
> = {
  '1.2.840.10045.3.1.7': {
    name: 'P-256',
    nodeName: 'prime256v1',
    bits: 256,
    keyType: 'ecdsa-p256',
  },
  '1.3.132.0.34': { name: 'P-384', nodeName: 'secp384r1', bits: 384, keyType: 'ecdsa-p384' },
  '1.3.132.0.35': { name: 'P-521', nodeName: 'secp521r1', bits: 521, keyType: 'ecdsa-p521' },
  '1.3.132.0.10': { name: 'secp256k1', nodeName: 'secp256k1', bits: 256 },
  '1.2.840.10045.3.1.1': { name: 'P-192', nodeName: 'prime192v1', bits: 192 },
  '1.3.132.0.33': { name: 'P-224', nodeName: 'secp224r1', bits: 224 },
  '1.3.36.3.3.2.8.1.1.7': { name: 'brainpoolP256r1', nodeName: 'brainpoolP256r1', bits: 256 },
  '1.3.36.3.3.2.8.1.1.11': { name: 'brainpoolP384r1', nodeName: 'brainpoolP384r1', bits: 384 },
  '1.3.36.3.3.2.8.1.1.13': { name: 'brainpoolP512r1', nodeName: 'brainpoolP512r1', bits: 512 },
}

export const EC_KEY_TYPES = {
  'ecdsa-p256': { curveOid: '1.2.840.10045.3.1.7', nodeCurve: 'prime256v1' },
  'ecdsa-p384': { curveOid: '1.3.132.0.34', nodeCurve: 'secp384r1' },
  'ecdsa-p521': { curveOid: '1.3.132.0.35', nodeCurve: 'secp521r1' },
} as const

export const RSA_KEY_TYPES = {
  'rsa-2048': 2048,
  'rsa-3072': 3072,
  'rsa-4096': 4096,
} as const

export type MlDsaKeyType = 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87'
export type SlhDsaKeyType = 'slh-dsa-sha2-128s' | 'slh-dsa-sha2-192s' | 'slh-dsa-sha2-256s'
export type PqKeyType = MlDsaKeyType | SlhDsaKeyType

/** ML-DSA (FIPS 204) parameter sets, OIDs from RFC 9881. */
export const ML_DSA: Record<
  MlDsaKeyType,
  {
    oid: string
    name: string
    publicKeyLength: number
    expandedKeyLength: number
    signatureLength: number
  }
> = {
  'ml-dsa-44': {
    oid: '2.16.840.1.101.3.4.3.17',
    name: 'ML-DSA-44',
    publicKeyLength: 1312,
    expandedKeyLength: 2560,
    signatureLength: 2420,
  },
  'ml-dsa-65': {
    oid: '2.16.840.1.101.3.4.3.18',
    name: 'ML-DSA-65',
    publicKeyLength: 1952,
    expandedKeyLength: 4032,
    signatureLength: 3309,
  },
  'ml-dsa-87': {
    oid: '2.16.840.1.101.3.4.3.19',
    name: 'ML-DSA-87',
    publicKeyLength: 2592,
    expandedKeyLength: 4896,
    signatureLength: 4627,
  },
}

/** Length of the ML-DSA key-generation seed ξ. */
export const ML_DSA_SEED_LENGTH = 32

/**
 * Every pure SLH-DSA (FIPS 205) parameter set, OIDs from RFC 9909. Only the three SHA2 "small"
 * sets are key types of this install; the others are recognised (CSR keys) and verifiable.
 */
export interface SlhDsaParams {
  oid: string
  name: string
  /** Noble export name in @noble/post-quantum/slh-dsa.js. */
  noble: string
  /** Security parameter n: public key 2n bytes, secret key 4n bytes, key-gen seed 3n bytes. */
  n: number
  keyType?: SlhDsaKeyType
}

export const SLH_DSA_BY_OID: Record<string, SlhDsaParams> = Object.fromEntries(
  (
    [
      ['20', 'SHA2-128s', 16],
      ['21', 'SHA2-128f', 16],
      ['22', 'SHA2-192s', 24],
      ['23', 'SHA2-192f', 24],
      ['24', 'SHA2-256s', 32],
      ['25', 'SHA2-256f', 32],
      ['26', 'SHAKE-128s', 16],
      ['27', 'SHAKE-128f', 16],
      ['28', 'SHAKE-192s', 24],
      ['29', 'SHAKE-192f', 24],
      ['30', 'SHAKE-256s', 32],
      ['31', 'SHAKE-256f', 32],
    ] as const
  ).map(([arc, variant, n]) => {
    const lower = variant.toLowerCase()
    const keyType = `slh-dsa-${lower}`
    const params: SlhDsaParams = {
      oid: `2.16.840.1.101.3.4.3.${arc}`,
      name: `SLH-DSA-${variant}`,
      noble: `slh_dsa_${lower.replace('-', '_')}`,
      n,
      keyType: isSlhDsaKeyType(keyType) ? keyType : undefined,
    }
    return [params.oid, params]
  })
)

function isSlhDsaKeyType(value: string): value is SlhDsaKeyType {
  return (
    value === 'slh-dsa-sha2-128s' || value === 'slh-dsa-sha2-192s' || value === 'slh-dsa-sha2-256s'
  )
}

export const SLH_DSA: Record<SlhDsaKeyType, SlhDsaParams> = {
  'slh-dsa-sha2-128s': SLH_DSA_BY_OID['2.16.840.1.101.3.4.3.20'],
  'slh-dsa-sha2-192s': SLH_DSA_BY_OID['2.16.840.1.101.3.4.3.22'],
  'slh-dsa-sha2-256s': SLH_DSA_BY_OID['2.16.840.1.101.3.4.3.24'],
}

export const ML_DSA_BY_OID: Record<string, MlDsaKeyType> = Object.fromEntries(
  (Object.keys(ML_DSA) as MlDsaKeyType[]).map((t) => [ML_DSA[t].oid, t])
)

/** HashML-DSA / HashSLH-DSA OIDs (pre-hash variants): recognised, not supported for signing. */
export const PREHASH_ML_DSA_OIDS = new Set([
  '2.16.840.1.101.3.4.3.32',
  '2.16.840.1.101.3.4.3.33',
  '2.16.840.1.101.3.4.3.34',
])
export function isPrehashSlhDsaOid(oid: string): boolean {
  const prefix = '2.16.840.1.101.3.4.3.'
  if (!oid.startsWith(prefix)) return false
  const arc = Number(oid.slice(prefix.length))
  return arc >= 35 && arc <= 46
}

export function isMlDsaKeyType(keyType: KeyType): keyType is MlDsaKeyType {
  return keyType.startsWith('ml-dsa-')
}
export function isSlhDsaKeyTypeName(keyType: KeyType): keyType is SlhDsaKeyType {
  return keyType.startsWith('slh-dsa-')
}
export function isPqKeyType(keyType: KeyType): keyType is PqKeyType {
  return isMlDsaKeyType(keyType) || isSlhDsaKeyTypeName(keyType)
}

export function pqOid(keyType: PqKeyType): string {
  return isMlDsaKeyType(keyType) ? ML_DSA[keyType].oid : SLH_DSA[keyType as SlhDsaKeyType].oid
}
