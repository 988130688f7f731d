/*
 * Admin UI login: local accounts (argon2id) with a rate limit on failures (login_service), the
 * first administrator's setup page (redeems the kernel's one-time bootstrap token), and logout.
 * External providers: auth_providers_controller.
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import User from '#models/user'
import { bootstrapService } from '#services/token_service'
import { KernelError } from '#exceptions/kernel_error'
import { loginRateLimit, verifyLocalLogin, WrongCredentials } from '#services/login_service'
import { enabledProviders } from '#services/login_providers'
import { audit } from '#services/audit_service'
import { stampLogin } from '#middleware/web_auth_middleware'

/** What the login page shows besides the form: setup hint, providers, the last error. */
export async function loginPageData(session: HttpContext['session']) {
  const needsSetup = !(await db.from('users').where('is_admin', true).first())
  return {
    needsSetup,
    providers: await enabledProviders(),
    error: session.flashMessages.get('loginError'),
    email: session.flashMessages.get('email') ?? '',
  }
}

/** Where to go after logging in: a local path only (never `//host` or `/\\host`). */
export function safeTarget(target: unknown) {
  return typeof target === 'string' && /^\/(?![/\\])/.test(target) ? target : '/admin'
}

/** Logs a user in to the admin UI (a new session id), stamps the login and audits it. */
export async function completeLogin(ctx: HttpContext, user: User, method: string) {
  await ctx.auth.use('web').login(user)
  // the user's session epoch and the login time: web_auth_middleware checks both
  stampLogin(ctx.session, user)
  user.lastLoginAt = Date.now()
  await user.save()
  await audit(
    {
      kind: 'user',
      label: user.email,
      userId: user.id,
      isAdmin: user.isAdmin,
      ip: ctx.request.ip(),
    },
    { action: 'user.login', objectType: 'user', objectId: user.id, details: { method } }
  )
}

export default class AuthController {
  async showLogin({ view, auth, response, session }: HttpContext) {
    if (await auth.use('web').check()) return response.redirect('/admin')
    return view.render('pages/auth/login', await loginPageData(session))
  }

  async login(ctx: HttpContext) {
    const { request, response, session, view } = ctx
    const { email: rawEmail, password } = request.only(['email', 'password'])
    const email = String(rawEmail ?? '')
      .trim()
      .toLowerCase()
    const ip = request.ip()
    const refuse = async (block: { retryAfter: number; message: string }) => {
      response.header('Retry-After', String(block.retryAfter))
      response.status(429)
      return view.render('pages/auth/login', {
        ...(await loginPageData(session)),
        error: block.message,
        email,
      })
    }
    const block = await loginRateLimit.blocked(email, ip)
    if (block) return refuse(block)
    // the attempt is counted before the (slow) password check: concurrent attempts cannot all
    // pass the check above and be verified; the ones past the limit are refused here
    const reservation = await loginRateLimit.reserve(email, ip)
    if (reservation.over) return refuse(reservation.over)

    // unknown email, no local password, wrong password and a disabled account all get the same
    // answer at the same cost (verifyLocalLogin): the login form does not tell who has an account
    let user: User | undefined
    try {
      user = await verifyLocalLogin(email, String(password ?? ''))
    } catch (error) {
      if (!(error instanceof WrongCredentials)) throw error
    }
    if (!user || user.disabled) {
      const started = await loginRateLimit.finishFailure(reservation, {
        kind: 'user',
        label: email || 'unknown',
        isAdmin: false,
        ip,
      })
      if (started) return refuse(started)
      session.flash('loginError', 'The email or password is wrong.')
      session.flash('email', String(rawEmail ?? ''))
      return response.redirect('/login')
    }
    await loginRateLimit.release(email, ip)
    await completeLogin(ctx, user, 'password')
    const target = session.pull('afterLogin', '/admin')
    return response.redirect(safeTarget(target))
  }

  async logout({ auth, response }: HttpContext) {
    const guard = auth.use('web')
    // a new session epoch: copies of this session cookie (and the user's other sessions) end
    if (await guard.check()) {
      await db.from('users').where('id', guard.getUserOrFail().id).increment('session_epoch', 1)
    }
    await guard.logout()
    return response.redirect('/login')
  }

  async showSetup({ view, request, response }: HttpContext) {
    if (await db.from('users').where('is_admin', true).first()) return response.redirect('/login')
    return view.render('pages/auth/setup', {
      token: request.qs().token ?? '',
      errors: {},
      email: '',
    })
  }

  async setup(ctx: HttpContext) {
    const { request, response, view } = ctx
    const { token, email, password } = request.only(['token', 'email', 'password'])
    try {
      const result = await bootstrapService.redeem(
        String(token ?? ''),
        String(email ?? ''),
        request.ip(),
        String(password ?? '')
      )
      const user = await User.findOrFail(result.userId)
      await completeLogin(ctx, user, 'setup')
      return response.redirect('/admin/cas/new')
    } catch (error) {
      if (!(error instanceof KernelError)) throw error
      const field =
        (error.details as { field?: string } | undefined)?.field ??
        (error.code === 'E_UNAUTHORIZED' ? 'token' : 'email')
      response.status(error.status)
      return view.render('pages/auth/setup', {
        token: token ?? '',
        email: email ?? '',
        errors: { [field]: error.message },
      })
    }
  }
}
