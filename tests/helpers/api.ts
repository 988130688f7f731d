/*
 * Helpers for functional tests: an administrator's API token, CSRs made by OpenSSL (not by our
 * code), and small wrappers around the REST API.
 */
import db from '@adonisjs/lucid/services/db'
import { randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ApiClient } from '@japa/api-client'
import { tokenService } from '#services/token_service'
import { systemActor } from '#services/actor'
import { run, toolPath, withTempDir, type OpensslBinary } from './external.js'

let adminTokenPromise: Promise<string> | undefined

/** An API token of an install administrator (created once per test run). */
export function adminToken(): Promise<string> {
  adminTokenPromise ??= (async () => {
    const user = await tokenService.createUser(systemActor, {
      email: `admin-${randomUUID()}@test.example`,
      isAdmin: true,
    })
    return tokenService.createToken(systemActor, user, 'tests')
  })()
  return adminTokenPromise
}

/** An API token of a user who is not an administrator. */
export async function userToken(): Promise<{ token: string; userId: number }> {
  const user = await tokenService.createUser(systemActor, {
    email: `user-${randomUUID()}@test.example`,
  })
  return { token: await tokenService.createToken(systemActor, user, 'tests'), userId: user.id }
}

export const unique = (prefix: string) => `${prefix} ${randomUUID().slice(0, 8)}`

export type CsrKey =
  | 'rsa-2048'
  | 'rsa-1024'
  | 'ec-p256'
  | 'ec-p384'
  | 'ed25519'
  | 'ml-dsa-44'
  | 'ml-dsa-65'
  | 'ml-dsa-87'
  | 'slh-dsa-sha2-128s'

const GENPKEY: Record<CsrKey, string[]> = {
  'rsa-2048': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  'rsa-1024': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
  'ec-p256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'ec-p384': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  'ed25519': ['-algorithm', 'ED25519'],
  'ml-dsa-44': ['-algorithm', 'ML-DSA-44'],
  'ml-dsa-65': ['-algorithm', 'ML-DSA-65'],
  'ml-dsa-87': ['-algorithm', 'ML-DSA-87'],
  'slh-dsa-sha2-128s': ['-algorithm', 'SLH-DSA-SHA2-128s'],
}

/**
 * A key and CSR made by the `openssl` CLI (OpenSSL 3.5 for post-quantum keys).
 * `sans` like ['DNS:a.example', 'IP:10.0.0.1'].
 */
export async function opensslCsr(
  options: { key?: CsrKey; subject?: string; sans?: string[] } = {}
) {
  const key = options.key ?? 'ec-p256'
  const binary: OpensslBinary =
    key.startsWith('ml-') || key.startsWith('slh-') ? 'openssl35' : 'openssl'
  const openssl = toolPath(binary)
  return withTempDir(async (dir) => {
    const keyFile = join(dir, 'key.pem')
    const gen = await run(openssl, ['genpkey', ...GENPKEY[key], '-out', keyFile])
    if (gen.code !== 0) throw new Error(`openssl genpkey failed: ${gen.stderr}`)
    const args = [
      'req',
      '-new',
      '-key',
      keyFile,
      '-subj',
      options.subject ?? '/CN=host.example.com',
      '-out',
      join(dir, 'req.pem'),
    ]
    if (options.sans?.length) args.push('-addext', `subjectAltName=${options.sans.join(',')}`)
    const req = await run(openssl, args)
    if (req.code !== 0) throw new Error(`openssl req failed: ${req.stderr}`)
    return {
      csrPem: await readFile(join(dir, 'req.pem'), 'utf8'),
      keyPem: await readFile(keyFile, 'utf8'),
    }
  })
}

/** Writes PEM text to files in a temp dir and runs `fn` with their paths. */
export async function withFiles<T>(
  files: Record<string, string>,
  fn: (paths: Record<string, string>, dir: string) => Promise<T>
) {
  return withTempDir(async (dir) => {
    const paths: Record<string, string> = {}
    for (const [name, text] of Object.entries(files)) {
      paths[name] = join(dir, name)
      await writeFile(paths[name], text)
    }
    return fn(paths, dir)
  })
}

/** POST /api/v1/cas as an administrator; returns the created CA's JSON. */
export async function createCa(client: ApiClient, body: Record<string, unknown>) {
  const response = await client
    .post('/api/v1/cas')
    .bearerToken(await adminToken())
    .json(body)
  if (response.status() !== 201)
    throw new Error(`CA creation failed: ${response.status()} ${response.text()}`)
  return response.body().ca as {
    id: number
    name: string
    certificatePem: string | null
    csrPem: string | null
    keyType: string
    [k: string]: any
  }
}

export async function templatesOf(client: ApiClient, caId: number) {
  const response = await client.get(`/api/v1/cas/${caId}/templates`).bearerToken(await adminToken())
  return response.body().templates as Array<{ id: number; name: string; options: any }>
}

export async function webServerTemplate(client: ApiClient, caId: number) {
  const t = (await templatesOf(client, caId)).find((x) => x.name === 'Web Server')
  if (!t) throw new Error('no Web Server template')
  return t
}

/** Base URL of the test server started by the functional suite. */
export function baseUrl() {
  return `http://${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 3333}`
}

/** POST /api/v1/templates/:id/issue as an administrator (the response, whatever its status). */
export async function issueCertificate(
  client: ApiClient,
  templateId: number,
  body: Record<string, unknown>
) {
  return client
    .post(`/api/v1/templates/${templateId}/issue`)
    .bearerToken(await adminToken())
    .json(body)
}

/** POST /api/v1/cas/:id/templates as an administrator (the response, whatever its status). */
export async function createTemplate(
  client: ApiClient,
  caId: number,
  body: Record<string, unknown>
) {
  return client
    .post(`/api/v1/cas/${caId}/templates`)
    .bearerToken(await adminToken())
    .json(body)
}

/**
 * Polls `fn` until it returns something other than null (that value), or throws naming `what`
 * after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null>,
  timeoutMs = 15_000,
  stepMs = 100
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

/**
 * Runs `fn` on an install without administrators (the shared test database has some, made by
 * other tests): they are demoted for its duration, then promoted back.
 */
export async function withoutAdministrators(fn: () => Promise<void>) {
  const admins = await db.from('users').where('is_admin', true).select('id')
  const ids = admins.map((a: any) => Number(a.id))
  if (ids.length) await db.from('users').whereIn('id', ids).update({ is_admin: false })
  try {
    await fn()
  } finally {
    if (ids.length) await db.from('users').whereIn('id', ids).update({ is_admin: true })
  }
}
