/*
 * HTTP server entry point.
 */
import 'reflect-metadata'
import { Ignitor, prettyPrintError } from '@adonisjs/core'
import { exitOnStartupError } from '#exceptions/startup_error'
import { createHttpServer } from '#start/http_server'

const APP_ROOT = new URL('../', import.meta.url)

const IMPORTER = (filePath: string) => {
  if (filePath.startsWith('./') || filePath.startsWith('../')) {
    return import(new URL(filePath, APP_ROOT).href)
  }
  return import(filePath)
}

new Ignitor(APP_ROOT, { importer: IMPORTER })
  .tap((app) => {
    app.booting(async () => {
      await import('#start/env')
    })
    app.listen('SIGTERM', () => {
      // Graceful stop; a client holding a connection open must not keep the process alive.
      setTimeout(() => process.exit(0), 10_000).unref()
      return app.terminate()
    })
    app.listenIf(app.managedByPm2, 'SIGINT', () => app.terminate())
  })
  .httpServer()
  .start(createHttpServer)
  .catch((error) => exitOnStartupError(error, prettyPrintError))
