/*
 * The ACME endpoints answered through the plugin host's fast route (`api.fastRoute` with
 * `match`): before the framework's router and middleware, the body read by the host. The same
 * handlers serve the framework routes (still registered: they answer while this node's runtime
 * is not started, and the host answers 404 for them while the plugin is disabled); this file
 * only adapts the host's fast request and answer to the PluginRequest/PluginReply they use.
 */
import type {
  FastRequest,
  FastResponse,
  PluginReply,
  PluginRequest,
  RouteContext,
} from '#plugin-api'

type RouteHandler = (ctx: RouteContext) => Promise<unknown>

interface CompiledRoute {
  method: 'GET' | 'POST'
  pattern: RegExp
  names: string[]
  handler: RouteHandler
}

/** `/order/:id/finalize` → a regular expression and its parameter names. */
function compile(method: 'GET' | 'POST', path: string, handler: RouteHandler): CompiledRoute {
  const names: string[] = []
  const source = path
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      names.push(part.slice(1))
      return '([^/]+)'
    })
    .join('/')
  return { method, pattern: new RegExp(`^${source}$`), names, handler }
}

export class FastRoutes {
  #routes: CompiledRoute[] = []

  constructor(
    /** The URL prefix of the plugin's device routes, e.g. "/acme". */
    private prefix: string,
    /** The runtime once the plugin started on this node (null: leave it to the framework). */
    private runtime: () => RouteContext['runtime'] | null
  ) {}

  add(method: 'GET' | 'POST', path: string, handler: RouteHandler) {
    this.#routes.push(compile(method, path, handler))
  }

  #find(method: string, path: string) {
    const wanted = method === 'HEAD' ? 'GET' : method
    for (const route of this.#routes) {
      if (route.method !== wanted) continue
      const found = route.pattern.exec(path)
      if (found) return { route, found }
    }
    return null
  }

  /** For the host: the requests answered here. */
  match = (method: string, path: string): boolean =>
    this.runtime() !== null && this.#find(method, path) !== null

  /** For the host: one request, answered by the route's handler. */
  handle = async (req: FastRequest): Promise<FastResponse | null> => {
    const runtime = this.runtime()
    const hit = this.#find(req.method, req.path)
    if (!runtime || !hit) return null
    const params: Record<string, string> = {}
    try {
      hit.route.names.forEach((name, i) => (params[name] = decodeURIComponent(hit.found[i + 1])))
    } catch {
      return null // a malformed %-escape: no such resource
    }
    const body = req.body ?? Buffer.alloc(0)
    const request: PluginRequest = {
      method: req.method,
      url: `${this.prefix}${req.path}${req.query ? `?${req.query}` : ''}`,
      params,
      query: Object.fromEntries(new URLSearchParams(req.query)),
      headers: req.headers,
      ip: req.ip ?? '',
      // Handlers read the bytes (rawBody); nothing is parsed ahead of them.
      body: {},
      rawBody: () => Promise.resolve(body),
    }
    const answer: { status: number; headers: Record<string, string>; body: string | Buffer } = {
      status: 200,
      headers: {},
      body: '',
    }
    let sent = false
    const reply: PluginReply = {
      status(code) {
        answer.status = code
        return reply
      },
      header(name, value) {
        answer.headers[name.toLowerCase()] = value
        return reply
      },
      send(payload) {
        sent = true
        if (typeof payload === 'string' || Buffer.isBuffer(payload)) answer.body = payload
        else if (payload instanceof Uint8Array) answer.body = Buffer.from(payload)
        else {
          answer.body = JSON.stringify(payload)
          answer.headers['content-type'] ??= 'application/json; charset=utf-8'
        }
      },
    }
    await hit.route.handler({ request, reply, runtime })
    if (!sent) return { status: 204, headers: answer.headers, body: '' }
    return answer
  }
}
