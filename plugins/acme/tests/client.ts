/*
 * A small ACME client for the plugin's own tests (functional bad-input cases, ARI, profiles,
 * which the packaged clients do not speak). It signs JWS with node:crypto and lets a test bend
 * any part of a request (nonce, url, kid/jwk, alg, signature, EAB).
 */
import {
  createHash,
  createHmac,
  generateKeyPairSync,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto'

export type TestAlg = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'EdDSA'

export interface AccountKey {
  alg: TestAlg
  privateKey: KeyObject
  jwk: Record<string, string>
}

const b64u = (data: Uint8Array | string) => Buffer.from(data).toString('base64url')

export function accountKey(alg: TestAlg = 'ES256'): AccountKey {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', {
            namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg],
          })
  const full = pair.publicKey.export({ format: 'jwk' }) as Record<string, string>
  const jwk: Record<string, string> =
    full.kty === 'RSA'
      ? { kty: 'RSA', n: full.n, e: full.e }
      : full.kty === 'EC'
        ? { kty: 'EC', crv: full.crv, x: full.x, y: full.y }
        : { kty: 'OKP', crv: full.crv, x: full.x }
  return { alg, privateKey: pair.privateKey, jwk }
}

export function jwkThumbprint(jwk: Record<string, string>) {
  const members =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return b64u(createHash('sha256').update(JSON.stringify(members)).digest())
}

const HASH: Record<TestAlg, string | null> = {
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  RS256: 'sha256',
  EdDSA: null,
}

export function signJws(
  key: AccountKey,
  header: Record<string, unknown>,
  payload: unknown | '' // '' = POST-as-GET
) {
  const protectedB64 = b64u(JSON.stringify({ alg: key.alg, ...header }))
  const payloadB64 = payload === '' ? '' : b64u(JSON.stringify(payload))
  const signature = cryptoSign(
    HASH[key.alg],
    Buffer.from(`${protectedB64}.${payloadB64}`),
    key.alg.startsWith('ES') ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey
  )
  return { protected: protectedB64, payload: payloadB64, signature: b64u(signature) }
}

export function eabJws(
  kid: string,
  hmacKey: string,
  jwk: Record<string, string>,
  url: string,
  alg: 'HS256' | 'HS384' | 'HS512' = 'HS256'
) {
  const protectedB64 = b64u(JSON.stringify({ alg, kid, url }))
  const payloadB64 = b64u(JSON.stringify(jwk))
  const mac = createHmac(`sha${alg.slice(2)}`, Buffer.from(hmacKey, 'base64url'))
    .update(`${protectedB64}.${payloadB64}`)
    .digest()
  return { protected: protectedB64, payload: payloadB64, signature: b64u(mac) }
}

export interface AcmeResponse {
  status: number
  headers: Headers
  body: any
  text: string
}

export interface PostOptions {
  /** Sign with this key instead of the account's. */
  key?: AccountKey
  /** Use a jwk header (default for newAccount) rather than kid. */
  useJwk?: boolean
  /** Extra/overriding protected header members (set a member to undefined to drop it). */
  header?: Record<string, unknown>
  /** Replace the signature (e.g. corrupt it). */
  tamper?: (jws: Record<string, string>) => Record<string, string>
  contentType?: string
}

export class AcmeTestClient {
  directory: Record<string, any> = {}
  key: AccountKey
  kid: string | null = null

  constructor(
    readonly directoryUrl: string,
    key?: AccountKey
  ) {
    this.key = key ?? accountKey()
  }

  async init() {
    const res = await fetch(this.directoryUrl)
    if (res.status !== 200) throw new Error(`directory answered ${res.status}`)
    this.directory = (await res.json()) as Record<string, any>
    return this
  }

  async nonce(): Promise<string> {
    const res = await fetch(this.directory.newNonce, { method: 'HEAD' })
    const nonce = res.headers.get('replay-nonce')
    if (!nonce) throw new Error(`newNonce gave no nonce (${res.status})`)
    return nonce
  }

  async post(url: string, payload: unknown | '', options: PostOptions = {}): Promise<AcmeResponse> {
    const key = options.key ?? this.key
    const header: Record<string, unknown> = { nonce: await this.nonce(), url }
    if (options.useJwk || !this.kid) header.jwk = key.jwk
    else header.kid = this.kid
    for (const [k, v] of Object.entries(options.header ?? {})) {
      if (v === undefined) delete header[k]
      else header[k] = v
    }
    let jws: Record<string, string> = signJws(key, header, payload)
    if (options.tamper) jws = options.tamper(jws)
    return this.send(url, JSON.stringify(jws), options.contentType)
  }

  async send(url: string, body: string, contentType = 'application/jose+json') {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body })
    const text = await res.text()
    let parsed: any = null
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = null
    }
    return { status: res.status, headers: res.headers, body: parsed, text }
  }

  /** newAccount with an EAB; remembers the account URL. */
  async register(eab: { kid: string; hmacKey: string }, extra: Record<string, unknown> = {}) {
    const url = this.directory.newAccount
    const res = await this.post(
      url,
      {
        termsOfServiceAgreed: true,
        contact: ['mailto:test@example.com'],
        externalAccountBinding: eabJws(eab.kid, eab.hmacKey, this.key.jwk, url),
        ...extra,
      },
      { useJwk: true }
    )
    if (res.status === 201 || res.status === 200) this.kid = res.headers.get('location')
    return res
  }

  keyAuthorization(token: string) {
    return `${token}.${jwkThumbprint(this.key.jwk)}`
  }

  async newOrder(
    identifiers: Array<{ type: string; value: string }>,
    extra: Record<string, unknown> = {}
  ) {
    return this.post(this.directory.newOrder, { identifiers, ...extra })
  }

  /** Polls a resource (POST-as-GET) until `done` says so. */
  async poll(url: string, done: (body: any) => boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const res = await this.post(url, '')
      if (done(res.body) || Date.now() > deadline) return res
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}
