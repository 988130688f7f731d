/*
 * The admin UI's scripts and stylesheet: htmx and Alpine.js from their npm packages, our own
 * app.js and app.css. Served by one route rather than a static-file middleware, which would stat
 * the disk on every request (the API and device routes included).
 * Read once, served with a long cache lifetime keyed on the package version.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { HttpContext } from '@adonisjs/core/http'
import app from '@adonisjs/core/services/app'

const require = createRequire(import.meta.url)

const FILES: Record<string, () => string> = {
  'htmx.min.js': () => require.resolve('htmx.org/dist/htmx.min.js'),
  'alpine.min.js': () => require.resolve('alpinejs/dist/cdn.min.js'),
  'app.js': () => app.makePath('resources/assets/app.js'),
  'app.css': () => app.makePath('public/app.css'),
}

const cache = new Map<string, Buffer>()

export default class AssetsController {
  async show({ params, response }: HttpContext) {
    const locate = FILES[params.file]
    if (!locate) return response.notFound('')
    let body = cache.get(params.file)
    if (!body) {
      body = readFileSync(locate())
      if (app.inProduction) cache.set(params.file, body)
    }
    response.header(
      'Content-Type',
      params.file.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8'
    )
    response.header('Cache-Control', app.inProduction ? 'public, max-age=3600' : 'no-cache')
    return response.send(body)
  }
}
