/*
 * Shared by the CRL plugin's functional and interop tests: fetching CRLs over HTTP, reading
 * them with OpenSSL, issuing and revoking through the REST API, running the plugin's jobs (the
 * test process schedules none) and changing its CA settings.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ApiClient } from '@japa/api-client'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import { adminToken, baseUrl, issueCertificate, opensslCsr } from '#tests/helpers/api'
import { run, toolPath, withTempDir, type OpensslBinary } from '#tests/helpers/external'
import { setPollTrust } from '../../plugins/crl/serve.js'

// The in-process server goes through fast routes as in production, but this process runs no
// poll on a schedule: every CRL request is answered from the database's current state (what a
// node does within a second of a change). The memory path is proven by crl_cluster.spec.ts.
setPollTrust(0)

export interface Fetched {
  status: number
  headers: Headers
  bytes: Buffer
}

export async function fetchCrl(path: string, init: RequestInit = {}, base = baseUrl()) {
  const response = await fetch(`${base}${path}`, init)
  return {
    status: response.status,
    headers: response.headers,
    bytes: Buffer.from(await response.arrayBuffer()),
  } satisfies Fetched
}

/** `openssl crl -verify -text` of DER bytes against the CA. */
export async function readCrl(caPem: string, der: Buffer, binary: OpensslBinary = 'openssl') {
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'ca.pem'), caPem)
    await writeFile(join(dir, 'crl.der'), der)
    const result = await run(toolPath(binary), [
      'crl',
      '-inform',
      'DER',
      '-in',
      join(dir, 'crl.der'),
      '-CAfile',
      join(dir, 'ca.pem'),
      '-verify',
      '-noout',
      '-text',
    ])
    const ok = result.code === 0 && /verify OK/.test(result.stderr + result.stdout)
    return { ok, text: result.stdout, output: result.stdout + result.stderr }
  })
}

export function crlNumberOf(text: string): number {
  const match = /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)
  if (!match) throw new Error(`no CRL number in:\n${text}`)
  return Number(match[1])
}

export function serialsIn(text: string): string[] {
  return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1].replace(/^0+/, ''))
}

export function upperSerial(serial: string): string {
  return serial.replace(/:/g, '').toUpperCase().replace(/^0+/, '')
}

/** (The shared poll helper, re-exported for the specs that import it from here.) */
export { waitFor } from '#tests/helpers/api'

export interface IssuedCert {
  id: number
  serial: string
  certificatePem: string
}

export async function issueLeaf(client: ApiClient, templateId: number, cn: string) {
  const { csrPem } = await opensslCsr({ subject: `/CN=${cn}` })
  const response = await issueCertificate(client, templateId, { csr: csrPem })
  if (response.status() !== 201) throw new Error(`issue failed: ${response.text()}`)
  return response.body().certificate as IssuedCert
}

export async function revokeApi(client: ApiClient, id: number, reason: string) {
  const response = await client
    .post(`/api/v1/certificates/${id}/revoke`)
    .bearerToken(await adminToken())
    .json({ reason })
  response.assertStatus(200)
}

export async function unrevokeApi(client: ApiClient, id: number) {
  const response = await client
    .post(`/api/v1/certificates/${id}/unrevoke`)
    .bearerToken(await adminToken())
    .json({})
  response.assertStatus(200)
}

/** One run of the plugin's cluster-singleton refresh job (what a web node does every 2 s). */
export async function refreshCrls() {
  await pluginHost.runJob('crl', 'refresh')
  // This node serves CRLs from memory (the fast route) as its poll loaded them: load what was
  // just built, as the poll does within a second.
  await pluginHost.runJob('crl', 'poll')
}

/** One run of the per-node poll (the CRLs this node serves from memory). */
export async function pollCrls() {
  await pluginHost.runJob('crl', 'poll')
}

/** Saves CA settings and runs the per-node settings job (what service URLs are built from). */
export async function setCrlSettings(caId: number, values: Record<string, unknown>) {
  // saved like the form: merged over the current values (an absent checkbox means false)
  const current = await pluginHost.readSettings('crl', 'ca', caId)
  await pluginHost.saveSettings('crl', 'ca', caId, { ...current, ...values }, systemActor)
  await pluginHost.runJob('crl', 'settings')
}
