/*
 * A logged-in admin UI user. The session must be one this user's current session epoch made
 * (users.session_epoch: logout, a password change and disabling the user bump it, ending every
 * copy of the old session cookie) and younger than the session age (8 hours after the login,
 * whatever copy of the cookie is replayed); otherwise the browser is logged out. Sets ctx.actor (the same Actor the REST API's bearer tokens give
 * the services, so access control and audit stay in one place) and shares the layout's data:
 * the user, the CAs they may see, the current CA and the navigation.
 */
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { layoutData } from '#services/web_layout'
import db from '@adonisjs/lucid/services/db'
import type User from '#models/user'
import { SESSION_AGE_MS, SESSIONS_IN_MEMORY } from '#config/session'

/** Session keys: the user's session epoch and the time (epoch ms) of the login. */
export const SESSION_EPOCH_KEY = 'authEpoch'
export const SESSION_LOGIN_AT_KEY = 'authAt'

/** Stamps a fresh login into the session (after auth.login). */
export function stampLogin(session: HttpContext['session'], user: User, at = Date.now()) {
  session.put(SESSION_EPOCH_KEY, Number(user.sessionEpoch ?? 0))
  session.put(SESSION_LOGIN_AT_KEY, at)
}

/**
 * Whether the session still belongs to the user's current sessions. A session without the
 * stamps (made before they existed) is refused, except in the test runner's in-memory store,
 * where `.loginAs()` writes the user id alone.
 */
function sessionCurrent(session: HttpContext['session'], user: User, now = Date.now()) {
  const epoch = session.get(SESSION_EPOCH_KEY)
  const at = session.get(SESSION_LOGIN_AT_KEY)
  if (epoch === undefined && at === undefined && SESSIONS_IN_MEMORY) return true
  if (typeof epoch !== 'number' || epoch !== Number(user.sessionEpoch ?? 0)) return false
  if (typeof at !== 'number' || !(at <= now + 60_000) || now - at >= SESSION_AGE_MS) return false
  return true
}

export default class WebAuthMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    const user = (await ctx.auth.use('web').check()) ? (ctx.auth.use('web').user as User) : null
    if (!user || user.disabled || !sessionCurrent(ctx.session, user)) {
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
    await next()
    // changing the own password ends the user's other sessions, not this one
    if (ctx.route?.pattern === '/admin/profile/password' && ctx.auth.use('web').isAuthenticated) {
      const row = await db.from('users').where('id', user.id).select('session_epoch').first()
      const epoch = Number(row?.session_epoch ?? 0)
      if (row && epoch !== Number(user.sessionEpoch ?? 0)) ctx.session.put(SESSION_EPOCH_KEY, epoch)
    }
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
