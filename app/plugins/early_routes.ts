/*
 * Plugins' early device routes (`api.routes({ surface: 'device', early: true, ... })`): the
 * routes the plugin declared, answered before the framework's router once the plugin has started
 * on this node. The handler gets the same PluginRequest and PluginReply as on the framework's
 * route, and its result and errors are answered the same way (errors in the API's JSON format
 * through app/exceptions/api_errors.ts). The framework's copy of each route stays mounted: it
 * answers before start() finished, and 404 while the plugin is disabled.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable, pipeline } from 'node:stream'
import qs from 'qs'
import { http } from '#config/app'
import {
  MAX_RAW_BODY,
  clientIp,
  closeAfterAnswer,
  readBody,
  requestIdOf,
  sendApiError,
  sendRaw,
  sendTooLarge,
} from '#http/raw'
import type { FastRequest, PluginReply, PluginRequest } from './contract.js'
import type { PluginRecord, RouteDeclaration } from './host.js'

interface CompiledRoute {
  method: string
  pattern: RegExp
  names: string[]
  route: RouteDeclaration
}

const tables = new WeakMap<PluginRecord, CompiledRoute[]>()

/** `/order/:id/finalize` → a regular expression and its parameter names. */
function compile(route: RouteDeclaration): CompiledRoute {
  const names: string[] = []
  const source = route.path
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      names.push(part.slice(1))
      return '([^/]+)'
    })
    .join('/')
  return { method: route.method, pattern: new RegExp(`^${source || '/'}$`), names, route }
}

function tableOf(rec: PluginRecord): CompiledRoute[] {
  let table = tables.get(rec)
  if (!table) {
    table = rec.reg.routes.filter((r) => r.surface === 'device' && r.early).map(compile)
    tables.set(rec, table)
  }
  return table
}

/** The early route of `rec` for this method and path (after `/<id>`), with its raw params. */
export function findEarlyRoute(rec: PluginRecord, method: string, path: string) {
  const wanted = method === 'HEAD' ? 'GET' : method
  for (const compiled of tableOf(rec)) {
    if (compiled.method !== wanted) continue
    const found = compiled.pattern.exec(path)
    if (found) return { compiled, found }
  }
  return null
}

/** Answers one request on an early route (the caller checked that the plugin has started). */
export async function answerEarly(
  rec: PluginRecord,
  hit: NonNullable<ReturnType<typeof findEarlyRoute>>,
  req: IncomingMessage,
  res: ServerResponse,
  fast: FastRequest
): Promise<void> {
  const { route } = hit.compiled
  const limit = route.early?.bodyLimit ?? MAX_RAW_BODY
  try {
    const raw = await readBody(req, limit)
    if (raw === null) {
      const own = route.early?.tooLarge?.(fast)
      if (!own) return sendTooLarge(req, res, limit)
      sendRaw(req, res, { ...own, headers: { ...own.headers, connection: 'close' } })
      closeAfterAnswer(req, res)
      return
    }
    const params: Record<string, string> = {}
    hit.compiled.names.forEach((name, i) => (params[name] = decodeParam(hit.found[i + 1])))
    let parsed: Record<string, unknown> | undefined
    const request: PluginRequest = {
      method: fast.method,
      url: req.url ?? '/',
      params,
      // The framework's query parser and options (nested keys, repeated keys as lists).
      query: fast.query ? qs.parse(fast.query, http.qs.parse) : {},
      headers: req.headers,
      ip: clientIp(req),
      // Parsed on first use: protocol handlers that read the bytes pay nothing for it.
      get body() {
        return (parsed ??= parsedBody(raw, req.headers['content-type']))
      },
      rawBody: () => Promise.resolve(raw),
    }
    const reply = new EarlyReply(req, res)
    reply.header('x-request-id', requestIdOf(req))
    const result = await route.handler({ request, reply, runtime: rec.runtime! })
    if (reply.sent) return
    if (result === undefined || result === null) reply.status(204)
    reply.send(result)
  } catch (error) {
    sendApiError(req, res, error, { log: { plugin: rec.id } })
  }
}

/** Route params arrive percent-encoded; malformed input is kept as is (as the router does). */
function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/** The reply a handler writes to: status and headers kept until send(), as the framework does. */
class EarlyReply implements PluginReply {
  sent = false
  #status = 200
  #statusSet = false
  #headers: Record<string, string> = {}

  constructor(
    private req: IncomingMessage,
    private res: ServerResponse
  ) {}

  status(code: number) {
    this.#status = code
    this.#statusSet = true
    return this
  }

  header(name: string, value: string) {
    this.#headers[name.toLowerCase()] = value
    return this
  }

  /** The framework's rules: empty is 204; an object is JSON; bytes and text get a default type. */
  send(payload: unknown) {
    this.sent = true
    if (payload instanceof Readable) {
      this.res.writeHead(this.#status, this.#headers)
      // pipeline() destroys the source when the client goes away or either side fails: no
      // stream (and no file or cursor behind it) outlives the request.
      pipeline(payload, this.res, (error) => {
        if (error) this.res.destroy()
      })
      return
    }
    if (payload === undefined || payload === null || payload === '') {
      // Nothing to send is a 204 unless the handler chose a status (HEAD new-nonce is a 200).
      const status = this.#statusSet ? this.#status : 204
      delete this.#headers['content-type']
      return sendRaw(this.req, this.res, { status, headers: this.#headers, body: '' })
    }
    let body: string | Uint8Array
    let type: string
    if (payload instanceof Uint8Array) {
      body = payload
      type = 'application/octet-stream; charset=utf-8'
    } else if (typeof payload === 'object') {
      body = JSON.stringify(payload)
      type = 'application/json; charset=utf-8'
    } else {
      body = String(payload)
      type = `${/^\s*</.test(body) ? 'text/html' : 'text/plain'}; charset=utf-8`
    }
    this.#headers['content-type'] ??= type
    sendRaw(this.req, this.res, { status: this.#status, headers: this.#headers, body })
  }
}

/** A device request's body as JSON or form fields, {} for anything else. */
export function parsedBody(raw: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (raw.length === 0) return {}
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase()
  try {
    if (type === 'application/json' || type.endsWith('+json')) {
      const value = JSON.parse(raw.toString('utf8'))
      return value && typeof value === 'object' && !Array.isArray(value) ? value : {}
    }
    if (type === 'application/x-www-form-urlencoded') {
      return Object.fromEntries(new URLSearchParams(raw.toString('utf8')))
    }
  } catch {
    // not what it says it is: the plugin still has the bytes
  }
  return {}
}
