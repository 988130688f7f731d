/*
 * A minimal ACME client (RFC 8555) for the ACME benchmark: the full flow a certificate takes —
 * account (with External Account Binding), newOrder, authorizations (answering http-01 when an
 * authorization is pending; the servers under test validate instantly), finalize, polling and
 * download — over HTTPS keep-alive with node:https. Account keys are P-256 (ES256), made by the
 * caller ahead of time, as are the CSRs. The same code drives every server in the run.
 */
import crypto, { type KeyObject } from 'node:crypto'
import https from 'node:https'

export interface AcmeTarget {
  directoryUrl: string
  /** PEM of the CA that signed the server's TLS certificate. */
  tlsCa: string
  eab: { kid: string; hmacKey: string }
}

export interface FlowInput {
  accountKey: KeyObject
  /** DER of a CSR for `names`. */
  csrDer: Buffer
  names: string[]
}

interface Response {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

const b64u = (data: Buffer | string) => Buffer.from(data).toString('base64url')

/** A flattened JWS (RFC 7515) signed with ES256, as a request body; '' is an empty payload. */
export function es256Jws(protectedHeader: object, payload: object | '', key: KeyObject): string {
  const protectedB64 = b64u(JSON.stringify(protectedHeader))
  const payloadB64 = payload === '' ? '' : b64u(JSON.stringify(payload))
  const signature = b64u(
    crypto.sign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
      key,
      dsaEncoding: 'ieee-p1363',
    })
  )
  return JSON.stringify({ protected: protectedB64, payload: payloadB64, signature })
}

export class AcmeClient {
  #agent: https.Agent
  #directory?: Record<string, any>
  #nonces: string[] = []

  constructor(private target: AcmeTarget) {
    this.#agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: target.tlsCa })
  }

  close() {
    this.#agent.destroy()
  }

  #request(method: string, url: string, body?: Buffer | string, contentType?: string) {
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.#agent,
          headers: body
            ? {
                'content-type': contentType ?? 'application/jose+json',
                'content-length': Buffer.byteLength(body),
              }
            : {},
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const nonce = res.headers['replay-nonce']
            if (typeof nonce === 'string') this.#nonces.push(nonce)
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
            })
          })
          res.on('error', reject)
        }
      )
      req.on('error', reject)
      req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)))
      req.end(body)
    })
  }

  async directory() {
    if (!this.#directory) {
      const res = await this.#request('GET', this.target.directoryUrl)
      if (res.status !== 200) throw new Error(`directory: HTTP ${res.status}`)
      this.#directory = JSON.parse(res.body.toString('utf8'))
    }
    return this.#directory!
  }

  async #nonce(): Promise<string> {
    const cached = this.#nonces.pop()
    if (cached) return cached
    const dir = await this.directory()
    const res = await this.#request('HEAD', dir.newNonce)
    const nonce = res.headers['replay-nonce']
    if (typeof nonce !== 'string') throw new Error(`newNonce: no Replay-Nonce (HTTP ${res.status})`)
    return nonce
  }

  /** A JWS POST (kid or jwk), retried once on badNonce. */
  async post(url: string, payload: unknown, key: KeyObject, kid?: string, extra?: object) {
    for (let attempt = 0; ; attempt++) {
      const protectedHeader: Record<string, unknown> = {
        alg: 'ES256',
        nonce: await this.#nonce(),
        url,
      }
      if (kid) protectedHeader.kid = kid
      else protectedHeader.jwk = publicJwk(key)
      const body = es256Jws(
        protectedHeader,
        payload === '' ? '' : { ...(payload as object), ...extra },
        key
      )
      const res = await this.#request('POST', url, body)
      if (res.status === 400 && attempt === 0 && res.body.includes('badNonce')) continue
      return res
    }
  }

  /** account → order → authorizations → finalize → certificate. Returns the PEM chain. */
  async issue(input: FlowInput): Promise<string> {
    const dir = await this.directory()
    const key = input.accountKey
    const jwk = publicJwk(key)
    const eabProtected = b64u(
      JSON.stringify({ alg: 'HS256', kid: this.target.eab.kid, url: dir.newAccount })
    )
    const eabPayload = b64u(JSON.stringify(jwk))
    const eabSignature = b64u(
      crypto
        .createHmac('sha256', Buffer.from(this.target.eab.hmacKey, 'base64url'))
        .update(`${eabProtected}.${eabPayload}`)
        .digest()
    )
    const account = await this.post(
      dir.newAccount,
      {
        termsOfServiceAgreed: true,
        externalAccountBinding: {
          protected: eabProtected,
          payload: eabPayload,
          signature: eabSignature,
        },
      },
      key
    )
    expectStatus(account, [200, 201], 'newAccount')
    const kid = String(account.headers.location)

    const orderRes = await this.post(
      dir.newOrder,
      { identifiers: input.names.map((value) => ({ type: 'dns', value })) },
      key,
      kid
    )
    expectStatus(orderRes, [201], 'newOrder')
    const orderUrl = String(orderRes.headers.location)
    let order = JSON.parse(orderRes.body.toString('utf8'))

    for (const authzUrl of order.authorizations as string[]) {
      let authz = json(await this.post(authzUrl, '', key, kid), 'authorization')
      if (authz.status === 'valid') continue
      const challenge = authz.challenges.find((c: any) => c.type === 'http-01')
      if (!challenge) throw new Error('no http-01 challenge offered')
      expectStatus(await this.post(challenge.url, {}, key, kid), [200], 'challenge')
      for (let i = 0; authz.status !== 'valid'; i++) {
        if (authz.status === 'invalid' || i > 200) throw new Error(`authorization ${authz.status}`)
        await sleep(i < 5 ? 5 : 50)
        authz = json(await this.post(authzUrl, '', key, kid), 'authorization')
      }
    }

    const finalized = await this.post(
      order.finalize,
      { csr: input.csrDer.toString('base64url') },
      key,
      kid
    )
    expectStatus(finalized, [200], 'finalize')
    order = JSON.parse(finalized.body.toString('utf8'))
    for (let i = 0; order.status !== 'valid'; i++) {
      if (order.status === 'invalid' || i > 200) throw new Error(`order ${order.status}`)
      await sleep(i < 5 ? 5 : 50)
      order = json(await this.post(orderUrl, '', key, kid), 'order')
    }
    const cert = await this.post(order.certificate, '', key, kid)
    expectStatus(cert, [200], 'certificate')
    const pem = cert.body.toString('utf8')
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('certificate: no PEM')
    return pem
  }
}

function publicJwk(key: KeyObject) {
  const jwk = crypto.createPublicKey(key).export({ format: 'jwk' })
  return { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
}

function expectStatus(res: Response, ok: number[], what: string) {
  if (!ok.includes(res.status))
    throw new Error(`${what}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 300)}`)
}

function json(res: Response, what: string) {
  expectStatus(res, [200], what)
  return JSON.parse(res.body.toString('utf8'))
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
