/*
 * Mounts the routes plugins declared: device routes under /<id>/... (no session, no CSRF; the
 * raw body is available), admin routes under /admin/p/<id>/... (the admin stack: session,
 * CSRF, login). A disabled plugin's device routes answer 404 at once and its admin pages show a
 * "disabled" panel. Fast routes are answered before the framework's router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { HttpContext } from '@adonisjs/core/http'
import logger from '@adonisjs/core/services/logger'
import type { PluginHost, PluginRecord, RouteDeclaration } from './host.js'
import { MAX_RAW_BODY, readBody, sendRaw as send } from '#http/raw'
import { RequestTooLargeError } from '#exceptions/api_errors'
import { answerEarly, findEarlyRoute, parsedBody } from './early_routes.js'
import type { FastRequest, PluginReply, PluginRequest, RouteContext } from './contract.js'

async function readRaw(ctx: HttpContext, limit: number): Promise<Buffer> {
  const raw = ctx.request.raw()
  if (raw !== null && raw !== undefined) return Buffer.from(raw)
  const req = ctx.request.request
  if (req.readableEnded || !req.readable) return Buffer.alloc(0)
  const body = await readBody(req, limit)
  if (body === null) throw new RequestTooLargeError(limit)
  return body
}

/*
 * Device routes get their body as bytes, untouched: the framework's body parser skips them
 * (a DER body sent as application/x-www-form-urlencoded — curl's default — would otherwise be
 * decoded as text and corrupted). The host reads the bytes once and derives `body` from them
 * (JSON or form) for plugins that want it parsed.
 */
const deviceRoutePatterns = new Set<string>()

/** True for the route patterns of plugin device routes (see app/middleware/body_parser.ts). */
export function isDeviceRoutePattern(pattern: string | undefined): boolean {
  return pattern !== undefined && deviceRoutePatterns.has(pattern)
}

async function buildContext(
  ctx: HttpContext,
  rec: PluginRecord,
  route: RouteDeclaration
): Promise<{ context: RouteContext; sent: () => boolean }> {
  const surface = route.surface
  const limit = route.early?.bodyLimit ?? MAX_RAW_BODY
  let sent = false
  let rawCache: Promise<Buffer> | undefined
  let body = (ctx.request.body() ?? {}) as Record<string, unknown>
  if (surface === 'device') {
    rawCache = readRaw(ctx, limit)
    body = parsedBody(await rawCache, ctx.request.header('content-type'))
  }
  const request: PluginRequest = {
    method: ctx.request.method(),
    url: ctx.request.url(true),
    params: { ...ctx.params },
    query: ctx.request.qs(),
    headers: ctx.request.headers(),
    ip: ctx.request.ip(),
    body,
    rawBody: () => (rawCache ??= readRaw(ctx, limit)),
  }
  const reply: PluginReply = {
    status(code) {
      ctx.response.status(code)
      return reply
    },
    header(name, value) {
      ctx.response.header(name, value)
      return reply
    },
    send(payload) {
      sent = true
      // A Node Readable (e.g. a large CRL read chunk by chunk) is streamed, not serialised.
      if (payload instanceof Readable) return ctx.response.stream(payload)
      ctx.response.send(payload instanceof Uint8Array ? Buffer.from(payload) : payload)
    },
  }
  const context: RouteContext = {
    request,
    reply,
    runtime: rec.runtime!,
    actor: surface === 'admin' ? ctx.actor : undefined,
    currentCaId: surface === 'admin' ? (ctx.currentCa?.id ?? null) : undefined,
  }
  return { context, sent: () => sent }
}

/** The fast-route view of a framework request (path after `/<id>`), for `tooLarge`. */
function fastRequestOf(ctx: HttpContext): FastRequest {
  const url = ctx.request.url()
  const slash = url.indexOf('/', 1)
  return {
    method: ctx.request.method(),
    path: slash < 0 ? '/' : url.slice(slash),
    query: ctx.request.parsedUrl.query ?? '',
    headers: ctx.request.headers(),
  }
}

function notFoundBody(ctx: HttpContext) {
  return {
    error: {
      code: 'E_NOT_FOUND',
      message: `Nothing is served at ${ctx.request.method()} ${ctx.request.url()}.`,
    },
  }
}

export async function handlePluginRoute(
  host: PluginHost,
  rec: PluginRecord,
  route: RouteDeclaration,
  ctx: HttpContext
) {
  if (!host.isActive(rec.id)) {
    if (route.surface === 'device') return ctx.response.status(404).send(notFoundBody(ctx))
    ctx.response.status(404)
    return ctx.view.render('pages/plugins/disabled', {
      plugin: { id: rec.id, name: rec.definition?.name ?? rec.id, status: host.status(rec) },
      reason: rec.failed,
    })
  }
  let built: Awaited<ReturnType<typeof buildContext>>
  try {
    built = await buildContext(ctx, rec, route)
  } catch (error) {
    // An early route's own answer to a body over its limit, on this copy too.
    const own = error instanceof RequestTooLargeError ? route.early?.tooLarge : undefined
    if (!own) throw error
    const answer = own(fastRequestOf(ctx))
    ctx.response.status(answer.status ?? 413)
    for (const [name, value] of Object.entries(answer.headers ?? {}))
      ctx.response.header(name, value)
    ctx.response.header('connection', 'close')
    return ctx.response.send(Buffer.from(answer.body))
  }
  const { context, sent } = built
  const result = await route.handler(context)
  if (sent()) return
  if (
    route.surface === 'admin' &&
    result &&
    typeof result === 'object' &&
    typeof (result as any).html === 'string'
  ) {
    const page = result as { title?: string; html: string }
    return ctx.view.render('pages/plugins/page', {
      title: page.title ?? rec.definition?.name ?? rec.id,
      pluginName: rec.definition?.name ?? rec.id,
      body: page.html,
      fragment: Boolean(ctx.request.header('hx-request')),
    })
  }
  if (result === undefined || result === null) return ctx.response.status(204).send('')
  if (result instanceof Uint8Array) return ctx.response.send(Buffer.from(result))
  return ctx.response.send(result)
}

/** Registers every declared route of loaded plugins with the Adonis router. */
export function mountPluginRoutes(host: PluginHost, router: any, adminStack: () => any[]): number {
  let count = 0
  for (const rec of host.list()) {
    if (rec.failed && !rec.reg.routes.length) continue
    for (const route of rec.reg.routes) {
      const tail = route.path === '/' ? '' : route.path
      const pattern = route.surface === 'device' ? `/${rec.id}${tail}` : `/admin/p/${rec.id}${tail}`
      const methods = route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]
      const r = router.route(pattern || '/', methods, (ctx: HttpContext) =>
        handlePluginRoute(host, rec, route, ctx)
      )
      if (route.surface === 'admin') r.use(adminStack())
      else deviceRoutePatterns.add(pattern || '/')
      count++
    }
  }
  return count
}

/**
 * The dispatcher for start/http_server.ts, for active plugins under /<id>/...: early device
 * routes (declared with `routes({ early: true })`, once the plugin started on this node; see
 * early_routes.ts), then ready-bytes GET/HEAD fast routes.
 */
export function fastDispatcher(host: PluginHost) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '/'
    const slash = url.indexOf('/', 1)
    if (slash < 0) return false
    const id = url.slice(1, slash)
    const rec = host.plugins.get(id)
    if (!rec || !host.isActive(id)) return false
    const method = req.method ?? 'GET'
    const q = url.indexOf('?')
    const path = q < 0 ? url.slice(slash) : url.slice(slash, q)
    const query = q < 0 ? '' : url.slice(q + 1)
    const request: FastRequest = { method, path, query, headers: req.headers }
    if (rec.started) {
      const hit = findEarlyRoute(rec, method, path)
      if (hit) {
        void answerEarly(rec, hit, req, res, request)
        return true
      }
    }
    if (method !== 'GET' && method !== 'HEAD') return false
    for (const spec of rec.reg.fastRoutes) {
      try {
        const answer = spec.handle(request)
        if (!answer) continue
        if (answer instanceof Promise) {
          // A fast route is synchronous: never leave such a request unanswered.
          answer.catch(() => {})
          throw new Error('a fast route returned a promise (use routes({ early: true }))')
        }
        send(req, res, answer)
        return true
      } catch (error) {
        logger.error({ err: error, plugin: id }, 'fast route failed; passed to the router')
      }
    }
    return false
  }
}
