/*
 * Test-only signers and verifier over node:crypto KeyObjects (RSA, EC, Ed25519) and
 * @noble/post-quantum (ML-DSA), so the app/pki tests do not depend on hsm/ backends.
 */
import crypto, { type KeyObject } from 'node:crypto'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import type { HashName, KeyType, Signer } from '../../../hsm/types.js'
import {
  authorityKeyIdentifier,
  basicConstraints,
  describeSpki,
  keyIdentifier,
  keyUsage,
  nameToDer,
  newSerial,
  signatureAlgorithm,
  signCertificate,
  subjectKeyIdentifier,
  type CertificateDraft,
  type SignatureVerifier,
  type SubjectFields,
} from '../../../app/pki/index.js'
import { AsnConvert } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, SubjectPublicKeyInfo, type Extension } from '@peculiar/asn1-x509'

const ML_DSA = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const
const ML_DSA_OID = {
  'ml-dsa-44': '2.16.840.1.101.3.4.3.17',
  'ml-dsa-65': '2.16.840.1.101.3.4.3.18',
  'ml-dsa-87': '2.16.840.1.101.3.4.3.19',
} as const
type MlDsaType = keyof typeof ML_DSA

export interface TestKey {
  signer: Signer
  privateKey?: KeyObject
}

function u8(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

const cache = new Map<string, TestKey>()

function classicalPair(keyType: KeyType): crypto.KeyPairKeyObjectResult {
  switch (keyType) {
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return crypto.generateKeyPairSync('rsa', { modulusLength: Number(keyType.slice(4)) })
    case 'ecdsa-p256':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    case 'ecdsa-p384':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' })
    case 'ecdsa-p521':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' })
    case 'ed25519':
      return crypto.generateKeyPairSync('ed25519')
    default:
      throw new Error(`no classical test key for ${keyType}`)
  }
}

/** DER SubjectPublicKeyInfo of an ML-DSA public key (parameters absent), built with asn1-x509. */
function mlDsaSpki(keyType: MlDsaType, publicKey: Uint8Array): Uint8Array {
  const spki = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: ML_DSA_OID[keyType] }),
    subjectPublicKey: publicKey.slice().buffer,
  })
  return new Uint8Array(AsnConvert.serialize(spki))
}

/** A signer for `keyType` (keys cached per type for the whole run unless `fresh`). */
export function testKey(keyType: KeyType, fresh = false): TestKey {
  const cached = cache.get(keyType)
  if (cached && !fresh) return cached
  let key: TestKey
  if (keyType in ML_DSA) {
    const impl = ML_DSA[keyType as MlDsaType]
    const { publicKey, secretKey } = impl.keygen()
    key = {
      signer: {
        keyRef: `test:${keyType}`,
        keyType,
        publicKeySpki: mlDsaSpki(keyType as MlDsaType, publicKey),
        async sign(data: Uint8Array): Promise<Uint8Array> {
          return impl.sign(data, secretKey)
        },
      },
    }
  } else {
    const { privateKey, publicKey } = classicalPair(keyType)
    const spki = u8(publicKey.export({ type: 'spki', format: 'der' }))
    key = {
      privateKey,
      signer: {
        keyRef: `test:${keyType}`,
        keyType,
        publicKeySpki: spki,
        async sign(data: Uint8Array, hash: HashName): Promise<Uint8Array> {
          if (keyType === 'ed25519') return u8(crypto.sign(null, data, privateKey))
          if (keyType.startsWith('rsa-')) {
            return u8(
              crypto.sign(hash, data, {
                key: privateKey,
                padding: crypto.constants.RSA_PKCS1_PADDING,
              })
            )
          }
          return u8(crypto.sign(hash, data, { key: privateKey, dsaEncoding: 'der' }))
        },
      },
    }
  }
  if (!fresh) cache.set(keyType, key)
  return key
}

/** Verifier over node:crypto (RSA PKCS#1 v1.5, ECDSA, Ed25519) and noble (ML-DSA). */
export const testVerifier: SignatureVerifier = (spki, data, signature, hash) => {
  const info = describeSpki(spki)
  if (info.family === 'ml-dsa' && info.keyType && info.keyType in ML_DSA) {
    const publicKey = new Uint8Array(AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey)
    return ML_DSA[info.keyType as MlDsaType].verify(signature, data, publicKey)
  }
  const key = crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
  if (info.family === 'ed25519') return crypto.verify(null, data, key, signature)
  if (info.family === 'rsa') {
    return crypto.verify(
      hash ?? 'sha256',
      data,
      { key, padding: crypto.constants.RSA_PKCS1_PADDING },
      signature
    )
  }
  return crypto.verify(hash ?? 'sha256', data, { key, dsaEncoding: 'der' }, signature)
}

export { ML_DSA_OID }

export interface TestCa {
  key: TestKey
  der: Uint8Array
  subjectDer: Uint8Array
  keyId: Uint8Array
  aki: Extension
  hash: HashName
  notAfter: Date
}

/** A self-signed root CA certificate for `keyType`. */
export async function makeRoot(
  keyType: KeyType,
  subject: SubjectFields = {
    country: 'DE',
    organization: 'Open PKI Test',
    commonName: `Test Root ${keyType}`,
  },
  hash?: HashName
): Promise<TestCa> {
  const key = testKey(keyType)
  const h =
    hash ?? (keyType === 'ecdsa-p384' ? 'sha384' : keyType === 'ecdsa-p521' ? 'sha512' : 'sha256')
  const subjectDer = nameToDer(subject)
  const keyId = keyIdentifier(key.signer.publicKeySpki)
  const now = Date.now()
  const notAfter = new Date(now + 3650 * 86_400_000)
  const draft: CertificateDraft = {
    serial: newSerial(),
    issuerDer: subjectDer,
    subjectDer,
    notBefore: new Date(now - 60_000),
    notAfter,
    spki: key.signer.publicKeySpki,
    extensions: [
      basicConstraints({ ca: true }),
      keyUsage(['keyCertSign', 'cRLSign', 'digitalSignature']),
      subjectKeyIdentifier(key.signer.publicKeySpki),
    ],
    signatureAlgorithm: signatureAlgorithm(keyType, h),
  }
  const der = await signCertificate(draft, key.signer, h)
  return { key, der, subjectDer, keyId, aki: authorityKeyIdentifier(keyId), hash: h, notAfter }
}
