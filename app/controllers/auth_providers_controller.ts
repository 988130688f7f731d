/*
 * External logins: /auth/:provider/redirect sends the browser to the provider; the provider
 * sends it back to /auth/:provider/callback, where the state is checked, the code exchanged
 * and the person matched to a user (login_service.resolveExternalUser). Every refusal lands on
 * the login page with a message that says why.
 */
import type { HttpContext } from '@adonisjs/core/http'
import logger from '@adonisjs/core/services/logger'
import { findProvider, buildDriver } from '#services/login_providers'
import { ExternalLoginRefused, resolveExternalUser } from '#services/login_service'
import { OidcError } from '#services/oidc_driver'
import { completeLogin, safeTarget } from '#controllers/auth_controller'
import { writeServiceLog } from '#services/service_log'

export default class AuthProvidersController {
  async redirect(ctx: HttpContext) {
    const { params, response, session, auth } = ctx
    if (await auth.use('web').check()) return response.redirect('/admin')
    const provider = await findProvider(params.provider)
    if (!provider || !provider.enabled) {
      session.flash('loginError', 'This login provider is not available. Log in another way.')
      return response.redirect('/login')
    }
    try {
      const driver = await buildDriver(ctx, provider)
      return await driver.redirect()
    } catch (error) {
      return this.#fail(ctx, provider.name, error)
    }
  }

  async callback(ctx: HttpContext) {
    const { params, response, session, request } = ctx
    const provider = await findProvider(params.provider)
    if (!provider || !provider.enabled) {
      session.flash('loginError', 'This login provider is not available. Log in another way.')
      return response.redirect('/login')
    }
    try {
      const driver = await buildDriver(ctx, provider)
      if (driver.accessDenied()) {
        session.flash('loginError', `The login at ${provider.name} was cancelled.`)
        return response.redirect('/login')
      }
      if (stateMissingOrWrong(ctx, driver)) {
        session.flash(
          'loginError',
          `The answer from ${provider.name} does not belong to a login started here (it expired or was tampered with). Start again.`
        )
        return response.redirect('/login')
      }
      if (driver.hasError()) {
        const reason = request.input('error_description') ?? driver.getError()
        session.flash('loginError', `${provider.name} refused the login: ${reason}`)
        return response.redirect('/login')
      }
      const profile = await driver.user()
      const user = await resolveExternalUser(
        {
          id: provider.id,
          name: provider.name,
          kind: provider.kind,
          allowedDomains: provider.allowedDomains,
        },
        {
          subject: String(profile.id ?? ''),
          email: profile.email,
          emailVerificationState: profile.emailVerificationState,
          name: profile.name,
        },
        request.ip()
      )
      await completeLogin(ctx, user, provider.name)
      const target = session.pull('afterLogin', '/admin')
      return response.redirect(safeTarget(target))
    } catch (error) {
      return this.#fail(ctx, provider.name, error)
    }
  }

  async #fail({ session, response, request }: HttpContext, name: string, error: unknown) {
    let message: string
    if (error instanceof ExternalLoginRefused) {
      message = error.message
      // refusals are security events an administrator wants to see on the Logs page
      await writeServiceLog({
        service: 'kernel',
        level: 'warn',
        event: 'login.refused',
        message: `External login through ${name} refused: ${message}`,
        details: { provider: name, ip: request.ip() },
      })
    } else if (error instanceof OidcError) {
      message = `The login through ${name} failed: ${error.message}`
    } else {
      const e = error as any
      // ky's HTTPError (token endpoint refused the code), ally's missing-token errors, network
      logger.warn({ err: e, provider: name }, 'external login failed')
      message = `The login through ${name} failed${e?.response?.status ? ` (the provider answered HTTP ${e.response.status})` : ''}. Try again, or ask an administrator to check the provider settings.`
      if (e?.code === 'E_OAUTH_STATE_MISMATCH') {
        message = `The answer from ${name} does not belong to a login started here. Start again.`
      }
    }
    session.flash('loginError', message)
    return response.redirect('/login')
  }
}

/**
 * True unless the callback carries a `state` and the browser holds the state cookie our
 * redirect set, and both are equal. Ally's stateMisMatch() alone compares them with `!==`, so
 * a callback without either (undefined === undefined) would pass: a login CSRF, where someone
 * else's authorization code logs the victim's browser in to the attacker's account.
 */
function stateMissingOrWrong(
  { request }: HttpContext,
  driver: Awaited<ReturnType<typeof buildDriver>>
): boolean {
  const state = request.input('state')
  if (typeof state !== 'string' || state === '') return true
  const cookieName = (driver as unknown as { stateCookieName?: string }).stateCookieName
  const cookie = cookieName ? request.encryptedCookie(cookieName) : undefined
  if (typeof cookie !== 'string' || cookie === '') return true
  return cookie !== state || driver.stateMisMatch()
}
