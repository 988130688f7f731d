/*
 * CRL plugin (issue 4, product manual §12, protocol notes §8). See README.md.
 *
 *  - GET /crl/<caId>.crl: the CA's full CRL; <caId>-delta.crl its delta; <caId>-s<N>-<i>.crl
 *    (and -delta) the shard CRLs. DER, or PEM with ?format=pem / Accept: application/x-pem-file.
 *  - Certificates carry the CRL of their scope in their CDP (the shard of their serial when the
 *    CA is sharded) and its delta in Freshest CRL (when deltas are on).
 *  - CRLs are built by the cluster-singleton job "refresh" (every 2 s: stale or soon-expiring
 *    ones; generate.ts), stored as chunk rows, served from memory by every node (serve.ts).
 */
import { definePlugin, type PluginRuntime } from '#plugin-api'
import { buildFull, refreshCa } from './generate.js'
import { baseOf, crlUrl, deltaScope, FULL, parseFileName, shardOf, shardScope } from './names.js'
import { answerFromMemory, fastHandle, loadCa, poll, streamStored, wantsPem } from './serve.js'
import { caSettings, crlSettingsOf, DEFAULT_SETTINGS, type CrlCaSettings } from './settings.js'
import { forgetCa, logChange, markStale, recordShardSet } from './store.js'
import { renderCaTab } from './tab.js'

const ID = 'crl'
let publicUrl = ''

/*
 * Service URLs are computed synchronously while a certificate is built, so each node keeps the
 * CAs' CRL settings in memory (refreshed by the per-node "settings" job every 5 s). A shard set is recorded in the
 * database before any node embeds its URLs, so every URL a certificate carries is published.
 */
const settingsCache = new Map<number, CrlCaSettings>()

async function refreshSettings(runtime: PluginRuntime): Promise<void> {
  const seen = new Set<number>()
  for (const ca of await runtime.listCas()) {
    seen.add(ca.id)
    const settings = crlSettingsOf(await runtime.settings.ca(ca.id))
    if (settings.shards > 0) await recordShardSet(runtime, ca.id, settings.shards)
    settingsCache.set(ca.id, settings)
  }
  for (const id of settingsCache.keys()) if (!seen.has(id)) settingsCache.delete(id)
}

/** The scope a new certificate of the CA belongs to (its shard, or the full CRL). */
function scopeOf(caId: number, serial: string | undefined): string {
  const shards = (settingsCache.get(caId) ?? DEFAULT_SETTINGS).shards
  return shards > 0 && serial ? shardScope(shards, shardOf(serial, shards)) : FULL
}

/** Where the last job run stopped among CAs without pending changes (round robin). */
let cursor = 0
/** A run stops starting new CAs after this long; the next run (2 s later) goes on. */
const RUN_BUDGET_MS = 3000

/**
 * One job run: CAs with a revocation or unrevocation not yet in their full CRL come
 * first, so a change reaches its CA's CRLs within seconds even while other CAs (many, or slow:
 * an SLH-DSA signature takes seconds) wait for their first or renewed CRL; those are taken in
 * turn across runs, each run within a time budget.
 */
async function refreshAll(runtime: PluginRuntime): Promise<void> {
  const started = Date.now()
  const dirtyRows = await runtime
    .table('crl_state')
    .whereRaw('dirty > full_built_dirty')
    .select('ca_id')
  const pending = new Set<number>(dirtyRows.map((r: any) => Number(r.ca_id)))
  // The most recent change first: a fresh revocation is not queued behind a backlog (e.g. CAs
  // revoked into while no server ran), which drains in the following runs.
  const lastChange = new Map<number, number>()
  if (pending.size > 0) {
    const rows = await runtime
      .table('crl_changes')
      .whereIn('ca_id', [...pending])
      .groupBy('ca_id')
      .select('ca_id')
      .max('id as last')
    for (const row of rows) lastChange.set(Number(row.ca_id), Number(row.last ?? 0))
  }
  const listed = await runtime.listCas()
  const active = listed.filter((ca) => ca.status === 'active' && ca.certificatePem)
  const urgent = active
    .filter((ca) => pending.has(ca.id))
    .sort((a, b) => (lastChange.get(b.id) ?? 0) - (lastChange.get(a.id) ?? 0))
  const rest = active.filter((ca) => !pending.has(ca.id))
  const from = Math.max(
    0,
    rest.findIndex((ca) => ca.id > cursor)
  )
  const ordered = [...urgent, ...rest.slice(from), ...rest.slice(0, from)]
  for (const ca of ordered) {
    if (Date.now() - started > RUN_BUDGET_MS) break
    try {
      await refreshCa(runtime, ca.id)
    } catch (error) {
      runtime.log.error({ err: error, caId: ca.id }, 'CRL generation failed')
    }
    if (!pending.has(ca.id)) cursor = ca.id
  }
}

function notFound(reply: any, message = 'No CRL for this CA.') {
  reply
    .status(404)
    .header('content-type', 'application/json')
    .send({ error: { code: 'E_NOT_FOUND', message } })
}

async function onChange(
  runtime: PluginRuntime,
  ctx: { caId: number; certificateId: number; serial: string; previousStatus: string }
): Promise<void> {
  const cert = await runtime.findCertificate({ id: ctx.certificateId })
  await logChange(runtime, ctx.caId, {
    certificateId: ctx.certificateId,
    serial: cert?.serial ?? ctx.serial,
    status: cert?.status ?? 'unknown',
    previousStatus: ctx.previousStatus,
    reason: cert?.revocationReason ?? null,
    revokedAt: cert?.revokedAt ?? null,
    notAfter: cert?.notAfter ?? 0,
    createdAt: Date.now(),
  })
  await markStale(runtime, ctx.caId)
}

export default definePlugin({
  id: ID,
  name: 'CRL',
  version: '0.2.0',
  apiVersion: 1,
  kernel: '^0.1.0',
  description:
    'Publishes full and delta Certificate Revocation Lists per CA (optionally sharded) at /crl/<caId>.crl and puts their URLs in the CRL distribution points and Freshest CRL of new certificates.',
  enabledByDefault: true,
  migrations: new URL('./database/migrations/', import.meta.url),
  settings: { ca: caSettings },

  setup(api) {
    publicUrl = api.publicUrl

    api.serviceUrl({
      kind: 'crl',
      label: 'CRL',
      scope: 'ca',
      embedIn: 'crl.distributionPoints',
      urls: (ctx) => [crlUrl(publicUrl, ctx.caId, scopeOf(ctx.caId, ctx.serial))],
    })
    api.serviceUrl({
      kind: 'crl-delta',
      label: 'Delta CRL',
      scope: 'ca',
      embedIn: 'crl.freshest',
      urls: (ctx) =>
        (settingsCache.get(ctx.caId) ?? DEFAULT_SETTINGS).deltas
          ? [crlUrl(publicUrl, ctx.caId, deltaScope(scopeOf(ctx.caId, ctx.serial)))]
          : [],
    })

    api.fastRoute({ handle: fastHandle })

    api.routes({
      surface: 'device',
      register(r) {
        r.get('/:file', async ({ request, reply, runtime }) => {
          const parsed = parseFileName(String(request.params.file))
          const ca = parsed ? await runtime.getCa(parsed.caId) : null
          if (!parsed || !ca) return notFound(reply)
          const { caId, scope } = parsed
          let entry = await loadCa(runtime, caId)
          const missing = !entry?.lists.has(baseOf(scope))
          if (missing && ca.status === 'active' && ca.certificatePem) {
            // No CRL yet for this CA (or a shard set just recorded): build it now.
            if (await recordedScope(runtime, caId, scope)) {
              await buildOnce(runtime, caId)
              entry = await loadCa(runtime, caId)
            }
          }
          if (!entry?.lists.has(scope)) return notFound(reply)
          runtime.countServiceHit('crl', caId)
          const headers = request.headers
          const accept = String(headers.accept ?? '')
          const query = new URL(request.url, 'http://x').search.slice(1)
          const answer = answerFromMemory(
            caId,
            scope,
            { query, accept, ifNoneMatch: String(headers['if-none-match'] ?? '') },
            true
          )
          if (answer) {
            reply.status(answer.status ?? 200)
            for (const [name, value] of Object.entries(answer.headers ?? {})) {
              if (value) reply.header(name, value)
            }
            return reply.send(answer.body)
          }
          const ifNoneMatch = String(headers['if-none-match'] ?? '')
          const streamed = streamStored(runtime, caId, scope, wantsPem(query, accept), ifNoneMatch)
          if (!streamed) return notFound(reply)
          reply.status(streamed.status)
          for (const [name, value] of Object.entries(streamed.headers)) reply.header(name, value)
          reply.send(streamed.body)
        })
      },
    })

    api.job({ name: 'refresh', schedule: '2s', concurrency: 'cluster-singleton', run: refreshAll })
    api.job({ name: 'poll', schedule: '1s', concurrency: 'per-node', run: poll })
    api.job({ name: 'settings', schedule: '5s', concurrency: 'per-node', run: refreshSettings })

    api.hook('afterRevoke', (ctx, runtime) => onChange(runtime, ctx))
    api.hook('afterUnrevoke', (ctx, runtime) => onChange(runtime, ctx))
    api.hook('afterCaDeleted', (ctx, runtime) => forgetCa(runtime, ctx.caId))

    api.caTab({ label: 'CRL', order: 50, render: (ctx) => renderCaTab(ctx, publicUrl) })
  },

  async start(runtime) {
    // Revocations made while the plugin was off fired no hook: the next full CRLs read the
    // certificates again instead of building on the previous ones.
    await runtime.table('crl_state').update({ rescan: 1 })
    await refreshSettings(runtime)
  },
})

const building = new Map<number, Promise<unknown>>()

/** A full pass started by a request; concurrent requests for the same CA wait for the same one. */
function buildOnce(runtime: PluginRuntime, caId: number): Promise<unknown> {
  let pending = building.get(caId)
  if (!pending) {
    pending = buildFull(runtime, caId).finally(() => building.delete(caId))
    building.set(caId, pending)
  }
  return pending
}

/** Whether a scope is one the CA publishes (the full CRL, its delta, or a recorded shard set). */
async function recordedScope(runtime: PluginRuntime, caId: number, scope: string) {
  const base = baseOf(scope)
  if (base === FULL) return true
  const count = Number(/^s(\d+)-/.exec(base)?.[1])
  const row = await runtime.table('crl_shard_sets').where({ ca_id: caId, count }).first()
  return Boolean(row)
}
