/*
 * Software key material: generation, import, public-key description and signature verification
 * for every key type of the install (RSA, ECDSA, Ed25519, ML-DSA, SLH-DSA).
 *
 * Encodings are the standard ones, readable by OpenSSL 3.5:
 * - RSA / EC / Ed25519: PKCS#8 and SPKI as node:crypto (OpenSSL) writes them;
 * - ML-DSA (RFC 9881): SPKI with parameters absent and the raw public key; PKCS#8 in the seed
 *   form, privateKey = OCTET STRING { [0] IMPLICIT OCTET STRING (32-byte seed) } (80 20 || seed).
 *   Imports also take the expandedKey and "both" forms (and OpenSSL's bare seed / bare key);
 *   a key that comes without its seed is kept in the expandedKey form.
 * - SLH-DSA (RFC 9909): SPKI with parameters absent; PKCS#8 privateKey = the raw 4n-byte key.
 */
import crypto, { type KeyObject } from 'node:crypto'
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import * as slh from '@noble/post-quantum/slh-dsa.js'
import {
  EC_CURVES,
  EC_KEY_TYPES,
  ML_DSA,
  ML_DSA_BY_OID,
  ML_DSA_SEED_LENGTH,
  OID,
  PREHASH_ML_DSA_OIDS,
  RSA_KEY_TYPES,
  SLH_DSA,
  SLH_DSA_BY_OID,
  isMlDsaKeyType,
  isPqKeyType,
  isPrehashSlhDsaOid,
  pqOid,
  type MlDsaKeyType,
  type PqKeyType,
  type SlhDsaKeyType,
} from './algorithms.js'
import {
  asn1js,
  decodeDer,
  encodeContextPrimitive,
  encodeOctetString,
  encodePkcs8,
  encodeSpki,
  fail,
  isContextTag,
  octetsOf,
  parsePkcs8,
  parseSpki,
  primitiveContent,
  sequenceItems,
  type Pkcs8Parts,
} from './asn1.js'
import { decryptPkcs8 } from './pkcs8_encrypted.js'
import { hasNativePq } from './pq_native.js'
import { getPqWorkerPool, type PqKeyForm } from './pq_worker_pool.js'
import { SignerError, type HashName, type KeyType } from './types.js'

type DerKeyPairCallback = (err: Error | null, publicKey: Buffer, privateKey: Buffer) => void

/**
 * crypto.generateKeyPair with DER output, typed loosely so that it also takes key type names
 * @types/node does not know (native PQ on Node >= 24). Runs on the libuv thread pool.
 */
function generateDer(
  type: string,
  options: object
): Promise<{ publicKey: Buffer; privateKey: Buffer }> {
  const generate = crypto.generateKeyPair as unknown as (
    type: string,
    options: object,
    cb: DerKeyPairCallback
  ) => void
  return new Promise((resolve, reject) => {
    generate(
      type,
      {
        ...options,
        publicKeyEncoding: { type: 'spki', format: 'der' },
        privateKeyEncoding: { type: 'pkcs8', format: 'der' },
      },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey }))
    )
  })
}

export interface KeyPairDer {
  /** PKCS#8 DER of the private key (standard encoding, see the file header). */
  pkcs8: Uint8Array
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array
}

export interface ImportedKey extends KeyPairDer {
  keyType: KeyType
}

type NobleSigner = typeof ml_dsa44 | typeof slh.slh_dsa_sha2_128s

const NOBLE_ML_DSA: Record<MlDsaKeyType, typeof ml_dsa44> = {
  'ml-dsa-44': ml_dsa44,
  'ml-dsa-65': ml_dsa65,
  'ml-dsa-87': ml_dsa87,
}

function nobleSlh(exportName: string): typeof slh.slh_dsa_sha2_128s {
  const impl = (slh as unknown as Record<string, typeof slh.slh_dsa_sha2_128s | undefined>)[
    exportName
  ]
  if (!impl) throw new SignerError('E_KEY_UNSUPPORTED', `no implementation for ${exportName}`)
  return impl
}

function u8(buf: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

// ---------------------------------------------------------------------------------------------
// Post-quantum private keys

/** A post-quantum private key decoded from PKCS#8, in the form the signers use. */
export interface PqPrivateKey {
  keyType: PqKeyType
  /** seed: ML-DSA 32-byte seed; expanded: ML-DSA expanded key; slh: SLH-DSA 4n-byte key. */
  form: PqKeyForm
  bytes: Uint8Array
  /** Normalised PKCS#8 (seed form when the seed is known). */
  pkcs8: Uint8Array
  /** Raw public key when it is known without computation (SLH-DSA, PKCS#8 v2). */
  publicKey?: Uint8Array
  /** For the ML-DSA "both" form: the expanded key to check against the seed. */
  expandedToCheck?: Uint8Array
}

function decodeMlDsaPrivateKey(
  keyType: MlDsaKeyType,
  octets: Uint8Array
): { seed?: Uint8Array; expanded?: Uint8Array } {
  const params = ML_DSA[keyType]
  const what = `${params.name} private key`
  // OpenSSL's "bare-seed" / "bare-priv" inputs: the key without any inner DER.
  if (octets.length === ML_DSA_SEED_LENGTH) return { seed: octets }
  if (octets.length === params.expandedKeyLength) return { expanded: octets }

  const node = decodeDer(octets, what)
  if (isContextTag(node, 0)) {
    const seed = primitiveContent(node, what)
    if (seed.length !== ML_DSA_SEED_LENGTH) fail(`${what}: the seed must be 32 bytes`)
    return { seed }
  }
  if (node instanceof asn1js.OctetString) {
    const expanded = octetsOf(node, what)
    if (expanded.length !== params.expandedKeyLength) {
      fail(`${what}: the expanded key must be ${params.expandedKeyLength} bytes`)
    }
    return { expanded }
  }
  if (node instanceof asn1js.Sequence) {
    const items = sequenceItems(node, what)
    if (items.length !== 2) fail(`${what}: malformed seed-and-key form`)
    const seed = octetsOf(items[0], what)
    const expanded = octetsOf(items[1], what)
    if (seed.length !== ML_DSA_SEED_LENGTH || expanded.length !== params.expandedKeyLength) {
      fail(`${what}: wrong seed or expanded key length`)
    }
    return { seed, expanded }
  }
  fail(`${what}: unknown private key encoding`)
}

function decodeSlhDsaPrivateKey(keyType: SlhDsaKeyType, octets: Uint8Array): Uint8Array {
  const { n, name } = SLH_DSA[keyType]
  if (octets.length === 4 * n) return octets
  // Early drafts wrapped the key in a second OCTET STRING; accept it.
  if (octets[0] === 0x04) {
    let inner: Uint8Array | undefined
    try {
      inner = octetsOf(decodeDer(octets, name), name)
    } catch {
      inner = undefined
    }
    if (inner?.length === 4 * n) return inner
  }
  fail(`${name} private key must be ${4 * n} bytes`)
}

/**
 * Decodes a PQ PKCS#8 structure; undefined when the algorithm is not ML-DSA / SLH-DSA.
 * Refuses PQ variants that are not key types of this install.
 */
export function decodePqPkcs8(parts: Pkcs8Parts): PqPrivateKey | undefined {
  const oid = parts.algorithm.oid
  const mlDsa = ML_DSA_BY_OID[oid]
  const slhParams = SLH_DSA_BY_OID[oid]
  if (!mlDsa && !slhParams) {
    if (PREHASH_ML_DSA_OIDS.has(oid) || isPrehashSlhDsaOid(oid)) {
      fail(
        'pre-hash (HashML-DSA / HashSLH-DSA) keys are not supported; use pure ML-DSA or SLH-DSA',
        'E_KEY_UNSUPPORTED'
      )
    }
    return undefined
  }
  if (parts.algorithm.params !== undefined)
    fail('post-quantum key: algorithm parameters must be absent')
  if (mlDsa) {
    const { seed, expanded } = decodeMlDsaPrivateKey(mlDsa, parts.privateKey)
    const oidOfType = ML_DSA[mlDsa].oid
    if (seed) {
      return {
        keyType: mlDsa,
        form: 'seed',
        bytes: seed,
        pkcs8: encodePkcs8(oidOfType, encodeContextPrimitive(0, seed)),
        publicKey: parts.publicKey,
        expandedToCheck: expanded,
      }
    }
    return {
      keyType: mlDsa,
      form: 'expanded',
      bytes: expanded!,
      pkcs8: encodePkcs8(oidOfType, encodeOctetString(expanded!)),
      publicKey: parts.publicKey,
    }
  }
  const keyType = slhParams.keyType
  if (!keyType) {
    fail(
      `${slhParams.name} keys are not supported; supported SLH-DSA parameter sets: SHA2-128s, SHA2-192s, SHA2-256s`,
      'E_KEY_UNSUPPORTED'
    )
  }
  const sk = decodeSlhDsaPrivateKey(keyType, parts.privateKey)
  const publicKey = Uint8Array.from(sk.subarray(2 * slhParams.n))
  if (parts.publicKey && !Buffer.from(parts.publicKey).equals(publicKey)) {
    fail(`${slhParams.name} private key: the public key field does not match the private key`)
  }
  return { keyType, form: 'slh', bytes: sk, pkcs8: encodePkcs8(slhParams.oid, sk), publicKey }
}

/** Checks that ML-DSA public key `pk` belongs to expanded secret key `sk` (tr = H(pk) inside sk). */
function mlDsaExpandedMatches(sk: Uint8Array, pk: Uint8Array): boolean {
  const tr = crypto.createHash('shake256', { outputLength: 64 }).update(pk).digest()
  return tr.equals(sk.subarray(64, 128))
}

/** Synchronous public key of a decoded PQ key (noble on this thread, or native). For imports. */
function pqPublicKeySync(key: PqPrivateKey): Uint8Array {
  if (key.form === 'slh') return slhPublicKeyChecked(key)
  const keyType = key.keyType as MlDsaKeyType
  let publicKey: Uint8Array
  if (key.expandedToCheck) {
    // The "both" form: the seed must regenerate the stored expanded key.
    const pair = NOBLE_ML_DSA[keyType].keygen(key.bytes)
    const matches = Buffer.from(pair.secretKey).equals(key.expandedToCheck)
    pair.secretKey.fill(0)
    if (!matches) {
      fail(`${ML_DSA[keyType].name} private key: the seed and the expanded key do not match`)
    }
    publicKey = pair.publicKey
  } else if (hasNativePq(keyType)) {
    let priv: KeyObject
    try {
      priv = crypto.createPrivateKey({ key: Buffer.from(key.pkcs8), format: 'der', type: 'pkcs8' })
    } catch {
      return fail(
        `${ML_DSA[keyType].name} private key is invalid or inconsistent (rejected by the crypto library)`
      )
    }
    publicKey = parseSpki(
      u8(crypto.createPublicKey(priv).export({ type: 'spki', format: 'der' }))
    ).publicKey
  } else if (key.form === 'seed') {
    const pair = NOBLE_ML_DSA[keyType].keygen(key.bytes)
    pair.secretKey.fill(0)
    publicKey = pair.publicKey
  } else {
    publicKey = NOBLE_ML_DSA[keyType].getPublicKey(key.bytes)
  }
  return checkMlDsaPublicKey(key, publicKey)
}

const KEY_MISMATCH = 'the private key does not match its public key'

/**
 * An SLH-DSA private key carries its public key (PK.seed || PK.root) as a copy: regenerate
 * PK.root from SK.seed, SK.prf and PK.seed and refuse a key whose stored root differs (its
 * signatures would not verify). Costs one key generation (about 0.5 s with noble).
 */
function slhPublicKeyChecked(key: PqPrivateKey): Uint8Array {
  const keyType = key.keyType as SlhDsaKeyType
  const { n, name, noble } = SLH_DSA[keyType]
  let matches = false
  try {
    const pair = nobleSlh(noble).keygen(key.bytes.subarray(0, 3 * n))
    matches = Buffer.from(pair.secretKey).equals(Buffer.from(key.bytes))
    pair.secretKey.fill(0)
  } catch {
    matches = false
  }
  if (!matches) fail(`${name} private key: ${KEY_MISMATCH}`)
  return key.publicKey!
}

/**
 * Signs a fixed message with an imported classical private key and verifies it with the public
 * key node:crypto derives from it: RSA and EC keys carry their public half (modulus, point) as
 * stored data, which nothing else checks against the private half.
 */
function checkClassicalKeyPair(key: KeyObject, keyType: KeyType): void {
  const message = Buffer.from('open-pki key import consistency check')
  const digest = keyType === 'ed25519' ? null : 'sha256'
  let ok = false
  try {
    const signature = crypto.sign(digest, message, key)
    ok = crypto.verify(digest, message, crypto.createPublicKey(key), signature)
  } catch {
    ok = false
  }
  if (!ok) fail(KEY_MISMATCH)
}

/** Consistency checks shared by the sync and async paths; returns `publicKey`. */
function checkMlDsaPublicKey(key: PqPrivateKey, publicKey: Uint8Array): Uint8Array {
  const name = ML_DSA[key.keyType as MlDsaKeyType].name
  if (key.form === 'expanded' && !mlDsaExpandedMatches(key.bytes, publicKey)) {
    fail(`${name} private key is inconsistent (corrupted expanded key)`)
  }
  if (key.publicKey && !Buffer.from(key.publicKey).equals(publicKey)) {
    fail(`${name} private key: the public key field does not match the private key`)
  }
  return publicKey
}

/** Public key of a decoded PQ key without blocking the event loop (for signer loading). */
export async function pqPublicKey(key: PqPrivateKey): Promise<Uint8Array> {
  if (key.form === 'slh') return key.publicKey!
  if (key.expandedToCheck || hasNativePq(key.keyType)) return pqPublicKeySync(key)
  const publicKey = await getPqWorkerPool().publicKey(key.keyType, key.form, key.bytes)
  return checkMlDsaPublicKey(key, publicKey)
}

// ---------------------------------------------------------------------------------------------
// Classical keys

/** Key type of a node:crypto private or public key; E_KEY_UNSUPPORTED for anything else. */
export function classicalKeyType(key: KeyObject): KeyType {
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = details.modulusLength ?? 0
      const keyType = `rsa-${bits}`
      if (keyType in RSA_KEY_TYPES) return keyType as KeyType
      return fail(
        `RSA keys of ${bits} bits are not supported (use 2048, 3072 or 4096 bits)`,
        'E_KEY_UNSUPPORTED'
      )
    }
    case 'ec': {
      const curve = details.namedCurve
      for (const [keyType, info] of Object.entries(EC_KEY_TYPES)) {
        if (info.nodeCurve === curve) return keyType as KeyType
      }
      const known = Object.values(EC_CURVES).find((c) => c.nodeName === curve)
      return fail(
        `EC curve ${known?.name ?? curve ?? '(explicit parameters)'} is not supported (use P-256, P-384 or P-521)`,
        'E_KEY_UNSUPPORTED'
      )
    }
    case 'ed25519':
      return 'ed25519'
    case 'rsa-pss':
      return fail(
        'RSASSA-PSS-restricted RSA keys are not supported; use a plain RSA key (rsaEncryption)',
        'E_KEY_UNSUPPORTED'
      )
    default:
      return fail(`${key.asymmetricKeyType ?? 'this'} keys are not supported`, 'E_KEY_UNSUPPORTED')
  }
}

function exportClassical(key: KeyObject): ImportedKey {
  const keyType = classicalKeyType(key)
  checkClassicalKeyPair(key, keyType)
  const pkcs8 = u8(key.export({ type: 'pkcs8', format: 'der' }))
  const spki = u8(crypto.createPublicKey(key).export({ type: 'spki', format: 'der' }))
  return { keyType, pkcs8, spki }
}

// ---------------------------------------------------------------------------------------------
// Generation

/**
 * Generates a key pair. RSA runs on the libuv thread pool; ML-DSA / SLH-DSA use node:crypto
 * when this Node supports them, else @noble/post-quantum on the worker pool.
 */
export async function generateKeyPair(keyType: KeyType): Promise<KeyPairDer> {
  switch (keyType) {
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096': {
      const pair = await generateDer('rsa', {
        modulusLength: RSA_KEY_TYPES[keyType],
        publicExponent: 0x10001,
      })
      return { pkcs8: u8(pair.privateKey), spki: u8(pair.publicKey) }
    }
    case 'ecdsa-p256':
    case 'ecdsa-p384':
    case 'ecdsa-p521': {
      const pair = await generateDer('ec', {
        namedCurve: EC_KEY_TYPES[keyType].nodeCurve,
        paramEncoding: 'named',
      })
      return { pkcs8: u8(pair.privateKey), spki: u8(pair.publicKey) }
    }
    case 'ed25519': {
      const pair = await generateDer('ed25519', {})
      return { pkcs8: u8(pair.privateKey), spki: u8(pair.publicKey) }
    }
    case 'ml-dsa-44':
    case 'ml-dsa-65':
    case 'ml-dsa-87': {
      const seed = crypto.randomBytes(ML_DSA_SEED_LENGTH)
      try {
        const key: PqPrivateKey = {
          keyType,
          form: 'seed',
          bytes: seed,
          pkcs8: encodePkcs8(ML_DSA[keyType].oid, encodeContextPrimitive(0, seed)),
        }
        const publicKey = await pqPublicKey(key)
        return { pkcs8: key.pkcs8, spki: encodeSpki(ML_DSA[keyType].oid, publicKey) }
      } finally {
        seed.fill(0)
      }
    }
    case 'slh-dsa-sha2-128s':
    case 'slh-dsa-sha2-192s':
    case 'slh-dsa-sha2-256s': {
      const params = SLH_DSA[keyType]
      if (hasNativePq(keyType)) {
        const pair = await generateDer(keyType, {})
        const decoded = decodePqPkcs8(parsePkcs8(u8(pair.privateKey)))
        if (!decoded || decoded.keyType !== keyType)
          fail(`unexpected ${params.name} key from node:crypto`)
        return { pkcs8: decoded.pkcs8, spki: encodeSpki(params.oid, decoded.publicKey!) }
      }
      const seed = crypto.randomBytes(3 * params.n)
      try {
        const { secretKey, publicKey } = await getPqWorkerPool().keygen(keyType, seed)
        const pkcs8 = encodePkcs8(params.oid, secretKey)
        secretKey.fill(0)
        return { pkcs8, spki: encodeSpki(params.oid, publicKey) }
      } finally {
        seed.fill(0)
      }
    }
    default:
      fail(`unknown key type "${String(keyType)}"`, 'E_KEY_UNSUPPORTED')
  }
}

// ---------------------------------------------------------------------------------------------
// Import

/** Reads an unencrypted PKCS#8 (v1 or v2) DER private key of any supported type. */
export function importPkcs8(der: Uint8Array): ImportedKey {
  const parts = parsePkcs8(der)
  const pq = decodePqPkcs8(parts)
  if (pq) {
    const publicKey = pqPublicKeySync(pq)
    return { keyType: pq.keyType, pkcs8: pq.pkcs8, spki: encodeSpki(pqOid(pq.keyType), publicKey) }
  }
  // Node 20 does not read PKCS#8 v2 (with a public key field): hand it the v1 structure.
  const input = parts.version === 0 ? der : encodePkcs8WithParams(parts)
  let key: KeyObject
  try {
    key = crypto.createPrivateKey({ key: Buffer.from(input), format: 'der', type: 'pkcs8' })
  } catch {
    const known = describeOid(parts.algorithm.oid)
    if (known) fail(`${known} private keys are not supported`, 'E_KEY_UNSUPPORTED')
    fail(`the PKCS#8 private key could not be read (algorithm ${parts.algorithm.oid})`)
  }
  return exportClassical(key)
}

/** Key type of a PKCS#8 DER private key, without deriving its public key (cheap). */
export function pkcs8KeyType(der: Uint8Array): KeyType {
  const parts = parsePkcs8(der)
  const pq = decodePqPkcs8(parts)
  if (pq) return pq.keyType
  let key: KeyObject
  try {
    key = crypto.createPrivateKey({
      key: Buffer.from(parts.version === 0 ? der : encodePkcs8WithParams(parts)),
      format: 'der',
      type: 'pkcs8',
    })
  } catch {
    fail(`the PKCS#8 private key could not be read (algorithm ${parts.algorithm.oid})`)
  }
  return classicalKeyType(key)
}

function encodePkcs8WithParams(parts: Pkcs8Parts): Uint8Array {
  const alg = parts.algorithm.params
    ? new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: parts.algorithm.oid }),
          parts.algorithm.params,
        ],
      })
    : new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: parts.algorithm.oid })] })
  return new Uint8Array(
    new asn1js.Sequence({
      value: [
        new asn1js.Integer({ value: 0 }),
        alg,
        new asn1js.OctetString({ valueHex: parts.privateKey }),
      ],
    }).toBER()
  )
}

function describeOid(oid: string): string | undefined {
  switch (oid) {
    case OID.ed448:
      return 'Ed448'
    case OID.x25519:
      return 'X25519'
    case OID.x448:
      return 'X448'
    case OID.dsa:
      return 'DSA'
    default:
      return undefined
  }
}

const PRIVATE_KEY_LABELS = [
  'PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  'RSA PRIVATE KEY',
  'EC PRIVATE KEY',
]

interface PemBlock {
  label: string
  text: string
  headers: string
  body: Buffer
}

function pemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = []
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g
  for (let m = re.exec(pem); m; m = re.exec(pem)) {
    const content = m[2]
    const split = content.search(/\r?\n\r?\n/)
    const hasHeaders = /^[A-Za-z-]+:/.test(content) && split !== -1
    const headers = hasHeaders ? content.slice(0, split) : ''
    const b64 = (hasHeaders ? content.slice(split) : content).replace(/\s+/g, '')
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) continue
    blocks.push({ label: m[1], text: m[0], headers, body: Buffer.from(b64, 'base64') })
  }
  return blocks
}

function nodeErrorIsBadPassword(err: unknown): boolean {
  const e = err as { code?: string; message?: string }
  return (
    e.code === 'ERR_OSSL_BAD_DECRYPT' ||
    e.code === 'ERR_OSSL_EVP_BAD_DECRYPT' ||
    /bad decrypt|maybe wrong password|wrong password/i.test(e.message ?? '')
  )
}

/**
 * Imports a PEM private key: PKCS#8 ("PRIVATE KEY"), encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY",
 * needs `password`), PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY"), the latter two
 * also with legacy PEM encryption. Returns the key type and the key in the standard encodings.
 */
export function importPrivateKeyPem(pem: string, password?: string): ImportedKey {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN')) {
    fail('not a PEM private key: expected a "-----BEGIN PRIVATE KEY-----" block')
  }
  const blocks = pemBlocks(pem)
  const block = blocks.find((b) => PRIVATE_KEY_LABELS.includes(b.label))
  if (!block) {
    const labels = blocks.map((b) => b.label)
    if (labels.includes('OPENSSH PRIVATE KEY')) {
      fail(
        'OpenSSH private keys are not supported: convert with "ssh-keygen -p -m PKCS8 -f <file>"',
        'E_KEY_UNSUPPORTED'
      )
    }
    if (labels.includes('DSA PRIVATE KEY')) fail('DSA keys are not supported', 'E_KEY_UNSUPPORTED')
    fail(
      labels.length
        ? `no private key found in the PEM input (found: ${[...new Set(labels)].join(', ')})`
        : 'not a PEM private key: no complete "-----BEGIN ... PRIVATE KEY-----" block found'
    )
  }

  if (block.label === 'PRIVATE KEY') return importPkcs8(u8(block.body))

  if (block.label === 'ENCRYPTED PRIVATE KEY') {
    if (password === undefined || password === '') {
      fail('the private key is encrypted: a password is required')
    }
    let plain = decryptPkcs8(u8(block.body), password)
    if (!plain) {
      // Not PBES2 with a scheme decoded here (e.g. PBES1): let node:crypto try.
      try {
        const key = crypto.createPrivateKey({
          key: block.text,
          format: 'pem',
          passphrase: password,
        })
        plain = u8(key.export({ type: 'pkcs8', format: 'der' }))
      } catch (err) {
        if (nodeErrorIsBadPassword(err))
          fail('wrong password for the encrypted private key (or the key is corrupted)')
        fail(
          'the encrypted private key uses an unsupported encryption scheme (re-encrypt it with: openssl pkcs8 -topk8 -v2 aes-256-cbc)',
          'E_KEY_UNSUPPORTED'
        )
      }
    }
    try {
      return importPkcs8(plain)
    } catch (err) {
      if (
        err instanceof SignerError &&
        err.code === 'E_KEY_INVALID' &&
        !/supported/.test(err.message) &&
        !err.message.includes(KEY_MISMATCH)
      ) {
        // A wrong password can pass the CBC padding check by chance and yield garbage.
        fail('wrong password for the encrypted private key (or the key is corrupted)')
      }
      throw err
    } finally {
      plain.fill(0)
    }
  }

  // PKCS#1 / SEC1, possibly with legacy "Proc-Type: 4,ENCRYPTED" headers.
  const encrypted = /Proc-Type:\s*4,ENCRYPTED/i.test(block.headers)
  if (encrypted && (password === undefined || password === '')) {
    fail('the private key is encrypted: a password is required')
  }
  let key: KeyObject
  try {
    key = crypto.createPrivateKey({
      key: block.text,
      format: 'pem',
      ...(encrypted ? { passphrase: password } : {}),
    })
  } catch (err) {
    if (encrypted && nodeErrorIsBadPassword(err))
      fail('wrong password for the encrypted private key (or the key is corrupted)')
    if (block.label === 'EC PRIVATE KEY' && /curve|group/i.test((err as Error).message ?? '')) {
      fail(
        'the EC private key uses an unsupported curve (use P-256, P-384 or P-521)',
        'E_KEY_UNSUPPORTED'
      )
    }
    fail(`the ${block.label} block could not be read (corrupted or not a private key)`)
  }
  return exportClassical(key)
}

// ---------------------------------------------------------------------------------------------
// Public keys

export type KeyFamily = 'rsa' | 'ec' | 'ed25519' | 'ed448' | 'ml-dsa' | 'slh-dsa' | 'unknown'

export interface SpkiDescription {
  family: KeyFamily
  /** Set when the key is one of the install's key types. */
  keyType?: KeyType
  /** RSA modulus size or EC field size. */
  bits?: number
  /** EC curve: 'P-256' | 'P-384' | 'P-521', another curve's name, or its OID. */
  curve?: string
  /** Algorithm OID of the SubjectPublicKeyInfo. */
  oid: string
  /** Human-readable algorithm, for messages: 'RSA 2048', 'ECDSA P-256', 'ML-DSA-65', ... */
  name: string
  /** RSA key restricted to RSASSA-PSS (id-RSASSA-PSS SPKI). */
  rsaPss?: boolean
}

/**
 * The modulus size of an RSAPublicKey, after checking what makes the key a key at all: an odd
 * modulus and an odd public exponent of at least 3. With e = 1 a "signature" is the padded
 * digest itself, which anyone can make: such a CSR would pass the proof-of-possession check.
 */
function rsaModulusBits(publicKey: Uint8Array): number {
  const what = 'RSA public key'
  const items = sequenceItems(decodeDer(publicKey, what), what)
  const [modulus, exponent] = items
  if (
    items.length !== 2 ||
    !(modulus instanceof asn1js.Integer) ||
    !(exponent instanceof asn1js.Integer)
  )
    fail(`${what}: malformed`)
  const bytes = modulus.valueBlock.valueHexView
  if (bytes.length > 0 && bytes[0] & 0x80) fail(`${what}: negative modulus`)
  let i = 0
  while (i < bytes.length && bytes[i] === 0) i++
  if (i === bytes.length) fail(`${what}: zero modulus`)
  if ((bytes[bytes.length - 1] & 1) === 0) fail(`${what}: even modulus`)
  const e = exponent.valueBlock.valueHexView
  let j = 0
  while (j < e.length && e[j] === 0) j++
  const small = e.length - j === 1 ? e[j] : e.length === j ? 0 : Infinity
  if ((e.length > 0 && e[0] & 0x80) || small < 3 || (e[e.length - 1] & 1) === 0) {
    fail(`${what}: the public exponent must be odd and at least 3 (65537 is usual)`)
  }
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]))
}

/**
 * Describes a SubjectPublicKeyInfo: family, key type of this install (if any), size or curve.
 * Throws E_KEY_INVALID when the DER is not a SubjectPublicKeyInfo or a PQ key has the wrong
 * size; unknown algorithms give family 'unknown'.
 */
/*
 * Descriptions are cached per SPKI buffer: one issuance asks about the same key several times
 * (CSR parse, signature check, policy, lint). Callers never modify a DER buffer after parsing.
 */
const described = new WeakMap<Uint8Array, SpkiDescription>()

export function describeSpki(spki: Uint8Array): SpkiDescription {
  let description = described.get(spki)
  if (!description) {
    description = describeCommonSpki(spki) ?? describeSpkiUncached(spki)
    if (description.family === 'ed25519') checkEd25519Point(spki.subarray(spki.length - 32))
    described.set(spki, description)
  }
  return description
}

/**
 * An Ed25519 public key must be a point of the curve's large prime-order group. With a point of
 * small order (the identity, say) a "signature" verifies for any message without a private key
 * (node's verify says true for R = identity, S = 0), so a CSR's proof of possession would prove
 * nothing and the certificate would bind a name to a key anyone can sign with.
 */
function checkEd25519Point(publicKey: Uint8Array) {
  // The eight small-order points by their canonical encodings (either x sign): a lookup instead
  // of decompressing every key (about 0.1 ms on the event loop). A non-canonical encoding
  // (y ≥ p, which could spell one of them differently) gets the full check.
  const masked = Buffer.from(publicKey)
  masked[31] &= 0x7f
  const canonical = !(
    masked[0] >= 0xed &&
    masked.subarray(1, 31).every((b) => b === 0xff) &&
    masked[31] === 0x7f
  )
  let smallOrder = SMALL_ORDER.has(masked.toString('hex'))
  if (!canonical) {
    try {
      smallOrder = ed25519.Point.fromBytes(publicKey).isSmallOrder()
    } catch {
      fail('Ed25519 public key is not a point of the curve')
    }
  }
  if (smallOrder) fail('Ed25519 public key is a point of small order (anyone can sign for it)')
}

/** The small-order points' encodings with the x-sign bit cleared. */
const SMALL_ORDER = new Set(
  ED25519_TORSION_SUBGROUP.map((hex) => {
    const bytes = Buffer.from(hex, 'hex')
    bytes[31] &= 0x7f
    return bytes.toString('hex')
  })
)

/*
 * The SubjectPublicKeyInfo encodings of the common key types are fixed byte for byte up to the
 * key bits (DER has one encoding): recognised by that prefix and the total length, without a
 * general ASN.1 parse (which costs more than the rest of reading a CSR). Anything else goes
 * through the full parser.
 */
const COMMON_SPKI: Array<{ prefix: Buffer; length: number; description: SpkiDescription }> = [
  {
    // SEQUENCE { SEQUENCE { ecPublicKey, prime256v1 }, BIT STRING 00 04 X Y }
    prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    length: 91,
    description: ecDescription('1.2.840.10045.3.1.7'),
  },
  {
    prefix: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'),
    length: 120,
    description: ecDescription('1.3.132.0.34'),
  },
  {
    prefix: Buffer.from('30819b301006072a8648ce3d020106052b81040023038186' + '00', 'hex'),
    length: 158,
    description: ecDescription('1.3.132.0.35'),
  },
  {
    prefix: Buffer.from('302a300506032b6570032100', 'hex'),
    length: 44,
    description: { family: 'ed25519', keyType: 'ed25519', oid: OID.ed25519, name: 'Ed25519' },
  },
]

function ecDescription(curveOid: string): SpkiDescription {
  const curve = EC_CURVES[curveOid]
  return {
    family: 'ec',
    keyType: curve.keyType,
    bits: curve.bits,
    curve: curve.name,
    oid: OID.ecPublicKey,
    name: `ECDSA ${curve.name}`,
  }
}

function describeCommonSpki(spki: Uint8Array): SpkiDescription | undefined {
  for (const known of COMMON_SPKI) {
    if (spki.length !== known.length) continue
    let same = true
    for (let i = 0; i < known.prefix.length && same; i++) same = spki[i] === known.prefix[i]
    // EC points must be uncompressed (04) for these lengths; the full parser handles the rest.
    if (same && (known.description.family !== 'ec' || spki[known.prefix.length] === 0x04))
      return { ...known.description }
  }
  return undefined
}

/** The full parse behind describeSpki (exported so tests can compare the fast path with it). */
export function describeSpkiUncached(spki: Uint8Array): SpkiDescription {
  const { algorithm, publicKey } = parseSpki(spki)
  const oid = algorithm.oid
  switch (oid) {
    case OID.rsaEncryption:
    case OID.rsassaPss: {
      const bits = rsaModulusBits(publicKey)
      const rsaPss = oid === OID.rsassaPss
      const keyType =
        !rsaPss && `rsa-${bits}` in RSA_KEY_TYPES ? (`rsa-${bits}` as KeyType) : undefined
      return {
        family: 'rsa',
        keyType,
        bits,
        oid,
        name: `RSA${rsaPss ? '-PSS' : ''} ${bits}`,
        ...(rsaPss ? { rsaPss } : {}),
      }
    }
    case OID.ecPublicKey: {
      let curveOid: string | undefined
      try {
        if (algorithm.params instanceof asn1js.ObjectIdentifier)
          curveOid = algorithm.params.valueBlock.toString()
      } catch {
        curveOid = undefined
      }
      const curve = curveOid ? EC_CURVES[curveOid] : undefined
      return {
        family: 'ec',
        keyType: curve?.keyType,
        bits: curve?.bits,
        curve: curve?.name ?? curveOid,
        oid,
        name: `ECDSA ${curve?.name ?? curveOid ?? '(explicit parameters)'}`,
      }
    }
    case OID.ed25519:
      if (publicKey.length !== 32) fail('Ed25519 public key must be 32 bytes')
      return { family: 'ed25519', keyType: 'ed25519', oid, name: 'Ed25519' }
    case OID.ed448:
      if (publicKey.length !== 57) fail('Ed448 public key must be 57 bytes')
      return { family: 'ed448', oid, name: 'Ed448' }
  }
  const mlDsa = ML_DSA_BY_OID[oid]
  if (mlDsa) {
    const params = ML_DSA[mlDsa]
    if (algorithm.params !== undefined) fail(`${params.name} public key: parameters must be absent`)
    if (publicKey.length !== params.publicKeyLength)
      fail(`${params.name} public key must be ${params.publicKeyLength} bytes`)
    // pk = rho (32 bytes) ‖ t1. With t1 = 0 the check Az − c·t1·2^d = w no longer involves any
    // secret: a signature can be made from the public rho alone. Key generation never gives it.
    if (publicKey.subarray(32).every((b) => b === 0))
      fail(`${params.name} public key is degenerate (t1 = 0: anyone can sign for it)`)
    return { family: 'ml-dsa', keyType: mlDsa, oid, name: params.name }
  }
  const slhParams = SLH_DSA_BY_OID[oid]
  if (slhParams) {
    if (algorithm.params !== undefined)
      fail(`${slhParams.name} public key: parameters must be absent`)
    if (publicKey.length !== 2 * slhParams.n)
      fail(`${slhParams.name} public key must be ${2 * slhParams.n} bytes`)
    return { family: 'slh-dsa', keyType: slhParams.keyType, oid, name: slhParams.name }
  }
  if (PREHASH_ML_DSA_OIDS.has(oid)) return { family: 'ml-dsa', oid, name: 'HashML-DSA' }
  if (isPrehashSlhDsaOid(oid)) return { family: 'slh-dsa', oid, name: 'HashSLH-DSA' }
  return { family: 'unknown', oid, name: describeOid(oid) ?? `unknown algorithm ${oid}` }
}

/** The install's key type of a SubjectPublicKeyInfo, or undefined (never throws). */
export function keyTypeFromSpki(spki: Uint8Array): KeyType | undefined {
  try {
    return describeSpki(spki).keyType
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

export interface VerifyOptions {
  /**
   * RSASSA-PSS instead of PKCS#1 v1.5 for an rsaEncryption key (an id-RSASSA-PSS key always
   * uses PSS). MGF1 uses the same hash as the message digest.
   */
  pss?: { saltLength?: number }
}

function nobleVerifier(info: SpkiDescription): NobleSigner | undefined {
  if (info.family === 'ml-dsa' && info.keyType && isMlDsaKeyType(info.keyType))
    return NOBLE_ML_DSA[info.keyType]
  if (info.family === 'slh-dsa') {
    const params = SLH_DSA_BY_OID[info.oid]
    if (params) return nobleSlh(params.noble)
  }
  return undefined
}

/*
 * Key import costs in OpenSSL 3 (node 20, 2026-11-29): P-256 63 µs as JWK, 107 µs as DER;
 * P-384 450 against 110, P-521 1,155 against 185 (JWK checks the point the slow way there);
 * RSA 3 against 103; Ed25519 6 against 75. Each key goes the faster way.
 */
const JWK_CURVES: Record<string, { crv: string; size: number }> = {
  'P-256': { crv: 'P-256', size: 32 },
}

/** An RSAPublicKey's modulus and exponent as a JWK (unsigned big-endian, base64url). */
function rsaJwk(publicKey: Uint8Array): crypto.JsonWebKey | undefined {
  try {
    const items = sequenceItems(decodeDer(publicKey, 'RSA public key'), 'RSA public key')
    if (items.length !== 2) return undefined
    const [n, e] = items.map((item) => {
      if (!(item instanceof asn1js.Integer)) throw new Error('not an INTEGER')
      const bytes = item.valueBlock.valueHexView
      let i = 0
      while (i < bytes.length - 1 && bytes[i] === 0) i++
      return Buffer.from(bytes.subarray(i)).toString('base64url')
    })
    return { kty: 'RSA', n, e }
  } catch {
    return undefined
  }
}

/** How node:crypto checks a classical signature: the key to import and the verify options. */
export interface ClassicalVerifyJob {
  /** the public key as createPublicKey takes it (JWK for P-256, RSA and Ed25519, else SPKI DER) */
  key: crypto.JsonWebKeyInput | crypto.PublicKeyInput
  /** the digest (null for EdDSA) */
  hash: string | null
  options: { dsaEncoding?: 'der'; padding?: number; saltLength?: number }
}

/**
 * What node:crypto needs to check a signature by an RSA, EC or EdDSA key, or undefined for other
 * families. P-256 keys (from their uncompressed point), RSA and Ed25519 keys are imported as JWK,
 * which OpenSSL 3 does faster than the same key as DER; P-384 and P-521 keys as DER (see
 * JWK_CURVES).
 */
function classicalVerifyJob(
  spki: Uint8Array,
  info: SpkiDescription,
  hash: HashName | 'sha1',
  opts: VerifyOptions
): ClassicalVerifyJob | undefined {
  switch (info.family) {
    case 'ed25519': {
      const { publicKey } = parseSpki(spki)
      if (publicKey.length !== 32) return { key: spkiInput(spki), hash: null, options: {} }
      const x = Buffer.from(publicKey).toString('base64url')
      return {
        key: { key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' },
        hash: null,
        options: {},
      }
    }
    case 'ed448':
      return { key: spkiInput(spki), hash: null, options: {} }
    case 'ec': {
      const jwk = info.curve ? JWK_CURVES[info.curve] : undefined
      // The BIT STRING holding the point ends the SPKI: 00 (unused bits) 04 X Y.
      const length = jwk ? 1 + 2 * jwk.size : 0
      const point = spki.subarray(spki.length - length)
      if (!jwk || spki[spki.length - length - 1] !== 0x00 || point[0] !== 0x04)
        return { key: spkiInput(spki), hash, options: { dsaEncoding: 'der' } }
      const bytes = Buffer.from(point.buffer, point.byteOffset, point.byteLength)
      const key: crypto.JsonWebKeyInput = {
        key: {
          kty: 'EC',
          crv: jwk.crv,
          x: bytes.subarray(1, 1 + jwk.size).toString('base64url'),
          y: bytes.subarray(1 + jwk.size).toString('base64url'),
        },
        format: 'jwk',
      }
      return { key, hash, options: { dsaEncoding: 'der' } }
    }
    case 'rsa':
      if (info.rsaPss || opts.pss) {
        const saltLength = opts.pss?.saltLength ?? crypto.constants.RSA_PSS_SALTLEN_AUTO
        const padding = crypto.constants.RSA_PKCS1_PSS_PADDING
        return { key: spkiInput(spki), hash, options: { padding, saltLength } }
      }
      {
        const jwk = rsaJwk(parseSpki(spki).publicKey)
        return {
          key: jwk ? { key: jwk, format: 'jwk' } : spkiInput(spki),
          hash,
          options: { padding: crypto.constants.RSA_PKCS1_PADDING },
        }
      }
    default:
      return undefined
  }
}

function spkiInput(spki: Uint8Array): crypto.PublicKeyInput {
  return { key: Buffer.from(spki), format: 'der', type: 'spki' }
}

/**
 * Verifies `signature` over `data` with the key in `spki`: RSA PKCS#1 v1.5 (or PSS through
 * `opts`), ECDSA (DER), Ed25519/Ed448, ML-DSA and SLH-DSA (pure, empty context). `hash` is used
 * by RSA and ECDSA (default sha256) and ignored by the others.
 *
 * Returns false for a wrong or malformed signature. Throws E_KEY_INVALID for an unreadable
 * SubjectPublicKeyInfo and E_KEY_UNSUPPORTED for an algorithm it cannot verify.
 */
export function verifySignature(
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  hash: HashName | 'sha1' = 'sha256',
  opts: VerifyOptions = {}
): boolean {
  const info = describeSpki(spki)
  const job = classicalVerifyJob(spki, info, hash, opts)
  if (job) {
    let key: KeyObject
    try {
      key = crypto.createPublicKey(job.key)
    } catch {
      fail(`the ${info.name} public key could not be read`)
    }
    try {
      return crypto.verify(job.hash, data, { ...job.options, key }, signature)
    } catch {
      return false
    }
  }
  switch (info.family) {
    case 'ml-dsa':
    case 'slh-dsa': {
      if (info.keyType && isPqKeyType(info.keyType) && hasNativePq(info.keyType)) {
        try {
          const key = crypto.createPublicKey({
            key: Buffer.from(spki),
            format: 'der',
            type: 'spki',
          })
          return crypto.verify(null, data, key, signature)
        } catch {
          return false
        }
      }
      const noble = nobleVerifier(info)
      if (!noble) fail(`${info.name} signatures cannot be verified`, 'E_KEY_UNSUPPORTED')
      const expected = noble.lengths.signature
      if (expected !== undefined && signature.length !== expected) return false
      try {
        return noble.verify(signature, data, parseSpki(spki).publicKey)
      } catch {
        return false
      }
    }
    default:
      fail(`${info.name} signatures cannot be verified`, 'E_KEY_UNSUPPORTED')
  }
}

/**
 * `verifySignature` with the key import and the check of RSA, EC and EdDSA signatures done on a
 * worker thread (the crypto worker pool), so that the event loop spends a few microseconds
 * instead of a key import and a verification (about 0.2 ms for a P-256 CSR). Same answers and
 * errors as `verifySignature`; post-quantum keys are checked as `verifySignature` does.
 */
export async function verifySignatureOffThread(
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  hash: HashName | 'sha1' = 'sha256',
  opts: VerifyOptions = {}
): Promise<boolean> {
  const info = describeSpki(spki)
  const job = classicalVerifyJob(spki, info, hash, opts)
  if (!job) return verifySignature(spki, data, signature, hash, opts)
  const verdict = await getPqWorkerPool().verify(job, data, signature)
  if (verdict === 'bad-key') fail(`the ${info.name} public key could not be read`)
  return verdict
}
