/*
 * Signer backends and the registry that routes a key reference to one.
 *
 * A key reference is a URI-like string whose scheme names the backend:
 *   software:<uuid>      key material encrypted at rest under the master key (this file)
 *   pkcs11:<RFC 7512>    a token through PKCS#11 (later)
 *   agent:<id>           the remote IoT-HSM agent (later)
 * Backends are registered at boot; a reference to one that is not registered fails with
 * E_SIGNER_UNAVAILABLE instead of crashing.
 */
import crypto from 'node:crypto'
import { generateKeyPair, importPrivateKeyPem, pkcs8KeyType } from './keys.js'
import type { MasterKeyRing } from './master_key.js'
import { SoftwareSigner } from './software_signer.js'
import { SignerError, isKeyType, type KeyType, type Signer } from './types.js'

export interface SignerBackend {
  /** The key-reference scheme this backend serves, e.g. 'software', 'pkcs11'. */
  readonly id: string
  /**
   * Returns a ready signer for `keyRef`. `material` is whatever the backend stored for the key
   * (for software keys: the encrypted blob); hardware backends may ignore it.
   */
  load(keyRef: string, material?: string): Promise<Signer>
  /** Releases cached signers and resources (optional). */
  close?(): Promise<void>
}

/** The scheme of a key reference ('software' for 'software:1234-...'). */
export function keyRefScheme(keyRef: string): string {
  const match = typeof keyRef === 'string' ? /^([a-z][a-z0-9+.-]*):./i.exec(keyRef) : null
  if (!match)
    throw new SignerError(
      'E_KEY_INVALID',
      `malformed key reference "${String(keyRef).slice(0, 80)}"`
    )
  return match[1].toLowerCase()
}

export class SignerRegistry {
  #backends = new Map<string, SignerBackend>()

  register(backend: SignerBackend): this {
    this.#backends.set(backend.id, backend)
    return this
  }

  get(id: string): SignerBackend | undefined {
    return this.#backends.get(id)
  }

  has(id: string): boolean {
    return this.#backends.has(id)
  }

  get ids(): string[] {
    return [...this.#backends.keys()]
  }

  /** The backend serving `keyRef`; E_SIGNER_UNAVAILABLE when it is not installed. */
  backendFor(keyRef: string): SignerBackend {
    const scheme = keyRefScheme(keyRef)
    const backend = this.#backends.get(scheme)
    if (!backend) {
      throw new SignerError(
        'E_SIGNER_UNAVAILABLE',
        `signer backend "${scheme}" is not available in this install`
      )
    }
    return backend
  }

  async load(keyRef: string, material?: string): Promise<Signer> {
    return this.backendFor(keyRef).load(keyRef, material)
  }

  async close(): Promise<void> {
    await Promise.all([...this.#backends.values()].map((b) => b.close?.()))
  }
}

/** What the software backend hands back for a new or imported key. Store all three fields. */
export interface CreatedSoftwareKey {
  keyRef: string
  keyType: KeyType
  /** MasterKeyRing blob of the PKCS#8 DER, bound to `keyRef` (AAD). */
  encrypted: string
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array
}

/**
 * Software keys: PKCS#8 encrypted under the master key, decrypted and parsed once per process
 * (signers are cached by key reference).
 */
export class SoftwareBackend implements SignerBackend {
  readonly id = 'software'
  readonly #ring: MasterKeyRing
  #cache = new Map<string, Promise<SoftwareSigner>>()

  constructor(ring: MasterKeyRing) {
    this.#ring = ring
  }

  /** Decrypts `material` (bound to `keyRef`) and returns the cached signer for the key. */
  load(keyRef: string, material?: string): Promise<SoftwareSigner> {
    const cached = this.#cache.get(keyRef)
    if (cached) return cached
    const pending = this.#load(keyRef, material)
    this.#cache.set(keyRef, pending)
    pending.catch(() => {
      if (this.#cache.get(keyRef) === pending) this.#cache.delete(keyRef)
    })
    return pending
  }

  async #load(keyRef: string, material: string | undefined): Promise<SoftwareSigner> {
    if (keyRefScheme(keyRef) !== this.id) {
      throw new SignerError('E_KEY_INVALID', `"${keyRef}" is not a software key reference`)
    }
    if (!material) {
      throw new SignerError('E_KEY_INVALID', `no key material is stored for software key ${keyRef}`)
    }
    const pkcs8 = this.#ring.decrypt(material, keyRef)
    try {
      return await SoftwareSigner.fromPkcs8(keyRef, pkcs8TypeOf(pkcs8, keyRef), pkcs8)
    } finally {
      pkcs8.fill(0)
    }
  }

  /** Generates a key of `keyType` and returns it encrypted, with a new `software:<uuid>` reference. */
  async createKey(keyType: KeyType): Promise<CreatedSoftwareKey> {
    if (!isKeyType(keyType))
      throw new SignerError('E_KEY_UNSUPPORTED', `unknown key type "${String(keyType)}"`)
    const { pkcs8, spki } = await generateKeyPair(keyType)
    return this.#seal(keyType, pkcs8, spki)
  }

  /** Imports a PEM private key (see importPrivateKeyPem) and returns it encrypted. */
  async importKey(pem: string, password?: string): Promise<CreatedSoftwareKey> {
    const { keyType, pkcs8, spki } = importPrivateKeyPem(pem, password)
    return this.#seal(keyType, pkcs8, spki)
  }

  /** Re-encrypts a key's blob under the current master key (unchanged if it already is). */
  reencrypt(keyRef: string, material: string): string {
    return this.#ring.reencrypt(material, keyRef)
  }

  /** Forgets the cached signer of `keyRef` (e.g. after the key was deleted). */
  evict(keyRef: string): void {
    const cached = this.#cache.get(keyRef)
    this.#cache.delete(keyRef)
    cached?.then((s) => s.dispose()).catch(() => {})
  }

  async close(): Promise<void> {
    for (const keyRef of [...this.#cache.keys()]) this.evict(keyRef)
  }

  #seal(keyType: KeyType, pkcs8: Uint8Array, spki: Uint8Array): CreatedSoftwareKey {
    const keyRef = `software:${crypto.randomUUID()}`
    try {
      return { keyRef, keyType, encrypted: this.#ring.encrypt(pkcs8, keyRef), spki }
    } finally {
      pkcs8.fill(0)
    }
  }
}

/** Key type of decrypted PKCS#8 material, with an error that names the key reference. */
function pkcs8TypeOf(pkcs8: Uint8Array, keyRef: string): KeyType {
  try {
    return pkcs8KeyType(pkcs8)
  } catch (err) {
    const reason = err instanceof SignerError ? err.message : 'unreadable'
    throw new SignerError(
      'E_KEY_INVALID',
      `stored key material of ${keyRef} is not usable: ${reason}`
    )
  }
}
