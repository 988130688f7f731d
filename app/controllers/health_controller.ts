import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { readFileSync } from 'node:fs'
import { openApiDocument } from '#services/openapi'
import { nodeId } from '#services/scheduler'
import { pluginHost } from '#plugins/host'

/** How long GET /health waits for the database before answering 503 "unreachable". */
const HEALTH_DB_TIMEOUT_MS = 3000

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
    // A load balancer's probe wants an answer in time: an unreachable PostgreSQL would otherwise
    // hold it for the pool's acquire timeout (a minute).
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        db.rawQuery('select 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), HEALTH_DB_TIMEOUT_MS)
        }),
      ])
    } catch {
      database = 'unreachable'
    } finally {
      clearTimeout(timer)
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
