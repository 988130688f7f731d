/*
 * Plain Node HTTP pieces for the requests answered before the framework's router: the kernel's
 * early API routes (app/http/early_api.ts) and plugins' fast routes (app/plugins/router.ts).
 * One body reader, one answer writer and one client-address rule for both.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import logger from '@adonisjs/core/services/logger'
import proxyAddr from 'proxy-addr'
import { http } from '#config/app'
import { apiErrorAnswer, reportApiError } from '#exceptions/api_errors'

/** The largest body read for a device or early API request unless a route says otherwise. */
export const MAX_RAW_BODY = 1024 * 1024

/** The whole body, or null when it is larger than `limit` (reading stops there). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return null
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) return null
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks, size)
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

/** "1 MiB", "64 KiB" or "100 bytes": a body limit as a person reads it. */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
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
