/*
 * Helpers of the OCSP responder tests (functional and interop): requests built by `openssl
 * ocsp -reqout`, answers read by `openssl ocsp -respin` (the delegated signer verified against
 * the CA), GET/POST against a server, and waiting for the pre-signing job.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pluginHost } from '#plugins/host'
import { run, toolPath, withTempDir, type OpensslBinary } from '#tests/helpers/external'
import {
  createCa,
  issueCertificate,
  opensslCsr,
  unique,
  webServerTemplate,
  withFiles,
  type CsrKey,
} from '#tests/helpers/api'

export interface OcspRequestOptions {
  issuerPem: string
  /** certificates asked about (PEM) */
  certs?: string[]
  /** serials asked about (hex, no prefix) */
  serials?: string[]
  /** CertID hash (default sha1) */
  digest?: 'sha1' | 'sha256' | 'sha384' | 'sha512'
  nonce?: boolean
  binary?: OpensslBinary
}

/** A DER OCSPRequest made by `openssl ocsp -reqout`. */
export async function ocspRequest(options: OcspRequestOptions): Promise<Buffer> {
  const files: Record<string, string> = { 'issuer.pem': options.issuerPem }
  ;(options.certs ?? []).forEach((pem, i) => (files[`c${i}.pem`] = pem))
  return withFiles(files, async (paths, dir) => {
    const args = ['ocsp', '-issuer', paths['issuer.pem'], `-${options.digest ?? 'sha1'}`]
    ;(options.certs ?? []).forEach((_, i) => args.push('-cert', paths[`c${i}.pem`]))
    for (const serial of options.serials ?? []) args.push('-serial', `0x${serial}`)
    if (!options.nonce) args.push('-no_nonce')
    args.push('-reqout', join(dir, 'req.der'))
    const result = await run(toolPath(options.binary ?? 'openssl'), args)
    if (result.code !== 0) throw new Error(`openssl ocsp -reqout failed: ${result.stderr}`)
    return readFile(join(dir, 'req.der'))
  })
}

export interface OcspCheck {
  ok: boolean
  /** stdout + stderr of `openssl ocsp -respin ... -resp_text` */
  text: string
}

/**
 * `openssl ocsp -respin`: verifies the response (signer chained to the CA, OCSPSigning) and
 * prints the status of each certificate asked about.
 */
export async function checkResponse(
  response: Buffer,
  options: {
    issuerPem: string
    certs?: string[]
    serials?: string[]
    binary?: OpensslBinary
    digest?: string
  }
): Promise<OcspCheck> {
  const files: Record<string, string> = { 'issuer.pem': options.issuerPem }
  ;(options.certs ?? []).forEach((pem, i) => (files[`c${i}.pem`] = pem))
  return withFiles(files, async (paths, dir) => {
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(dir, 'resp.der'), response)
    const args = [
      'ocsp',
      '-respin',
      join(dir, 'resp.der'),
      '-issuer',
      paths['issuer.pem'],
      '-CAfile',
      paths['issuer.pem'],
      '-no_nonce',
      '-resp_text',
    ]
    if (options.digest) args.push(`-${options.digest}`)
    ;(options.certs ?? []).forEach((_, i) => args.push('-cert', paths[`c${i}.pem`]))
    for (const serial of options.serials ?? []) args.push('-serial', `0x${serial}`)
    const result = await run(toolPath(options.binary ?? 'openssl'), args)
    const text = result.stdout + result.stderr
    return { ok: result.code === 0 && /Response verify OK/.test(text), text }
  })
}

/** The URL-encoded standard base64 of a request, as RFC 6960 A.1 puts it in a GET path. */
export function getPath(der: Buffer): string {
  return encodeURIComponent(der.toString('base64'))
}

export interface FetchedOcsp {
  status: number
  headers: Headers
  body: Buffer
}

export async function ocspGet(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, { headers })
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  } satisfies FetchedOcsp
}

export async function ocspPost(
  base: string,
  path: string,
  body: Buffer,
  contentType: string | null = 'application/ocsp-request'
) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: contentType ? { 'content-type': contentType } : {},
    body,
  })
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  } satisfies FetchedOcsp
}

/** OCSPResponseStatus of a DER response (0 successful, 1 malformedRequest, ... 6 unauthorized). */
export function responseStatus(der: Buffer): number {
  // SEQUENCE { ENUMERATED status, ... }: 30 len 0a 01 <status>
  const offset = der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2
  if (der[0] !== 0x30 || der[offset] !== 0x0a || der[offset + 1] !== 1) {
    throw new Error(`not an OCSPResponse: ${der.subarray(0, 16).toString('hex')}`)
  }
  return der[offset + 2]
}

/** Runs the pre-signing job (what a web node's scheduler does every 5 s). */
export async function presign(): Promise<void> {
  await pluginHost.runJob('ocsp', 'presign')
}

/** (The shared poll helper, re-exported for the specs that import it from here.) */
export { waitFor } from '#tests/helpers/api'

/** `openssl x509 -text` of a DER certificate. */
export async function certText(der: Buffer): Promise<string> {
  return withTempDir(async (dir) => {
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(dir, 'c.der'), der)
    const r = await run(toolPath('openssl'), [
      'x509',
      '-inform',
      'DER',
      '-in',
      join(dir, 'c.der'),
      '-noout',
      '-text',
    ])
    return r.stdout + r.stderr
  })
}

/** A CA (`label` + a unique suffix) with its Web Server template, and `issue(cn)` through it. */
export async function ocspSetup(client: any, label: string, keyType = 'ecdsa-p256') {
  const ca = await createCa(client, { name: unique(label), keyType })
  const template = await webServerTemplate(client, ca.id)
  const issue = async (cn: string, key?: CsrKey) => {
    const { csrPem } = await opensslCsr({ key, subject: `/CN=${cn}` })
    const response = await issueCertificate(client, template.id, { csr: csrPem })
    response.assertStatus(201)
    return response.body().certificate as { id: number; serial: string; certificatePem: string }
  }
  return { ca, caPem: ca.certificatePem!, template, issue, base: `/ocsp/${ca.id}` }
}
