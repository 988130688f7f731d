/*
 * Where one direct issuance spends its time, phase by phase, measured in-process and sequentially
 * (one request at a time, no HTTP): the work POST /api/v1/templates/:id/issue does after the
 * framework has parsed the request.
 *
 *   node --import=ts-node-maintained/register/esm bench/phases.ts
 *
 * The app is booted like an ace command on a fresh DATA_DIR (SQLite, synchronous=FULL as shipped).
 * Nothing in app/ is modified: the phases inside issuanceService.issue() are timed through the
 * kernel's own hook points (validateIssue → beforeIssue → onPrecertificate → afterIssue), the sign
 * step by signing the captured draft again, and the store transaction through a copy of
 * storeCertificate (below) with a timer per statement, also run with synchronous=NORMAL and with
 * raw better-sqlite3 prepared statements for comparison.
 *
 * Environment: PHASES_N (issuances, default 300), PHASES_CSRS (default 50).
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { makeP256Csrs } from './lib/csrs.js'

const N = Number(process.env.PHASES_N ?? 300)
const CSR_COUNT = Number(process.env.PHASES_CSRS ?? 50)

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'open-pki-phases-'))
for (const k of Object.keys(process.env))
  if (/^(DB_|PKI_|TLS_|APP_|PURGE_)/.test(k)) delete process.env[k]
Object.assign(process.env, { NODE_ENV: 'production', LOG_LEVEL: 'warn', DATA_DIR: dataDir })
const cleanup = () => fs.rmSync(dataDir, { recursive: true, force: true })
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130))

// --- SQL statement clock: wraps better-sqlite3 (the driver knex uses) in this process only -------
const now = () => process.hrtime.bigint()
const us = (a: bigint, b: bigint) => Number(b - a) / 1000
const requireCjs = createRequire(import.meta.url)
const BetterSqlite = requireCjs('better-sqlite3')
let sqlOn = false
const sqlTotals = new Map<string, { n: number; us: number }>()
const sqlAdd = (kind: string, v: number) => {
  const t = sqlTotals.get(kind) ?? sqlTotals.set(kind, { n: 0, us: 0 }).get(kind)!
  t.n++
  t.us += v
}
function sqlKind(sql: string): string {
  const s = sql.trim().replace(/\s+/g, ' ')
  const table = /\b(?:from|into|update)\s+[`"]?(\w+)/i.exec(s)?.[1]
  const verb = s.split(' ')[0].replace(/;$/, '').toUpperCase()
  return table ? `${verb} ${table}` : verb
}
let statementPatched = false
const originalPrepare = BetterSqlite.prototype.prepare
BetterSqlite.prototype.prepare = function (sql: string) {
  const a = now()
  const statement = originalPrepare.call(this, sql)
  if (sqlOn) sqlAdd('prepare (every statement, no cache in knex)', us(a, now()))
  if (!statementPatched) {
    statementPatched = true
    const proto = Object.getPrototypeOf(statement)
    for (const method of ['run', 'all', 'get'] as const) {
      const original = proto[method]
      proto[method] = function (this: { source: string }, ...args: unknown[]) {
        const t0 = now()
        try {
          return original.apply(this, args)
        } finally {
          if (sqlOn) sqlAdd(`execute ${sqlKind(this.source)}`, us(t0, now()))
        }
      }
    }
  }
  return statement
}

const APP_ROOT = new URL('../', import.meta.url)
await import('reflect-metadata')
const { Ignitor } = await import('@adonisjs/core')
const ignitor = new Ignitor(APP_ROOT, {
  importer: (filePath: string) =>
    filePath.startsWith('./') || filePath.startsWith('../')
      ? import(new URL(filePath, APP_ROOT).href)
      : import(filePath),
})
ignitor.tap((app) => app.booting(async () => void (await import('#start/env'))))
const app = ignitor.createApp('console')
await app.init()
await app.boot()
await app.start(async () => {})

const { default: db } = await import('@adonisjs/lucid/services/db')
const { tokenService } = await import('#services/token_service')
const { caService } = await import('#services/ca_service')
const { templateService } = await import('#services/template_service')
const { issuanceService } = await import('#services/issuance_service')
const { caMaterial } = await import('#services/ca_material')
const { hooks } = await import('#services/hooks')
const { audit } = await import('#services/audit_service')
const { default: CertificateAuthority } = await import('#models/certificate_authority')
const { default: Template } = await import('#models/template')
const pki = await import('#pki/index')
const { verifySignature } = await import('../hsm/keys.js')
const { sqliteFile } = await import('#config/database')

const samples = new Map<string, number[]>()
const record = (name: string, v: number) =>
  (samples.get(name) ?? samples.set(name, []).get(name)!).push(v)

// --- setup ---------------------------------------------------------------------------------------
const actor0 = { kind: 'cli' as const, label: 'bench', isAdmin: true }
const user = await tokenService.createUser(actor0, { email: 'bench@example.com', isAdmin: true })
const token = await tokenService.createToken(actor0, user)
const ca = await caService.create(actor0, { name: 'Phases P-256 CA', keyType: 'ecdsa-p256' } as any)
const template = (await Template.query()
  .where('ca_id', ca.id)
  .where('name', 'Web Server')
  .firstOrFail()) as any
const csrs = await makeP256Csrs(CSR_COUNT, 'phase')

// --- the hook-point clock ----------------------------------------------------------------------
let marks: Record<string, bigint> = {}
let lastDraft: any
hooks.register('validateIssue', { owner: 'bench', handler: () => void (marks.validate = now()) })
// a second handler on the same hook: the gap between the two is the hook machinery's own cost
hooks.register('validateIssue', { owner: 'bench2', handler: () => void (marks.validate2 = now()) })
hooks.register('beforeIssue', {
  owner: 'bench',
  handler: (ctx: any) => {
    marks.draft = now()
    lastDraft = ctx.draft
  },
})
hooks.register('onPrecertificate', { owner: 'bench', handler: () => void (marks.lint = now()) })
hooks.register('afterIssue', { owner: 'bench', handler: () => void (marks.stored = now()) })

async function oneIssuance(i: number, keep: boolean) {
  const pem = csrs[i % csrs.length]
  sqlOn = keep
  const t0 = now()
  const u = await tokenService.verify(token)
  const t1 = now()
  const actor = {
    kind: 'user' as const,
    label: u!.email,
    userId: u!.id,
    isAdmin: u!.isAdmin,
    ip: '127.0.0.1',
  }
  const tpl = await templateService.find(actor, String(template.id))
  const t2 = now()
  const caRow = await CertificateAuthority.findOrFail(tpl.caId)
  const t3 = now()
  const csr = pki.parseCsr(pem)
  const t4 = now()
  const ok = pki.verifyCsrSignature(csr, verifySignature)
  const t5 = now()
  if (!ok) throw new Error('CSR signature did not verify')
  marks = {}
  const issued = await issuanceService.issue({
    ca: caRow,
    template: tpl,
    csr,
    actor,
    source: 'bench',
  })
  const t6 = now()
  const body = JSON.stringify({
    certificate: {
      id: issued.id,
      serial: issued.serial,
      subjectDn: issued.subjectDn,
      notBefore: new Date(issued.notBefore).toISOString(),
      notAfter: new Date(issued.notAfter).toISOString(),
      certificatePem: pki.toPem(issued.der, 'CERTIFICATE'),
    },
  })
  const t7 = now()
  sqlOn = false
  // the same draft signed again: the cost of the sign step alone
  const material = await caMaterial.get(caRow)
  const s0 = now()
  await pki.signCertificate(lastDraft, material.signer, material.hash)
  const s1 = now()
  // key import alone (part of the CSR check above)
  const k0 = now()
  crypto.createPublicKey({ key: Buffer.from(csr.spki), format: 'der', type: 'spki' })
  const k1 = now()
  if (!keep || body.length === 0) return
  record('auth: tokenService.verify (1 SELECT join)', us(t0, t1))
  record('templateService.find (Lucid model, JSON columns)', us(t1, t2))
  record('CertificateAuthority.findOrFail (Lucid model)', us(t2, t3))
  record('CSR parse (pki.parseCsr)', us(t3, t4))
  record('CSR signature check (verifySignature)', us(t4, t5))
  record('issue: CA material + template enforcement', us(t5, marks.validate))
  record('issue: build draft (serial, extensions)', us(marks.validate2, marks.draft))
  record('  of which hook machinery (one series handler)', us(marks.validate, marks.validate2))
  record('issue: lint', us(marks.draft, marks.lint))
  record('issue: sign + store transaction', us(marks.lint, marks.stored))
  record('issue: afterIssue + return', us(marks.stored, t6))
  record('response JSON + PEM', us(t6, t7))
  record('  of which sign (encodeTbs + ECDSA + assemble)', us(s0, s1))
  record('  of which CSR key import (createPublicKey)', us(k0, k1))
}

for (let i = 0; i < 30; i++) await oneIssuance(i, false) // warm-up
for (let i = 0; i < N; i++) await oneIssuance(i, true)
const sqlPerIssuance = [...sqlTotals].map(([kind, t]) => ({
  kind,
  perIssuance: t.n / N,
  meanUs: t.us / t.n,
  usPerIssuance: t.us / N,
}))

// --- the store transaction, statement by statement (a copy of storeCertificate) ----------------
const caId = ca.id
let serialCounter = 0
function certRow() {
  const serial = crypto.randomBytes(16).toString('hex')
  serialCounter++
  return {
    ca_id: caId,
    template_id: template.id,
    request_id: null,
    serial,
    kind: 'end-entity',
    subject_dn: `CN=store-${serialCounter}.example.com`,
    common_name: `store-${serialCounter}.example.com`,
    sans: JSON.stringify([{ type: 'dns', value: `store-${serialCounter}.example.com` }]),
    key_type: 'ecdsa-p256',
    not_before: Date.now(),
    not_after: Date.now() + 86400_000,
    status: 'valid',
    der: crypto.randomBytes(700),
    fingerprint: crypto.randomBytes(32).toString('hex'),
    issued_by: 'bench',
    created_at: Date.now(),
  }
}

async function storeCopy(label: string) {
  const row = certRow()
  const a = now()
  let b = a
  let c = a
  let d = a
  await db.transaction(async (trx) => {
    b = now()
    const [inserted] = await trx.table('certificates').insert(row).returning('id')
    c = now()
    const id = Number(typeof inserted === 'object' ? (inserted as any).id : inserted)
    await audit(
      actor0,
      {
        action: 'certificate.issue',
        objectType: 'certificate',
        objectId: id,
        caId: row.ca_id,
        details: { serial: row.serial },
      },
      trx
    )
    d = now()
  })
  const e = now()
  record(`${label}: BEGIN (knex)`, us(a, b))
  record(`${label}: INSERT certificate`, us(b, c))
  record(`${label}: INSERT audit entry`, us(c, d))
  record(`${label}: COMMIT`, us(d, e))
  record(`${label}: whole transaction`, us(a, e))
}

const M = Math.max(100, Math.floor(N / 2))
for (let i = 0; i < 20; i++) await storeCopy('warm')
for (let i = 0; i < M; i++) await storeCopy('store, synchronous=FULL')
await db.rawQuery('PRAGMA synchronous = NORMAL')
for (let i = 0; i < M; i++) await storeCopy('store, synchronous=NORMAL')
await db.rawQuery('PRAGMA synchronous = FULL')

// raw better-sqlite3, statements prepared once, same file, synchronous=FULL
const { default: Database } = await import('better-sqlite3')
const raw = new Database(sqliteFile)
raw.pragma('journal_mode = WAL')
raw.pragma('busy_timeout = 10000')
raw.pragma('synchronous = FULL')
const insertCert = raw.prepare(
  'INSERT INTO certificates (ca_id, template_id, request_id, serial, kind, subject_dn, common_name, sans, key_type, not_before, not_after, status, der, fingerprint, issued_by, created_at) ' +
    'VALUES (@ca_id, @template_id, @request_id, @serial, @kind, @subject_dn, @common_name, @sans, @key_type, @not_before, @not_after, @status, @der, @fingerprint, @issued_by, @created_at) RETURNING id'
)
const insertAudit = raw.prepare(
  'INSERT INTO audit_logs (at, actor, action, object_type, object_id, ca_id, ip, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
)
const rawTx = raw.transaction((row: any) => {
  const { id } = insertCert.get(row) as any
  insertAudit.run(
    Date.now(),
    'bench',
    'certificate.issue',
    'certificate',
    String(id),
    row.ca_id,
    null,
    JSON.stringify({ serial: row.serial })
  )
  return id
})
for (let i = 0; i < 20; i++) rawTx(certRow())
for (let i = 0; i < M; i++) {
  const row = certRow()
  const a = now()
  rawTx(row)
  record('store, raw better-sqlite3 prepared, FULL: whole transaction', us(a, now()))
}
// group commit: 8 certificates in one transaction (what batching concurrent issuances would cost)
const rawBatch = raw.transaction((rows: any[]) => {
  for (const row of rows) {
    const { id } = insertCert.get(row) as any
    insertAudit.run(
      Date.now(),
      'bench',
      'certificate.issue',
      'certificate',
      String(id),
      row.ca_id,
      null,
      JSON.stringify({ serial: row.serial })
    )
  }
})
for (let i = 0; i < Math.ceil(M / 8); i++) {
  const rows = Array.from({ length: 8 }, certRow)
  const a = now()
  rawBatch(rows)
  record('store, raw prepared, FULL, 8 per transaction: per certificate', us(a, now()) / 8)
}
// the token lookup through raw prepared statement vs knex
const tokenHash = crypto.createHash('sha256').update(token).digest('hex')
const lookup = raw.prepare(
  'SELECT api_tokens.id AS token_id, api_tokens.expires_at, api_tokens.last_used_at, users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id WHERE api_tokens.token_hash = ? LIMIT 1'
)
for (let i = 0; i < 1000; i++) lookup.get(tokenHash)
for (let i = 0; i < 1000; i++) {
  const a = now()
  lookup.get(tokenHash)
  record('token lookup, raw prepared statement', us(a, now()))
}
raw.close()

// --- building blocks of the PKI phases, one call at a time (what caching could save) ------------
const { describeSpki } = await import('../hsm/keys.js')
const sampleCsr = pki.parseCsr(csrs[0])
const host = 'phase-0.example.com'
const micro: [string, () => unknown][] = [
  [
    'pki: basicConstraints (same for every certificate of a template)',
    () => pki.basicConstraints({ ca: false }, { critical: true }),
  ],
  ['pki: keyUsage (same per template)', () => pki.keyUsage(['digitalSignature'])],
  [
    'pki: extendedKeyUsage (same per template)',
    () => pki.extendedKeyUsage(['serverAuth', 'clientAuth']),
  ],
  [
    'pki: authorityInfoAccess (same per template and CA)',
    () => pki.authorityInfoAccess({ caIssuers: ['http://127.0.0.1:3333/pki/ca/1.crt'] }),
  ],
  ['pki: subjectKeyIdentifier (per certificate)', () => pki.subjectKeyIdentifier(sampleCsr.spki)],
  [
    'pki: subjectAltName (per certificate)',
    () => pki.subjectAltName([{ type: 'dns', value: host }]),
  ],
  [
    'pki: nameToDer + nameToString (subject)',
    () => pki.nameToString(pki.nameToDer({ commonName: host })),
  ],
  ['pki: encodeTbs (captured draft)', () => pki.encodeTbs(lastDraft)],
  ['hsm: describeSpki (CSR key)', () => describeSpki(sampleCsr.spki)],
  [
    'crypto: createPublicKey, SPKI DER (as verifySignature does)',
    () => crypto.createPublicKey({ key: Buffer.from(sampleCsr.spki), format: 'der', type: 'spki' }),
  ],
  [
    'crypto: createPublicKey, same key as JWK',
    (() => {
      const jwk = crypto
        .createPublicKey({ key: Buffer.from(sampleCsr.spki), format: 'der', type: 'spki' })
        .export({ format: 'jwk' })
      return () => crypto.createPublicKey({ key: jwk, format: 'jwk' })
    })(),
  ],
]
// a copy of issuanceService.issue()'s "build the draft" block, with this template and CA
{
  const { embeddedUrls } = await import('#services/service_urls')
  const { PREDEFINED_POLICIES } = await import('#services/template_options')
  const options = template.options
  const caRow = await CertificateAuthority.findOrFail(ca.id)
  const material = await caMaterial.get(caRow)
  micro.push([
    'copy of the draft block of issue() (serial + all extensions)',
    () => {
      const serial = pki.newSerial()
      const serialHex = pki.serialHex(serial)
      const urlCtx = {
        caId: caRow.id,
        caName: caRow.name,
        templateId: template.id,
        serial: serialHex,
      }
      const extensions: any[] = [
        pki.basicConstraints({ ca: false }, { critical: true }),
        pki.keyUsage(
          options.keyUsage.filter(
            (u: string) => u !== 'keyEncipherment' && u !== 'dataEncipherment'
          )
        ),
      ]
      const ekus = [...options.extKeyUsage, ...options.customEkuOids]
      if (ekus.length)
        extensions.push(pki.extendedKeyUsage(ekus, { critical: ekus.includes('timeStamping') }))
      extensions.push(pki.subjectKeyIdentifier(sampleCsr.spki))
      extensions.push(material.authorityKeyIdentifier)
      extensions.push(pki.subjectAltName([{ type: 'dns', value: host }], { critical: false }))
      if (options.aia.include) {
        const caIssuers = options.aia.customUrl
          ? [options.aia.customUrl]
          : embeddedUrls('aia.caIssuers', urlCtx)
        const ocsp = options.includeOcsp ? embeddedUrls('aia.ocsp', urlCtx) : []
        if (caIssuers.length || ocsp.length)
          extensions.push(pki.authorityInfoAccess({ ocsp, caIssuers }))
      }
      if (options.includeCrl) {
        const cdp = embeddedUrls('crl.distributionPoints', urlCtx)
        if (cdp.length) extensions.push(pki.crlDistributionPoints(cdp))
      }
      if (options.cps.include) {
        const oid = options.cps.policy
          ? (PREDEFINED_POLICIES[options.cps.policy] ?? options.cps.policy)
          : caRow.policyOid
        if (oid)
          extensions.push(pki.certificatePolicies([{ oid, cpsUri: caRow.cpsUrl ?? undefined }]))
      }
      return pki.signatureAlgorithm(caRow.keyType, material.hash)
    },
  ])
}
for (const [name, fn] of micro) {
  try {
    for (let i = 0; i < 200; i++) fn()
    for (let i = 0; i < 1000; i++) {
      const a = now()
      fn()
      record(name, us(a, now()))
    }
  } catch (error) {
    process.stderr.write(`(skipped "${name}": ${(error as Error).message})\n`)
  }
}

// --- report ------------------------------------------------------------------------------------
function stats(v: number[]) {
  const s = [...v].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { median: q(0.5), mean: v.reduce((a, b) => a + b, 0) / v.length, p90: q(0.9) }
}
const f = (x: number) => x.toFixed(0).padStart(7)
process.stdout.write(
  `\nissuance phases, in-process, sequential: ${N} issuances (P-256 CA, ${CSR_COUNT} distinct P-256 CSRs), node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}\n`
)
process.stdout.write(
  `${'phase'.padEnd(66)} ${'median'.padStart(7)} ${'mean'.padStart(7)} ${'p90'.padStart(7)}  (µs)\n`
)
let sumMedian = 0
let sumMean = 0
for (const [name, v] of samples) {
  const st = stats(v)
  const top =
    !name.startsWith(' ') &&
    !/^(pki|hsm|crypto):/.test(name) &&
    !name.startsWith('store') &&
    !name.startsWith('warm') &&
    !name.startsWith('token lookup')
  if (name.startsWith('warm')) continue
  if (top) {
    sumMedian += st.median
    sumMean += st.mean
  }
  process.stdout.write(`${name.padEnd(66)} ${f(st.median)} ${f(st.mean)} ${f(st.p90)}\n`)
  if (name === 'response JSON + PEM') {
    process.stdout.write(
      `${'= one issuance without HTTP (sum of the phases above)'.padEnd(66)} ${f(sumMedian)} ${f(sumMean)}   → at most ${(1e6 / sumMean).toFixed(0)} issuances/s on one thread\n`
    )
  }
}

process.stdout.write(
  `\nSQL statements of one issuance (better-sqlite3 calls, timed in the driver), mean over ${N}:\n`
)
let sqlSum = 0
for (const r of sqlPerIssuance.sort((a, b) => b.usPerIssuance - a.usPerIssuance)) {
  sqlSum += r.usPerIssuance
  process.stdout.write(
    `  ${r.kind.padEnd(60)} ${r.perIssuance.toFixed(2).padStart(5)} ×  ${r.meanUs.toFixed(0).padStart(6)} µs  = ${r.usPerIssuance.toFixed(0).padStart(6)} µs\n`
  )
}
process.stdout.write(
  `  ${'total inside SQLite (prepare + execute)'.padEnd(60)} ${' '.repeat(21)}${sqlSum.toFixed(0).padStart(6)} µs\n`
)

await app.terminate()
cleanup()
