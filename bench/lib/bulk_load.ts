/*
 * Bulk load of certificates rows straight into a bench server's SQLite database (what a bulk
 * import would write): certificates rows plus their certificate_names rows, as the kernel's
 * certificate store writes them, in one transaction. Every row reuses one real certificate's DER
 * (so rows have a real size) with its own random 128-bit serial; nothing reads the DER of these
 * rows in the benches that use them (UI lists, CRL and OCSP status).
 *
 * Shape: hosts host-<i> under a few domains, two DNS SANs each, issue dates spread over
 * `spreadDays` in id order, `validityDays` certificates; `revokedEvery` / `holdEvery` pick which
 * rows are revoked (reason `revokedReason`) or on hold. Expired rows are possible (they expired
 * less than `spreadDays - validityDays` days ago).
 */
import crypto from 'node:crypto'
import path from 'node:path'
import Database from 'better-sqlite3'

const DAY = 86_400_000

export interface BulkLoadOptions {
  /** The bench server's DATA_DIR (its database is `pki.sqlite3` there). */
  dataDir: string
  caId: number
  count: number
  /** DER of a real certificate, stored in every row. */
  der: Buffer
  /** Template ids, used in turn: the second one for every 7th row (default: all null). */
  templateIds?: number[]
  /** Percent of rows revoked (rows with i % 100 below it). Default 5. */
  revokedPercent?: number
  /** Percent of rows on hold (after the revoked ones). Default 1. */
  holdPercent?: number
  revokedReason?: string
  spreadDays?: number
  validityDays?: number
  /** Keep every serial (in id order) in the result, e.g. to draw random ones later. */
  collectSerials?: boolean
}

export interface BulkLoadResult {
  firstId: number
  lastId: number
  /** A serial in the middle of the load. */
  sampleSerial: string
  serials?: string[]
  revoked: number
  hold: number
}

/** The searchable names of a row (as app/services/certificate_store.ts computes them). */
function namesOf(cn: string, sans: Array<{ value: string }>, serial: string) {
  return [...new Set([cn, ...sans.map((s) => s.value), serial].map((v) => v.toLowerCase()))]
}

export function bulkLoadCertificates(options: BulkLoadOptions): BulkLoadResult {
  const db = new Database(path.join(options.dataDir, 'pki.sqlite3'))
  db.pragma('busy_timeout = 10000')
  const insertCert = db.prepare(
    `INSERT INTO certificates (ca_id, template_id, request_id, serial, kind, subject_dn, common_name,
       sans, key_type, not_before, not_after, status, revoked_at, revocation_reason, der,
       fingerprint, issued_by, listed_after_expiry, created_at)
     VALUES (?, ?, NULL, ?, 'end-entity', ?, ?, ?, 'ecdsa-p256', ?, ?, ?, ?, ?, ?, ?, 'bench', 0, ?)`
  )
  const insertName = db.prepare(
    'INSERT INTO certificate_names (certificate_id, ca_id, name) VALUES (?, ?, ?)'
  )
  const domains = ['example.com', 'corp.example.net', 'svc.example.org', 'iot.example.io']
  const templates = options.templateIds ?? []
  const revokedPercent = options.revokedPercent ?? 5
  const holdPercent = options.holdPercent ?? 1
  const reason = options.revokedReason ?? 'superseded'
  const spread = (options.spreadDays ?? 420) * DAY
  const validity = (options.validityDays ?? 397) * DAY
  const now = Date.now()
  const result: BulkLoadResult = {
    firstId: 0,
    lastId: 0,
    sampleSerial: '',
    revoked: 0,
    hold: 0,
    ...(options.collectSerials ? { serials: [] } : {}),
  }
  const load = db.transaction(() => {
    for (let i = 0; i < options.count; i++) {
      const cn = `host-${i}.${domains[i % domains.length]}`
      const sans = [
        { type: 'dns', value: cn },
        { type: 'dns', value: `alt-${i}.${domains[(i + 1) % domains.length]}` },
      ]
      const serial = crypto.randomBytes(16).toString('hex').replace(/^0+/, '1')
      const notBefore = now - spread + Math.floor((i / options.count) * spread)
      const notAfter = notBefore + validity
      const roll = i % 100
      const status =
        roll < revokedPercent ? 'revoked' : roll < revokedPercent + holdPercent ? 'hold' : 'valid'
      if (status === 'revoked') result.revoked++
      if (status === 'hold') result.hold++
      const templateId = templates.length
        ? templates[i % 7 === 0 && templates.length > 1 ? 1 : 0]
        : null
      const id = Number(
        insertCert.run(
          options.caId,
          templateId,
          serial,
          `CN=${cn}`,
          cn,
          JSON.stringify(sans),
          notBefore,
          notAfter,
          status,
          status === 'valid' ? null : notBefore + DAY,
          status === 'revoked' ? reason : status === 'hold' ? 'certificateHold' : null,
          options.der,
          crypto.randomBytes(32).toString('hex'),
          notBefore
        ).lastInsertRowid
      )
      for (const name of namesOf(cn, sans, serial)) insertName.run(id, options.caId, name)
      if (i === 0) result.firstId = id
      result.lastId = id
      if (i === Math.floor(options.count / 2)) result.sampleSerial = serial
      result.serials?.push(serial)
    }
  })
  load()
  db.close()
  return result
}
