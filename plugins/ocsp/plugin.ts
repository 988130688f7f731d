/*
 * OCSP responder plugin (issue 4, product manual §11, protocol notes §8).
 *
 *  - A responder URL per CA, /ocsp/<caId>: GET (base64 request in the path) and POST
 *    (application/ocsp-request). It is a CA-scope service URL embedded in the AIA of
 *    certificates whose template includes OCSP.
 *  - Responses are pre-signed (RFC 5019) by a cluster-singleton job for every certificate of
 *    every active CA, with a delegated "OCSP Responder" certificate per CA (or the CA key), and
 *    kept in every node's memory, current through a change feed polled every 250 ms.
 *  - A revocation or unrevocation signs the certificate's new response at once (hooks), so
 *    every node answers with it within a second.
 * See README.md for the settings and the decisions.
 */
import { decodeOcspGetPath, issuerHashes } from '#pki/index'
import { definePlugin, html, safe, type PluginRuntime, type RouteContext } from '#plugin-api'
import { caSettings, readCaSettings } from './settings.js'
import {
  errorAnswer,
  getRequestPart,
  MAX_GET_PATH,
  MAX_POST_BYTES,
  OcspNode,
  type Answer,
} from './node.js'
import { effectiveMode, presignCa, readCaRow, signOne } from './presign.js'
import { CAS, FEED, RESPONSES, SIGNERS, currentSigner, feedCa, forgetSigners } from './signing.js'

const ID = 'ocsp'
/** How long one job run may sign before handing over to the next run. */
const RUN_BUDGET_MS = 20_000
/** Feed rows older than this are deleted (nodes poll every 250 ms). */
const FEED_KEEP_MS = 10 * 60_000

let publicUrl = ''
const node = new OcspNode()

function responderUrl(caId: number): string {
  return `${publicUrl}/${ID}/${caId}`
}

function sha1Issuer(certificatePem: string) {
  const h = issuerHashes(certificatePem, 'sha1')
  return { nameHash: h.nameHash, keyHash: h.keyHash }
}

function send({ reply }: RouteContext, answer: Answer): void {
  reply.status(answer.status)
  for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value)
  reply.send(answer.body)
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value
}

/** The path after /ocsp, from the raw URL (the router must not collapse // or decode %2F). */
function rawPath(url: string): string {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  return path.replace(/^\/ocsp(?=\/|$)/, '')
}

async function handleGet(ctx: RouteContext): Promise<void> {
  const path = rawPath(ctx.request.url)
  if (path.length > MAX_GET_PATH + 20) return send(ctx, errorAnswer('malformedRequest', 414))
  const part = getRequestPart(path)
  let der: Uint8Array
  try {
    if (part === null) throw new Error('no request in the path')
    der = decodeOcspGetPath(part)
  } catch {
    ctx.runtime.countServiceHit('malformed')
    return send(ctx, errorAnswer('malformedRequest'))
  }
  send(
    ctx,
    await node.answer(Buffer.from(der), {
      post: false,
      ifNoneMatch: headerText(ctx.request.headers['if-none-match']),
    })
  )
}

async function handlePost(ctx: RouteContext): Promise<void> {
  const declared = Number(ctx.request.headers['content-length'] ?? 0)
  let body: Buffer
  try {
    if (declared > MAX_POST_BYTES) throw Object.assign(new Error('too large'), { status: 413 })
    body = await ctx.request.rawBody()
    if (body.length > MAX_POST_BYTES) throw Object.assign(new Error('too large'), { status: 413 })
  } catch (error) {
    ctx.runtime.countServiceHit('too-large')
    const status = (error as { status?: number }).status === 413 ? 413 : 400
    return send(ctx, errorAnswer('malformedRequest', status))
  }
  send(ctx, await node.answer(body, { post: true }))
}

/** Where the last run stopped among CAs that need nothing urgent (round robin). */
let cursor = 0

/**
 * One job run within its budget: first the CAs that need a responder or asked for everything to
 * be signed again (new, changed, responder revoked), then the others in turn across runs — so a
 * new CA is served within seconds however many CAs (or certificates) the install has.
 */
async function presignAll(runtime: PluginRuntime): Promise<void> {
  const deadline = Date.now() + RUN_BUDGET_MS
  const rows = await runtime
    .table(CAS)
    .select('ca_id', 'signer_id', 'resign_requested_at', 'last_pass_at')
  const known = new Map<number, any>(rows.map((r: any) => [Number(r.ca_id), r]))
  const urgent = (id: number) => {
    const r = known.get(id)
    return !r || Number(r.signer_id) === 0 || Number(r.resign_requested_at) > Number(r.last_pass_at)
  }
  const listed = await runtime.listCas()
  const active = listed.filter((ca) => ca.status === 'active' && ca.certificatePem)
  const rest = active.filter((ca) => !urgent(ca.id))
  const from = Math.max(
    0,
    rest.findIndex((ca) => ca.id > cursor)
  )
  const ordered = [
    ...active.filter((ca) => urgent(ca.id)),
    ...rest.slice(from),
    ...rest.slice(0, from),
  ]
  for (const ca of ordered) {
    if (Date.now() > deadline) break
    if (!urgent(ca.id)) cursor = ca.id
    try {
      await presignCa(runtime, ca.id, sha1Issuer(ca.certificatePem!), deadline)
    } catch (error) {
      const message = (error as Error).message
      const row = await readCaRow(runtime, ca.id)
      if (row && row.last_error !== message) {
        await runtime.table(CAS).where('ca_id', ca.id).update({ last_error: message })
        await runtime.writeServiceLog({
          caId: ca.id,
          level: 'error',
          event: 'ocsp.presign.failed',
          message: `Pre-signing OCSP responses failed: ${message}`,
        })
      }
      runtime.log.error({ err: error, caId: ca.id }, 'OCSP pre-signing failed')
    }
  }
  await runtime
    .table(FEED)
    .where('created_at', '<', Date.now() - FEED_KEEP_MS)
    .delete()
}

/** A revocation or unrevocation: the certificate's new response, signed and shared now. */
async function statusChanged(
  ctx: { caId: number; certificateId: number },
  runtime: PluginRuntime
): Promise<void> {
  const row = await readCaRow(runtime, ctx.caId)
  // No responder yet: the presign job signs every response once it has issued one.
  if (!row || row.signer_id === 0) return
  if (row.signer_id === ctx.certificateId) {
    // The responder itself was revoked: the presign job (every few seconds, never a request)
    // replaces it and signs everything again.
    await runtime.table(CAS).where('ca_id', ctx.caId).update({ resign_requested_at: Date.now() })
    return
  }
  const signer = await currentSigner(runtime, ctx.caId)
  const ca = await runtime.getCa(ctx.caId)
  if (!signer || !ca?.certificatePem) return
  const stored = await signOne(
    runtime,
    ctx.caId,
    node.sha1Issuer(ctx.caId) ?? sha1Issuer(ca.certificatePem),
    { id: ctx.certificateId },
    signer
  )
  if (stored) node.remember(stored, signer.certsField)
}

/**
 * A CA was created or changed: its responses are signed again by the presign job, which also
 * issues (or replaces) the responder certificate — never the request that changed the CA.
 */
async function caChanged(caId: number, runtime: PluginRuntime): Promise<void> {
  forgetSigners(caId)
  await runtime.table(CAS).where('ca_id', caId).update({ resign_requested_at: Date.now() })
  await feedCa(runtime, caId)
  await node.refreshCa(caId)
}

async function caDeleted(caId: number, runtime: PluginRuntime): Promise<void> {
  forgetSigners(caId)
  for (const table of [RESPONSES, CAS, SIGNERS]) {
    await runtime.table(table).where('ca_id', caId).delete()
  }
  await feedCa(runtime, caId)
}

async function renderTab({ caId, runtime }: { caId: number; runtime: PluginRuntime }) {
  const ca = await runtime.getCa(caId)
  const row = await readCaRow(runtime, caId)
  const settings = readCaSettings(await runtime.settings.ca(caId))
  const counted = await runtime.table(RESPONSES).where('ca_id', caId).count('* as n')
  const count = Number(counted[0]?.n ?? 0)
  const warnings: string[] = []
  if (
    ca &&
    settings.responderMode === 'ca-key' &&
    effectiveMode(ca.keyType, settings) !== 'ca-key'
  ) {
    warnings.push(
      'Signing with the CA key is not available for SLH-DSA CAs (a signature takes seconds): responses are signed by the delegated OCSP Responder certificate.'
    )
  }
  const signer =
    !row || row.signer_id === 0
      ? html`<span class="muted"
          >not issued yet (the pre-signing job issues it within seconds)</span
        >`
      : row.signer_id < 0
        ? html`the CA key`
        : html`<a href="/admin/certificates/${row.signer_id}"
              >OCSP Responder certificate #${row.signer_id}</a
            >, valid until ${new Date(row.signer_not_after).toISOString()}`
  const lastPass =
    row && row.last_pass_at
      ? html`${new Date(row.last_pass_at).toISOString()}: ${row.last_pass_signed} response(s) signed
        in ${(row.last_pass_ms / 1000).toFixed(1)} s`
      : html`<span class="muted">none yet</span>`
  return html`<section class="card" id="ocsp-status">
    <h3>OCSP responder</h3>
    ${warnings.map((w) => html`<p class="error">${w}</p>`)}
    <dl>
      <dt>Responder URL</dt>
      <dd><code>${responderUrl(caId)}</code></dd>
      <dt>Signed by</dt>
      <dd>${safe(signer)}</dd>
      <dt>Pre-signed responses</dt>
      <dd>${count}</dd>
      <dt>Last full pass</dt>
      <dd>${safe(lastPass)}</dd>
      ${
        row?.pass_started_at
          ? safe(
              html`<dt>Pass in progress</dt>
                <dd>
                  since ${new Date(row.pass_started_at).toISOString()}, at certificate
                  #${row.pass_cursor}
                </dd>`
            )
          : ''
      }
      ${
        row?.last_error
          ? safe(
              html`<dt>Last error</dt>
                <dd class="error">${row.last_error}</dd>`
            )
          : ''
      }
    </dl>
  </section>`
}

export default definePlugin({
  id: ID,
  name: 'OCSP responder',
  version: '0.1.0',
  apiVersion: 1,
  kernel: '^0.1.0',
  description:
    'Answers OCSP requests (GET and POST) at /ocsp/<caId> from pre-signed responses, signed by a delegated OCSP Responder certificate per CA, and puts the URL in the AIA of new certificates.',
  enabledByDefault: true,
  migrations: new URL('./database/migrations/', import.meta.url),
  settings: { ca: caSettings },

  setup(api) {
    publicUrl = api.publicUrl

    api.serviceUrl({
      kind: 'ocsp',
      label: 'OCSP responder',
      scope: 'ca',
      embedIn: 'aia.ocsp',
      urls: (ctx) => [responderUrl(ctx.caId)],
    })

    api.fastRoute({
      handle: (req) => (req.method === 'GET' ? node.fast(req.path, req.headers) : null),
    })

    api.routes({
      surface: 'device',
      register(r) {
        r.get('/*', handleGet)
        r.post('/', handlePost)
        r.post('/:caId', handlePost)
      },
    })

    api.job({
      name: 'presign',
      schedule: '5s',
      concurrency: 'cluster-singleton',
      run: presignAll,
    })

    api.hook('afterRevoke', { handler: statusChanged, timeoutMs: 15_000 })
    api.hook('afterUnrevoke', { handler: statusChanged, timeoutMs: 15_000 })
    api.hook('afterCaCreated', {
      handler: (ctx, runtime) => caChanged(ctx.caId, runtime),
      timeoutMs: 30_000,
    })
    api.hook('afterCaUpdated', {
      handler: (ctx, runtime) => caChanged(ctx.caId, runtime),
      timeoutMs: 30_000,
    })
    api.hook('afterCaDeleted', (ctx, runtime) => caDeleted(ctx.caId, runtime))

    api.caTab({ label: 'OCSP', render: renderTab })
  },

  async start(runtime) {
    await node.start(runtime)
  },

  stop() {
    node.stop()
  },
})
