/*
 * Decryption of PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018): PBKDF2 (HMAC-SHA1/2) or
 * scrypt (RFC 7914) as key derivation, AES-CBC or 3DES-CBC as cipher — what `openssl pkcs8
 * -topk8 -v2 ...` and `openssl genpkey -aes-256-cbc` write. Done here rather than by
 * node:crypto so that it also works for key types this Node's OpenSSL cannot parse (ML-DSA and
 * SLH-DSA on Node 20); other schemes (PBES1) are left to node:crypto by the caller.
 */
import crypto from 'node:crypto'
import {
  algorithmIdentifierOf,
  decodeDer,
  fail,
  isContextTag,
  octetsOf,
  sequenceItems,
  smallIntOf,
  type AsnNode,
} from './asn1.js'
import { SignerError } from './types.js'

const PBES2 = '1.2.840.113549.1.5.13'
const PBKDF2 = '1.2.840.113549.1.5.12'
const SCRYPT = '1.3.6.1.4.1.11591.4.11'

const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
}

const CIPHERS: Record<string, { name: string; keyLength: number; ivLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
}

const MAX_PBKDF2_ITERATIONS = 10_000_000
const WHAT = 'encrypted PKCS#8 private key'

function deriveKey(
  kdf: { oid: string; params?: AsnNode },
  password: Buffer,
  keyLength: number
): Buffer | undefined {
  if (kdf.oid === PBKDF2) {
    const items = sequenceItems(kdf.params, `${WHAT}: PBKDF2 parameters`)
    const salt = octetsOf(items[0], `${WHAT}: PBKDF2 salt`)
    const iterations = smallIntOf(items[1], `${WHAT}: PBKDF2 iteration count`)
    if (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS)
      fail(`${WHAT}: unreasonable PBKDF2 iteration count`)
    let rest = items.slice(2)
    if (rest[0] && !(rest[0].idBlock.tagClass === 1 && rest[0].idBlock.tagNumber === 16)) {
      const declared = smallIntOf(rest[0], `${WHAT}: PBKDF2 key length`)
      if (declared !== keyLength) fail(`${WHAT}: PBKDF2 key length does not match the cipher`)
      rest = rest.slice(1)
    }
    let digest = 'sha1'
    if (rest[0]) {
      const prf = algorithmIdentifierOf(rest[0], `${WHAT}: PBKDF2 PRF`)
      const known = PRFS[prf.oid]
      if (!known) return undefined
      digest = known
    }
    return crypto.pbkdf2Sync(password, salt, iterations, keyLength, digest)
  }
  if (kdf.oid === SCRYPT) {
    const items = sequenceItems(kdf.params, `${WHAT}: scrypt parameters`)
    const salt = octetsOf(items[0], `${WHAT}: scrypt salt`)
    const N = smallIntOf(items[1], `${WHAT}: scrypt cost`)
    const r = smallIntOf(items[2], `${WHAT}: scrypt block size`)
    const p = smallIntOf(items[3], `${WHAT}: scrypt parallelization`)
    if (items[4]) {
      const declared = smallIntOf(items[4], `${WHAT}: scrypt key length`)
      if (declared !== keyLength) fail(`${WHAT}: scrypt key length does not match the cipher`)
    }
    if (N < 2 || N > 2 ** 22 || r < 1 || r > 32 || p < 1 || p > 16)
      fail(`${WHAT}: unreasonable scrypt parameters`)
    return crypto.scryptSync(password, salt, keyLength, {
      N,
      r,
      p,
      maxmem: 128 * N * r * p + 64 * 1024 * 1024,
    })
  }
  return undefined
}

/**
 * Returns the decrypted PKCS#8 DER, or `undefined` when the scheme is not PBES2 with a KDF and
 * cipher listed above (the caller then tries node:crypto). A wrong password throws
 * E_KEY_INVALID.
 */
export function decryptPkcs8(der: Uint8Array, password: string): Uint8Array | undefined {
  const items = sequenceItems(decodeDer(der, WHAT), WHAT)
  if (items.length !== 2) fail(`${WHAT}: expected two fields`)
  const scheme = algorithmIdentifierOf(items[0], WHAT)
  const encrypted = octetsOf(items[1], `${WHAT}: encrypted data`)
  if (scheme.oid !== PBES2) return undefined

  const pbes2 = sequenceItems(scheme.params, `${WHAT}: PBES2 parameters`)
  if (pbes2.length !== 2) fail(`${WHAT}: malformed PBES2 parameters`)
  const kdf = algorithmIdentifierOf(pbes2[0], `${WHAT}: key derivation`)
  const enc = algorithmIdentifierOf(pbes2[1], `${WHAT}: encryption scheme`)
  const cipher = CIPHERS[enc.oid]
  if (!cipher) return undefined
  if (isContextTag(enc.params, 0)) return undefined // RC2-style parameters: not ours
  const iv = octetsOf(enc.params, `${WHAT}: cipher IV`)
  if (iv.length !== cipher.ivLength) fail(`${WHAT}: cipher IV has the wrong length`)

  const key = deriveKey(kdf, Buffer.from(password, 'utf8'), cipher.keyLength)
  if (!key) return undefined
  try {
    const decipher = crypto.createDecipheriv(cipher.name, key, iv)
    const plain = Buffer.concat([decipher.update(encrypted), decipher.final()])
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength)
  } catch {
    throw new SignerError(
      'E_KEY_INVALID',
      'wrong password for the encrypted private key (or the key is corrupted)'
    )
  } finally {
    key.fill(0)
  }
}
