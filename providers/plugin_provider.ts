/*
 * The plugin host's provider (after the kernel's, which runs the kernel migrations):
 *   start    — load and check the installed plugins, run their migrations, record the state
 *              of plugins seen for the first time (enabled only if they say so by default);
 *   ready    — on a server node: start the enabled plugins, schedule their jobs (web only),
 *              and watch the database for enable/disable and settings changes;
 *   shutdown — stop the plugins and the watcher.
 * A plugin that fails any check is marked failed with its reason; the server runs on.
 */
import type { ApplicationService } from '@adonisjs/core/types'

export default class PluginProvider {
  constructor(protected app: ApplicationService) {}

  async start() {
    const argv = process.argv.join(' ')
    if (this.app.getEnvironment() === 'console' && /\b(migration|db):/.test(argv)) return
    const { pluginHost } = await import('#plugins/host')
    await pluginHost.load()
    await pluginHost.migrate()
    await pluginHost.syncStates()
  }

  async ready() {
    const env = this.app.getEnvironment()
    if (env !== 'web' && env !== 'test') return
    const { pluginHost } = await import('#plugins/host')
    await pluginHost.startServices({ jobs: env === 'web' })
  }

  async shutdown() {
    const { pluginHost } = await import('#plugins/host')
    await pluginHost.stopServices()
  }
}
