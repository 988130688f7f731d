/*
 * Profile page (every user): change the own password, manage the own API tokens. A new token
 * is shown once (in the modal for htmx, on the page otherwise); only its hash is stored.
 */
import type { HttpContext } from '@adonisjs/core/http'
import User from '#models/user'
import { KernelError } from '#exceptions/kernel_error'
import { accountService, tokenService } from '#services/token_service'
import { formatTime } from '#controllers/admin/users_controller'

const EXPIRY_CHOICES = [
  { value: '30', label: '30 days' },
  { value: '90', label: '90 days' },
  { value: '365', label: '1 year' },
  { value: 'never', label: 'Never' },
]

async function tokensOf(userId: number) {
  const tokens = await accountService.listTokens(userId)
  return tokens.map((t) => ({
    ...t,
    created: formatTime(t.createdAt),
    lastUsed: formatTime(t.lastUsedAt),
    expires: formatTime(t.expiresAt),
  }))
}

export default class ProfileController {
  async show({ view, actor }: HttpContext) {
    return view.render('pages/profile/show', await this.#data(actor.userId!))
  }

  async changePassword({ request, response, view, actor, session }: HttpContext) {
    const { current, password, confirm } = request.only(['current', 'password', 'confirm'])
    try {
      await accountService.changeOwnPassword(actor, current, password, confirm)
    } catch (error) {
      if (!(error instanceof KernelError) || error.code !== 'E_VALIDATION') throw error
      const field = (error.details as { field?: string } | undefined)?.field ?? 'password'
      response.status(422)
      return view.render('pages/profile/show', {
        ...(await this.#data(actor.userId!)),
        passwordErrors: { [field]: error.message },
      })
    }
    session.flash('notice', 'Your password is changed.')
    return response.redirect('/admin/profile')
  }

  async newToken({ view, request }: HttpContext) {
    const page = request.header('hx-request') ? 'token_form' : 'token_new'
    return view.render(`pages/profile/${page}`, {
      modal: page === 'token_form',
      form: { name: '', expires: '90' },
      errors: {},
      expiryChoices: EXPIRY_CHOICES,
    })
  }

  async createToken({ request, response, view, actor }: HttpContext) {
    const name = String(request.input('name') ?? '').trim()
    const expires = String(request.input('expires') ?? '90')
    const errors: Record<string, string> = {}
    if (!name) errors.name = 'Name the token after where it is used (e.g. "backup script").'
    else if (name.length > 100) errors.name = 'The name must have at most 100 characters.'
    if (!EXPIRY_CHOICES.some((c) => c.value === expires)) errors.expires = 'Choose an expiry.'
    const htmx = Boolean(request.header('hx-request'))
    if (Object.keys(errors).length) {
      response.status(422)
      const form = { form: { name, expires }, errors, expiryChoices: EXPIRY_CHOICES, modal: htmx }
      return view.render(`pages/profile/${htmx ? 'token_form' : 'token_new'}`, form)
    }
    const user = await User.findOrFail(actor.userId)
    const token = await tokenService.createToken(
      actor,
      user,
      name,
      expires === 'never' ? undefined : Number(expires)
    )
    const data = { token, name, tokens: await tokensOf(user.id) }
    if (htmx) return view.render('pages/profile/token_created', { ...data, oob: true })
    return view.render('pages/profile/show', { ...(await this.#data(user.id)), created: data })
  }

  async revokeToken({ params, actor, request, response, view, session }: HttpContext) {
    await accountService.revokeToken(actor, actor.userId!, params.id)
    if (request.header('hx-request')) {
      return view.render('pages/profile/tokens_table', { tokens: await tokensOf(actor.userId!) })
    }
    session.flash('notice', 'The token is revoked: it no longer works.')
    return response.redirect('/admin/profile')
  }

  async #data(userId: number) {
    const user = await User.findOrFail(userId)
    return {
      profile: {
        email: user.email,
        isAdmin: user.isAdmin,
        hasPassword: Boolean(user.password),
        lastLogin: formatTime(user.lastLoginAt),
      },
      tokens: await tokensOf(userId),
      passwordErrors: {},
      form: { name: '', expires: '90' },
      errors: {},
      expiryChoices: EXPIRY_CHOICES,
      created: null,
    }
  }
}
