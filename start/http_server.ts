/*
 * Creates the Node HTTP server. With TLS_CERT_FILE and TLS_KEY_FILE set the server speaks
 * HTTPS itself; otherwise plain HTTP (put a TLS-terminating proxy in front, see docs/operations.md).
 * Plugins' fast routes (answered before the framework's router) hook in here.
 */
import { readFileSync } from 'node:fs'
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A fast route answers a request itself and returns true, or returns false to pass it on. */
export type FastRoute = (req: IncomingMessage, res: ServerResponse) => boolean

export const fastRoutes: FastRoute[] = []

export function createHttpServer(handler: Handler) {
  const wrapped: Handler = (req, res) => {
    for (const route of fastRoutes) if (route(req, res)) return
    handler(req, res)
  }
  const certFile = process.env.TLS_CERT_FILE
  const keyFile = process.env.TLS_KEY_FILE
  if (certFile && keyFile) {
    return createHttps({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, wrapped)
  }
  return createHttp(wrapped)
}
