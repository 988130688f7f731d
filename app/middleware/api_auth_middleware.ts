/*
 * Bearer-token authentication for the REST API. Sets ctx.actor.
 */
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { KernelError } from '#exceptions/kernel_error'
import { tokenService } from '#services/token_service'
import type { Actor } from '#services/actor'

declare module '@adonisjs/core/http' {
  interface HttpContext {
    actor: Actor
  }
}

export default class ApiAuthMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    const header = ctx.request.header('authorization') ?? ''
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    const user = match ? await tokenService.verify(match[1]) : undefined
    if (!user) {
      ctx.response.header('WWW-Authenticate', 'Bearer realm="api"')
      throw new KernelError(
        'E_UNAUTHORIZED',
        'A valid API token is required (Authorization: Bearer pki_...). Create one with `node ace token:create --user EMAIL`.'
      )
    }
    ctx.actor = {
      kind: 'user',
      label: user.email,
      userId: user.id,
      isAdmin: user.isAdmin,
      ip: ctx.request.ip(),
    }
    return next()
  }
}
