/*
 * Shared setup of the ACME plugin's functional and interop tests: the plugin enabled with test
 * settings, a fresh CA, a policy on its Web Server template and EAB credentials.
 */
import type { ApiClient } from '@japa/api-client'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import type { PluginRuntime } from '#plugin-api'
import { baseUrl, createCa, unique, webServerTemplate } from '#tests/helpers/api'
import { createEab, createPolicy } from '../../plugins/acme/policies.js'
import { AcmeTestClient } from '../../plugins/acme/tests/client.js'

/** Extra ports of this helper's range: TEST_PORT + n. */
export function extraPort(n: number) {
  return Number(process.env.PORT ?? 3381) + n
}

export function acmeRuntime(): PluginRuntime {
  const runtime = pluginHost.get('acme')?.runtime
  if (!runtime) throw new Error('the acme plugin is not loaded')
  return runtime
}

export async function acmeSettings(values: Record<string, unknown>) {
  await pluginHost.saveSettings('acme', 'install', 0, values, systemActor)
}

export async function enableAcme(settings: Record<string, unknown> = {}) {
  await pluginHost.setEnabled('acme', true, systemActor)
  await acmeSettings({
    http01Port: extraPort(3),
    tlsAlpn01Port: extraPort(4),
    dnsResolver: `127.0.0.1:${extraPort(2)}`,
    validationTimeoutSeconds: 5,
    ordersPerAccountPerHour: 0,
    requestsPerIpPerMinute: 0,
    ...settings,
  })
}

/**
 * Turns the plugin off again (a group's teardown): later spec files, and the servers they spawn on
 * the shared test database, start from a new install's default (ACME off).
 */
export async function disableAcme() {
  await pluginHost.setEnabled('acme', false, systemActor)
}

/** The prefix of RFC 8555 problem types. */
export const ACME = 'urn:ietf:params:acme:error:'

/** The account id that ends a registered client's kid (its account URL). */
export function accountIdOf(acme: AcmeTestClient): number {
  return Number(acme.kid!.split('/').pop())
}

export const directoryUrl = () => `${baseUrl()}/acme/directory`

export async function acmeWorld(
  client: ApiClient,
  options: { preApproved?: string; profiles?: string; uses?: number } = {}
) {
  await enableAcme()
  const runtime = acmeRuntime()
  const ca = await createCa(client, { name: unique('ACME CA'), keyType: 'ecdsa-p256' })
  const template = await webServerTemplate(client, ca.id)
  const policy = await createPolicy(runtime, {
    caId: ca.id,
    name: unique('policy'),
    template: template.id,
    preApproved: options.preApproved ?? '',
    profiles: options.profiles ?? '',
  })
  const eab = () =>
    createEab(runtime, { policyId: policy.id, name: unique('eab'), maxUses: options.uses ?? 1 })
  return { runtime, ca, template, policy, eab }
}

/** A PEM block (CSR or certificate) as base64url DER, the way ACME carries them. */
export const pemToB64u = (pem: string) =>
  Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64').toString(
    'base64url'
  )

/** A client with a fresh ES256 key, registered with a new EAB of the world's policy. */
export async function registeredClient(world: Awaited<ReturnType<typeof acmeWorld>>) {
  const acme = await new AcmeTestClient(directoryUrl()).init()
  const res = await acme.register(await world.eab())
  if (res.status !== 201) throw new Error(`registration failed: ${res.text}`)
  return acme
}

/** A registered client with a new order for an IP address and its (pending) authorization. */
export async function pendingIpOrder(client: ApiClient, ip = '127.0.0.1') {
  const world = await acmeWorld(client)
  const acme = await registeredClient(world)
  const order = await acme.newOrder([{ type: 'ip', value: ip }])
  const authz = await acme.post(order.body.authorizations[0], '')
  return { world, acme, order, authz }
}
