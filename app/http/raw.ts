/*
 * Plain Node HTTP pieces for the requests answered before the framework's router: the kernel's
 * early API routes (app/http/early_api.ts) and plugins' fast routes (app/plugins/router.ts).
 * One body reader, one answer writer and one client-address rule for both.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import proxyAddr from 'proxy-addr'
import { http } from '#config/app'

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
  res.writeHead(answer.status ?? 200, {
    'content-length': String(body.byteLength),
    ...answer.headers,
  })
  res.end(req.method === 'HEAD' ? undefined : body)
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
