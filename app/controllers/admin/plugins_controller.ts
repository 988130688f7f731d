/*
 * The Plugins page (install administrators only): every installed plugin with its status
 * (enabled, disabled, or failed with the reason), enable/disable buttons (htmx swaps the row),
 * and each plugin's install-scope settings form.
 */
import type { HttpContext } from '@adonisjs/core/http'
import { pluginHost, SettingsValidationError, type PluginRecord } from '#plugins/host'
import { KernelError } from '#exceptions/kernel_error'

function summary(rec: PluginRecord) {
  const def = rec.definition
  const status = pluginHost.status(rec)
  const inactiveDeps =
    status === 'enabled' ? (def?.requires ?? []).filter((dep) => !pluginHost.isActive(dep)) : []
  return {
    id: rec.id,
    name: def?.name ?? rec.id,
    version: def?.version ?? '—',
    description: def?.description ?? '',
    source: rec.source,
    status,
    reason: rec.failed,
    requires: def?.requires ?? [],
    hasSettings: Boolean(rec.settings.install),
    waiting: inactiveDeps.length ? `Inactive until ${inactiveDeps.join(', ')} is enabled.` : null,
  }
}

function findPlugin(id: string) {
  const rec = pluginHost.get(id)
  if (!rec) throw new KernelError('E_NOT_FOUND', `No installed plugin has the id "${id}".`)
  return rec
}

export default class PluginsController {
  async index({ view }: HttpContext) {
    return view.render('pages/plugins/index', { plugins: pluginHost.list().map(summary) })
  }

  async show({ view, params }: HttpContext) {
    const rec = findPlugin(params.id)
    return view.render('pages/plugins/show', {
      plugin: summary(rec),
      ...(await this.#form(rec)),
    })
  }

  async enable(ctx: HttpContext) {
    return this.#toggle(ctx, true)
  }

  async disable(ctx: HttpContext) {
    return this.#toggle(ctx, false)
  }

  async #toggle(
    { params, actor, request, response, view, session }: HttpContext,
    enabled: boolean
  ) {
    const rec = findPlugin(params.id)
    const { changed } = await pluginHost.setEnabled(rec.id, enabled, actor)
    const name = rec.definition?.name ?? rec.id
    const message = changed
      ? `${name} is now ${enabled ? 'enabled' : 'disabled'}.`
      : `${name} was already ${enabled ? 'enabled' : 'disabled'}.`
    if (request.header('hx-request')) {
      // The navigation shows one group per enabled plugin: tell the page to refresh it.
      response.header(
        'HX-Trigger',
        JSON.stringify({ pluginChanged: { id: rec.id, enabled }, notice: message })
      )
      return view.render('partials/plugin_row', { p: summary(rec) })
    }
    session.flash('notice', message)
    return response.redirect('/admin/plugins')
  }

  async saveSettings({ params, actor, request, response, view }: HttpContext) {
    const rec = findPlugin(params.id)
    if (!rec.settings.install) {
      throw new KernelError('E_NOT_FOUND', `The ${rec.id} plugin has no install settings.`)
    }
    const input = request.only(rec.settings.install.fields.map((f) => f.name))
    try {
      await pluginHost.saveSettings(rec.id, 'install', 0, input, actor)
    } catch (error) {
      if (!(error instanceof SettingsValidationError)) throw error
      response.status(422)
      const form = await this.#form(rec, { errors: error.fields, input })
      if (request.header('hx-request')) return view.render('partials/plugin_settings_form', form)
      return view.render('pages/plugins/show', { plugin: summary(rec), ...form })
    }
    const form = await this.#form(rec, { saved: true })
    if (request.header('hx-request')) return view.render('partials/plugin_settings_form', form)
    return view.render('pages/plugins/show', { plugin: summary(rec), ...form })
  }

  async #form(
    rec: PluginRecord,
    extra: {
      errors?: Record<string, string>
      input?: Record<string, unknown>
      saved?: boolean
    } = {}
  ) {
    const compiled = rec.settings.install
    const { values, secretsSet } = await pluginHost.formValues(rec.id, 'install', 0)
    const shown = { ...values }
    // Re-show what was typed (never a secret) next to its error.
    if (extra.input && compiled) {
      for (const f of compiled.fields) if (!f.secret) shown[f.name] = extra.input[f.name]
    }
    return {
      action: `/admin/plugins/${rec.id}/settings`,
      target: 'this',
      idPrefix: `setting-${rec.id}`,
      fields: compiled?.fields ?? [],
      values: shown,
      secretsSet,
      errors: extra.errors ?? {},
      saved: Boolean(extra.saved),
    }
  }
}
