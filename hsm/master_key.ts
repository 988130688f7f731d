/*
 * The master key ring: one current 256-bit key (AES-256-GCM) that encrypts key material and
 * secrets at rest, plus older keys kept only to decrypt during a rotation.
 *
 * At-rest format (text, safe in any database column):
 *
 *   v1.<keyId>.<iv>.<ciphertext||tag>
 *
 * keyId = hex of the first 8 bytes of SHA-256(key); iv = 12 random bytes; both binary parts are
 * base64url without padding. The GCM additional data is "v1.<keyId>" plus, when given, a
 * caller-chosen context string (e.g. the key reference), so a blob cannot be moved to another
 * record or relabelled to another key id without failing authentication.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { SignerError } from './types.js'

const VERSION = 'v1'
const KEY_LENGTH = 32
const IV_LENGTH = 12
const TAG_LENGTH = 16
const CANARY_TEXT = 'open-pki master key canary v1'
const CANARY_AAD = 'master-key-canary'

export interface MasterKeyLoadOptions {
  /** The key itself (PKI_MASTER_KEY): 32 bytes as base64, base64url or 64 hex characters. */
  envKey?: string
  /** File holding the key in the same encoding; created (0600) when `create` is set. */
  keyFile?: string
  /** Older keys, same encoding, used only to decrypt (rotation). */
  previousKeys?: string[]
  /** Generate and write a new key to `keyFile` when neither envKey nor the file exists. */
  create?: boolean
}

export interface MasterKeyLoadResult {
  ring: MasterKeyRing
  /** True when a new key was generated and written to `path`. */
  created: boolean
  /** The key file used (read or written); absent when the key came from `envKey`. */
  path?: string
  /** Non-fatal findings, e.g. a key file readable by other users. Never contain key bytes. */
  warnings: string[]
}

function keyIdOf(key: Buffer): string {
  return crypto.createHash('sha256').update(key).digest().subarray(0, 8).toString('hex')
}

/**
 * Parses a master key given as 64 hex characters, base64 or base64url (padding optional).
 * `source` names where it came from, for the error message; the value is never echoed.
 */
export function parseMasterKey(text: string, source: string): Buffer {
  const value = text.trim()
  let key: Buffer | undefined
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    key = Buffer.from(value, 'hex')
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) || /^[A-Za-z0-9_-]+={0,2}$/.test(value)) {
    key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  }
  if (!key || key.length !== KEY_LENGTH) {
    throw new SignerError(
      'E_MASTER_KEY',
      `${source} is not a valid master key: expected 32 random bytes encoded as base64, base64url ` +
        `or 64 hex characters (generate one with: openssl rand -base64 32)`
    )
  }
  return key
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

export class MasterKeyRing {
  readonly currentKeyId: string
  readonly #current: Buffer
  readonly #keys: Map<string, Buffer>

  constructor(current: Uint8Array, previous: Uint8Array[] = []) {
    if (current.byteLength !== KEY_LENGTH) {
      throw new SignerError('E_MASTER_KEY', 'master key must be exactly 32 bytes')
    }
    this.#current = Buffer.from(current)
    this.currentKeyId = keyIdOf(this.#current)
    this.#keys = new Map([[this.currentKeyId, this.#current]])
    for (const key of previous) {
      if (key.byteLength !== KEY_LENGTH) {
        throw new SignerError('E_MASTER_KEY', 'previous master key must be exactly 32 bytes')
      }
      const buf = Buffer.from(key)
      const id = keyIdOf(buf)
      if (!this.#keys.has(id)) this.#keys.set(id, buf)
    }
  }

  /**
   * A 32-byte key derived from the current master key for another purpose (HKDF-SHA256 with
   * `label` as info), e.g. the framework's cookie key, so nodes sharing the master key agree.
   */
  deriveKey(label: string): Buffer {
    return Buffer.from(
      crypto.hkdfSync('sha256', this.#current, Buffer.alloc(0), `open-pki:${label}`, 32)
    )
  }

  /** Generates a new random master key, base64-encoded (what the key file and PKI_MASTER_KEY hold). */
  static generateKey(): string {
    return crypto.randomBytes(KEY_LENGTH).toString('base64')
  }

  /** Key id (hex of the first 8 bytes of SHA-256) of a key given in any accepted encoding. */
  static keyIdOf(keyText: string): string {
    return keyIdOf(parseMasterKey(keyText, 'master key'))
  }

  static load(opts: MasterKeyLoadOptions): MasterKeyLoadResult {
    const warnings: string[] = []
    const previous = (opts.previousKeys ?? [])
      .filter((k) => k.trim() !== '')
      .map((k, i) => parseMasterKey(k, `previous master key #${i + 1}`))

    if (opts.envKey !== undefined && opts.envKey.trim() !== '') {
      const key = parseMasterKey(opts.envKey, 'PKI_MASTER_KEY')
      return { ring: new MasterKeyRing(key, previous), created: false, warnings }
    }

    if (!opts.keyFile) {
      throw new SignerError(
        'E_MASTER_KEY',
        'no master key configured: set PKI_MASTER_KEY (32 random bytes, base64) or configure a master key file'
      )
    }

    const file = path.resolve(opts.keyFile)
    let text: string | undefined
    try {
      const stat = fs.statSync(file)
      if (!stat.isFile()) {
        throw new SignerError('E_MASTER_KEY', `master key file ${file} is not a regular file`)
      }
      if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
        warnings.push(
          `master key file ${file} is accessible by other users; run: chmod 600 ${file}`
        )
      }
      text = fs.readFileSync(file, 'utf8')
    } catch (err) {
      if (err instanceof SignerError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') {
        throw new SignerError(
          'E_MASTER_KEY',
          `cannot read master key file ${file}: ${code ?? (err as Error).message}`
        )
      }
    }

    if (text !== undefined) {
      const key = parseMasterKey(text, `master key file ${file}`)
      return { ring: new MasterKeyRing(key, previous), created: false, path: file, warnings }
    }

    if (!opts.create) {
      throw new SignerError(
        'E_MASTER_KEY',
        `master key file ${file} does not exist and PKI_MASTER_KEY is not set; ` +
          `restore the key file from your backup or set PKI_MASTER_KEY`
      )
    }

    const encoded = MasterKeyRing.generateKey()
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
      // 'wx': never overwrite a key another process wrote in the meantime.
      fs.writeFileSync(file, encoded + '\n', { mode: 0o600, flag: 'wx' })
      fs.chmodSync(file, 0o600) // umask could have narrowed, never widened; be explicit anyway
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') {
        const key = parseMasterKey(fs.readFileSync(file, 'utf8'), `master key file ${file}`)
        return { ring: new MasterKeyRing(key, previous), created: false, path: file, warnings }
      }
      throw new SignerError(
        'E_MASTER_KEY',
        `cannot create master key file ${file}: ${code ?? (err as Error).message}`
      )
    }
    return {
      ring: new MasterKeyRing(parseMasterKey(encoded, 'generated key'), previous),
      created: true,
      path: file,
      warnings,
    }
  }

  /** Ids of every key that can decrypt (current first). */
  get keyIds(): string[] {
    return [...this.#keys.keys()]
  }

  encrypt(plain: Uint8Array, aad?: string): string {
    const iv = crypto.randomBytes(IV_LENGTH)
    const header = `${VERSION}.${this.currentKeyId}`
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#current, iv, {
      authTagLength: TAG_LENGTH,
    })
    cipher.setAAD(additionalData(header, aad))
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()])
    return `${header}.${b64url(iv)}.${b64url(body)}`
  }

  decrypt(blob: string, aad?: string): Buffer {
    const { keyId, iv, body } = parseBlob(blob)
    const key = this.#keys.get(keyId)
    if (!key) {
      throw new SignerError(
        'E_MASTER_KEY',
        `encrypted with master key ${keyId}, which is not configured (configured: ${this.keyIds.join(', ')}); ` +
          `give that key as a previous master key to read this data`
      )
    }
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv, {
        authTagLength: TAG_LENGTH,
      })
      decipher.setAAD(additionalData(`${VERSION}.${keyId}`, aad))
      decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH))
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_LENGTH)),
        decipher.final(),
      ])
    } catch {
      throw new SignerError(
        'E_MASTER_KEY',
        `cannot decrypt data encrypted with master key ${keyId}: it was modified, belongs to another record, ` +
          `or the configured key with that id is wrong`
      )
    }
  }

  /** True when `blob` is not encrypted under the current key (so a rotation should re-encrypt it). */
  needsRotation(blob: string): boolean {
    return parseBlob(blob).keyId !== this.currentKeyId
  }

  /** Re-encrypts `blob` under the current key; returns it unchanged when it already is. */
  reencrypt(blob: string, aad?: string): string {
    if (!this.needsRotation(blob)) return blob
    const plain = this.decrypt(blob, aad)
    try {
      return this.encrypt(plain, aad)
    } finally {
      plain.fill(0)
    }
  }

  /** An encrypted known value; store it once so a later start can detect a wrong master key. */
  makeCanary(): string {
    return this.encrypt(Buffer.from(CANARY_TEXT, 'utf8'), CANARY_AAD)
  }

  /** True when the canary decrypts with a configured key. */
  checkCanary(blob: string): boolean {
    try {
      return this.decrypt(blob, CANARY_AAD).toString('utf8') === CANARY_TEXT
    } catch {
      return false
    }
  }

  /** Like checkCanary, but throws E_MASTER_KEY with a message an operator can act on. */
  verifyCanary(blob: string): void {
    let keyId: string
    try {
      keyId = parseBlob(blob).keyId
    } catch {
      throw new SignerError('E_MASTER_KEY', 'the stored master key canary is malformed')
    }
    if (this.checkCanary(blob)) return
    if (!this.#keys.has(keyId)) {
      throw new SignerError(
        'E_MASTER_KEY',
        `this database was set up with master key ${keyId}, but the configured master key is ${this.currentKeyId}; ` +
          `start with the original key (PKI_MASTER_KEY or the key file), or give it as a previous key to rotate`
      )
    }
    throw new SignerError(
      'E_MASTER_KEY',
      `the master key canary does not decrypt with master key ${keyId}`
    )
  }
}

function additionalData(header: string, aad: string | undefined): Buffer {
  return Buffer.from(aad === undefined ? header : `${header}\u0000${aad}`, 'utf8')
}

function parseBlob(blob: string): { keyId: string; iv: Buffer; body: Buffer } {
  const parts = typeof blob === 'string' ? blob.split('.') : []
  if (parts.length !== 4 || parts[0] !== VERSION || !/^[0-9a-f]{16}$/.test(parts[1])) {
    throw new SignerError(
      'E_MASTER_KEY',
      `not an encrypted blob of format ${VERSION} (expected v1.<keyId>.<iv>.<data>)`
    )
  }
  const iv = Buffer.from(parts[2], 'base64url')
  const body = Buffer.from(parts[3], 'base64url')
  if (
    iv.length !== IV_LENGTH ||
    body.length < TAG_LENGTH ||
    !/^[A-Za-z0-9_-]*$/.test(parts[2] + parts[3])
  ) {
    throw new SignerError('E_MASTER_KEY', 'encrypted blob is truncated or malformed')
  }
  return { keyId: parts[1], iv, body }
}
