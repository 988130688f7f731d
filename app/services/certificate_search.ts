/*
 * The Issued Certificates page's query: search, filters and keyset pagination that stay fast
 * whatever the number of certificates (see docs/benchmarks.md, `npm run bench:ui`).
 *
 * - Search is a case-insensitive PREFIX match on a certificate's common name, SAN values and
 *   serial, through the certificate_names table (one lowercased row per name, indexed
 *   (ca_id, name, certificate_id)). Results come in name order, newest first for one name.
 * - Without a search the list is newest first (index (ca_id, id)); "expiring within N days"
 *   lists soonest expiry first (index (ca_id, not_after, id)); "expired" lists the most
 *   recently expired first.
 * - Pages are keyset pages ("next" / "previous" cursors, never OFFSET), and the total is
 *   counted only up to COUNT_CAP (shown as "1,000+"), so no page reads every row.
 */
import db from '@adonisjs/lucid/services/db'
import type { QueryClientContract } from '@adonisjs/lucid/types/database'
import { KernelError } from '#exceptions/kernel_error'
import { isRowId } from '#validators/query'
import { assertCaAccess } from './access.js'
import type { Actor } from './actor.js'
import { certificateNames } from './certificate_store.js'

export const CERT_STATUSES = ['valid', 'revoked', 'hold', 'expired'] as const
export type CertStatusFilter = (typeof CERT_STATUSES)[number]

export interface CertificateQuery {
  q?: string | null
  templateId?: number | null
  status?: CertStatusFilter | null
  expiringDays?: number | null
  /** Cursor of the last row of the current page (next page). */
  after?: string | null
  /** Cursor of the first row of the current page (previous page). */
  before?: string | null
  perPage?: number
}

export type ListOrder = 'newest' | 'name' | 'expiring' | 'expired'

export interface CertificateListRow {
  id: number
  serial: string
  commonName: string | null
  subjectDn: string
  sans: Array<{ type: string; value: string }>
  keyType: string
  notBefore: number
  notAfter: number
  /** valid | expired | hold | revoked */
  status: string
  revocationReason: string | null
  templateId: number | null
  /** The name the search matched (search results only). */
  matched?: string
}

export interface CertificatePage {
  rows: CertificateListRow[]
  order: ListOrder
  next: string | null
  prev: string | null
  /** Matching certificates, counted up to COUNT_CAP + 1. */
  count: number
  countCapped: boolean
  perPage: number
}

export const COUNT_CAP = 1000
const DAY = 86400_000

/**
 * The prefix a search looks for: trimmed and lowercased; a serial pasted with colons
 * ("00:1a:2b", as OpenSSL prints it) loses its colons and leading zero bytes.
 */
export function searchPrefix(q: string): string {
  let text = q.trim().toLowerCase().slice(0, 255)
  if (/^(0x)?([0-9a-f]{2}:)+[0-9a-f]{0,2}$/.test(text)) {
    text = text
      .replace(/^0x/, '')
      .replace(/:/g, '')
      .replace(/^(00)+(?=.)/, '')
  }
  return text
}

/** The smallest string greater than every string that starts with `prefix`. */
function prefixEnd(prefix: string): string {
  const points = [...prefix]
  const last = points.pop()!.codePointAt(0)!
  let next = last + 1
  if (next >= 0xd800 && next <= 0xdfff) next = 0xe000
  return points.join('') + String.fromCodePoint(Math.min(next, 0x10ffff))
}

function encodeCursor(values: Array<string | number>) {
  return Buffer.from(JSON.stringify(values)).toString('base64url')
}

function decodeCursor(cursor: string | null | undefined, shape: Array<'string' | 'number'>) {
  if (!cursor) return undefined
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (
      Array.isArray(values) &&
      values.length === shape.length &&
      values.every((v, i) =>
        shape[i] === 'number'
          ? Number.isSafeInteger(v) && (i < shape.length - 1 || isRowId(v))
          : typeof v === 'string'
      )
    )
      return values as Array<string | number>
  } catch {}
  throw new KernelError(
    'E_VALIDATION',
    'The page link is not valid (it may come from another search); start from the first page.'
  )
}

interface SortKey {
  column: string
  /** the row field holding the value, for the cursor */
  field: string
  type: 'string' | 'number'
  asc: boolean
}

function applyStatus(q: any, status: CertStatusFilter | null | undefined, now: number) {
  if (!status) return
  if (status === 'valid') q.where('c.status', 'valid').where('c.not_after', '>=', now)
  else if (status === 'expired') q.where('c.status', 'valid').where('c.not_after', '<', now)
  else q.where('c.status', status)
}

/** Rows after (or before) a cursor in the given two-column order. */
function applyKeyset(q: any, keys: SortKey[], cursor: Array<string | number>, forward: boolean) {
  if (keys.length === 1) {
    const [k] = keys
    const greater = k.asc === forward
    q.where(k.column, greater ? '>' : '<', cursor[0])
    return
  }
  const [a, b] = keys
  const aGreater = a.asc === forward
  const bGreater = b.asc === forward
  // The first comparison alone bounds the index range; the second breaks ties.
  q.where(a.column, aGreater ? '>=' : '<=', cursor[0]).where((w: any) =>
    w
      .where(a.column, aGreater ? '>' : '<', cursor[0])
      .orWhere(b.column, bGreater ? '>' : '<', cursor[1])
  )
}

export const certificateSearch = {
  /** One page of a CA's certificates. The caller validated the query's values. */
  async page(
    actor: Actor,
    caId: number,
    query: CertificateQuery,
    now = Date.now()
  ): Promise<CertificatePage> {
    await assertCaAccess(actor, caId)
    const perPage = Math.min(Math.max(query.perPage ?? 50, 1), 200)
    const prefix = query.q ? searchPrefix(query.q) : ''

    let order: ListOrder
    let keys: SortKey[]
    const base = () => {
      let q: any
      if (prefix) {
        q = db
          .from('certificate_names as n')
          .join('certificates as c', 'c.id', 'n.certificate_id')
          .where('n.ca_id', caId)
          .where('n.name', '>=', prefix)
          .where('n.name', '<', prefixEnd(prefix))
      } else {
        q = db.from('certificates as c').where('c.ca_id', caId)
      }
      if (query.templateId) q.where('c.template_id', query.templateId)
      applyStatus(q, query.status, now)
      if (query.expiringDays) {
        q.where('c.not_after', '>=', now).where('c.not_after', '<', now + query.expiringDays * DAY)
        // "Expiring" means valid certificates about to run out (as the dashboard counts them);
        // a revoked or held one is only listed when that status is asked for.
        if (!query.status) q.where('c.status', 'valid')
      }
      return q
    }

    if (prefix) {
      order = 'name'
      keys = [
        { column: 'n.name', field: 'matched', type: 'string', asc: true },
        { column: 'n.certificate_id', field: 'id', type: 'number', asc: false },
      ]
    } else if (query.expiringDays) {
      order = 'expiring'
      keys = [
        { column: 'c.not_after', field: 'notAfter', type: 'number', asc: true },
        { column: 'c.id', field: 'id', type: 'number', asc: true },
      ]
    } else if (query.status === 'expired') {
      order = 'expired'
      keys = [
        { column: 'c.not_after', field: 'notAfter', type: 'number', asc: false },
        { column: 'c.id', field: 'id', type: 'number', asc: false },
      ]
    } else {
      order = 'newest'
      keys = [{ column: 'c.id', field: 'id', type: 'number', asc: false }]
    }

    const shape = keys.map((k) => k.type)
    const after = decodeCursor(query.after, shape)
    const before = after ? undefined : decodeCursor(query.before, shape)
    const forward = !before

    const q = base().select(
      'c.id',
      'c.serial',
      'c.common_name',
      'c.subject_dn',
      'c.sans',
      'c.key_type',
      'c.not_before',
      'c.not_after',
      'c.status',
      'c.revocation_reason',
      'c.template_id'
    )
    if (prefix) q.select('n.name as matched')
    if (after) applyKeyset(q, keys, after, true)
    if (before) applyKeyset(q, keys, before, false)
    for (const k of keys) q.orderBy(k.column, k.asc === forward ? 'asc' : 'desc')
    q.limit(perPage + 1)

    const counting = base()
      .select(prefix ? 'n.certificate_id as cid' : 'c.id as cid')
      .limit(COUNT_CAP + 1)
    const [raw, countRow] = await Promise.all([
      q,
      db.from(counting.as('capped')).countDistinct('cid as n').first(),
    ])

    const more = raw.length > perPage
    let list = raw.slice(0, perPage)
    if (!forward) list = list.reverse()
    const seen = new Set<number>()
    const rows: CertificateListRow[] = []
    for (const r of list) {
      const id = Number(r.id)
      // A certificate matched by two of its names shows once on a page.
      if (seen.has(id)) continue
      seen.add(id)
      const notAfter = Number(r.not_after)
      rows.push({
        id,
        serial: r.serial,
        commonName: r.common_name,
        subjectDn: r.subject_dn,
        sans: safeJson(r.sans),
        keyType: r.key_type,
        notBefore: Number(r.not_before),
        notAfter,
        status: r.status === 'valid' && notAfter < now ? 'expired' : r.status,
        revocationReason: r.revocation_reason,
        templateId: r.template_id === null ? null : Number(r.template_id),
        ...(prefix ? { matched: r.matched } : {}),
      })
    }
    const cursorOf = (r: any) =>
      encodeCursor(keys.map((k) => (k.field === 'id' ? Number(r.id) : fieldOf(r, k.field))))
    const first = list[0]
    const last = list[list.length - 1]
    const count = Number(countRow?.n ?? 0)
    return {
      rows,
      order,
      next: last && (forward ? more : true) ? cursorOf(last) : null,
      prev: first && (forward ? Boolean(after) : more) ? cursorOf(first) : null,
      count: Math.min(count, COUNT_CAP),
      countCapped: count > COUNT_CAP,
      perPage,
    }
  },
}

/**
 * Writes the certificate_names rows of certificates that have none (migration 0003 runs it on
 * existing installs), in batches of 1,000 certificates. Returns how many certificates it named.
 */
export async function backfillCertificateNames(client: QueryClientContract = db.connection()) {
  let lastId = 0
  let named = 0
  for (;;) {
    const rows = await client
      .from('certificates as c')
      .where('c.id', '>', lastId)
      .whereNotExists((q) =>
        q.from('certificate_names as n').whereRaw('n.certificate_id = c.id').select(client.raw('1'))
      )
      .orderBy('c.id')
      .limit(1000)
      .select('c.id', 'c.ca_id', 'c.common_name', 'c.sans', 'c.serial')
    if (rows.length === 0) break
    const names = rows.flatMap((r: any) =>
      certificateNames(r).map((name) => ({ certificate_id: r.id, ca_id: r.ca_id, name }))
    )
    if (names.length) await client.table('certificate_names').multiInsert(names)
    named += rows.length
    lastId = Number(rows[rows.length - 1].id)
  }
  return named
}

function fieldOf(r: any, field: string) {
  if (field === 'matched') return String(r.matched)
  if (field === 'notAfter') return Number(r.not_after)
  return Number(r[field])
}

function safeJson(value: unknown) {
  if (typeof value !== 'string') return Array.isArray(value) ? value : []
  try {
    const parsed = JSON.parse(value)
    return Array.isArray(parsed) ? parsed : []
  } catch {
    return []
  }
}
