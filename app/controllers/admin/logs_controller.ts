/*
 * Logs (manual §15): service log entries written by the kernel and the plugins, filtered by CA,
 * service, level and time, in keyset pages (newest first); today's hit counters; and the
 * retention setting (install administrators). A user who is not an install administrator sees
 * the entries of the CAs they can access, and no install-wide entries.
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { accessibleCaIds } from '#services/access'
import { visibleCas } from '#services/web_layout'
import { KernelError, notFound } from '#exceptions/kernel_error'
import { getRetentionDays, setRetentionDays, MAX_RETENTION_DAYS } from '#services/log_retention'

const LEVELS = ['info', 'warn', 'error'] as const
const PER_PAGE = 50
const DAY = 86400_000

function decodeCursor(value: unknown): [number, number] | undefined {
  if (!value) return undefined
  const m = /^(\d+)-(\d+)$/.exec(String(value))
  if (!m)
    throw new KernelError('E_VALIDATION', 'The page link is not valid; start from the first page.')
  return [Number(m[1]), Number(m[2])]
}

export default class AdminLogsController {
  async index(ctx: HttpContext) {
    const { actor, request, view, response } = ctx
    const qs = request.qs()
    const visible = await accessibleCaIds(actor)
    const filters = {
      ca: String(qs.ca_filter ?? '').trim(),
      service: String(qs.service ?? '').trim(),
      level: String(qs.level ?? '').trim(),
      from: String(qs.from ?? '').trim(),
      to: String(qs.to ?? '').trim(),
    }
    const errors: Record<string, string> = {}
    let caId: number | null = null
    if (filters.ca) {
      caId = Number(filters.ca)
      if (!Number.isInteger(caId) || caId < 1) errors.ca = 'Choose a CA from the list.'
      // Another user's CA: the same 404 as a CA that does not exist.
      else if (visible && !visible.includes(caId)) throw notFound('CA', caId)
    }
    if (filters.level && !(LEVELS as readonly string[]).includes(filters.level))
      errors.level = 'Choose info, warn or error.'
    const day = (v: string, key: 'from' | 'to') => {
      if (!v) return undefined
      const t = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN
      if (Number.isNaN(t)) errors[key] = 'Enter a date (YYYY-MM-DD).'
      return t
    }
    const from = day(filters.from, 'from')
    const to = day(filters.to, 'to')
    if (from !== undefined && to !== undefined && to < from)
      errors.to = 'The end is before the start.'
    if (filters.service.length > 60) errors.service = 'A service name has at most 60 characters.'

    let entries: any[] = []
    let nextUrl: string | null = null
    let prevUrl: string | null = null
    let pageError: string | null = null
    if (Object.keys(errors).length === 0) {
      try {
        const after = decodeCursor(qs.after)
        const before = after ? undefined : decodeCursor(qs.before)
        const forward = !before
        const q = db.from('service_logs')
        if (caId) q.where('ca_id', caId)
        else if (visible) q.whereIn('ca_id', visible.length ? visible : [0])
        if (filters.service) q.where('service', filters.service)
        if (filters.level) q.where('level', filters.level)
        if (from !== undefined) q.where('at', '>=', from)
        if (to !== undefined) q.where('at', '<', to + DAY)
        const cursor = after ?? before
        if (cursor) {
          const [at, id] = cursor
          if (forward)
            q.where('at', '<=', at).where((w) => w.where('at', '<', at).orWhere('id', '<', id))
          else q.where('at', '>=', at).where((w) => w.where('at', '>', at).orWhere('id', '>', id))
        }
        q.orderBy('at', forward ? 'desc' : 'asc')
          .orderBy('id', forward ? 'desc' : 'asc')
          .limit(PER_PAGE + 1)
        const raw = await q
        const more = raw.length > PER_PAGE
        let list = raw.slice(0, PER_PAGE)
        if (!forward) list = list.reverse()
        entries = list
        const base = new URLSearchParams()
        if (filters.ca) base.set('ca_filter', filters.ca)
        for (const k of ['service', 'level', 'from', 'to'] as const)
          if (filters[k]) base.set(k, filters[k])
        const link = (k: string, r: any) => {
          const p = new URLSearchParams(base)
          p.set(k, `${Number(r.at)}-${Number(r.id)}`)
          return `/admin/logs?${p.toString()}`
        }
        if (list.length && (forward ? more : true)) nextUrl = link('after', list[list.length - 1])
        if (list.length && (forward ? Boolean(after) : more)) prevUrl = link('before', list[0])
      } catch (error) {
        if (!(error instanceof KernelError)) throw error
        pageError = error.message
      }
    }

    const cas = await visibleCas(actor)
    const caNames = new Map<number, string>(cas.map((c: any) => [c.id, c.name]))
    const plugins = await db.from('plugin_states').select('plugin_id').orderBy('plugin_id')
    const services = ['kernel', ...plugins.map((p: any) => String(p.plugin_id))]
    if (filters.service && !services.includes(filters.service)) services.push(filters.service)

    // Today's counters (UTC day): hot-path hits the services count instead of logging.
    const today = new Date().toISOString().slice(0, 10)
    const cq = db
      .from('service_counters')
      .where('day', today)
      .orderBy('service')
      .orderBy('name')
      .select('service', 'ca_id', 'name', 'count')
    if (caId) cq.where('ca_id', caId)
    else if (visible) cq.whereIn('ca_id', visible.length ? visible : [-1])
    if (filters.service) cq.where('service', filters.service)
    const counterRows = await cq.limit(200)
    const counters = counterRows.map((c: any) => ({
      service: c.service,
      name: c.name,
      count: Number(c.count).toLocaleString('en-US'),
      ca: Number(c.ca_id) === 0 ? 'all CAs' : (caNames.get(Number(c.ca_id)) ?? `#${c.ca_id}`),
    }))

    const data = {
      filters,
      errors,
      pageError,
      levels: LEVELS,
      services,
      entries: entries.map((e) => ({
        id: Number(e.id),
        at: new Date(Number(e.at)).toISOString().replace('T', ' ').slice(0, 19),
        service: e.service,
        ca: e.ca_id === null ? 'install' : (caNames.get(Number(e.ca_id)) ?? `#${e.ca_id}`),
        level: e.level,
        event: e.event,
        message: e.message,
        details: e.details,
      })),
      nextUrl,
      prevUrl,
      counters,
      today,
      retentionDays: await getRetentionDays(),
      maxRetentionDays: MAX_RETENTION_DAYS,
      retentionError: null,
    }
    if (Object.keys(errors).length || pageError) response.status(422)
    if (request.header('hx-request') && request.header('hx-target') === 'log-results')
      return view.render('partials/log_results', data)
    return view.render('pages/logs/index', data)
  }

  /** POST /admin/logs/retention (install administrators). */
  async retention({ actor, request, response, session, view }: HttpContext) {
    const hx = Boolean(request.header('hx-request'))
    const input = request.input('retentionDays')
    try {
      const days = await setRetentionDays(actor, input)
      const message = `Service logs are now kept for ${days} day${days === 1 ? '' : 's'}.`
      if (!hx) {
        session.flash('notice', message)
        return response.redirect('/admin/logs')
      }
      return view.render('partials/log_retention', {
        retentionDays: days,
        maxRetentionDays: MAX_RETENTION_DAYS,
        retentionError: null,
        retentionNotice: message,
      })
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_VALIDATION') throw error
      if (!hx) {
        session.flash('error', error.message)
        return response.redirect('/admin/logs')
      }
      response.status(422)
      return view.render('partials/log_retention', {
        retentionDays: String(input ?? ''),
        maxRetentionDays: MAX_RETENTION_DAYS,
        retentionError: error.message,
        retentionNotice: null,
      })
    }
  }
}
