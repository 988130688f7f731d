/*
 * Kernel provider. On start it makes the install ready with nothing configured by hand:
 * creates the data folder and database, runs the migrations, loads (or creates) the master key
 * and checks it against the stored canary, and — for the web server — prints a one-time
 * bootstrap token while no administrator exists, and starts the kernel's scheduled jobs.
 */
import type { ApplicationService } from '@adonisjs/core/types'
import { MigrationRunner } from '@adonisjs/lucid/migration'

/** Advisory lock key that serialises migration runs across nodes (PostgreSQL). */
const MIGRATION_LOCK_ID = 7_312_004_211

export default class PkiProvider {
  constructor(protected app: ApplicationService) {}

  async start() {
    // Lucid's own commands (migration:run, db:wipe...) manage the schema themselves.
    const argv = process.argv.join(' ')
    if (this.app.getEnvironment() === 'console' && /\b(migration|db):/.test(argv)) return

    try {
      await this.migrate()
      const { checkMasterKey } = await import('#services/install_service')
      await checkMasterKey()
    } catch (error) {
      // Ace prints unexpected errors on stdout: a command's output must never carry them.
      if (this.app.getEnvironment() === 'console' && (error as Error)?.name === 'StartupError') {
        process.stderr.write(`Cannot start: ${(error as Error).message}\n`)
        process.exit(1)
      }
      throw error
    }
  }

  /**
   * Runs pending kernel migrations. Several nodes (or ace commands) may start at once: on
   * PostgreSQL they queue on a blocking advisory lock held for the run; on SQLite the database
   * file serialises writers, and a run that lost a race is retried once the other one is done.
   */
  protected async migrate() {
    const db = await this.app.container.make('lucid.db')
    const run = async () => {
      const runner = new MigrationRunner(db, this.app, {
        direction: 'up',
        dryRun: false,
        disableLocks: true,
      })
      await runner.run()
      if (runner.error) throw runner.error
    }
    if (db.connection().dialect.name === 'postgres') {
      await db.transaction(async (trx) => {
        await trx.rawQuery('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK_ID])
        await run()
      })
      return
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await run()
      } catch (error) {
        if (attempt >= 5) {
          const { StartupError } = await import('#exceptions/startup_error')
          throw new StartupError(`the database migrations failed: ${(error as Error).message}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      }
    }
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
    const { purgeServiceLogs } = await import('#services/log_retention')
    scheduleJob({
      name: 'purge-service-logs',
      everyMs: 3600_000,
      concurrency: 'cluster-singleton',
      run: async () => void (await purgeServiceLogs()),
    })
  }

  async shutdown() {
    const { stopJobs } = await import('#services/scheduler')
    stopJobs()
    const { flushServiceLogs, flushServiceCounters } = await import('#services/service_log')
    await Promise.all([flushServiceLogs(), flushServiceCounters()])
    const { keyService } = await import('#services/key_service')
    await keyService.close()
    const { closeCertificateStore } = await import('#services/certificate_store')
    await closeCertificateStore()
  }
}
