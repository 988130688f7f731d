/*
 * The signer contract. Everything in app/ that needs a private-key operation goes through
 * a Signer; key material never leaves hsm/. This folder imports nothing from app/.
 */

/** Every key type the install can hold, with the names the CLI and API use. */
export const KEY_TYPES = [
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'ed25519',
  'ml-dsa-44',
  'ml-dsa-65',
  'ml-dsa-87',
  'slh-dsa-sha2-128s',
  'slh-dsa-sha2-192s',
  'slh-dsa-sha2-256s',
] as const

export type KeyType = (typeof KEY_TYPES)[number]

/** Digest used by RSA (PKCS#1 v1.5) and ECDSA signatures. Ignored by EdDSA, ML-DSA, SLH-DSA. */
export type HashName = 'sha256' | 'sha384' | 'sha512'

export function isKeyType(value: unknown): value is KeyType {
  return typeof value === 'string' && (KEY_TYPES as readonly string[]).includes(value)
}

/** A private key usable for signing. Implementations never expose the private key. */
export interface Signer {
  /** Backend-qualified reference, e.g. `software:<uuid>`, later `pkcs11:...`. */
  readonly keyRef: string
  readonly keyType: KeyType
  /** DER-encoded SubjectPublicKeyInfo of the key. */
  readonly publicKeySpki: Uint8Array
  /**
   * Signs `data` (the complete to-be-signed bytes, not a digest).
   * RSA: PKCS#1 v1.5 with `hash`. ECDSA: DER-encoded (r, s) over `hash`.
   * Ed25519 / ML-DSA / SLH-DSA: pure signature over `data`, `hash` ignored.
   */
  sign(data: Uint8Array, hash: HashName): Promise<Uint8Array>
  /**
   * Incremental signing of large to-be-signed data fed in pieces (RSA and ECDSA, whose
   * signatures are over a digest). Undefined for Ed25519, ML-DSA and SLH-DSA (pure signatures
   * need the whole data at once).
   */
  readonly stream?: (hash: HashName) => StreamSigner
}

/** Feeds the to-be-signed bytes in pieces; `sign()` ends it and returns the signature. */
export interface StreamSigner {
  update(chunk: Uint8Array): void
  sign(): Promise<Uint8Array>
}

/** Typed error raised by signer backends. */
export class SignerError extends Error {
  constructor(
    public code: 'E_SIGNER_UNAVAILABLE' | 'E_KEY_INVALID' | 'E_KEY_UNSUPPORTED' | 'E_MASTER_KEY',
    message: string
  ) {
    super(message)
    this.name = 'SignerError'
  }
}
