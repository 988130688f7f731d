/*
 * Numbers for the per-CA dashboard. Every query is an indexed lookup or range, aggregated in
 * SQL, so the page stays fast with 100,000 certificates in a CA:
 *  - counts by status: covering index certificates(ca_id, status);
 *  - expired / expiring: range on certificates(not_after) ("+ca_id" keeps SQLite from choosing
 *    the ca_id index, which would read every certificate of the CA);
 *  - issued over time: the append-only audit log's `certificate.issue` entries, a range on
 *    audit_logs(ca_id, at). The log keeps issuance history after expired certificates are purged.
 * Buckets are computed as CAST((t - start) / size AS INTEGER), which both SQLite and PostgreSQL
 * group on; times are epoch milliseconds and buckets are UTC days or weeks.
 */
import db from '@adonisjs/lucid/services/db'

export const DAY = 86_400_000
export const WEEK = 7 * DAY

export type IssuedRange = 'days' | 'weeks'

export interface Bucket {
  start: number
  end: number
  count: number
}

function int(value: number) {
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`)
  return value
}

/** Start of the UTC day holding `t`. */
export const utcDay = (t: number) => Math.floor(t / DAY) * DAY

async function bucketCounts(
  sql: string,
  bindings: unknown[],
  start: number,
  size: number,
  buckets: number
): Promise<Bucket[]> {
  const rows = await db.rawQuery(sql, bindings as any[])
  const list: any[] = Array.isArray(rows) ? rows : (rows?.rows ?? [])
  const out: Bucket[] = Array.from({ length: buckets }, (_, i) => ({
    start: start + i * size,
    end: start + (i + 1) * size,
    count: 0,
  }))
  for (const r of list) {
    const b = Number(r.b)
    if (b >= 0 && b < buckets) out[b].count += Number(r.n)
  }
  return out
}

export const dashboardStats = {
  /** Valid (not expired), on hold, revoked, expired, expiring within 30 days, pending requests. */
  async counts(caId: number, now = Date.now()) {
    const [byStatus, expired, expiring, pending] = await Promise.all([
      db
        .from('certificates')
        .where('ca_id', caId)
        .groupBy('status')
        .select('status')
        .count('* as n'),
      db
        .from('certificates')
        .whereRaw('+ca_id = ?', [caId])
        .where('not_after', '<=', now)
        .groupBy('status')
        .select('status')
        .count('* as n'),
      db
        .from('certificates')
        .whereRaw('+ca_id = ?', [caId])
        .where('not_after', '>', now)
        .where('not_after', '<=', now + 30 * DAY)
        .where('status', 'valid')
        .count('* as n')
        .first(),
      db
        .from('certificate_requests')
        .where('ca_id', caId)
        .where('status', 'pending')
        .count('* as n')
        .first(),
    ])
    const total: Record<string, number> = {}
    for (const r of byStatus as any[]) total[r.status] = Number(r.n)
    const gone: Record<string, number> = {}
    for (const r of expired as any[]) gone[r.status] = Number(r.n)
    return {
      valid: (total.valid ?? 0) - (gone.valid ?? 0),
      hold: (total.hold ?? 0) - (gone.hold ?? 0),
      revoked: total.revoked ?? 0,
      expired: (gone.valid ?? 0) + (gone.hold ?? 0),
      expiring30: Number(expiring?.n ?? 0),
      pendingRequests: Number(pending?.n ?? 0),
    }
  },

  /** Certificates issued per UTC day (last 30 days) or per week (last 26 weeks), oldest first. */
  async issued(caId: number, range: IssuedRange = 'days', now = Date.now()): Promise<Bucket[]> {
    const size = range === 'weeks' ? WEEK : DAY
    const buckets = range === 'weeks' ? 26 : 30
    const end = utcDay(now) + DAY
    const start = end - buckets * size
    return bucketCounts(
      `SELECT CAST((at - ${int(start)}) / ${int(size)} AS INTEGER) AS b, COUNT(*) AS n
         FROM audit_logs
        WHERE ca_id = ? AND at >= ? AND at < ? AND action = 'certificate.issue'
        GROUP BY CAST((at - ${int(start)}) / ${int(size)} AS INTEGER)`,
      [caId, start, end],
      start,
      size,
      buckets
    )
  },

  /** Valid certificates expiring in each of the next 13 weeks (about 90 days), soonest first. */
  async expiring(caId: number, now = Date.now()): Promise<Bucket[]> {
    const start = now
    const buckets = 13
    return bucketCounts(
      `SELECT CAST((not_after - ${int(start)}) / ${WEEK} AS INTEGER) AS b, COUNT(*) AS n
         FROM certificates
        WHERE +ca_id = ? AND not_after > ? AND not_after <= ? AND status = 'valid'
        GROUP BY CAST((not_after - ${int(start)}) / ${WEEK} AS INTEGER)`,
      [caId, start, start + buckets * WEEK],
      start,
      WEEK,
      buckets
    )
  },

  /**
   * Active certificates (valid or on hold, not expired) per template: all valid/held ones from
   * the covering index templates(template_id, status), minus the expired ones from a not_after
   * range — no row of a large template is read.
   */
  async activeByTemplate(templateIds: number[], now = Date.now()): Promise<Map<number, number>> {
    const out = new Map<number, number>()
    if (templateIds.length === 0) return out
    const [all, expired] = await Promise.all([
      db
        .from('certificates')
        .whereIn('template_id', templateIds)
        .whereIn('status', ['valid', 'hold'])
        .groupBy('template_id')
        .select('template_id')
        .count('* as n'),
      db
        .from('certificates')
        .whereRaw(`+template_id IN (${templateIds.map(() => '?').join(', ')})`, templateIds)
        .whereIn('status', ['valid', 'hold'])
        .where('not_after', '<=', now)
        // grouping on the expression, not the column, keeps SQLite on the not_after range
        .groupByRaw('+template_id')
        .select(db.raw('+template_id AS template_id'))
        .count('* as n'),
    ])
    for (const r of all as any[]) out.set(Number(r.template_id), Number(r.n))
    for (const r of expired as any[]) {
      const id = Number(r.template_id)
      out.set(id, (out.get(id) ?? 0) - Number(r.n))
    }
    return out
  },

  /** The next valid certificates to expire within `days` days. */
  async expiringSoon(caId: number, days = 90, limit = 10, now = Date.now()) {
    const rows = await db
      .from('certificates as c')
      .leftJoin('templates as t', 't.id', 'c.template_id')
      .whereRaw('+c.ca_id = ?', [caId])
      .where('c.status', 'valid')
      .where('c.not_after', '>', now)
      .where('c.not_after', '<=', now + days * DAY)
      .orderBy('c.not_after', 'asc')
      .limit(limit)
      .select(
        'c.id',
        'c.serial',
        'c.common_name',
        'c.subject_dn',
        'c.not_after',
        't.name as template_name'
      )
    return (rows as any[]).map((r) => ({
      id: Number(r.id),
      serial: String(r.serial),
      commonName: r.common_name ?? null,
      subjectDn: String(r.subject_dn),
      notAfter: Number(r.not_after),
      daysLeft: Math.max(0, Math.ceil((Number(r.not_after) - now) / DAY)),
      template: r.template_name ?? null,
    }))
  },
}
