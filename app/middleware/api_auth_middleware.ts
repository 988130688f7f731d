/*
 * Bearer-token authentication for the REST API. Sets ctx.actor (the rule is
 * tokenService.bearerActor, shared with the early API routes of app/http/early_api.ts).
 */
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { tokenService } from '#services/token_service'
import type { Actor } from '#services/actor'

declare module '@adonisjs/core/http' {
  interface HttpContext {
    actor: Actor
  }
}

export default class ApiAuthMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    ctx.actor = await tokenService.bearerActor(
      ctx.request.header('authorization'),
      ctx.request.ip()
    )
    return next()
  }
}
