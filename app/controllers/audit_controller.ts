import type { HttpContext } from '@adonisjs/core/http'
import { listAudit } from '#services/audit_service'
import { accessibleCaIds } from '#services/access'

export default class AuditController {
  /** GET /api/v1/audit?action=&limit=&before= — newest first; non-admins see their CAs' entries. */
  async index({ request, actor }: HttpContext) {
    const qs = request.qs()
    const entries = await listAudit({
      caIds: await accessibleCaIds(actor),
      action: qs.action,
      limit: qs.limit ? Number(qs.limit) : undefined,
      beforeId: qs.before ? Number(qs.before) : undefined,
    })
    return { entries }
  }
}
