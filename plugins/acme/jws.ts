/*
 * JWS for ACME (RFC 8555 §6.2, RFC 7515 flattened JSON serialization) with node:crypto only:
 * parsing, algorithm/key checks, signature verification, RFC 7638 thumbprints and the External
 * Account Binding MAC (RFC 8555 §7.3.4).
 */
import {
  createHash,
  createHmac,
  createPublicKey,
  timingSafeEqual,
  verify as cryptoVerify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto'
import { describeSpki } from '#pki/index'
import { AcmeProblem } from './problems.js'

export const SIGNATURE_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export const EAB_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const

export function b64u(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url')
}

/** Strict base64url decoding (no padding, no other alphabet). */
export function fromB64u(text: unknown, what: string): Buffer {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new AcmeProblem('malformed', `${what} is not base64url without padding.`)
  }
  return Buffer.from(text, 'base64url')
}

export interface ParsedJws {
  header: Record<string, any>
  protectedB64: string
  payloadB64: string
  signature: Buffer
  /** The payload parsed as JSON; null for POST-as-GET (empty payload). */
  payload: any
}

/**
 * Parses a flattened JWS (the body's bytes, or a JSON value already parsed, e.g. an EAB inside a
 * payload); throws `malformed` for anything else.
 */
export function parseJws(body: Buffer | string | object): ParsedJws {
  let outer: any = body
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      outer = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : body)
    } catch {
      throw new AcmeProblem(
        'malformed',
        'The request body is not JSON (a flattened JWS is expected).'
      )
    }
  }
  if (!outer || typeof outer !== 'object' || Array.isArray(outer)) {
    throw new AcmeProblem('malformed', 'The request body is not a JWS object.')
  }
  if ('signatures' in outer || 'header' in outer) {
    throw new AcmeProblem(
      'malformed',
      'Only the flattened JWS serialization with a single protected header is accepted.'
    )
  }
  const { protected: protectedB64, payload: payloadB64, signature } = outer
  if (typeof protectedB64 !== 'string' || typeof payloadB64 !== 'string') {
    throw new AcmeProblem('malformed', 'The JWS lacks its "protected" or "payload" member.')
  }
  let header: any
  try {
    header = JSON.parse(fromB64u(protectedB64, 'The protected header').toString('utf8'))
  } catch (error) {
    if (error instanceof AcmeProblem) throw error
    throw new AcmeProblem('malformed', 'The JWS protected header is not JSON.')
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) {
    throw new AcmeProblem('malformed', 'The JWS protected header is not an object.')
  }
  // RFC 8555 §6.2: no unencoded payload (RFC 7797 "b64"); RFC 7515 §4.1.11: a "crit" extension
  // this server does not know (it knows none) makes the JWS invalid.
  if ('crit' in header || 'b64' in header) {
    throw new AcmeProblem(
      'malformed',
      'The "crit" and "b64" header parameters are not supported (RFC 8555 §6.2).'
    )
  }
  let payload: any = null
  if (payloadB64 !== '') {
    try {
      payload = JSON.parse(fromB64u(payloadB64, 'The payload').toString('utf8'))
    } catch (error) {
      if (error instanceof AcmeProblem) throw error
      throw new AcmeProblem('malformed', 'The JWS payload is not JSON.')
    }
  }
  return {
    header,
    protectedB64,
    payloadB64,
    signature: fromB64u(signature, 'The signature'),
    payload,
  }
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. */
export function thumbprint(jwk: Record<string, any>): string {
  let members: Record<string, unknown>
  if (jwk.kty === 'RSA') members = { e: jwk.e, kty: 'RSA', n: jwk.n }
  else if (jwk.kty === 'EC') members = { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y }
  else if (jwk.kty === 'OKP') members = { crv: jwk.crv, kty: 'OKP', x: jwk.x }
  else throw new AcmeProblem('badPublicKey', `Key type "${jwk.kty}" is not supported.`)
  return b64u(createHash('sha256').update(JSON.stringify(members)).digest())
}

/** The public part of a JWK, with only the members that define the key. */
export function publicJwk(jwk: Record<string, any>): Record<string, string> {
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n, e: jwk.e }
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y }
  return { kty: 'OKP', crv: jwk.crv, x: jwk.x }
}

const EC_CURVE: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }
const HASH: Record<string, string | null> = {
  RS256: 'sha256',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  EdDSA: null,
}

/** Account keys imported lately, by alg and thumbprint (importing a JWK costs more than a verify). */
const imported = new Map<string, KeyObject>()
const IMPORTED_MAX = 5000

/** importKey for an account's stored key, cached. */
export function accountKeyObject(jwk: Record<string, string>, tp: string, alg: string): KeyObject {
  const cacheKey = `${alg} ${tp}`
  let key = imported.get(cacheKey)
  if (!key) {
    key = importKey(jwk, alg)
    if (imported.size >= IMPORTED_MAX) imported.delete(imported.keys().next().value!)
    imported.set(cacheKey, key)
  }
  return key
}

/**
 * A `jwk` header's key and thumbprint, the key imported once per node (newAccount, then the
 * account's later requests, find it by thumbprint). Anything but a plain public JWK goes to
 * importKey, which refuses it.
 */
export function jwkHeaderKey(jwk: unknown, alg: string): { key: KeyObject; thumbprint: string } {
  const plain =
    jwk !== null &&
    typeof jwk === 'object' &&
    !Array.isArray(jwk) &&
    !('d' in jwk || 'p' in jwk || 'k' in jwk) &&
    ['RSA', 'EC', 'OKP'].includes((jwk as any).kty)
  if (!plain) {
    const key = importKey(jwk, alg)
    return { key, thumbprint: thumbprint(jwk as Record<string, any>) }
  }
  const tp = thumbprint(jwk as Record<string, any>)
  return { key: accountKeyObject(jwk as Record<string, string>, tp, alg), thumbprint: tp }
}

/** Imports a public JWK for `alg`, refusing keys that do not fit it. */
export function importKey(jwk: unknown, alg: string): KeyObject {
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) {
    throw new AcmeProblem('malformed', 'The "jwk" header is not a JSON Web Key object.')
  }
  const key = jwk as Record<string, any>
  if ('d' in key || 'p' in key || 'k' in key) {
    throw new AcmeProblem(
      'badPublicKey',
      'The "jwk" header holds private or symmetric key material.'
    )
  }
  const fits =
    (alg === 'RS256' && key.kty === 'RSA') ||
    (alg in EC_CURVE && key.kty === 'EC' && key.crv === EC_CURVE[alg]) ||
    (alg === 'EdDSA' && key.kty === 'OKP' && key.crv === 'Ed25519')
  if (!fits) {
    throw new AcmeProblem(
      'badPublicKey',
      `A ${key.kty}${key.crv ? ` ${key.crv}` : ''} key cannot sign with ${alg}.`
    )
  }
  let object: KeyObject
  try {
    object = createPublicKey({ key: publicJwk(key) as JsonWebKey, format: 'jwk' })
  } catch {
    throw new AcmeProblem('badPublicKey', 'The "jwk" header is not a valid public key.')
  }
  if (key.kty === 'OKP') {
    // A small-order Ed25519 point: anyone could sign for the account.
    try {
      describeSpki(object.export({ type: 'spki', format: 'der' }))
    } catch (error) {
      throw new AcmeProblem(
        'badPublicKey',
        `The Ed25519 key is refused: ${(error as Error).message}.`
      )
    }
  }
  if (key.kty === 'RSA') {
    const bits = object.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < 2048 || bits > 8192) {
      throw new AcmeProblem(
        'badPublicKey',
        `RSA account keys must have 2048 to 8192 bits, not ${bits}.`
      )
    }
    // With e = 1 anyone could sign for the key (the signature is the padded digest).
    const e = object.asymmetricKeyDetails?.publicExponent ?? 0n
    if (e < 3n || e % 2n === 0n) {
      throw new AcmeProblem(
        'badPublicKey',
        'RSA account keys need an odd public exponent of at least 3 (65537 is usual).'
      )
    }
  }
  return object
}

/** Checks `alg` is one we accept (badSignatureAlgorithm lists them). */
export function checkAlg(alg: unknown): asserts alg is (typeof SIGNATURE_ALGORITHMS)[number] {
  if (typeof alg !== 'string' || !(SIGNATURE_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new AcmeProblem(
      'badSignatureAlgorithm',
      `The JWS algorithm ${JSON.stringify(alg ?? null)} is not supported.`,
      { extra: { algorithms: [...SIGNATURE_ALGORITHMS] } }
    )
  }
}

/** Verifies the JWS signature with `key`; throws `malformed` when it does not verify. */
export function verifyJws(jws: ParsedJws, key: KeyObject): void {
  const alg = jws.header.alg as string
  const data = Buffer.from(`${jws.protectedB64}.${jws.payloadB64}`)
  let ok = false
  try {
    ok = cryptoVerify(
      HASH[alg],
      data,
      alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key,
      jws.signature
    )
  } catch {
    ok = false
  }
  if (!ok) throw new AcmeProblem('malformed', 'The JWS signature does not verify.')
}

/**
 * An External Account Binding (RFC 8555 §7.3.4) is parsed first (`parseEab`: its kid finds the
 * HMAC key), then verified (`verifyEab`): its protected header (HS256/384/512, `url` equal to
 * the outer one, no nonce), its MAC with `hmacKey`, and that its payload is the same key as the
 * account's (compared by thumbprint).
 */
export function parseEab(eab: unknown): { jws: ParsedJws; kid: string } {
  if (!eab || typeof eab !== 'object' || Array.isArray(eab)) {
    throw new AcmeProblem('malformed', 'externalAccountBinding is not a JWS object.')
  }
  const jws = parseJws(eab)
  const kid = jws.header.kid
  if (typeof kid !== 'string' || !kid) {
    throw new AcmeProblem('malformed', 'The external account binding has no "kid".')
  }
  return { jws, kid }
}

export function verifyEab(
  jws: ParsedJws,
  options: { url: string; accountThumbprint: string; hmacKey: Buffer }
): void {
  const { alg, nonce, url } = jws.header
  if (typeof alg !== 'string' || !(EAB_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new AcmeProblem(
      'badSignatureAlgorithm',
      `The external account binding must be MACed with HS256, HS384 or HS512, not ${JSON.stringify(alg ?? null)}.`,
      { extra: { algorithms: [...EAB_ALGORITHMS] } }
    )
  }
  if (nonce !== undefined) {
    throw new AcmeProblem('malformed', 'The external account binding must not carry a nonce.')
  }
  if (url !== options.url) {
    throw new AcmeProblem(
      'malformed',
      'The external account binding "url" differs from the request\'s "url".'
    )
  }
  const mac = createHmac(`sha${alg.slice(2)}`, options.hmacKey)
    .update(`${jws.protectedB64}.${jws.payloadB64}`)
    .digest()
  if (mac.length !== jws.signature.length || !timingSafeEqual(mac, jws.signature)) {
    throw new AcmeProblem(
      'unauthorized',
      "The external account binding MAC does not verify with this KID's HMAC key."
    )
  }
  let bound: string
  try {
    bound = thumbprint(jws.payload ?? {})
  } catch {
    throw new AcmeProblem('malformed', 'The external account binding payload is not a JWK.')
  }
  if (bound !== options.accountThumbprint) {
    throw new AcmeProblem(
      'unauthorized',
      "The external account binding is for another key than the account's."
    )
  }
}
