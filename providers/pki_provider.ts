/*
 * Kernel provider. On start it makes the install ready with nothing configured by hand:
 * creates the data folder and database, runs the migrations, loads (or creates) the master key
 * and checks it against the stored canary, and — for the web server — prints a one-time
 * bootstrap token while no administrator exists, and starts the kernel's scheduled jobs.
 */
import type { ApplicationService } from '@adonisjs/core/types'
import { MigrationRunner } from '@adonisjs/lucid/migration'

export default class PkiProvider {
  constructor(protected app: ApplicationService) {}

  async start() {
    // Lucid's own commands (migration:run, db:wipe...) manage the schema themselves.
    const argv = process.argv.join(' ')
    if (this.app.getEnvironment() === 'console' && /\b(migration|db):/.test(argv)) return

    const db = await this.app.container.make('lucid.db')
    const runner = new MigrationRunner(db, this.app, { direction: 'up', dryRun: false })
    await runner.run()
    if (runner.error) throw runner.error

    const { checkMasterKey } = await import('#services/install_service')
    await checkMasterKey()
  }

  async ready() {
    if (this.app.getEnvironment() !== 'web') return
    const { announceInstall } = await import('#services/install_service')
    await announceInstall()
    const { scheduleJob } = await import('#services/scheduler')
    const { purgeExpired } = await import('#services/purge_service')
    scheduleJob({
      name: 'purge-expired',
      everyMs: 3600_000,
      concurrency: 'cluster-singleton',
      run: async () => void (await purgeExpired()),
    })
  }

  async shutdown() {
    const { stopJobs } = await import('#services/scheduler')
    stopJobs()
    const { keyService } = await import('#services/key_service')
    await keyService.close()
  }
}
