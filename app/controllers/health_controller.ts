import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { readFileSync } from 'node:fs'
import { openApiDocument } from '#services/openapi'
import { nodeId } from '#services/scheduler'

const version: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
).version

export default class HealthController {
  /** GET /health — 200 when the database answers, 503 otherwise. */
  async show({ response }: HttpContext) {
    let database: 'ok' | 'unreachable' = 'ok'
    try {
      await db.rawQuery('select 1')
    } catch {
      database = 'unreachable'
    }
    const body = {
      status: database === 'ok' ? 'ok' : 'degraded',
      version,
      database,
      connection: db.primaryConnectionName,
      // Which server process answered (one per node; several with WEB_CONCURRENCY).
      node: nodeId,
    }
    return response.status(database === 'ok' ? 200 : 503).send(body)
  }

  async me({ actor }: HttpContext) {
    return { email: actor.label, isAdmin: actor.isAdmin, userId: actor.userId }
  }

  async openapi({ response }: HttpContext) {
    return response.send(openApiDocument(version))
  }
}
