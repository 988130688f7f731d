/*
 * What every node keeps in memory to answer GETs without the database: per CA, the pre-signed
 * response bodies of its certificates in one growing byte arena (a Map from serial to offset),
 * plus a small bounded LRU of answers signed on demand (unknown serials, SHA-256/384/512
 * CertIDs, several certificates per request). An arena instead of one Buffer per response keeps
 * a million responses at about their byte size with a million small numbers for the GC to see.
 *
 * Record layout at an offset: body length (u32), thisUpdate (u32, Unix seconds), nextUpdate
 * (u32), signer id (i32), then the BasicOCSPResponse body without certificates.
 */
import { issuerHashes, OCSP_HASHES, type OcspHash } from '#pki/index'

const HEADER = 16
const INITIAL_ARENA = 64 * 1024

export interface StoredResponse {
  body: Buffer
  /** Unix seconds */
  thisUpdate: number
  nextUpdate: number
  signerId: number
}

/** A serial's key: its magnitude bytes (no leading zero octets) as a latin1 string. */
export function serialKeyFromHex(hex: string): string {
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  return bytes.toString('latin1', start)
}

export class ResponseArena {
  #buf = Buffer.allocUnsafe(INITIAL_ARENA)
  #used = 0
  #live = 0
  #index = new Map<string, number>()

  get size(): number {
    return this.#index.size
  }

  get bytes(): number {
    return this.#live
  }

  set(key: string, r: StoredResponse): void {
    const length = HEADER + r.body.length
    if (this.#used + length > this.#buf.length) this.#grow(length)
    const at = this.#used
    const buf = this.#buf
    buf.writeUInt32BE(r.body.length, at)
    buf.writeUInt32BE(r.thisUpdate >>> 0, at + 4)
    buf.writeUInt32BE(r.nextUpdate >>> 0, at + 8)
    buf.writeInt32BE(r.signerId | 0, at + 12)
    r.body.copy(buf, at + HEADER)
    this.#used += length
    const old = this.#index.get(key)
    if (old !== undefined) this.#live -= HEADER + buf.readUInt32BE(old)
    this.#live += length
    this.#index.set(key, at)
  }

  get(key: string): StoredResponse | undefined {
    const at = this.#index.get(key)
    if (at === undefined) return undefined
    const buf = this.#buf
    const length = buf.readUInt32BE(at)
    return {
      body: buf.subarray(at + HEADER, at + HEADER + length),
      thisUpdate: buf.readUInt32BE(at + 4),
      nextUpdate: buf.readUInt32BE(at + 8),
      signerId: buf.readInt32BE(at + 12),
    }
  }

  delete(key: string): void {
    const at = this.#index.get(key)
    if (at === undefined) return
    this.#live -= HEADER + this.#buf.readUInt32BE(at)
    this.#index.delete(key)
  }

  /** Signer ids still referred to. */
  signerIds(): Set<number> {
    const ids = new Set<number>()
    for (const at of this.#index.values()) ids.add(this.#buf.readInt32BE(at + 12))
    return ids
  }

  /** Makes room: compacts when more than half is garbage, otherwise doubles. */
  #grow(extra: number) {
    const live = this.#live + extra
    const size = Math.max(INITIAL_ARENA, 2 ** Math.ceil(Math.log2(live * 2)))
    const next = Buffer.allocUnsafe(size)
    let used = 0
    for (const [key, at] of this.#index) {
      const length = HEADER + this.#buf.readUInt32BE(at)
      this.#buf.copy(next, used, at, at + length)
      this.#index.set(key, used)
      used += length
    }
    this.#buf = next
    this.#used = used
  }
}

/** An answer signed on demand, kept in a CA's LRU. */
export interface CachedAnswer {
  der: Buffer
  thisUpdate: number
  nextUpdate: number
}

const LRU_MAX = 5000

export class CaMemory {
  readonly arena = new ResponseArena()
  readonly lru = new Map<string, CachedAnswer>()
  /** Cache-Control max-age of GET answers, seconds (the CA's setting). */
  maxAge = 300
  honourNonces = false
  /** The CA's key type (post-quantum CAs always answer pre-signed). */
  keyType: string
  issuerKeys: string[] = []

  constructor(
    readonly caId: number,
    keyType: string
  ) {
    this.keyType = keyType
  }

  cached(key: string): CachedAnswer | undefined {
    const hit = this.lru.get(key)
    if (!hit) return undefined
    this.lru.delete(key)
    this.lru.set(key, hit)
    return hit
  }

  remember(key: string, answer: CachedAnswer): void {
    this.lru.delete(key)
    this.lru.set(key, answer)
    if (this.lru.size > LRU_MAX) this.lru.delete(this.lru.keys().next().value!)
  }
}

/** The issuer key of a CertID: hash name, issuerNameHash and issuerKeyHash. */
export function issuerKey(hash: OcspHash, nameHash: Uint8Array, keyHash: Uint8Array): string {
  return (
    hash +
    Buffer.from(nameHash.buffer, nameHash.byteOffset, nameHash.byteLength).toString('latin1') +
    Buffer.from(keyHash.buffer, keyHash.byteOffset, keyHash.byteLength).toString('latin1')
  )
}

/** Everything a node holds: CAs by id and by the issuer hashes of their certificates. */
export class NodeMemory {
  readonly cas = new Map<number, CaMemory>()
  readonly byIssuer = new Map<string, CaMemory>()
  /** The `certs` field each signer adds to its answers (empty for a CA key). */
  readonly certsFields = new Map<number, Buffer>()

  /** Registers (or refreshes) a CA; keeps its stored responses when it was known. */
  putCa(caId: number, keyType: string, certificatePem: string): CaMemory {
    let ca = this.cas.get(caId)
    if (!ca) {
      ca = new CaMemory(caId, keyType)
      this.cas.set(caId, ca)
    }
    ca.keyType = keyType
    for (const key of ca.issuerKeys) this.byIssuer.delete(key)
    ca.issuerKeys = OCSP_HASHES.map((hash) => {
      const h = issuerHashes(certificatePem, hash)
      return issuerKey(hash, h.nameHash, h.keyHash)
    })
    for (const key of ca.issuerKeys) this.byIssuer.set(key, ca)
    return ca
  }

  dropCa(caId: number): void {
    const ca = this.cas.get(caId)
    if (!ca) return
    for (const key of ca.issuerKeys) this.byIssuer.delete(key)
    this.cas.delete(caId)
  }

  clear(): void {
    this.cas.clear()
    this.byIssuer.clear()
    this.certsFields.clear()
  }
}
