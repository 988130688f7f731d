/*
 * Plain Node HTTP pieces for the requests answered before the framework's router: the kernel's
 * early API path (app/http/early_api.ts), plugins' early device routes
 * (app/plugins/early_routes.ts) and their ready-bytes fast routes (app/plugins/router.ts). One
 * body reader, one answer writer, one error answer and one client-address rule for all.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import logger from '@adonisjs/core/services/logger'
import proxyAddr from 'proxy-addr'
import { http } from '#config/app'
import {
  RequestAbortedError,
  RequestTooLargeError,
  apiErrorAnswer,
  reportApiError,
} from '#exceptions/api_errors'

/**
 * For a compressed body read by the framework's parsers: they pipe the request into a zlib stream
 * (the `inflation` package) and wait for that stream's end. A client that goes away mid-body
 * never ends it, so the parse would wait forever and keep the request in memory. When the request
 * closes before it is complete, the streams it was piped into are destroyed with
 * RequestAbortedError (400), which ends the parse.
 */
export function failPipesOnAbort(req: IncomingMessage): void {
  const pipe = req.pipe.bind(req)
  const destinations: NodeJS.WritableStream[] = []
  req.pipe = ((destination: NodeJS.WritableStream, options?: { end?: boolean }) => {
    destinations.push(destination)
    return pipe(destination, options)
  }) as typeof req.pipe
  req.once('close', () => {
    if (req.complete) return
    for (const destination of destinations) {
      ;(destination as { destroy?: (error: Error) => void }).destroy?.(new RequestAbortedError())
    }
  })
}

/** The largest body read for a device or early API request unless a route says otherwise. */
export const MAX_RAW_BODY = 1024 * 1024

/**
 * The whole body, or null when it is larger than `limit` (reading stops there). A client that
 * goes away meanwhile is a RequestAbortedError (a 400, not logged), as in the framework.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return null
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length
      if (size > limit) return null
      chunks.push(chunk as Buffer)
    }
  } catch (error) {
    if (req.destroyed || (error as any)?.code === 'ECONNRESET') throw new RequestAbortedError()
    throw error
  }
  return Buffer.concat(chunks, size)
}

/**
 * After a body over the limit: the answer goes out with `Connection: close`, then the socket is
 * closed (the rest of the upload is never read). Closing only once the answer has been handed
 * over lets a client that is still sending read it.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (res.writableFinished) req.destroy()
  else res.once('finish', () => req.destroy())
}

/** Answers a body over `limit` in the API's JSON error format and closes the connection. */
export function sendTooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  sendApiError(req, res, new RequestTooLargeError(limit), { headers: { connection: 'close' } })
  closeAfterAnswer(req, res)
}

export interface RawAnswer {
  status?: number
  headers?: Record<string, string>
  body: string | Uint8Array
}

/** Writes a complete answer (Content-Length set; no body for HEAD). */
export function sendRaw(req: IncomingMessage, res: ServerResponse, answer: RawAnswer): void {
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body
  const status = answer.status ?? 200
  // RFC 9110 §8.6: no Content-Length (and no body) on 204 and 304.
  const empty = status === 204 || status === 304
  res.writeHead(
    status,
    empty ? answer.headers : { 'content-length': String(body.byteLength), ...answer.headers }
  )
  res.end(req.method === 'HEAD' || empty ? undefined : body)
}

/** The client's address under the same TRUST_PROXY rule as the framework's `request.ip()`. */
export function clientIp(req: IncomingMessage): string {
  return proxyAddr(req, http.trustProxy as (addr: string, i: number) => boolean)
}

/**
 * The request's id: the client's X-Request-Id, else a new one (kept on the request, as the
 * framework does, so that the answer and the log name the same id).
 */
export function requestIdOf(req: IncomingMessage): string {
  const header = req.headers['x-request-id']
  if (typeof header === 'string' && header) return header
  const id = randomUUID()
  req.headers['x-request-id'] = id
  return id
}

/**
 * Answers a throw in the API's JSON error format (app/exceptions/api_errors.ts) and logs what
 * the exception handler would log; a half-sent answer is cut off instead.
 */
export function sendApiError(
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
  options: { log?: Record<string, unknown>; headers?: Record<string, string> } = {}
): void {
  const requestId = requestIdOf(req)
  const url = (req.url ?? '/').split('?')[0]
  const answer = apiErrorAnswer(error, { method: req.method ?? 'GET', url, requestId })
  if (answer.status >= 500) {
    const log = logger.child({ request_id: requestId, ...options.log })
    if (!reportApiError(log, error)) log.error({ err: error }, 'request failed')
  }
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendRaw(req, res, {
    status: answer.status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'x-request-id': requestId,
      ...answer.headers,
      ...options.headers,
    },
    body: JSON.stringify(answer.body),
  })
}
