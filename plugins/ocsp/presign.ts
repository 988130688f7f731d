/*
 * The cluster-singleton side: a responder per active CA (issued, renewed when a third of its
 * validity is left, replaced at once when revoked or when the mode changes) and the pre-signing
 * passes over the CA's certificates (new certificates, responses at half-life, everything after
 * a signer change), in batches that yield to the event loop, bounded in time per job run.
 */
import type { CertificateStatusEntry, PluginRuntime } from '#plugin-api'
import { readCaSettings, type OcspCaSettings } from './settings.js'
import {
  CAS,
  RESPONSES,
  feedCa,
  forgetSigners,
  loadSigner,
  recordSigner,
  responseRow,
  responseTimes,
  signBody,
  ocspStatus,
  responseWrites,
  type ActiveSigner,
  type ResponseRow,
} from './signing.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const PAGE = 500

export interface CaRow {
  ca_id: number
  mode: string
  signer_id: number
  signer_not_after: number
  signer_renew_at: number
  resign_requested_at: number
  pass_started_at: number
  pass_full: number
  pass_cursor: number
  last_pass_at: number
  last_pass_signed: number
  last_pass_ms: number
  last_certificate_id: number
  last_error: string | null
}

function numbers(row: any): CaRow {
  const out: any = { ...row }
  for (const [k, v] of Object.entries(row)) {
    if (k !== 'mode' && k !== 'last_error') out[k] = Number(v ?? 0)
  }
  return out as CaRow
}

export async function readCaRow(runtime: PluginRuntime, caId: number): Promise<CaRow | null> {
  const row = await runtime.table(CAS).where('ca_id', caId).first()
  return row ? numbers(row) : null
}

async function caRowOrNew(runtime: PluginRuntime, caId: number): Promise<CaRow> {
  const row = await readCaRow(runtime, caId)
  if (row) return row
  try {
    await runtime.table(CAS).insert({ ca_id: caId })
  } catch {
    // created by another node meanwhile
  }
  return (await readCaRow(runtime, caId))!
}

/** The mode a CA's responses use: SLH-DSA CAs always have a delegated responder. */
export function effectiveMode(keyType: string, settings: OcspCaSettings): 'delegated' | 'ca-key' {
  return settings.responderMode === 'ca-key' && !keyType.startsWith('slh-dsa')
    ? 'ca-key'
    : 'delegated'
}

/**
 * Makes sure the CA has a usable signer: issues a delegated responder when it has none, when
 * its responder is revoked or gone, when a third of its validity is left, or when the mode
 * changed. Never called on the request path. Returns the signer, or null for a CA that cannot
 * sign (not active).
 */
export async function ensureResponder(
  runtime: PluginRuntime,
  caId: number
): Promise<ActiveSigner | null> {
  const ca = await runtime.getCa(caId)
  if (!ca || ca.status !== 'active' || !ca.certificatePem) return null
  const settings = readCaSettings(await runtime.settings.ca(caId))
  const mode = effectiveMode(ca.keyType, settings)
  const row = await caRowOrNew(runtime, caId)
  const now = Date.now()

  let why: string | null = null
  if (row.signer_id === 0) why = 'first'
  else if (row.mode !== mode) why = 'mode'
  else if (mode === 'delegated') {
    if (now >= row.signer_renew_at) why = 'renewal'
    else {
      const cert = await runtime.findCertificate({ id: row.signer_id })
      if (!cert || cert.status !== 'valid') why = 'revoked'
    }
  }
  if (!why) {
    const signer = await loadSigner(runtime, caId, row.signer_id)
    if (signer) return signer
    why = 'unavailable'
  }

  let id: number
  let notAfter: number
  let renewAt: number
  if (mode === 'ca-key') {
    id = -caId
    notAfter = ca.notAfter ?? Number.MAX_SAFE_INTEGER
    renewAt = Number.MAX_SAFE_INTEGER
    await recordSigner(runtime, caId, id, null, notAfter)
  } else {
    const sc = await runtime.issueServiceCertificate(caId, {
      purpose: 'ocsp-signing',
      validityMs: settings.responderValidityDays * DAY,
    })
    id = sc.certificateId
    notAfter = sc.notAfter
    renewAt = sc.notBefore + Math.floor(((sc.notAfter - sc.notBefore) * 2) / 3)
    await recordSigner(runtime, caId, id, sc.der, notAfter)
  }
  // Renewal keeps the old responses (valid until their nextUpdate, which never passes the old
  // responder's notAfter); a revoked responder or another mode has everything signed again.
  const resign = why === 'renewal' ? {} : { resign_requested_at: now }
  const updated = await runtime
    .table(CAS)
    .where('ca_id', caId)
    .where('signer_id', row.signer_id)
    .update({
      mode,
      signer_id: id,
      signer_not_after: notAfter,
      signer_renew_at: renewAt,
      last_error: null,
      ...resign,
    })
  forgetSigners(caId)
  if (Number(updated) === 0) {
    // Another node replaced the responder at the same moment: use theirs.
    const again = await readCaRow(runtime, caId)
    return again ? loadSigner(runtime, caId, again.signer_id) : null
  }
  await feedCa(runtime, caId)
  const label = mode === 'ca-key' ? 'the CA key' : `OCSP responder certificate #${id}`
  const messages: Record<string, string> = {
    first: `OCSP responses are signed by ${label}.`,
    mode: `OCSP responses are now signed by ${label} (responder mode changed to ${mode}).`,
    renewal: `OCSP responder renewed: ${label}, valid until ${new Date(notAfter).toISOString()}.`,
    revoked: `The OCSP responder certificate #${row.signer_id} is revoked or gone: replaced by ${label}; every response is signed again.`,
    unavailable: `The OCSP signer #${row.signer_id} could not be loaded: replaced by ${label}.`,
  }
  await runtime.writeServiceLog({
    caId,
    level: why === 'revoked' || why === 'unavailable' ? 'warn' : 'info',
    event: `ocsp.responder.${why === 'first' ? 'issued' : why === 'renewal' ? 'renewed' : 'replaced'}`,
    message: messages[why],
    details: { signerId: id, previousSignerId: row.signer_id || null, mode, notAfter },
  })
  return loadSigner(runtime, caId, id)
}

const HEX_SERIAL = /^[0-9a-fA-F]{1,64}$/

/** Signs the responses of a page of certificate statuses (yielding between signatures). */
export async function signEntries(
  signer: ActiveSigner,
  caId: number,
  issuer: { nameHash: Buffer; keyHash: Buffer },
  entries: CertificateStatusEntry[],
  statusReadAt: number,
  validityMs: number
): Promise<ResponseRow[]> {
  const rows: ResponseRow[] = []
  let sinceYield = Date.now()
  for (const entry of entries) {
    // A row whose serial is not hex (never written by the kernel; a bad import) cannot have a
    // CertID: it is left out rather than stopping the CA's other responses.
    if (!HEX_SERIAL.test(entry.serial)) continue
    const times = responseTimes(validityMs, signer.notAfter)
    const body = await signBody(
      signer,
      [
        {
          certId: {
            hash: 'sha1',
            issuerNameHash: issuer.nameHash,
            issuerKeyHash: issuer.keyHash,
            serial: entry.serial,
          },
          status: ocspStatus(entry),
        },
      ],
      times
    )
    rows.push(responseRow(caId, entry, statusReadAt, times, signer.id, body))
    if (Date.now() - sinceYield > 20) {
      await new Promise((resolve) => setImmediate(resolve))
      sinceYield = Date.now()
    }
  }
  return rows
}

interface Stored {
  status: string
  revoked_at: number | null
  reason: string | null
  refresh_at: number
  this_update: number
}

function needsSigning(
  entry: CertificateStatusEntry,
  stored: Stored | undefined,
  now: number,
  margin: number,
  resignBefore: number
): boolean {
  if (!stored) return true
  const status = entry.status === 'valid' ? 'good' : entry.status
  return (
    stored.status !== status ||
    Number(stored.revoked_at ?? 0) !== Number(entry.revokedAt ?? 0) ||
    (stored.reason ?? null) !== (entry.reason ?? null) ||
    Number(stored.refresh_at) <= now + margin ||
    Number(stored.this_update) < resignBefore
  )
}

export interface PassOutcome {
  signed: number
  done: boolean
}

/** One CA's share of a job run: starts or continues a pass, within `deadline`. */
export async function presignCa(
  runtime: PluginRuntime,
  caId: number,
  issuer: { nameHash: Buffer; keyHash: Buffer },
  deadline: number
): Promise<PassOutcome> {
  const signer = await ensureResponder(runtime, caId)
  if (!signer) return { signed: 0, done: true }
  const settings = readCaSettings(await runtime.settings.ca(caId))
  const validityMs = settings.responseValidityHours * HOUR
  let row = (await readCaRow(runtime, caId))!
  const now = Date.now()

  if (row.pass_started_at === 0) {
    const earliest = await runtime.table(RESPONSES).where('ca_id', caId).min('refresh_at as m')
    const due = Number(earliest[0]?.m ?? Number.POSITIVE_INFINITY) <= now
    const full = due || row.resign_requested_at > row.last_pass_at
    let cursor = 0
    if (!full) {
      // only new certificates, if any
      let fresh = false
      for await (const page of runtime.certificateStatuses(caId, {
        afterId: row.last_certificate_id,
        pageSize: 1,
      })) {
        fresh = page.length > 0
        break
      }
      if (!fresh) return { signed: 0, done: true }
      cursor = row.last_certificate_id
    }
    await runtime
      .table(CAS)
      .where('ca_id', caId)
      .update({ pass_started_at: now, pass_full: full ? 1 : 0, pass_cursor: cursor })
    row = (await readCaRow(runtime, caId))!
  }

  const margin = Math.floor(validityMs / 4)
  const resignBefore = row.pass_full ? row.resign_requested_at : 0
  let cursor = row.pass_cursor
  let signed = 0
  let finished = true
  // The previous page's write batch, committing (off the event loop on SQLite) while this page
  // is signed; awaited before the next one is sent, so pages are stored in order.
  let storing: Promise<unknown> | undefined
  try {
    for (;;) {
      const statusReadAt = Date.now()
      let page: CertificateStatusEntry[] = []
      for await (const p of runtime.certificateStatuses(caId, {
        afterId: cursor,
        pageSize: PAGE,
      })) {
        page = p
        break
      }
      if (page.length === 0) break
      const first = page[0].certificateId
      const last = page[page.length - 1].certificateId
      const stored = new Map<number, Stored>()
      const rows = await runtime
        .table(RESPONSES)
        .where('ca_id', caId)
        .whereBetween('certificate_id', [first, last])
        .select('certificate_id', 'status', 'revoked_at', 'reason', 'refresh_at', 'this_update')
      for (const r of rows) stored.set(Number(r.certificate_id), r)
      const todo = page.filter((e) =>
        needsSigning(e, stored.get(e.certificateId), Date.now(), margin, resignBefore)
      )
      const signedRows =
        todo.length > 0
          ? await signEntries(signer, caId, issuer, todo, statusReadAt, validityMs)
          : []
      await storing
      cursor = last
      // the responses and the pass's cursor commit together
      const batch = runtime.writeBatch([
        ...responseWrites(runtime, caId, signedRows, { firstId: first, lastId: last }),
        runtime
          .table(CAS)
          .where('ca_id', caId)
          .update({
            pass_cursor: cursor,
            last_certificate_id: Math.max(cursor, row.last_certificate_id),
          }),
      ])
      // awaited above or below; until then a failure must not count as unhandled
      batch.catch(() => {})
      storing = batch
      signed += signedRows.length
      if (Date.now() > deadline) {
        finished = false
        break
      }
    }
  } catch (error) {
    await storing?.catch(() => {})
    throw error
  }
  await storing
  if (finished) {
    const update: Record<string, unknown> = { pass_started_at: 0, pass_cursor: 0, pass_full: 0 }
    if (row.pass_full) {
      update.last_pass_at = row.pass_started_at
      update.last_pass_ms = Date.now() - row.pass_started_at
      update.last_pass_signed = signed + (row.pass_cursor > 0 ? row.last_pass_signed : 0)
    }
    await runtime.table(CAS).where('ca_id', caId).update(update)
  } else if (row.pass_full) {
    await runtime
      .table(CAS)
      .where('ca_id', caId)
      .update({ last_pass_signed: signed + (row.pass_cursor > 0 ? row.last_pass_signed : 0) })
  }
  return { signed, done: finished }
}

/**
 * Signs and stores the response of one certificate now (a revocation, an unrevocation, a
 * certificate not signed yet). Returns the stored row, or null when the CA has no signer yet.
 */
export async function signOne(
  runtime: PluginRuntime,
  caId: number,
  issuer: { nameHash: Buffer; keyHash: Buffer },
  query: { id: number } | { caId: number; serial: string },
  signer: ActiveSigner
): Promise<ResponseRow | null> {
  const statusReadAt = Date.now()
  const cert = await runtime.findCertificate(query)
  if (!cert || cert.caId !== caId) return null
  const entry: CertificateStatusEntry = {
    certificateId: cert.id,
    serial: cert.serial,
    status: cert.status,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    revokedAt: cert.revokedAt,
    reason:
      cert.status === 'hold'
        ? 'certificateHold'
        : cert.status === 'revoked'
          ? (cert.revocationReason ?? 'unspecified')
          : null,
  }
  const settings = readCaSettings(await runtime.settings.ca(caId))
  const [row] = await signEntries(
    signer,
    caId,
    issuer,
    [entry],
    statusReadAt,
    settings.responseValidityHours * HOUR
  )
  await runtime.writeBatch(
    responseWrites(runtime, caId, [row], { firstId: cert.id, lastId: cert.id })
  )
  return row
}
