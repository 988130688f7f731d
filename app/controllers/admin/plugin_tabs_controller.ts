/*
 * Plugin tabs on template and CA pages:
 *   GET  /admin/plugin-tabs/:scope/:scopeId/:pluginId   the tab's HTML fragment
 *   POST /admin/plugin-tabs/:scope/:scopeId/:pluginId   saves (422 + errors next to fields)
 * scope is "template" or "ca". The settings form is generated from the plugin's template/CA
 * schema; the plugin's own render() fragment follows it. Another user's CA or template id
 * answers 404, as does a disabled plugin's tab.
 */
import type { HttpContext } from '@adonisjs/core/http'
import { pluginHost, SettingsValidationError } from '#plugins/host'
import { KernelError } from '#exceptions/kernel_error'
import { caService } from '#services/ca_service'
import { templateService } from '#services/template_service'
import type { Actor } from '#services/actor'

async function resolveScope(actor: Actor, scope: string, scopeIdText: string) {
  const scopeId = Number(scopeIdText)
  if (scope === 'template') {
    if (!Number.isInteger(scopeId))
      throw new KernelError('E_TEMPLATE_NOT_FOUND', 'No such template.')
    const template = await templateService.find(actor, scopeId)
    return { scope: 'template' as const, scopeId: template.id, caId: template.caId }
  }
  if (scope === 'ca') {
    if (!Number.isInteger(scopeId)) throw new KernelError('E_CA_NOT_FOUND', 'No such CA.')
    const ca = await caService.find(actor, scopeId)
    return { scope: 'ca' as const, scopeId: ca.id, caId: ca.id }
  }
  throw new KernelError('E_NOT_FOUND', 'Plugin tabs exist for templates and CAs only.')
}

export default class PluginTabsController {
  async show(ctx: HttpContext) {
    return this.#render(ctx, {})
  }

  async save(ctx: HttpContext) {
    const { params, actor, request, response } = ctx
    const where = await resolveScope(actor, params.scope, params.scopeId)
    const { rec } = this.#plugin(params.pluginId, where.scope)
    const compiled = rec.settings[where.scope]
    if (!compiled) {
      throw new KernelError('E_NOT_FOUND', `The ${rec.id} plugin has no ${where.scope} settings.`)
    }
    const input = request.only(compiled.fields.map((f) => f.name))
    try {
      await pluginHost.saveSettings(rec.id, where.scope, where.scopeId, input, actor)
    } catch (error) {
      if (!(error instanceof SettingsValidationError)) throw error
      response.status(422)
      return this.#render(ctx, { errors: error.fields, input })
    }
    return this.#render(ctx, { saved: true })
  }

  #plugin(pluginId: string, scope: 'template' | 'ca') {
    const rec = pluginHost.get(pluginId)
    const tab = pluginHost.tab(pluginId, scope)
    // A disabled (or failed) plugin's tab is gone, like a tab that never existed.
    if (!rec || !tab || !pluginHost.isActive(pluginId)) {
      throw new KernelError('E_NOT_FOUND', `There is no "${pluginId}" tab here.`)
    }
    return { rec, tab }
  }

  async #render(
    { params, actor, view }: HttpContext,
    extra: { errors?: Record<string, string>; input?: Record<string, unknown>; saved?: boolean }
  ) {
    const where = await resolveScope(actor, params.scope, params.scopeId)
    const { rec, tab } = this.#plugin(params.pluginId, where.scope)
    const compiled = rec.settings[where.scope]
    const { values, secretsSet } = await pluginHost.formValues(rec.id, where.scope, where.scopeId)
    const shown: Record<string, unknown> = { ...values }
    if (extra.input && compiled) {
      for (const f of compiled.fields) if (!f.secret) shown[f.name] = extra.input[f.name]
    }
    let extraHtml = ''
    if (tab.render) {
      try {
        extraHtml = await tab.render({
          actor,
          caId: where.caId,
          scopeId: where.scopeId,
          settings: values,
          runtime: rec.runtime!,
        })
      } catch (error) {
        rec.runtime!.log.error({ err: error }, 'tab render failed')
        extraHtml = `<p class="muted">The ${rec.definition?.name ?? rec.id} plugin could not render this part.</p>`
      }
    }
    const action = `/admin/plugin-tabs/${where.scope}/${where.scopeId}/${rec.id}`
    return view.render('partials/plugin_tab', {
      tab: { label: tab.label },
      plugin: { id: rec.id, name: rec.definition?.name ?? rec.id },
      scope: where.scope,
      scopeId: where.scopeId,
      action,
      target: `#plugin-tab-${rec.id}`,
      idPrefix: `tab-${rec.id}`,
      fields: compiled?.fields ?? [],
      values: shown,
      secretsSet,
      errors: extra.errors ?? {},
      saved: Boolean(extra.saved),
      extra: extraHtml,
      submitLabel: 'Save',
    })
  }
}
