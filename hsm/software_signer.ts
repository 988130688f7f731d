/*
 * SoftwareSigner: a private key held in this process, parsed once, used many times.
 *
 * - ECDSA / Ed25519: node:crypto sign, synchronously, with the cached KeyObject (tens of
 *   microseconds: cheaper than any hand-off), returned as an already-resolved promise.
 * - RSA: node:crypto sign with a callback, so the modular exponentiation runs on the libuv pool.
 * - ML-DSA / SLH-DSA: native node:crypto (callback form) when this Node supports the key type,
 *   else @noble/post-quantum on the worker pool, which caches the secret key per key id.
 *
 * The private key never leaves this object (or the worker that holds its copy).
 */
import crypto, { type KeyObject } from 'node:crypto'
import { isPqKeyType, pqOid, type PqKeyType } from './algorithms.js'
import { encodeSpki, parsePkcs8 } from './asn1.js'
import { classicalKeyType, decodePqPkcs8, pqPublicKey } from './keys.js'
import { hasNativePq } from './pq_native.js'
import { getPqWorkerPool, shutdownPqWorkerPool, type PqWorkerPool } from './pq_worker_pool.js'
import {
  SignerError,
  type HashName,
  type KeyType,
  type Signer,
  type StreamSigner,
} from './types.js'

type SignFn = (data: Uint8Array, hash: HashName) => Promise<Uint8Array>

function isHash(hash: unknown): hash is HashName {
  return hash === 'sha256' || hash === 'sha384' || hash === 'sha512'
}

function badHash(hash: unknown): Promise<never> {
  return Promise.reject(
    new SignerError(
      'E_KEY_UNSUPPORTED',
      `unsupported digest "${String(hash)}" (use sha256, sha384 or sha512)`
    )
  )
}

function signFailed(err: unknown): SignerError {
  return new SignerError(
    'E_SIGNER_UNAVAILABLE',
    `signing failed: ${(err as Error)?.message ?? String(err)}`
  )
}

function u8(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

function spkiOf(key: KeyObject): Uint8Array {
  return u8(crypto.createPublicKey(key).export({ type: 'spki', format: 'der' }))
}

function privateKeyFromDer(pkcs8: Uint8Array): KeyObject {
  try {
    return crypto.createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  } catch {
    throw new SignerError(
      'E_KEY_INVALID',
      'the stored private key could not be read (corrupted PKCS#8)'
    )
  }
}

// Keys handed to the worker pool are forgotten there when their signer is garbage-collected.
const poolKeys = new FinalizationRegistry<{ pool: PqWorkerPool; keyId: number }>(
  ({ pool, keyId }) => pool.unregisterKey(keyId)
)

export class SoftwareSigner implements Signer {
  readonly keyRef: string
  readonly keyType: KeyType
  readonly publicKeySpki: Uint8Array
  /**
   * Signs the complete to-be-signed bytes. RSA: PKCS#1 v1.5 with `hash`; ECDSA: DER (r, s) over
   * `hash`; Ed25519 / ML-DSA / SLH-DSA: pure signature, `hash` ignored.
   */
  readonly sign: SignFn
  readonly stream?: (hash: HashName) => StreamSigner
  /** 'node' (node:crypto) or 'noble-worker' (@noble/post-quantum on worker threads). */
  readonly implementation: 'node' | 'noble-worker'
  #dispose: () => void

  private constructor(
    keyRef: string,
    keyType: KeyType,
    spki: Uint8Array,
    sign: SignFn,
    implementation: 'node' | 'noble-worker',
    dispose: () => void = () => {},
    stream?: (hash: HashName) => StreamSigner
  ) {
    this.keyRef = keyRef
    this.keyType = keyType
    this.publicKeySpki = spki
    this.sign = sign
    if (stream) this.stream = stream
    this.implementation = implementation
    this.#dispose = dispose
  }

  /**
   * Parses `pkcs8` (DER, any encoding importPkcs8 accepts) once and returns a signer.
   * E_KEY_INVALID when the material is unreadable or is not a `keyType` key.
   */
  static async fromPkcs8(
    keyRef: string,
    keyType: KeyType,
    pkcs8: Uint8Array
  ): Promise<SoftwareSigner> {
    if (isPqKeyType(keyType)) return SoftwareSigner.#fromPqPkcs8(keyRef, keyType, pkcs8)

    const key = privateKeyFromDer(pkcs8)
    let actual: KeyType
    try {
      actual = classicalKeyType(key)
    } catch (err) {
      const reason = err instanceof SignerError ? err.message : 'unreadable key'
      throw new SignerError('E_KEY_INVALID', `key ${keyRef} is not a ${keyType} key (${reason})`)
    }
    if (actual !== keyType) {
      throw new SignerError(
        'E_KEY_INVALID',
        `key ${keyRef} is not a ${keyType} key (found ${actual})`
      )
    }
    return new SoftwareSigner(
      keyRef,
      keyType,
      spkiOf(key),
      classicalSignFn(keyType, key),
      'node',
      undefined,
      keyType === 'ed25519' ? undefined : classicalStream(key)
    )
  }

  static async #fromPqPkcs8(
    keyRef: string,
    keyType: PqKeyType,
    pkcs8: Uint8Array
  ): Promise<SoftwareSigner> {
    const decoded = decodePqPkcs8(parsePkcs8(pkcs8))
    if (!decoded || decoded.keyType !== keyType) {
      throw new SignerError(
        'E_KEY_INVALID',
        `key ${keyRef} is not a ${keyType} key (found ${decoded?.keyType ?? 'another algorithm'})`
      )
    }
    if (hasNativePq(keyType)) {
      const key = privateKeyFromDer(decoded.pkcs8)
      let disposed = false
      const sign: SignFn = (data) =>
        disposed
          ? Promise.reject(
              new SignerError('E_KEY_INVALID', `key ${keyRef} is not loaded (disposed)`)
            )
          : new Promise((resolve, reject) => {
              crypto.sign(null, data, key, (err, sig) =>
                err ? reject(signFailed(err)) : resolve(sig)
              )
            })
      return new SoftwareSigner(keyRef, keyType, spkiOf(key), sign, 'node', () => {
        disposed = true
      })
    }
    const pool = getPqWorkerPool()
    const publicKey = await pqPublicKey(decoded)
    const spki = encodeSpki(pqOid(keyType), publicKey)
    const keyId = pool.registerKey(keyType, decoded.form, decoded.bytes) // copies
    decoded.bytes.fill(0)
    const sign: SignFn = (data) => pool.sign(keyId, data)
    const signer = new SoftwareSigner(keyRef, keyType, spki, sign, 'noble-worker', () => {
      poolKeys.unregister(signer)
      pool.unregisterKey(keyId)
    })
    poolKeys.register(signer, { pool, keyId }, signer)
    return signer
  }

  /** Forgets the key material held for this signer by worker threads. Later sign() calls fail. */
  dispose(): void {
    this.#dispose()
    this.#dispose = () => {}
  }

  /** Stops the post-quantum worker threads (tests, shutdown). They restart on demand. */
  static async close(): Promise<void> {
    await shutdownPqWorkerPool()
  }
}

/** RSA / ECDSA: the digest is computed as pieces arrive (node:crypto Sign), then signed. */
function classicalStream(key: KeyObject): (hash: HashName) => StreamSigner {
  return (hash) => {
    if (!isHash(hash)) throw new SignerError('E_KEY_UNSUPPORTED', `unsupported hash "${hash}"`)
    const signer = crypto.createSign(hash)
    let done = false
    return {
      update(chunk) {
        if (done) throw new SignerError('E_SIGNER_UNAVAILABLE', 'stream already signed')
        signer.update(chunk)
      },
      sign() {
        if (done)
          return Promise.reject(new SignerError('E_SIGNER_UNAVAILABLE', 'stream already signed'))
        done = true
        try {
          return Promise.resolve(signer.sign(key))
        } catch (err) {
          return Promise.reject(signFailed(err))
        }
      },
    }
  }
}

function classicalSignFn(keyType: KeyType, key: KeyObject): SignFn {
  switch (keyType) {
    case 'ecdsa-p256':
    case 'ecdsa-p384':
    case 'ecdsa-p521':
      // DER-encoded (r, s) is node's default dsaEncoding; the KeyObject is passed as is.
      return (data, hash) => {
        if (!isHash(hash)) return badHash(hash)
        try {
          return Promise.resolve(crypto.sign(hash, data, key))
        } catch (err) {
          return Promise.reject(signFailed(err))
        }
      }
    case 'ed25519':
      return (data) => {
        try {
          return Promise.resolve(crypto.sign(null, data, key))
        } catch (err) {
          return Promise.reject(signFailed(err))
        }
      }
    default:
      // RSA PKCS#1 v1.5 (node's default padding for rsaEncryption keys), on the libuv pool.
      return (data, hash) => {
        if (!isHash(hash)) return badHash(hash)
        return new Promise((resolve, reject) => {
          crypto.sign(hash, data, key, (err, sig) => (err ? reject(signFailed(err)) : resolve(sig)))
        })
      }
  }
}
