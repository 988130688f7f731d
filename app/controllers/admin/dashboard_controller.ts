/*
 * Admin UI: the dashboard of the current CA — counts, certificates issued over time and
 * certificates expiring soon drawn as SVG (with the same numbers as tables), the next
 * certificates to expire, and the fragments plugins add to 'dashboard.after'.
 */
import type { HttpContext } from '@adonisjs/core/http'
import { caService, serializeCa } from '#services/ca_service'
import { dashboardStats, DAY, type Bucket, type IssuedRange } from '#services/dashboard_stats'
import { barChart } from '#services/svg_charts'
import { uiRegistry } from '#plugins/ui_registry'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const short = (t: number) => {
  const d = new Date(t)
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`
}
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10)
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export default class DashboardController {
  async show({ view, currentCa, response, actor, request }: HttpContext) {
    // A user with no CA starts by creating one (manual §1.2).
    if (!currentCa) return response.redirect('/admin/cas/new')
    const ca = await caService.find(actor, currentCa.id)
    const range: IssuedRange = request.qs().range === 'weeks' ? 'weeks' : 'days'
    const now = Date.now()
    const [counts, issued, expiring, soon, fragments] = await Promise.all([
      dashboardStats.counts(ca.id, now),
      dashboardStats.issued(ca.id, range, now),
      dashboardStats.expiring(ca.id, now),
      dashboardStats.expiringSoon(ca.id, 90, 10, now),
      uiRegistry.fragments('dashboard.after', { actor, caId: ca.id }),
    ])
    const issuedTotal = issued.reduce((a, b) => a + b.count, 0)
    const expiringTotal = expiring.reduce((a, b) => a + b.count, 0)
    const issuedRows = issued.map((b) => ({
      label: range === 'weeks' ? `week of ${isoDay(b.start)}` : isoDay(b.start),
      count: b.count,
    }))
    const expiringRows = expiring.map((b: Bucket) => ({
      label: `${isoDay(b.start)} to ${isoDay(b.end - DAY)}`,
      count: b.count,
    }))
    const issuedChart = barChart({
      id: 'chart-issued',
      title: `Certificates issued per ${range === 'weeks' ? 'week, last 26 weeks' : 'day, last 30 days'}`,
      description: `${plural(issuedTotal, 'certificate')} issued by ${ca.name} from ${isoDay(issued[0].start)} to ${isoDay(issued[issued.length - 1].end - DAY)}; busiest ${range === 'weeks' ? 'week' : 'day'}: ${Math.max(...issued.map((b) => b.count))}.`,
      labels: issued.map((b) => short(b.start)),
      values: issued.map((b) => b.count),
      barTitles: issued.map(
        (b, i) =>
          `${plural(b.count, 'certificate')} issued ${range === 'weeks' ? 'in the ' : 'on '}${issuedRows[i].label}`
      ),
      labelEvery: range === 'weeks' ? 4 : 5,
    })
    const expiringChart = barChart({
      id: 'chart-expiring',
      title: 'Valid certificates expiring per week, next 90 days',
      description: `${plural(expiringTotal, 'valid certificate')} of ${ca.name} expire in the next 13 weeks.`,
      labels: expiring.map((b) => short(b.start)),
      values: expiring.map((b) => b.count),
      barTitles: expiring.map(
        (b, i) => `${plural(b.count, 'certificate')} expiring ${expiringRows[i].label}`
      ),
      labelEvery: 2,
      color: '#a86100',
    })
    return view.render('pages/dashboard/show', {
      ca: serializeCa(ca),
      counts,
      range,
      issuedChart,
      expiringChart,
      issuedRows,
      expiringRows,
      issuedTotal,
      expiringTotal,
      soon: soon.map((c) => ({ ...c, notAfterIso: new Date(c.notAfter).toISOString() })),
      fragments,
    })
  }
}
