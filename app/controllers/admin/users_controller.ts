/*
 * Users page (install administrators): accounts, their external logins and their CA
 * memberships. Changes go through accountService (audited, with the guard rails against
 * locking the install out).
 */
import type { HttpContext } from '@adonisjs/core/http'
import { checked } from './_form_errors.js'
import db from '@adonisjs/lucid/services/db'
import { KernelError } from '#exceptions/kernel_error'
import { accountService, CA_ROLES } from '#services/token_service'
import { listProviders } from '#services/login_providers'

/** "2026-11-28 12:40 UTC", or the fallback for a missing time. */
export const formatTime = (ms: number | null | undefined, fallback = 'never') =>
  ms ? `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC` : fallback

export default class UsersController {
  async index({ view }: HttpContext) {
    return view.render('pages/users/index', await this.#indexData())
  }

  async store(ctx: HttpContext) {
    const { request, response, session, actor, view } = ctx
    const input = request.only(['email', 'isAdmin', 'password'])
    try {
      const user = await accountService.createUser(actor, {
        email: input.email,
        isAdmin: checked(input.isAdmin),
        password: input.password,
      })
      session.flash(
        'notice',
        user.password
          ? `User ${user.email} created; they can log in with the password you set.`
          : `User ${user.email} invited: they log in through an external provider that gives this email address.`
      )
      return response.redirect(`/admin/users/${user.id}`)
    } catch (error) {
      if (!(error instanceof KernelError) || !['E_VALIDATION', 'E_CONFLICT'].includes(error.code)) {
        throw error
      }
      const field = (error.details as { field?: string } | undefined)?.field ?? 'email'
      response.status(error.status)
      return view.render('pages/users/index', {
        ...(await this.#indexData()),
        form: { email: input.email ?? '', isAdmin: checked(input.isAdmin) },
        errors: { [field]: error.message },
      })
    }
  }

  async show({ view, params }: HttpContext) {
    return view.render('pages/users/show', await this.#showData(params.id))
  }

  async enable(ctx: HttpContext) {
    return this.#act(ctx, async () => {
      const user = await accountService.setDisabled(ctx.actor, ctx.params.id, false)
      return `${user.email} is enabled.`
    })
  }

  async disable(ctx: HttpContext) {
    return this.#act(ctx, async () => {
      const user = await accountService.setDisabled(ctx.actor, ctx.params.id, true)
      return `${user.email} is disabled: they cannot log in and their API tokens stop working.`
    })
  }

  async setAdmin(ctx: HttpContext) {
    const isAdmin = checked(ctx.request.input('isAdmin'))
    return this.#act(ctx, async () => {
      const user = await accountService.setAdmin(ctx.actor, ctx.params.id, isAdmin)
      return isAdmin
        ? `${user.email} is now an install administrator.`
        : `${user.email} is no longer an install administrator.`
    })
  }

  async setPassword(ctx: HttpContext) {
    const { request, response, view, params, actor, session } = ctx
    try {
      await accountService.setPassword(actor, params.id, request.input('password'))
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_VALIDATION') throw error
      response.status(422)
      return view.render('pages/users/show', {
        ...(await this.#showData(params.id)),
        errors: { password: error.message },
      })
    }
    session.flash('notice', 'Password set.')
    return response.redirect(`/admin/users/${params.id}`)
  }

  async destroy(ctx: HttpContext) {
    const user = await accountService.getUser(ctx.params.id)
    try {
      await accountService.deleteUser(ctx.actor, user.id)
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_CONFLICT') throw error
      ctx.session.flash('error', error.message)
      return ctx.response.redirect().back()
    }
    ctx.session.flash(
      'notice',
      `User ${user.email} deleted, with their API tokens and CA memberships.`
    )
    return ctx.response.redirect('/admin/users')
  }

  async addMembership(ctx: HttpContext) {
    const { request, response, view, params, actor, session } = ctx
    try {
      await accountService.addMembership(
        actor,
        params.id,
        request.input('caId'),
        request.input('role')
      )
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_VALIDATION') throw error
      const field = (error.details as { field?: string } | undefined)?.field ?? 'caId'
      response.status(422)
      return view.render('pages/users/show', {
        ...(await this.#showData(params.id)),
        errors: { [field]: error.message },
      })
    }
    session.flash('notice', 'CA access saved.')
    return response.redirect(`/admin/users/${params.id}`)
  }

  async removeMembership(ctx: HttpContext) {
    return this.#act(ctx, async () => {
      await accountService.removeMembership(ctx.actor, ctx.params.id, ctx.params.caId)
      return 'CA access removed.'
    })
  }

  async unlinkIdentity(ctx: HttpContext) {
    return this.#act(ctx, async () => {
      await accountService.unlinkIdentity(ctx.actor, ctx.params.id, ctx.params.identityId)
      return 'External login unlinked.'
    })
  }

  async #indexData() {
    const users = await accountService.listUsers()
    const providers = await listProviders()
    return {
      users: users.map((u) => ({ ...u, lastLogin: formatTime(u.lastLoginAt) })),
      hasProviders: providers.some((p) => p.enabled),
      form: { email: '', isAdmin: false },
      errors: {},
    }
  }

  async #showData(id: unknown) {
    const user = await accountService.getUser(id)
    const cas = await db.from('cas').select('id', 'name').orderBy('name')
    return {
      user: {
        ...user,
        lastLogin: formatTime(user.lastLoginAt),
        created: formatTime(user.createdAt),
        identities: user.identities.map((i) => ({ ...i, linked: formatTime(i.createdAt) })),
      },
      roles: CA_ROLES,
      availableCas: cas
        .filter((c: any) => !user.memberships.some((m) => m.caId === Number(c.id)))
        .map((c: any) => ({ id: Number(c.id), name: String(c.name) })),
      errors: {},
    }
  }

  /** Runs a change; a refusal (409) comes back as a flash error on the same page. */
  async #act(ctx: HttpContext, fn: () => Promise<string>) {
    try {
      return this.#back(ctx, 'notice', await fn())
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_CONFLICT') throw error
      return this.#back(ctx, 'error', error.message)
    }
  }

  #back({ response, session, request, params }: HttpContext, level: string, message: string) {
    session.flash(level, message)
    const from = String(request.input('from') ?? '')
    return response.redirect(from === 'list' ? '/admin/users' : `/admin/users/${params.id}`)
  }
}
