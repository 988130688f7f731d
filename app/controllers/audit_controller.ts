import type { HttpContext } from '@adonisjs/core/http'
import { listAudit } from '#services/audit_service'
import { accessibleCaIds } from '#services/access'
import { queryCursor, queryInteger, queryText } from '#validators/query'

export default class AuditController {
  /** GET /api/v1/audit?action=&limit=&before= — newest first; non-admins see their CAs' entries. */
  async index({ request, actor }: HttpContext) {
    const qs = request.qs()
    const entries = await listAudit({
      caIds: await accessibleCaIds(actor),
      action: queryText(qs.action, 'action') || undefined,
      limit: queryInteger(qs.limit, 'limit', { fallback: 100, min: 1, max: 1000 }),
      beforeId: queryCursor(qs.before),
    })
    return { entries }
  }
}
