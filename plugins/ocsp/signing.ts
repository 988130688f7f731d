/*
 * Signing OCSP responses and storing them: the active signer of a CA (its delegated responder
 * certificate, or the CA key), one SingleResponse per certificate status, the stored rows
 * (conditional upsert: an older status never overwrites a newer one) and the change feed rows
 * every node polls.
 */
import {
  encodeBasicResponseTbs,
  encodeSingleResponse,
  ocspCertsField,
  ocspResponderKeyHash,
  OCSP_REASON_CODES,
  signOcspBody,
  type OcspCertIdFields,
  type OcspCertStatus,
  type OcspRevocationReason,
} from '#pki/index'
import type { CertificateStatusEntry, PluginRuntime, WriteBatchItem } from '#plugin-api'

export const RESPONSES = 'ocsp_responses'
export const CAS = 'ocsp_cas'
export const SIGNERS = 'ocsp_signers'
export const FEED = 'ocsp_feed'

/** thisUpdate is set this far in the past, for clients whose clock is a little behind. */
export const BACKDATE_MS = 60_000

type Hash = 'sha256' | 'sha384' | 'sha512'

/** What signs a CA's responses right now, loaded once per node. */
export interface ActiveSigner {
  /** The responder certificate's id, or -caId when the CA key signs. */
  id: number
  caId: number
  keyType: string
  hash: Hash
  /** ResponderID byKey */
  keyHash: Buffer
  /** `certs` of the BasicOCSPResponse: the responder certificate, or empty for the CA key */
  certsField: Buffer
  /** ms; responses never outlive their signer */
  notAfter: number
  sign(data: Uint8Array, hash: Hash): Promise<Uint8Array>
}

/** True for ML-DSA and SLH-DSA keys. */
export function isPostQuantum(keyType: string): boolean {
  return /^(ml|slh)-dsa/.test(keyType)
}

const signerCache = new Map<number, { signer: ActiveSigner; loadedAt: number }>()
const SIGNER_TTL_MS = 10 * 60_000

/** Forgets cached signers (all, or those of one CA). */
export function forgetSigners(caId?: number): void {
  for (const [id, entry] of signerCache) {
    if (caId === undefined || entry.signer.caId === caId) signerCache.delete(id)
  }
}

/** Loads signer `id` of a CA (a responder certificate id, or -caId). Null when it is gone. */
export async function loadSigner(
  runtime: PluginRuntime,
  caId: number,
  id: number
): Promise<ActiveSigner | null> {
  const cached = signerCache.get(id)
  if (cached && Date.now() - cached.loadedAt < SIGNER_TTL_MS) return cached.signer
  let signer: ActiveSigner | null = null
  if (id < 0) {
    const ca = await runtime.getCa(caId)
    if (!ca || ca.status !== 'active') return null
    const key = await runtime.signerFor(caId, 'ocsp')
    signer = {
      id,
      caId,
      keyType: key.keyType,
      hash: key.hash,
      keyHash: ocspResponderKeyHash(key.publicKeySpki),
      certsField: ocspCertsField([]),
      notAfter: ca.notAfter ?? Number.MAX_SAFE_INTEGER,
      sign: (data, hash) => key.sign(data, hash),
    }
  } else {
    const sc = await runtime.serviceCertificate(id)
    if (!sc) return null
    signer = {
      id,
      caId: sc.caId,
      keyType: sc.keyType,
      hash: sc.hash,
      keyHash: ocspResponderKeyHash(sc.publicKeySpki),
      certsField: ocspCertsField([sc.der]),
      notAfter: sc.notAfter,
      sign: (data, hash) => sc.sign(data, hash),
    }
  }
  signerCache.set(id, { signer, loadedAt: Date.now() })
  return signer
}

/** The signer the CA's row names, or null when it has none yet (the job issues it). */
export async function currentSigner(
  runtime: PluginRuntime,
  caId: number
): Promise<ActiveSigner | null> {
  const row = await runtime.table(CAS).where('ca_id', caId).first()
  if (!row || !Number(row.signer_id)) return null
  return loadSigner(runtime, caId, Number(row.signer_id))
}

/** An OCSP status from a kernel certificate status ('valid', 'revoked', 'hold'). */
export function ocspStatus(entry: {
  status: string
  revokedAt: number | null
  reason: string | null
}): OcspCertStatus {
  if (entry.status === 'revoked' || entry.status === 'hold') {
    const reason =
      entry.status === 'hold'
        ? 'certificateHold'
        : entry.reason && entry.reason in OCSP_REASON_CODES
          ? (entry.reason as OcspRevocationReason)
          : undefined
    return { revoked: { at: new Date(entry.revokedAt ?? 0), reason } }
  }
  return { good: true }
}

export interface ResponseTimes {
  thisUpdate: Date
  nextUpdate: Date
  producedAt: Date
}

/** thisUpdate/nextUpdate/producedAt of a response signed now, in whole seconds. */
export function responseTimes(validityMs: number, signerNotAfter: number): ResponseTimes {
  const now = Math.floor(Date.now() / 1000) * 1000
  const thisUpdate = now - BACKDATE_MS
  const nextUpdate = Math.min(thisUpdate + validityMs, Math.floor(signerNotAfter / 1000) * 1000)
  return {
    thisUpdate: new Date(thisUpdate),
    nextUpdate: new Date(Math.max(nextUpdate, now)),
    producedAt: new Date(now),
  }
}

export interface SingleInput {
  certId: Uint8Array | OcspCertIdFields
  status: OcspCertStatus
}

/** Signs one BasicOCSPResponse body (without certs) for these SingleResponses. */
export async function signBody(
  signer: ActiveSigner,
  singles: SingleInput[],
  times: ResponseTimes,
  nonce?: Uint8Array
): Promise<Buffer> {
  const responses = singles.map((s) =>
    encodeSingleResponse({
      certId: s.certId,
      status: s.status,
      thisUpdate: times.thisUpdate,
      nextUpdate: times.nextUpdate,
    })
  )
  const tbs = encodeBasicResponseTbs({
    responderKeyHash: signer.keyHash,
    producedAt: times.producedAt,
    responses,
    ...(nonce ? { nonce } : {}),
  })
  return signOcspBody(tbs, signer, signer.hash)
}

export interface ResponseRow {
  ca_id: number
  certificate_id: number
  serial: string
  status: string
  revoked_at: number | null
  reason: string | null
  status_read_at: number
  this_update: number
  next_update: number
  refresh_at: number
  signer_id: number
  body: Buffer
}

/** The stored row of a response signed for one certificate's status. */
export function responseRow(
  caId: number,
  entry: CertificateStatusEntry,
  statusReadAt: number,
  times: ResponseTimes,
  signerId: number,
  body: Buffer
): ResponseRow {
  const thisUpdate = times.thisUpdate.getTime()
  const nextUpdate = times.nextUpdate.getTime()
  return {
    ca_id: caId,
    certificate_id: entry.certificateId,
    serial: entry.serial,
    status: entry.status === 'valid' ? 'good' : entry.status,
    revoked_at: entry.revokedAt,
    reason: entry.reason,
    status_read_at: statusReadAt,
    this_update: thisUpdate,
    next_update: nextUpdate,
    refresh_at: thisUpdate + Math.floor((nextUpdate - thisUpdate) / 2),
    signer_id: signerId,
    body,
  }
}

const MERGED = [
  'serial',
  'status',
  'revoked_at',
  'reason',
  'status_read_at',
  'this_update',
  'next_update',
  'refresh_at',
  'signer_id',
  'body',
]

/**
 * The writes that store rows: inserted, or replacing a stored row whose status was read no
 * later than theirs (a pass that read a status before a revocation never overwrites the
 * revocation's response), and the feed row that tells every node that responses of
 * certificates firstId..lastId of the CA changed. For one `runtime.writeBatch` (all or nothing;
 * on SQLite committed off the event loop), with whatever else must commit with them.
 */
export function responseWrites(
  runtime: PluginRuntime,
  caId: number,
  rows: ResponseRow[],
  range: { firstId: number; lastId: number }
): WriteBatchItem[] {
  if (rows.length === 0) return []
  const items: WriteBatchItem[] = []
  for (let i = 0; i < rows.length; i += 100) {
    items.push(
      runtime
        .table(RESPONSES)
        .insert(rows.slice(i, i + 100))
        .onConflict(['ca_id', 'certificate_id'])
        .merge(MERGED)
        .whereRaw(`${RESPONSES}.status_read_at <= excluded.status_read_at`)
    )
  }
  items.push(
    runtime.table(FEED).insert({
      ca_id: caId,
      kind: 'range',
      first_id: range.firstId,
      last_id: range.lastId,
      created_at: Date.now(),
    })
  )
  return items
}

/** Tells every node that a CA changed (responder, settings, deletion). */
export async function feedCa(runtime: PluginRuntime, caId: number): Promise<void> {
  await runtime.table(FEED).insert({ ca_id: caId, kind: 'ca', created_at: Date.now() })
}

/** Records a signer's certificate so every node can put it into answers. */
export async function recordSigner(
  runtime: PluginRuntime,
  caId: number,
  id: number,
  der: Uint8Array | null,
  notAfter: number
): Promise<void> {
  const row = {
    id,
    ca_id: caId,
    der: der ? Buffer.from(der) : null,
    not_after: notAfter,
    created_at: Date.now(),
  }
  await runtime.table(SIGNERS).insert(row).onConflict('id').merge(['der', 'not_after'])
}
