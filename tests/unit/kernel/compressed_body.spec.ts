/*
 * A compressed body read the way the framework's parsers read it (inflation + raw-body, their own
 * dependencies) over a real HTTP connection: a client that goes away mid-body must end the read
 * (app/http/raw.ts failPipesOnAbort), not leave it waiting forever.
 */
import { test } from '@japa/runner'
import http, { type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { createRequire } from 'node:module'
import { failPipesOnAbort } from '#http/raw'

const require = createRequire(import.meta.url)
const inflate = require('inflation') as (req: IncomingMessage) => NodeJS.ReadableStream
const rawBody = require('raw-body') as (
  stream: NodeJS.ReadableStream,
  options: { limit: string; encoding: string }
) => Promise<string>

/** Sends the first bytes of a gzip body, then drops the connection; how the server's read ended. */
async function abandonedRead(withFix: boolean): Promise<string> {
  let outcome: (value: string) => void
  const ended = new Promise<string>((resolve) => (outcome = resolve))
  const server = http.createServer((req) => {
    if (withFix) failPipesOnAbort(req)
    rawBody(inflate(req), { limit: '1mb', encoding: 'utf8' }).then(
      () => outcome('read'),
      (error) => outcome(`refused ${error.status} ${error.code}`)
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const body = gzipSync(JSON.stringify({ csr: 'x'.repeat(200_000) }))
    const client = http.request({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': body.length,
      },
    })
    client.on('error', () => {})
    client.write(body.subarray(0, 64))
    setTimeout(() => client.destroy(), 100)
    const timeout = new Promise<string>((resolve) =>
      setTimeout(() => resolve('still waiting'), 2000)
    )
    return await Promise.race([ended, timeout])
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

test.group('Compressed request bodies', () => {
  test('a client that goes away mid-body ends the read with a 400', async ({ assert }) => {
    assert.equal(await abandonedRead(true), 'refused 400 E_REQUEST_ABORTED')
  })

  test('(control) without it, the read waits forever', async ({ assert }) => {
    assert.equal(await abandonedRead(false), 'still waiting')
  })
})
