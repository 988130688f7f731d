/*
 * Install administrators only (Plugins, Users, login providers): everyone else gets a 403 page
 * that says so. Runs after webAuth.
 */
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { KernelError } from '#exceptions/kernel_error'

export default class InstallAdminMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    if (!ctx.actor?.isAdmin) {
      throw new KernelError('E_FORBIDDEN', 'Only an install administrator can open this page.')
    }
    return next()
  }
}
