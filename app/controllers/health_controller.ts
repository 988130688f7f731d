import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { readFileSync } from 'node:fs'
import { openApiDocument } from '#services/openapi'
import { nodeId } from '#services/scheduler'
import { pluginHost } from '#plugins/host'

const version: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
).version

export default class HealthController {
  /**
   * GET /health — 200 when the database answers and this node's plugins have started; 503
   * otherwise ("degraded": database unreachable; "starting": plugins still starting).
   */
  async show({ response }: HttpContext) {
    let database: 'ok' | 'unreachable' = 'ok'
    try {
      await db.rawQuery('select 1')
    } catch {
      database = 'unreachable'
    }
    const plugins = pluginHost.servicesStarted ? 'ok' : 'starting'
    const body = {
      status: database !== 'ok' ? 'degraded' : plugins === 'starting' ? 'starting' : 'ok',
      version,
      database,
      plugins,
      connection: db.primaryConnectionName,
      // Which server process answered (one per node; several with WEB_CONCURRENCY).
      node: nodeId,
    }
    return response.status(body.status === 'ok' ? 200 : 503).send(body)
  }

  async me({ actor }: HttpContext) {
    return { email: actor.label, isAdmin: actor.isAdmin, userId: actor.userId }
  }

  async openapi({ response }: HttpContext) {
    return response.send(openApiDocument(version))
  }
}
