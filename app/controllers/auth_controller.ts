/*
 * Admin UI login: local accounts (argon2id), the first administrator's setup page (redeems the
 * kernel's one-time bootstrap token), and logout.
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import User from '#models/user'
import { bootstrapService } from '#services/token_service'
import { KernelError } from '#exceptions/kernel_error'

export default class AuthController {
  async showLogin({ view, auth, response, session }: HttpContext) {
    if (await auth.use('web').check()) return response.redirect('/admin')
    const needsSetup = !(await db.from('users').where('is_admin', true).first())
    return view.render('pages/auth/login', {
      needsSetup,
      error: session.flashMessages.get('loginError'),
      email: session.flashMessages.get('email') ?? '',
    })
  }

  async login({ request, response, auth, session }: HttpContext) {
    const { email, password } = request.only(['email', 'password'])
    let user: User
    try {
      user = await User.verifyCredentials(
        String(email ?? '')
          .trim()
          .toLowerCase(),
        String(password ?? '')
      )
    } catch {
      session.flash('loginError', 'The email or password is wrong.')
      session.flash('email', String(email ?? ''))
      return response.redirect('/login')
    }
    if (user.disabled) {
      session.flash('loginError', 'This account is disabled. Ask an administrator.')
      return response.redirect('/login')
    }
    await auth.use('web').login(user)
    user.lastLoginAt = Date.now()
    await user.save()
    const target = session.pull('afterLogin', '/admin')
    return response.redirect(
      typeof target === 'string' && target.startsWith('/') ? target : '/admin'
    )
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

  async setup({ request, response, view, auth }: HttpContext) {
    const { token, email, password } = request.only(['token', 'email', 'password'])
    try {
      const result = await bootstrapService.redeem(
        String(token ?? ''),
        String(email ?? ''),
        request.ip(),
        String(password ?? '')
      )
      const user = await User.findOrFail(result.userId)
      await auth.use('web').login(user)
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
