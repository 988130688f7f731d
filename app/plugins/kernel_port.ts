/*
 * The kernel port: the narrow runtime a plugin receives in start(runtime), route handlers,
 * hooks, jobs and tab renderers. It is the only way a plugin reaches kernel services; each
 * call acts as the plugin (actor "plugin:<id>") unless the plugin passes the person it acts for.
 */
import logger from '@adonisjs/core/services/logger'
import db from '@adonisjs/lucid/services/db'
import pkiConfig from '#config/pki'
import CertificateAuthority from '#models/certificate_authority'
import Certificate from '#models/certificate'
import { KernelError } from '#exceptions/kernel_error'
import { AUDIT_COLUMNS, INSERT_AUDIT, audit, auditRow } from '#services/audit_service'
import { commitStatements, type Statement } from '#services/certificate_store'
import { insertedRowid } from '#services/batch_statements'
import { writeServiceLog, queueServiceLog, countServiceHit } from '#services/service_log'
import { keyService } from '#services/key_service'
import type { Actor } from '#services/actor'
import { pluginSecrets } from '#services/plugin_secrets'
import { bindable, fastDb, isSqlite, prepared, withSqlite } from '#services/fast_db'
import {
  FIRST_PAGE,
  REVOKED_ENTRIES_PAGE,
  REVOKED_OR_HELD,
  revokedEntryPages,
} from '#services/revoked_pages'
import type { HashName } from '../../hsm/types.js'
import * as pki from '#pki/index'
import type {
  BoundQuery,
  InsertedIdRef,
  PluginAuditEntry,
  PreparedQuery,
  CaInfo,
  CertificateInfo,
  CertificateStatusEntry,
  PluginRuntime,
  PurposeSigner,
  RevokedEntry,
  TemplateInfo,
  WriteResult,
} from './contract.js'

/**
 * Pages in id order (keyset: `id > last`), mapped: `fetch(afterId, limit)` reads a page, `idOf`
 * gives a row's id.
 */
async function* pagesById<R, T>(
  fetch: (afterId: number, limit: number) => Promise<R[]>,
  idOf: (row: R) => number,
  options: { afterId?: number; pageSize?: number },
  map: (row: R) => T
): AsyncIterable<T[]> {
  const pageSize = Math.max(1, Math.min(options.pageSize ?? 1000, 10_000))
  let lastId = options.afterId ?? 0
  for (;;) {
    const rows = await fetch(lastId, pageSize)
    if (rows.length === 0) return
    lastId = idOf(rows[rows.length - 1])
    yield rows.map(map)
    if (rows.length < pageSize) return
  }
}

/**
 * A CA's revoked and held certificates not yet dropped from its CRLs, in pages: rows as arrays
 * through one prepared statement (a CRL of a million entries reads them all).
 */
function revokedEntryRows(caId: number, pageSize: number, afterId = 0) {
  return pagesById(
    (after, limit) => fastDb.tuples(REVOKED_ENTRIES_PAGE, [caId, false, after, limit]),
    (row) => Number(row[0]),
    { afterId, pageSize },
    ([id, serial, revokedAt, reason, status, notAfter]): RevokedEntry => ({
      certificateId: Number(id),
      serial: String(serial),
      revokedAt: Number(revokedAt ?? 0),
      reason: status === 'hold' ? 'certificateHold' : ((reason as string | null) ?? null),
      notAfter: Number(notAfter),
    })
  )
}

/** `load()` once; the same promise afterwards. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined
  return () => (loaded ??= load())
}

/*
 * Kernel services the port calls, imported on first use (they import the plugin host, so a
 * static import would be circular) and then kept: under the TypeScript loader every import()
 * goes through the loader's hooks thread, even for a module already loaded (about 0.3 ms a call).
 */
const issuing = once(() =>
  Promise.all([import('#services/template_service'), import('#services/issuance_service')])
)
const revoking = once(() =>
  Promise.all([import('#services/certificate_service'), import('#services/revocation_service')])
)
const serviceCertificates = once(() => import('#services/service_certificate_service'))

/** Queries made by runtime.table() (writeBatch takes only these: own tables, checked). */
const ownQueries = new WeakSet<object>()

/*
 * Prepared queries (runtime.prepare): a runtime.table() query built once with parameter markers,
 * compiled once by knex to SQL with `?` placeholders, then run with each call's values — on
 * SQLite as a prepared statement cached per connection (fast_db), on PostgreSQL as the same SQL.
 */

/** Bound prepared queries → their statement (writeBatch takes these too). */
const boundStatements = new WeakMap<object, Statement>()

/** runtime.insertedId() values → the batch item they refer to. */
const insertedIdRefs = new WeakMap<object, number>()

const PARAM_MARK = '\u0000open-pki-param:'

/** Where each `?` of a prepared query gets its value: a named parameter or a constant. */
type Slot = { param: string } | { value: unknown }

function compilePrepared(pluginId: string, query: unknown): { sql: string; slots: Slot[] } {
  if (!query || typeof query !== 'object' || !ownQueries.has(query)) {
    throw new KernelError(
      'E_VALIDATION',
      `prepare() takes a function that builds its query with ${pluginId}'s runtime.table() (not awaited).`
    )
  }
  const compiled = (query as any).toSQL()
  if (Array.isArray(compiled) || typeof compiled?.sql !== 'string') {
    throw new KernelError('E_VALIDATION', 'prepare() takes a query that is one SQL statement.')
  }
  const sql: string = compiled.sql
  const slots = (compiled.bindings as unknown[]).map((value): Slot => {
    if (typeof value === 'string' && value.startsWith(PARAM_MARK) && value.endsWith('\u0000')) {
      return { param: value.slice(PARAM_MARK.length, -1) }
    }
    if (typeof value === 'string' && value.includes(PARAM_MARK)) {
      throw new KernelError(
        'E_VALIDATION',
        'prepare(): a param() stands for a whole value, not for part of one.'
      )
    }
    return { value }
  })
  if (sql.includes(PARAM_MARK)) {
    throw new KernelError(
      'E_VALIDATION',
      'prepare(): a param() must be a bound value (a where, insert or update value), not a name in the SQL.'
    )
  }
  return { sql, slots }
}

/** A batch item's or a run's values for `slots`; insertedId() refs only where `refs` allows. */
function slotValues(slots: Slot[], params: Record<string, unknown> | undefined, refs: boolean) {
  return slots.map((slot) => {
    if (!('param' in slot)) return slot.value
    if (!params || !(slot.param in params)) {
      throw new KernelError(
        'E_VALIDATION',
        `The prepared query's parameter "${slot.param}" has no value.`
      )
    }
    const value = params[slot.param]
    if (value !== null && typeof value === 'object' && insertedIdRefs.has(value)) {
      if (!refs) {
        throw new KernelError('E_VALIDATION', 'insertedId() is a value for write batches only.')
      }
      return { ref: insertedIdRefs.get(value) }
    }
    return value
  })
}

function preparedQuery(sql: string, slots: Slot[]): PreparedQuery {
  return {
    async all(params) {
      const values = slotValues(slots, params, false)
      if (isSqlite()) return withSqlite((conn) => prepared(conn, sql).all(...bindable(values)))
      const result = await db.rawQuery(sql, values as any[])
      return result.rows
    },
    async first(params) {
      const values = slotValues(slots, params, false)
      if (isSqlite()) return withSqlite((conn) => prepared(conn, sql).get(...bindable(values)))
      const result = await db.rawQuery(sql, values as any[])
      return result.rows[0]
    },
    async run(params): Promise<WriteResult> {
      const values = slotValues(slots, params, false)
      if (isSqlite()) {
        return withSqlite((conn) => {
          const statement = prepared(conn, sql)
          if ((statement as unknown as { reader: boolean }).reader) {
            const rows = statement.all(...bindable(values))
            return { changes: rows.length, lastId: null, rows }
          }
          const info = statement.run(...bindable(values))
          return { changes: info.changes, lastId: insertedRowid(sql, info) }
        })
      }
      const result = await db.rawQuery(sql, values as any[])
      const rows = Array.isArray(result.rows) ? result.rows : []
      return {
        changes: Number(result.rowCount ?? rows.length),
        lastId: null,
        ...(rows.length > 0 ? { rows } : {}),
      }
    },
    bind(params, options = {}): BoundQuery {
      const statement: Statement = { sql, bindings: slotValues(slots, params, true) }
      if (options.expect !== undefined) {
        if (!Number.isInteger(options.expect) || options.expect < 0) {
          throw new KernelError('E_VALIDATION', 'bind(): expect is a number of rows (0 or more).')
        }
        statement.expect = options.expect
      }
      const item = Object.freeze({ boundQuery: true as const })
      boundStatements.set(item, statement)
      return item
    },
  }
}

export function pluginActor(pluginId: string): Actor {
  return { kind: 'plugin', label: `plugin:${pluginId}`, isAdmin: true }
}

export interface PortHost {
  readSettings(
    pluginId: string,
    scope: 'install' | 'ca' | 'template',
    scopeId: number
  ): Promise<Record<string, unknown>>
  extensions(point: string): unknown[]
}

function chainOf(value: unknown): string[] {
  try {
    const list = typeof value === 'string' ? JSON.parse(value) : value
    return Array.isArray(list) ? list.filter((v) => typeof v === 'string') : []
  } catch {
    return []
  }
}

const CA_BY_ID = 'SELECT * FROM cas WHERE id = ?'
const TEMPLATE_BY_ID = 'SELECT * FROM templates WHERE id = ?'

function caInfo(row: any): CaInfo {
  const cert = row.certificate ? Buffer.from(row.certificate) : null
  return {
    id: Number(row.id),
    name: String(row.name),
    status: String(row.status),
    keyType: String(row.key_type),
    subjectDn: row.subject_dn ?? null,
    notAfter: row.not_after === null || row.not_after === undefined ? null : Number(row.not_after),
    certificatePem: cert && cert.length ? pki.toPem(cert, 'CERTIFICATE') : null,
    chainPems: chainOf(row.chain).map((b64) =>
      pki.toPem(Buffer.from(b64, 'base64'), 'CERTIFICATE')
    ),
  }
}

function templateInfo(row: any): TemplateInfo {
  return {
    id: Number(row.id),
    caId: Number(row.ca_id),
    name: String(row.name),
    options: typeof row.options === 'string' ? JSON.parse(row.options) : (row.options ?? {}),
  }
}

function certificateInfo(c: Certificate): CertificateInfo {
  const r = c as any
  return {
    id: c.id,
    caId: c.caId,
    templateId: r.templateId ?? null,
    serial: c.serial,
    subjectDn: r.subjectDn,
    commonName: r.commonName ?? null,
    status: r.status,
    notBefore: Number(r.notBefore),
    notAfter: Number(r.notAfter),
    revokedAt: r.revokedAt === null || r.revokedAt === undefined ? null : Number(r.revokedAt),
    revocationReason: r.revocationReason ?? null,
    der: new Uint8Array(r.der),
  }
}

export function createRuntime(pluginId: string, host: PortHost): PluginRuntime {
  const self = pluginActor(pluginId)
  const prefix = `${pluginId.replace(/-/g, '_')}_`
  const log = logger.child({ plugin: pluginId })
  /** A plugin's audit entry: the plugin's id is added to its details. */
  const ownEntry = (entry: PluginAuditEntry) => ({
    ...entry,
    details: { plugin: pluginId, ...entry.details },
  })

  const ownTable = (name: string) => {
    if (typeof name !== 'string' || !name.startsWith(prefix)) {
      throw new KernelError(
        'E_FORBIDDEN',
        `Plugin ${pluginId} may only use its own tables (names starting with "${prefix}"), not "${name}".`
      )
    }
    return name
  }

  return {
    pluginId,
    publicUrl: pkiConfig.publicUrl,
    log,

    async issue(request, actor = self) {
      const [{ templateService }, { issuanceService, readCsr }] = await issuing()
      const { template, ca } = await templateService.findForIssuance(actor, request.templateId)
      const csr = await readCsr(request.csr)
      const issued = await issuanceService.issue({
        ca,
        template,
        csr,
        overrides:
          request.sans || request.validityDays
            ? { sans: request.sans as any, validityDays: request.validityDays }
            : undefined,
        actor,
        source: request.source ?? pluginId,
      })
      return {
        id: issued.id,
        serial: issued.serial,
        der: issued.der,
        pem: pki.toPem(issued.der, 'CERTIFICATE'),
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
      }
    },

    async revoke(certificateId, reason, actor = self) {
      const [{ certificateService }, { revocationService }] = await revoking()
      const cert = await certificateService.find(actor, certificateId)
      await revocationService.revoke(actor, cert, reason)
    },

    async findCertificate(query) {
      const cert =
        'id' in query
          ? await Certificate.find(query.id)
          : await Certificate.query()
              .where({ ca_id: query.caId, serial: query.serial.toLowerCase().replace(/:/g, '') })
              .first()
      return cert ? certificateInfo(cert) : null
    },

    revokedEntries(caId, pageSize = 1000) {
      return revokedEntryRows(caId, pageSize)
    },

    revokedEntryPages(caId) {
      return revokedEntryPages(caId, (afterId) => revokedEntryRows(caId, FIRST_PAGE, afterId))
    },

    async markListedAfterExpiry(caId, crlThisUpdate) {
      const count = await db
        .from('certificates')
        .where('ca_id', caId)
        .whereRaw(REVOKED_OR_HELD)
        .where('not_after', '<', crlThisUpdate)
        .where('listed_after_expiry', false)
        .update({ listed_after_expiry: true })
      return Number(count) || 0
    },

    certificateStatuses(caId, options = {}): AsyncIterable<CertificateStatusEntry[]> {
      return pagesById(
        (after, limit) =>
          db
            .from('certificates')
            .where('ca_id', caId)
            .where('id', '>', after)
            .orderBy('id')
            .limit(limit)
            .select(
              'id',
              'serial',
              'status',
              'not_before',
              'not_after',
              'revoked_at',
              'revocation_reason'
            ),
        (row: any) => Number(row.id),
        options,
        (r) => ({
          certificateId: Number(r.id),
          serial: String(r.serial),
          status: String(r.status),
          notBefore: Number(r.not_before),
          notAfter: Number(r.not_after),
          revokedAt:
            r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
          reason:
            r.status === 'hold'
              ? 'certificateHold'
              : r.status === 'revoked'
                ? (r.revocation_reason ?? 'unspecified')
                : null,
        })
      )
    },

    async issueServiceCertificate(caId, request) {
      const { serviceCertificateService } = await serviceCertificates()
      return serviceCertificateService.issue(caId, request, self)
    },

    async serviceCertificate(certificateId) {
      const { serviceCertificateService } = await serviceCertificates()
      return serviceCertificateService.load(certificateId)
    },

    async getCa(caId) {
      // A prepared statement (fast_db): plugins ask for a CA on hot paths (ACME's chain).
      const row = await fastDb.first(CA_BY_ID, [caId])
      return row ? caInfo(row) : null
    },

    async listCas() {
      const rows = await db.from('cas').orderBy('id')
      return rows.map(caInfo)
    },

    async getTemplate(templateId) {
      const row = await fastDb.first(TEMPLATE_BY_ID, [templateId])
      return row ? templateInfo(row) : null
    },

    async listTemplates(caId) {
      const rows = await db.from('templates').where('ca_id', caId).orderBy('id')
      return rows.map(templateInfo)
    },

    async signerFor(caId, purpose): Promise<PurposeSigner> {
      if (!/^[a-z][a-z0-9-]{0,39}$/.test(purpose)) {
        throw new KernelError('E_VALIDATION', `"${purpose}" is not a signer purpose name.`)
      }
      const ca = await CertificateAuthority.find(caId)
      if (!ca) throw new KernelError('E_CA_NOT_FOUND', `No CA "${caId}" exists.`)
      if (ca.status !== 'active') {
        throw new KernelError('E_CA_INACTIVE', `CA "${ca.name}" has no certificate yet.`)
      }
      const signer = await keyService.signerFor(ca)
      const stream = signer.stream
      await audit(self, {
        action: 'plugin.signer',
        objectType: 'ca',
        objectId: ca.id,
        caId: ca.id,
        details: { plugin: pluginId, purpose },
      })
      return {
        caId: ca.id,
        purpose,
        keyType: signer.keyType,
        publicKeySpki: signer.publicKeySpki,
        hash: ca.signatureHash,
        sign: (data, hash) => signer.sign(data, hash ?? ca.signatureHash),
        ...(stream ? { stream: (hash?: HashName) => stream(hash ?? ca.signatureHash) } : {}),
      }
    },

    async audit(entry) {
      await audit(self, ownEntry(entry))
    },

    async writeServiceLog(entry, options) {
      if (options?.queue) queueServiceLog({ service: pluginId, ...entry })
      else await writeServiceLog({ service: pluginId, ...entry })
    },

    countServiceHit(name, caId = 0) {
      countServiceHit(pluginId, name, caId)
    },

    settings: {
      install: () => host.readSettings(pluginId, 'install', 0),
      ca: (caId) => host.readSettings(pluginId, 'ca', caId),
      template: (templateId) => host.readSettings(pluginId, 'template', templateId),
    },

    secrets: pluginSecrets(pluginId),

    extensions<T>(point: string) {
      return host.extensions(point) as T[]
    },

    table(name: string) {
      const query = db.connection().getWriteClient().table(ownTable(name))
      ownQueries.add(query)
      return query
    },

    async writeBatch(items) {
      if (!Array.isArray(items)) {
        throw new KernelError('E_VALIDATION', 'writeBatch() takes an array of queries and audits.')
      }
      const statements = items.map((item): Statement => {
        const bound = item && typeof item === 'object' ? boundStatements.get(item) : undefined
        // commitStatements never changes a statement (it maps bindings into new arrays)
        if (bound) return bound
        if (item && typeof item === 'object' && 'audit' in item && !ownQueries.has(item)) {
          const entry = (item as { audit: PluginAuditEntry }).audit
          const objectId = entry?.objectId as unknown
          const ref =
            objectId !== null && typeof objectId === 'object'
              ? insertedIdRefs.get(objectId)
              : undefined
          const row = auditRow(
            self,
            ownEntry(ref === undefined ? entry : { ...entry, objectId: undefined })
          )
          return {
            sql: INSERT_AUDIT,
            bindings: AUDIT_COLUMNS.map((c) =>
              c === 'object_id' && ref !== undefined ? { ref, text: true } : row[c]
            ),
          }
        }
        if (!ownQueries.has(item)) {
          throw new KernelError(
            'E_VALIDATION',
            `writeBatch() takes queries made by ${pluginId}'s runtime.table() (not awaited) and { audit } entries.`
          )
        }
        const { sql, bindings } = (item as any).toSQL()
        return { sql, bindings }
      })
      statements.forEach((statement, index) => {
        for (const binding of statement.bindings) {
          const ref = (binding as { ref?: unknown } | null)?.ref
          if (typeof ref === 'number' && !(Number.isInteger(ref) && ref >= 0 && ref < index)) {
            throw new KernelError(
              'E_VALIDATION',
              `writeBatch(): item ${index} uses insertedId(${ref}), which is not an earlier item.`
            )
          }
        }
      })
      return commitStatements(statements)
    },

    prepare(build) {
      if (typeof build !== 'function') {
        throw new KernelError('E_VALIDATION', 'prepare() takes a function that builds the query.')
      }
      const param = (name: string) => {
        if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          throw new KernelError(
            'E_VALIDATION',
            `param(${JSON.stringify(name)}): a name like "accountId".`
          )
        }
        return `${PARAM_MARK}${name}\u0000`
      }
      const { sql, slots } = compilePrepared(pluginId, build(param))
      return preparedQuery(sql, slots)
    },

    insertedId(index): InsertedIdRef {
      if (!Number.isInteger(index) || index < 0) {
        throw new KernelError(
          'E_VALIDATION',
          'insertedId() takes the index of an earlier batch item.'
        )
      }
      const ref = Object.freeze({ insertedIdOf: index })
      insertedIdRefs.set(ref, index)
      return ref
    },

    async transaction(fn) {
      return db.transaction(async (trx) =>
        fn({
          table: (name: string) => trx.knexQuery().table(ownTable(name)),
          audit: (entry) => audit(self, ownEntry(entry), trx),
        })
      )
    },
  }
}
