/*
 * Detects, once per key type, whether the running Node.js (its OpenSSL) handles a post-quantum
 * key type natively (Node >= 24 with OpenSSL 3.5 has ML-DSA; SLH-DSA depends on the build).
 * When it does, keys become node:crypto KeyObjects and sign in C on the libuv thread pool;
 * otherwise @noble/post-quantum runs on worker threads (see pq_worker_pool.ts).
 *
 * `PKI_PQ_IMPL=noble` (or setPqImplementation('noble')) forces the pure-JS path.
 */
import crypto from 'node:crypto'
import { ML_DSA, SLH_DSA, isMlDsaKeyType, type PqKeyType } from './algorithms.js'
import { encodeContextPrimitive, encodePkcs8 } from './asn1.js'

export type PqImplementation = 'auto' | 'noble'

let preference: PqImplementation = process.env.PKI_PQ_IMPL === 'noble' ? 'noble' : 'auto'
const cache = new Map<PqKeyType, boolean>()

/** Chooses between native node:crypto (when available) and @noble/post-quantum. */
export function setPqImplementation(mode: PqImplementation): void {
  preference = mode
}

export function getPqImplementation(): PqImplementation {
  return preference
}

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 7 + 1) & 0xff
  return out
}

/** A fixed, valid-looking test key in the standard PKCS#8 encoding for `keyType`. */
function probePkcs8(keyType: PqKeyType): Uint8Array {
  if (isMlDsaKeyType(keyType)) {
    return encodePkcs8(ML_DSA[keyType].oid, encodeContextPrimitive(0, pattern(32)))
  }
  const params = SLH_DSA[keyType]
  return encodePkcs8(params.oid, pattern(4 * params.n))
}

function probe(keyType: PqKeyType): boolean {
  try {
    const key = crypto.createPrivateKey({
      key: Buffer.from(probePkcs8(keyType)),
      format: 'der',
      type: 'pkcs8',
    })
    if (key.asymmetricKeyType !== (keyType as string)) return false
    if (isMlDsaKeyType(keyType)) {
      // Cheap for ML-DSA: make sure sign/verify are wired up, not only key parsing.
      const msg = Buffer.from('probe')
      const sig = crypto.sign(null, msg, key)
      return crypto.verify(null, msg, crypto.createPublicKey(key), sig)
    }
    return true
  } catch {
    return false
  }
}

/** True when node:crypto handles `keyType` natively in this process (and native is allowed). */
export function hasNativePq(keyType: PqKeyType): boolean {
  if (preference === 'noble') return false
  let known = cache.get(keyType)
  if (known === undefined) {
    known = probe(keyType)
    cache.set(keyType, known)
  }
  return known
}
