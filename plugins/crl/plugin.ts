/*
 * CRL plugin (issue 4, product manual §12, protocol notes §8): one full CRL per CA.
 *
 *  - GET /crl/<caId>.crl serves the CA's current CRL: DER (application/pkix-crl), or PEM
 *    ("X509 CRL") with ?format=pem or Accept: application/x-pem-file. The signed bytes live in
 *    the plugin's table (crl_full), so every node serves the same CRL.
 *  - The URL is a CA-scope service URL embedded in the CRL distribution points of certificates
 *    whose template includes the CRL.
 *  - A CRL is (re)issued when missing, when a revocation made it stale, or within 2 days of its
 *    nextUpdate: by the cluster-singleton "refresh" job (every 5 s) and, when a CA has none yet,
 *    by the first request. CRL numbers are persisted and increase per CA.
 */
import {
  CRL_REASON_CODES,
  encodeCrlEntry,
  encodeCrlTbs,
  issuerInfo,
  signatureAlgorithm,
  signCrl,
  toPem,
  type CrlReason,
} from '#pki/index'
import { definePlugin, type PluginRuntime } from '#plugin-api'
import { caSettings, validityDaysOf } from './settings.js'

const ID = 'crl'
const TABLE = 'crl_full'
const DAY = 86_400_000
/** A new CRL is issued this long before the current one's nextUpdate. */
const RENEW_BEFORE_MS = 2 * DAY

let publicUrl = ''

function crlUrl(caId: number): string {
  return `${publicUrl}/${ID}/${caId}.crl`
}

interface CrlRow {
  ca_id: number
  crl_number: string
  this_update: number
  next_update: number
  der: Buffer
  dirty: number
  built_dirty: number
}

async function readRow(runtime: PluginRuntime, caId: number): Promise<CrlRow | null> {
  const row = await runtime.table(TABLE).where('ca_id', caId).first()
  if (!row) return null
  return {
    ca_id: Number(row.ca_id),
    crl_number: String(row.crl_number),
    this_update: Number(row.this_update),
    next_update: Number(row.next_update),
    der: Buffer.from(row.der),
    dirty: Number(row.dirty),
    built_dirty: Number(row.built_dirty),
  }
}

function needsRefresh(row: CrlRow | null, now: number): boolean {
  return !row || row.dirty > row.built_dirty || row.next_update - now <= RENEW_BEFORE_MS
}

function crlReason(reason: string | null): CrlReason | undefined {
  return reason && reason in CRL_REASON_CODES ? (reason as CrlReason) : undefined
}

/**
 * Issues a new full CRL for the CA and stores it, unless another node/request stored one in the
 * meantime (the write is conditional on the CRL number it started from). Returns the stored row.
 */
async function generate(runtime: PluginRuntime, caId: number): Promise<CrlRow | null> {
  const ca = await runtime.getCa(caId)
  if (!ca || ca.status !== 'active' || !ca.certificatePem) return null
  const before = await readRow(runtime, caId)
  const issuer = issuerInfo(ca.certificatePem)
  const signer = await runtime.signerFor(caId, 'crl')
  const keyType = signer.keyType as Parameters<typeof signatureAlgorithm>[0]
  // The CA's own signature hash, as for the certificates it issues.
  const hash = signer.hash

  const entries: Buffer[] = []
  const skipped: string[] = []
  for await (const page of runtime.revokedEntries(caId)) {
    for (const e of page) {
      try {
        entries.push(
          encodeCrlEntry({
            serial: e.serial,
            revokedAt: new Date(e.revokedAt),
            reason: crlReason(e.reason),
          })
        )
      } catch {
        // A row the encoder refuses (e.g. a serial that is not hex) must not stop the CA's CRL.
        skipped.push(e.serial)
      }
    }
  }
  if (skipped.length > 0) {
    runtime.log.warn({ caId, serials: skipped.slice(0, 20) }, 'CRL entries left out')
  }

  const now = Date.now()
  const validityDays = validityDaysOf(await runtime.settings.ca(caId))
  const crlNumber = before ? BigInt(before.crl_number) + 1n : 1n
  const thisUpdate = new Date(Math.floor(now / 1000) * 1000)
  const nextUpdate = new Date(thisUpdate.getTime() + validityDays * DAY)
  const tbs = encodeCrlTbs({
    issuerDer: issuer.issuerDer,
    signatureAlgorithm: signatureAlgorithm(keyType, hash),
    thisUpdate,
    nextUpdate,
    crlNumber,
    authorityKeyId: issuer.keyIdentifier,
    issuingDistributionPoint: { url: crlUrl(caId) },
    entries,
  })
  const der = await signCrl(tbs, { keyType, sign: (data, h) => signer.sign(data, h) }, hash)

  const values = {
    crl_number: crlNumber.toString(),
    this_update: thisUpdate.getTime(),
    next_update: nextUpdate.getTime(),
    entries: entries.length,
    der,
    built_dirty: before ? before.dirty : 0,
  }
  if (before) {
    await runtime
      .table(TABLE)
      .where('ca_id', caId)
      .where('crl_number', before.crl_number)
      .update(values)
  } else {
    try {
      await runtime.table(TABLE).insert({ ca_id: caId, dirty: 0, ...values })
    } catch {
      // Another node or request stored the first CRL at the same time: serve theirs.
    }
  }
  const after = await readRow(runtime, caId)
  if (after && after.crl_number === values.crl_number) {
    await runtime.writeServiceLog({
      caId,
      level: 'info',
      event: 'crl.issued',
      message: `CRL #${values.crl_number} issued with ${entries.length} revoked certificate(s).`,
      details: {
        crlNumber: values.crl_number,
        entries: entries.length,
        nextUpdate: nextUpdate.toISOString(),
      },
    })
  }
  return after
}

/**
 * Marks the CA's CRL stale (a revocation or an unrevocation happened). When the CA has no CRL
 * row yet — its first CRL may be being built right now, from entries read before this change —
 * a placeholder row (CRL number 0, no bytes) records the change, so the next refresh builds
 * a CRL that includes it.
 */
async function markStale(runtime: PluginRuntime, caId: number): Promise<void> {
  const updated = await runtime.table(TABLE).where('ca_id', caId).increment('dirty', 1)
  if (Number(updated) > 0) return
  try {
    await runtime.table(TABLE).insert({
      ca_id: caId,
      crl_number: '0',
      this_update: 0,
      next_update: 0,
      entries: 0,
      der: Buffer.alloc(0),
      dirty: 1,
      built_dirty: 0,
    })
  } catch {
    // A first CRL was stored meanwhile: mark that one stale instead.
    await runtime.table(TABLE).where('ca_id', caId).increment('dirty', 1)
  }
}

/** A row that holds a signed CRL (not the placeholder markStale may leave). */
function hasCrl(row: CrlRow | null): row is CrlRow {
  return Boolean(row && row.der.length > 0)
}

async function refreshAll(runtime: PluginRuntime): Promise<void> {
  const now = Date.now()
  for (const ca of await runtime.listCas()) {
    if (ca.status !== 'active' || !ca.certificatePem) continue
    try {
      if (needsRefresh(await readRow(runtime, ca.id), now)) await generate(runtime, ca.id)
    } catch (error) {
      runtime.log.error({ err: error, caId: ca.id }, 'CRL generation failed')
    }
  }
}

function wantsPem(query: Record<string, unknown>, headers: Record<string, unknown>): boolean {
  if (String(query.format ?? '').toLowerCase() === 'pem') return true
  const accept = headers.accept
  const text = Array.isArray(accept) ? accept.join(',') : String(accept ?? '')
  return /application\/x-pem-file/i.test(text)
}

export default definePlugin({
  id: ID,
  name: 'CRL',
  version: '0.1.0',
  apiVersion: 1,
  kernel: '^0.1.0',
  description:
    'Publishes a full Certificate Revocation List per CA at /crl/<caId>.crl and puts its URL in the CRL distribution points of new certificates.',
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
      urls: (ctx) => [crlUrl(ctx.caId)],
    })

    api.routes({
      surface: 'device',
      register(r) {
        r.get('/:file', async ({ request, reply, runtime }) => {
          const match = /^([1-9]\d{0,9})\.crl$/.exec(String(request.params.file))
          const caId = match ? Number(match[1]) : Number.NaN
          const ca = Number.isSafeInteger(caId) ? await runtime.getCa(caId) : null
          let row = ca ? await readRow(runtime, caId) : null
          if (ca && !hasCrl(row)) row = await generate(runtime, caId)
          if (!ca || !hasCrl(row)) {
            reply
              .status(404)
              .header('content-type', 'application/json')
              .send({ error: { code: 'E_NOT_FOUND', message: 'No CRL for this CA.' } })
            return
          }
          runtime.countServiceHit('crl', caId)
          const headers = {
            'cache-control': 'public, max-age=60',
            'last-modified': new Date(row.this_update).toUTCString(),
            'expires': new Date(row.next_update).toUTCString(),
          }
          for (const [name, value] of Object.entries(headers)) reply.header(name, value)
          if (wantsPem(request.query, request.headers)) {
            reply
              .status(200)
              .header('content-type', 'application/x-pem-file')
              .send(toPem(row.der, 'X509 CRL'))
          } else {
            reply.status(200).header('content-type', 'application/pkix-crl').send(row.der)
          }
        })
      },
    })

    api.job({
      name: 'refresh',
      schedule: '5s',
      concurrency: 'cluster-singleton',
      run: refreshAll,
    })

    api.hook('afterRevoke', (ctx, runtime) => markStale(runtime, ctx.caId))
    api.hook('afterUnrevoke', (ctx, runtime) => markStale(runtime, ctx.caId))
  },
})
