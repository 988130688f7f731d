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
import { loginRateLimit } from '#services/login_service'
import { enabledProviders } from '#services/login_providers'
import { audit } from '#services/audit_service'

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

    let user: User
    try {
      user = await User.verifyCredentials(email, String(password ?? ''))
    } catch {
      const started = await loginRateLimit.recordFailure(email, ip, {
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
    await loginRateLimit.clearEmail(email)
    if (user.disabled) {
      session.flash('loginError', 'This account is disabled. Ask an administrator.')
      return response.redirect('/login')
    }
    await completeLogin(ctx, user, 'password')
    const target = session.pull('afterLogin', '/admin')
    return response.redirect(safeTarget(target))
  }

  async logout({ auth, response }: HttpContext) {
    await auth.use('web').logout()
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
