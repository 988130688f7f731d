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

/*
 * Limits on the work a key file may ask for. The derivation runs synchronously (the import path
 * is synchronous), so an unbounded parameter from the file would freeze the server: PBKDF2 is
 * capped at 1,000,000 iterations (OpenSSL's default is 2048, OWASP suggests 600,000 for
 * SHA-256), scrypt at 256 MiB of memory (128·N·r) and as much work (128·N·r·p).
 */
export const MAX_PBKDF2_ITERATIONS = 1_000_000
export const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
/** Fixed maxmem for node:crypto: OpenSSL counts a few KiB more than 128·N·r. */
const SCRYPT_MAXMEM = MAX_SCRYPT_MEMORY + 1024 * 1024
const WHAT = 'encrypted PKCS#8 private key'
const REENCRYPT = 're-encrypt it with: openssl pkcs8 -topk8 -v2 aes-256-cbc'

/** PBES1 (PKCS#5 v1.5) and PKCS#12 password-based schemes: PBEParameter { salt, iterations }. */
const PBES1_PREFIXES = ['1.2.840.113549.1.5.', '1.2.840.113549.1.12.1.']

function checkIterations(iterations: number, what: string): void {
  if (iterations < 1) fail(`${WHAT}: ${what} iteration count must be at least 1`)
  if (iterations > MAX_PBKDF2_ITERATIONS) {
    fail(
      `${WHAT}: the ${what} iteration count ${iterations} is above the limit of ${MAX_PBKDF2_ITERATIONS.toLocaleString('en-US')}; ${REENCRYPT} -iter 600000`,
      'E_KEY_UNSUPPORTED'
    )
  }
}

type Kdf =
  | { kind: 'pbkdf2'; salt: Uint8Array; iterations: number; digest?: string }
  | { kind: 'scrypt'; salt: Uint8Array; N: number; r: number; p: number }

/**
 * Parses the PBES2 key derivation parameters and refuses those over the limits. `keyLength`
 * is the cipher's key length when the cipher is known. `digest` is undefined for an unknown
 * PRF (node:crypto is then tried, the limits having been checked).
 */
function parseKdf(kdf: { oid: string; params?: AsnNode }, keyLength?: number): Kdf {
  if (kdf.oid === PBKDF2) {
    const items = sequenceItems(kdf.params, `${WHAT}: PBKDF2 parameters`)
    const salt = octetsOf(items[0], `${WHAT}: PBKDF2 salt`)
    const iterations = smallIntOf(items[1], `${WHAT}: PBKDF2 iteration count`)
    checkIterations(iterations, 'PBKDF2')
    let rest = items.slice(2)
    if (rest[0] && !(rest[0].idBlock.tagClass === 1 && rest[0].idBlock.tagNumber === 16)) {
      const declared = smallIntOf(rest[0], `${WHAT}: PBKDF2 key length`)
      if (keyLength !== undefined && declared !== keyLength)
        fail(`${WHAT}: PBKDF2 key length does not match the cipher`)
      rest = rest.slice(1)
    }
    let digest: string | undefined = 'sha1'
    if (rest[0]) digest = PRFS[algorithmIdentifierOf(rest[0], `${WHAT}: PBKDF2 PRF`).oid]
    return { kind: 'pbkdf2', salt, iterations, digest }
  }
  if (kdf.oid === SCRYPT) {
    const items = sequenceItems(kdf.params, `${WHAT}: scrypt parameters`)
    const salt = octetsOf(items[0], `${WHAT}: scrypt salt`)
    const N = smallIntOf(items[1], `${WHAT}: scrypt cost`)
    const r = smallIntOf(items[2], `${WHAT}: scrypt block size`)
    const p = smallIntOf(items[3], `${WHAT}: scrypt parallelization`)
    if (items[4]) {
      const declared = smallIntOf(items[4], `${WHAT}: scrypt key length`)
      if (keyLength !== undefined && declared !== keyLength)
        fail(`${WHAT}: scrypt key length does not match the cipher`)
    }
    if (N < 2 || !Number.isInteger(Math.log2(N)) || r < 1 || p < 1)
      fail(`${WHAT}: invalid scrypt parameters (N must be a power of two, r and p at least 1)`)
    if (128 * N * r > MAX_SCRYPT_MEMORY || 128 * N * r * p > MAX_SCRYPT_MEMORY) {
      fail(
        `${WHAT}: the scrypt parameters (N=${N}, r=${r}, p=${p}) are above the limit of 128·N·r·p ≤ ${MAX_SCRYPT_MEMORY / 1024 / 1024} MiB; ${REENCRYPT} (or -scrypt, whose defaults N=16384, r=8, p=1 are fine)`,
        'E_KEY_UNSUPPORTED'
      )
    }
    return { kind: 'scrypt', salt, N, r, p }
  }
  fail(
    `${WHAT}: unsupported key derivation function (${kdf.oid}); ${REENCRYPT}`,
    'E_KEY_UNSUPPORTED'
  )
}

/** Derives the cipher key; any failure of the crypto library becomes E_KEY_INVALID. */
function deriveKey(kdf: Kdf, password: Buffer, keyLength: number, digest: string): Buffer {
  try {
    if (kdf.kind === 'pbkdf2') {
      return crypto.pbkdf2Sync(password, kdf.salt, kdf.iterations, keyLength, digest)
    }
    return crypto.scryptSync(password, kdf.salt, keyLength, {
      N: kdf.N,
      r: kdf.r,
      p: kdf.p,
      maxmem: SCRYPT_MAXMEM,
    })
  } catch {
    return fail(
      `${WHAT}: the key could not be derived from the password (${kdf.kind === 'pbkdf2' ? 'PBKDF2' : 'scrypt'} parameters refused by the crypto library); ${REENCRYPT}`
    )
  }
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
  if (scheme.oid !== PBES2) {
    // node:crypto decrypts these with the file's iteration count: check it first.
    if (!PBES1_PREFIXES.some((prefix) => scheme.oid.startsWith(prefix))) {
      fail(
        `${WHAT}: unsupported encryption scheme (${scheme.oid}); ${REENCRYPT}`,
        'E_KEY_UNSUPPORTED'
      )
    }
    const pbe = sequenceItems(scheme.params, `${WHAT}: PBE parameters`)
    octetsOf(pbe[0], `${WHAT}: PBE salt`)
    checkIterations(smallIntOf(pbe[1], `${WHAT}: PBE iteration count`), 'PBE')
    return undefined
  }

  const pbes2 = sequenceItems(scheme.params, `${WHAT}: PBES2 parameters`)
  if (pbes2.length !== 2) fail(`${WHAT}: malformed PBES2 parameters`)
  const kdfId = algorithmIdentifierOf(pbes2[0], `${WHAT}: key derivation`)
  const enc = algorithmIdentifierOf(pbes2[1], `${WHAT}: encryption scheme`)
  const cipher = CIPHERS[enc.oid]
  // The limits are checked before anything else, node:crypto's fallback included.
  const kdf = parseKdf(kdfId, cipher?.keyLength)
  if (!cipher) return undefined
  if (isContextTag(enc.params, 0)) return undefined // RC2-style parameters: not ours
  const iv = octetsOf(enc.params, `${WHAT}: cipher IV`)
  if (iv.length !== cipher.ivLength) fail(`${WHAT}: cipher IV has the wrong length`)
  const digest = kdf.kind === 'pbkdf2' ? kdf.digest : 'scrypt'
  if (!digest) return undefined

  const key = deriveKey(kdf, Buffer.from(password, 'utf8'), cipher.keyLength, digest)
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
