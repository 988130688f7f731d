/*
 * ACME plugin (issue 5, product manual §8, protocol notes §9): RFC 8555 with mandatory External
 * Account Binding, policies with pre-approved domains, ARI (RFC 9773) and profiles.
 *
 * Device routes under /acme (directory at /acme/directory); admin pages under /admin/p/acme.
 * Off by default: it opens the CA to the network.
 */
import { definePlugin, type PluginRuntime, type RouteContext } from '#plugin-api'
import { accountOrders, keyChange, newAccount, updateAccount } from './accounts.js'
import { registerAdmin } from './admin.js'
import { commands } from './commands.js'
import { failStuckValidations, getAuthz, postChallenge } from './authorizations.js'
import {
  downloadCertificate,
  renewalInfo,
  renewalReasons,
  requestRenewal,
  revokeCert,
} from './certificates.js'
import { failStaleProcessing, finalize, getOrder, newOrder } from './orders.js'
import { directoryUrl, listPolicies, removeCaPolicies, templateInUse } from './policies.js'
import { AcmeProblem } from './problems.js'
import { commonHeaders, sendJson, sendProblem, type AcmeContext } from './protocol.js'
import { installSettings, templateSettings, type InstallSettings } from './settings.js'
import {
  flushCounts,
  loadNonceKey,
  newNonce,
  newNonceNow,
  purgeNonces,
  purgeRateWindows,
} from './store.js'

const ID = 'acme'

type Handler = (ctx: AcmeContext) => Promise<unknown>

function acme(handler: Handler) {
  return async ({ request, reply, runtime }: RouteContext) => {
    const ctx: AcmeContext = {
      runtime,
      request,
      reply,
      settings: (await runtime.settings.install()) as unknown as InstallSettings,
      base: `${runtime.publicUrl}/${ID}`,
    }
    try {
      await handler(ctx)
    } catch (error) {
      if (error instanceof AcmeProblem) return sendProblem(ctx, error)
      runtime.log.error({ err: error, url: request.url }, 'ACME request failed')
      return sendProblem(
        ctx,
        new AcmeProblem('serverInternal', 'The server could not handle this request; it is logged.')
      )
    }
  }
}

async function directory(ctx: AcmeContext) {
  // The directory is public: it names profiles, not the policies (nor CAs) that offer them.
  const offeredBy = new Map<string, number>()
  for (const policy of await listPolicies(ctx.runtime)) {
    for (const name of Object.keys(policy.profiles))
      offeredBy.set(name, (offeredBy.get(name) ?? 0) + 1)
  }
  const profiles: Record<string, string> = {}
  for (const [name, count] of offeredBy) {
    profiles[name] =
      `The "${name}" profile, offered by ${count === 1 ? 'one ACME policy' : `${count} ACME policies`}: the account's policy decides whether an order may use it.`
  }
  const meta: Record<string, unknown> = { externalAccountRequired: true }
  if (ctx.settings.termsOfService) meta.termsOfService = ctx.settings.termsOfService
  if (ctx.settings.website) meta.website = ctx.settings.website
  meta.profiles = profiles
  const b = ctx.base
  return sendJson(ctx, 200, {
    newNonce: `${b}/new-nonce`,
    newAccount: `${b}/new-account`,
    newOrder: `${b}/new-order`,
    revokeCert: `${b}/revoke-cert`,
    keyChange: `${b}/key-change`,
    renewalInfo: `${b}/renewal-info`,
    meta,
  })
}

async function nonce(ctx: AcmeContext) {
  await commonHeaders(ctx, false)
  ctx.reply
    .header('replay-nonce', await newNonce(ctx.runtime))
    .status(ctx.request.method === 'HEAD' ? 200 : 204)
    .send('')
}

const POST_ONLY = [
  '/new-account',
  '/account/:id',
  '/account/:id/orders',
  '/key-change',
  '/new-order',
  '/order/:id',
  '/order/:id/finalize',
  '/authz/:id',
  '/chall/:authz/:type',
  '/cert/:id',
  '/revoke-cert',
]

async function postOnly(): Promise<never> {
  throw new AcmeProblem('malformed', 'This resource answers POST (or POST-as-GET) only.', {
    status: 405,
    headers: { allow: 'POST' },
  })
}

async function housekeeping(runtime: PluginRuntime) {
  const settings = (await runtime.settings.install()) as unknown as InstallSettings
  await purgeNonces(runtime)
  await purgeRateWindows(runtime)
  await failStuckValidations(runtime, settings.validationTimeoutSeconds)
  await failStaleProcessing(runtime)
}

export default definePlugin({
  id: ID,
  name: 'ACME',
  version: '0.1.0',
  apiVersion: 1,
  kernel: '^0.1.0',
  description:
    'RFC 8555 ACME server with mandatory External Account Binding, policies with pre-approved domains, http-01, dns-01 and tls-alpn-01, ARI (RFC 9773) and profiles.',
  enabledByDefault: false,
  migrations: new URL('./database/migrations/', import.meta.url),
  settings: { install: installSettings, template: templateSettings },

  async start(runtime) {
    await loadNonceKey(runtime)
  },

  async stop() {
    // Rate counters not written yet (see store.ts countEvent).
    await flushCounts()
  },

  setup(api) {
    // Every ACME request is hot: the host answers these routes before the framework's router
    // once the plugin started on this node (early routes), with the body read by the host.
    const routes: Array<['GET' | 'POST', string, Handler]> = [
      ['GET', '/directory', directory],
      ['GET', '/new-nonce', nonce],
      ['POST', '/new-account', newAccount],
      ['POST', '/account/:id', updateAccount],
      ['POST', '/account/:id/orders', accountOrders],
      ['POST', '/key-change', keyChange],
      ['POST', '/new-order', newOrder],
      ['POST', '/order/:id', getOrder],
      ['POST', '/order/:id/finalize', finalize],
      ['POST', '/authz/:id', getAuthz],
      ['POST', '/chall/:authz/:type', postChallenge],
      ['POST', '/cert/:id', downloadCertificate],
      ['POST', '/revoke-cert', revokeCert],
      ['GET', '/renewal-info/:certid', renewalInfo],
      ['GET', '/renewal-reasons', renewalReasons],
      // Every other resource is POST (or POST-as-GET) only (RFC 8555 §6.3).
      ...POST_ONLY.map((path): ['GET', string, Handler] => ['GET', path, postOnly]),
    ]
    api.routes({
      surface: 'device',
      early: true,
      // A body over the host's limit (1 MiB, the default) is answered as an ACME problem too.
      tooLarge: () => {
        const nonceNow = newNonceNow()
        return {
          status: 413,
          headers: {
            'content-type': 'application/problem+json',
            'cache-control': 'no-store',
            'connection': 'close',
            ...(nonceNow ? { 'replay-nonce': nonceNow } : {}),
          },
          body: JSON.stringify(
            new AcmeProblem('malformed', 'The request body is larger than 1 MiB.', {
              status: 413,
            }).toJSON()
          ),
        }
      },
      register(r) {
        for (const [method, path, handler] of routes) {
          if (method === 'GET') r.get(path, acme(handler))
          else r.post(path, acme(handler))
        }
      },
    })

    for (const scope of ['ca', 'template'] as const) {
      api.serviceUrl({
        kind: 'acme',
        label: 'ACME directory',
        scope,
        urls: () => [directoryUrl(api)],
      })
    }

    registerAdmin(api)

    if (typeof api.command === 'function') for (const spec of commands) api.command(spec)

    api.job({
      name: 'housekeeping',
      schedule: '1m',
      concurrency: 'cluster-singleton',
      run: housekeeping,
    })

    // ARI: events of this CA move renewal windows earlier.
    api.hook('afterRevoke', (ctx, runtime) =>
      requestRenewal(runtime, { certificate_id: ctx.certificateId }, 'revoked')
    )
    api.hook('afterCaUpdated', async (ctx, runtime) => {
      const ca = await runtime.getCa(ctx.caId)
      await requestRenewal(
        runtime,
        { ca_id: ctx.caId },
        ca && ca.status === 'revoked' ? 'ca-revoked' : 'ca-changed'
      )
    })
    api.hook('afterTemplateUpdated', (ctx, runtime) =>
      requestRenewal(runtime, { template_id: ctx.templateId }, 'template-changed')
    )
    // A policy's template (or a profile's) cannot be deleted from under it; fails closed, as an
    // order under the policy would fail for good.
    api.hook('beforeTemplateDelete', {
      handler: async (ctx, runtime) => {
        const why = await templateInUse(runtime, ctx.caId, ctx.templateId)
        return why ? { deny: why } : undefined
      },
      onError: 'deny',
    })
    api.hook('afterCaDeleted', async (ctx, runtime) => {
      const removed = await removeCaPolicies(runtime, ctx.caId)
      if (removed.length === 0) return
      await runtime.writeServiceLog({
        caId: null,
        level: 'info',
        event: 'acme.policies.removed',
        message: `CA #${ctx.caId} was deleted: its ACME policies ${removed.map((n: string) => `"${n}"`).join(', ')} were removed with their EABs, accounts and orders.`,
        details: { caId: ctx.caId, policies: removed },
      })
    })
  },
})
