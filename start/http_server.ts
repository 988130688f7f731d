/*
 * Creates the Node HTTP server. With TLS_CERT_FILE and TLS_KEY_FILE set the server speaks
 * HTTPS itself; otherwise plain HTTP (put a TLS-terminating proxy in front, see docs/operations.md).
 * Plugins' fast routes (answered before the framework's router) hook in here.
 */
import { readFileSync } from 'node:fs'
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import { StartupError } from '#exceptions/startup_error'

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
  if (Boolean(certFile) !== Boolean(keyFile)) {
    // Half a TLS configuration: plain HTTP would be served where HTTPS was meant.
    throw new StartupError(
      `TLS_CERT_FILE and TLS_KEY_FILE go together; only ${certFile ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'} is set.`
    )
  }
  if (certFile && keyFile) {
    const read = (file: string, name: string) => {
      try {
        return readFileSync(file)
      } catch (error) {
        throw new StartupError(`${name} ${file} cannot be read (${(error as Error).message}).`)
      }
    }
    const cert = read(certFile, 'TLS_CERT_FILE')
    const key = read(keyFile, 'TLS_KEY_FILE')
    try {
      return createHttps({ cert, key }, wrapped)
    } catch (error) {
      throw new StartupError(
        `TLS_CERT_FILE and TLS_KEY_FILE cannot serve HTTPS (${(error as Error).message}): give a PEM certificate and its private key.`
      )
    }
  }
  return createHttp(wrapped)
}
