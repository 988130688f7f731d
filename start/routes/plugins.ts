/*
 * The Plugins page (install administrators), the plugin-tab fragments of template and CA pages,
 * and every route the installed plugins declared (device routes under /<id>/..., admin pages
 * under /admin/p/<id>/...), plus their fast routes in front of the router.
 */
import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'
import { adminStack } from '#start/routes/web'
import { fastRoutes } from '#start/http_server'
import { pluginHost } from '#plugins/host'
import { fastDispatcher, mountPluginRoutes } from '#plugins/router'

const PluginsController = () => import('#controllers/admin/plugins_controller')
const PluginTabsController = () => import('#controllers/admin/plugin_tabs_controller')

router
  .group(() => {
    router.get('/admin/plugins', [PluginsController, 'index'])
    router.get('/admin/plugins/:id', [PluginsController, 'show'])
    router.post('/admin/plugins/:id/enable', [PluginsController, 'enable'])
    router.post('/admin/plugins/:id/disable', [PluginsController, 'disable'])
    router.post('/admin/plugins/:id/settings', [PluginsController, 'saveSettings'])
  })
  .use([...adminStack(), middleware.installAdmin()])

router
  .group(() => {
    router.get('/admin/plugin-tabs/:scope/:scopeId/:pluginId', [PluginTabsController, 'show'])
    router.post('/admin/plugin-tabs/:scope/:scopeId/:pluginId', [PluginTabsController, 'save'])
  })
  .use(adminStack())

// The plugin provider loaded the plugins already; load() is idempotent (ace migration commands).
await pluginHost.load()
mountPluginRoutes(pluginHost, router, adminStack)
fastRoutes.push(fastDispatcher(pluginHost))
