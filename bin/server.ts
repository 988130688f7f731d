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
    // Graceful stop on SIGTERM and SIGINT (Ctrl+C): the store worker commits what it was sent,
    // logs are flushed, jobs stop. A client holding a connection open must not keep the process.
    const stop = () => {
      setTimeout(() => process.exit(0), 10_000).unref()
      return app.terminate()
    }
    app.listen('SIGTERM', stop)
    app.listen('SIGINT', stop)
  })
  .httpServer()
  .start(createHttpServer)
  .catch((error) => exitOnStartupError(error, prettyPrintError))
