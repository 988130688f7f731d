/*
 * Login providers page (install administrators): GitHub, Google and OpenID Connect logins.
 * The client secret is write-only: the form never shows it, a blank field keeps it.
 */
import type { HttpContext } from '@adonisjs/core/http'
import {
  callbackUrl,
  createProvider,
  deleteProvider,
  DEFAULT_SCOPES,
  getProvider,
  listProviders,
  PROVIDER_KINDS,
  ProviderValidationError,
  setProviderEnabled,
  updateProvider,
  type LoginProvider,
} from '#services/login_providers'

const FIELDS = [
  'kind',
  'name',
  'enabled',
  'clientId',
  'clientSecret',
  'scopes',
  'allowedDomains',
  'issuer',
  'authorizeUrl',
  'accessTokenUrl',
  'userInfoUrl',
  'userEmailUrl',
]

/** Form values for an existing provider (no secret). */
function formOf(p: LoginProvider) {
  return {
    kind: p.kind,
    name: p.name,
    enabled: p.enabled,
    clientId: p.config.clientId,
    clientSecret: '',
    scopes: (p.config.scopes ?? []).join(' '),
    allowedDomains: p.allowedDomains.join(', '),
    issuer: p.config.issuer ?? '',
    authorizeUrl: p.config.authorizeUrl ?? '',
    accessTokenUrl: p.config.accessTokenUrl ?? '',
    userInfoUrl: p.config.userInfoUrl ?? '',
    userEmailUrl: p.config.userEmailUrl ?? '',
  }
}

export default class LoginProvidersController {
  async index({ view }: HttpContext) {
    const providers = await listProviders()
    return view.render('pages/login_providers/index', {
      providers: providers.map((p) => ({
        ...p,
        kindLabel: PROVIDER_KINDS[p.kind] ?? p.kind,
        callbackUrl: callbackUrl(p.id),
      })),
    })
  }

  async create({ view, request }: HttpContext) {
    const kind = String(request.qs().kind ?? 'oidc')
    return view.render(
      'pages/login_providers/form',
      this.#formData(null, {
        kind: kind in PROVIDER_KINDS ? kind : 'oidc',
        enabled: true,
      })
    )
  }

  async store(ctx: HttpContext) {
    const { request, response, session, actor } = ctx
    const input: Record<string, any> = {
      ...request.only(FIELDS),
      enabled: request.input('enabled') ?? 'off',
    }
    try {
      const id = await createProvider(actor, input)
      session.flash(
        'notice',
        `Login provider "${String(input.name).trim()}" created. Register ${callbackUrl(id)} as its redirect URL at the provider.`
      )
      return response.redirect(`/admin/login-providers/${id}/edit`)
    } catch (error) {
      return this.#invalid(ctx, error, null, input)
    }
  }

  async edit({ view, params }: HttpContext) {
    const provider = await getProvider(params.id)
    return view.render('pages/login_providers/form', this.#formData(provider, formOf(provider)))
  }

  async update(ctx: HttpContext) {
    const { request, response, session, actor, params } = ctx
    const provider = await getProvider(params.id)
    const input: Record<string, any> = {
      ...request.only(FIELDS),
      enabled: request.input('enabled') ?? 'off',
    }
    try {
      await updateProvider(actor, provider.id, input)
      session.flash('notice', `Login provider "${String(input.name).trim()}" saved.`)
      return response.redirect('/admin/login-providers')
    } catch (error) {
      return this.#invalid(ctx, error, provider, { ...input, kind: provider.kind })
    }
  }

  async enable(ctx: HttpContext) {
    return this.#toggle(ctx, true)
  }

  async disable(ctx: HttpContext) {
    return this.#toggle(ctx, false)
  }

  async destroy({ params, actor, session, response }: HttpContext) {
    const provider = await getProvider(params.id)
    await deleteProvider(actor, provider.id)
    session.flash(
      'notice',
      `Login provider "${provider.name}" deleted; its users keep their accounts.`
    )
    return response.redirect('/admin/login-providers')
  }

  async #toggle({ params, actor, session, response }: HttpContext, enabled: boolean) {
    const provider = await getProvider(params.id)
    await setProviderEnabled(actor, provider.id, enabled)
    session.flash(
      'notice',
      `"${provider.name}" ${enabled ? 'is now offered on the login page' : 'is disabled: nobody can log in through it'}.`
    )
    return response.redirect('/admin/login-providers')
  }

  #formData(provider: LoginProvider | null, form: Record<string, any>, errors = {}) {
    // A known kind only: the value goes back into the form's Alpine state.
    const asked = provider?.kind ?? form.kind
    const kind = (asked in PROVIDER_KINDS ? asked : 'oidc') as keyof typeof PROVIDER_KINDS
    return {
      provider,
      form: { ...form, kind },
      errors,
      kinds: Object.entries(PROVIDER_KINDS).map(([value, label]) => ({ value, label })),
      kindLabel: PROVIDER_KINDS[kind],
      defaultScopes: (DEFAULT_SCOPES[kind] ?? []).join(' '),
      callbackUrl: provider ? callbackUrl(provider.id) : null,
    }
  }

  async #invalid(
    { view, response }: HttpContext,
    error: unknown,
    provider: LoginProvider | null,
    input: Record<string, any>
  ) {
    if (!(error instanceof ProviderValidationError)) throw error
    response.status(422)
    return view.render(
      'pages/login_providers/form',
      this.#formData(
        provider,
        { ...input, clientSecret: '', enabled: input.enabled !== 'off' },
        error.fields
      )
    )
  }
}
