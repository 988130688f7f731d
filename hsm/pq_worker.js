/*
 * Worker thread for pure-JS post-quantum signing (@noble/post-quantum), started by
 * pq_worker_pool.ts. Plain ESM JavaScript on purpose: it loads with or without a TypeScript
 * loader, and the pool starts it without the parent's execArgv.
 *
 * Messages in:
 *   { op: 'load', keyId, keyType, form: 'seed' | 'expanded' | 'slh', bytes }   cache a key
 *   { op: 'unload', keyId }
 *   { op: 'sign', id, keyId, data }                                           -> { id, ok, result }
 *   { op: 'publicKey', id, keyType, form, bytes }                             -> { id, ok, result }
 *   { op: 'keygen', id, keyType, seed }                                       -> { id, ok, result, secretKey }
 *   { op: 'verify', id, key, hash, options, data, signature }                 -> { id, ok, valid } or { id, ok, badKey }
 *     (a classical signature: `key` as crypto.createPublicKey takes it; see hsm/keys.ts verifySignatureOffThread)
 * Errors come back as { id, ok: false, error } with a message that never contains key bytes.
 */
import { createPublicKey, verify } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import * as slh from '@noble/post-quantum/slh-dsa.js'

const ML_DSA = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 }

/** @param {string} keyType */
function algorithm(keyType) {
  if (keyType in ML_DSA) return ML_DSA[/** @type {keyof typeof ML_DSA} */ (keyType)]
  if (keyType.startsWith('slh-dsa-')) {
    const name = 'slh_dsa_' + keyType.slice('slh-dsa-'.length).replace('-', '_')
    const impl = /** @type {Record<string, unknown>} */ (slh)[name]
    if (impl) return /** @type {typeof slh.slh_dsa_sha2_128s} */ (impl)
  }
  throw new Error(`unsupported post-quantum key type "${keyType}"`)
}

/**
 * Turns stored key material into the secret key noble signs with.
 * @param {string} keyType @param {'seed' | 'expanded' | 'slh'} form @param {Uint8Array} bytes
 */
function secretKeyOf(keyType, form, bytes) {
  const alg = algorithm(keyType)
  if (form === 'seed') return alg.keygen(bytes).secretKey
  return bytes
}

/** @type {Map<number, { alg: ReturnType<typeof algorithm>, secretKey?: Uint8Array, error?: string }>} */
const keys = new Map()

/** @param {unknown} err */
function messageOf(err) {
  return err instanceof Error ? err.message : String(err)
}

parentPort?.on('message', (msg) => {
  switch (msg.op) {
    case 'load': {
      try {
        const alg = algorithm(msg.keyType)
        keys.set(msg.keyId, { alg, secretKey: secretKeyOf(msg.keyType, msg.form, msg.bytes) })
      } catch (err) {
        keys.set(msg.keyId, { alg: ml_dsa44, error: `cannot load key: ${messageOf(err)}` })
      }
      return
    }
    case 'unload': {
      const entry = keys.get(msg.keyId)
      if (entry?.secretKey) entry.secretKey.fill(0)
      keys.delete(msg.keyId)
      return
    }
    case 'sign': {
      const entry = keys.get(msg.keyId)
      if (!entry || !entry.secretKey) {
        parentPort?.postMessage({
          id: msg.id,
          ok: false,
          error: entry?.error ?? 'key not loaded in worker',
        })
        return
      }
      try {
        // Pure (empty context), hedged: noble draws fresh randomness by default.
        const result = entry.alg.sign(msg.data, entry.secretKey)
        parentPort?.postMessage({ id: msg.id, ok: true, result })
      } catch (err) {
        parentPort?.postMessage({ id: msg.id, ok: false, error: messageOf(err) })
      }
      return
    }
    case 'publicKey': {
      try {
        const alg = algorithm(msg.keyType)
        const result =
          msg.form === 'seed' ? alg.keygen(msg.bytes).publicKey : alg.getPublicKey(msg.bytes)
        parentPort?.postMessage({ id: msg.id, ok: true, result })
      } catch (err) {
        parentPort?.postMessage({ id: msg.id, ok: false, error: messageOf(err) })
      }
      return
    }
    case 'keygen': {
      try {
        const pair = algorithm(msg.keyType).keygen(msg.seed)
        parentPort?.postMessage({
          id: msg.id,
          ok: true,
          result: pair.publicKey,
          secretKey: pair.secretKey,
        })
      } catch (err) {
        parentPort?.postMessage({ id: msg.id, ok: false, error: messageOf(err) })
      }
      return
    }
    case 'verify': {
      let key
      try {
        key = createPublicKey(msg.key)
      } catch {
        parentPort?.postMessage({ id: msg.id, ok: true, badKey: true })
        return
      }
      let valid = false
      try {
        valid = verify(msg.hash, msg.data, { ...msg.options, key }, msg.signature)
      } catch {
        valid = false
      }
      parentPort?.postMessage({ id: msg.id, ok: true, valid })
      return
    }
    default:
      if (typeof msg.id === 'number') {
        parentPort?.postMessage({ id: msg.id, ok: false, error: `unknown operation "${msg.op}"` })
      }
  }
})
