/*
 * A logged-in admin UI user. Sets ctx.actor (the same Actor the REST API's bearer tokens give
 * the services, so access control and audit stay in one place) and shares the layout's data:
 * the user, the CAs they may see, the current CA and the navigation.
 */
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { layoutData } from '#services/web_layout'
import type User from '#models/user'

export default class WebAuthMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    const user = (await ctx.auth.use('web').check()) ? (ctx.auth.use('web').user as User) : null
    if (!user || user.disabled) {
      if (user) await ctx.auth.use('web').logout()
      ctx.session.put('afterLogin', returnTo(ctx))
      const login = '/login'
      if (ctx.request.header('hx-request')) {
        ctx.response.header('HX-Redirect', login)
        return ctx.response.status(401).send('')
      }
      return ctx.response.redirect(login)
    }
    ctx.actor = {
      kind: 'user',
      label: user.email,
      userId: user.id,
      isAdmin: user.isAdmin,
      ip: ctx.request.ip(),
    }
    ctx.view.share(await layoutData(ctx))
    return next()
  }
}

/**
 * Where to go after logging in again: the page asked for; for an htmx request (a fragment, which
 * alone would be a bare page) the page it was made from (HX-Current-URL, as a local path).
 */
function returnTo(ctx: HttpContext): string {
  if (ctx.request.method() !== 'GET') return '/admin'
  if (!ctx.request.header('hx-request')) return ctx.request.url(true)
  try {
    const page = new URL(String(ctx.request.header('hx-current-url') ?? ''))
    return `${page.pathname}${page.search}`
  } catch {
    return '/admin'
  }
}
