/*
 * Which requests the early API path takes (app/http/early_api.ts). A request it does not take
 * must reach the framework untouched: no byte of its body read, nothing written.
 */
import { test } from '@japa/runner'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import { earlyApi, parseJsonBody } from '#http/early_api'
import { readBody } from '#http/raw'

function request(method: string, url: string, headers: Record<string, string>) {
  const stream = new PassThrough()
  stream.end('{"csr": "x"}')
  return Object.assign(stream, { method, url, headers }) as unknown as IncomingMessage
}

const untouchedResponse = () =>
  new Proxy({} as ServerResponse, {
    get() {
      throw new Error('the response was touched')
    },
  })

test.group('Early API path: what it takes', () => {
  test('everything but a JSON POST to the exact issue URL goes to the framework', ({ assert }) => {
    const json = { 'content-type': 'application/json' }
    const passed: Array<[string, string, Record<string, string>]> = [
      ['GET', '/api/v1/templates/1/issue', json],
      ['HEAD', '/api/v1/templates/1/issue', json],
      ['PUT', '/api/v1/templates/1/issue', json],
      ['POST', '/api/v1/templates/1/issue/', json],
      ['POST', '/api/v1/templates/x/issue', json],
      ['POST', '/api/v1/templates/1/requests', json],
      ['POST', '/api/v1/templates/1/issue', {}],
      [
        'POST',
        '/api/v1/templates/1/issue',
        { 'content-type': 'application/x-www-form-urlencoded' },
      ],
      ['POST', '/api/v1/templates/1/issue', { 'content-type': 'multipart/form-data; boundary=x' }],
      ['POST', '/api/v1/templates/1/issue', { 'content-type': 'application/vnd.api+json' }],
      ['POST', '/api/v1/templates/1/issue', { ...json, 'content-encoding': 'gzip' }],
    ]
    for (const [method, url, headers] of passed) {
      const req = request(method, url, headers)
      assert.isFalse(
        earlyApi(req, untouchedResponse()),
        `${method} ${url} ${JSON.stringify(headers)}`
      )
      assert.equal(req.readableLength, 12, 'the body is left unread')
    }
  })

  test('JSON bodies are read as the framework reads them; prototype keys are dropped', ({
    assert,
  }) => {
    const parsed = parseJsonBody(
      Buffer.from('{"csr": "x", "__proto__": {"a": 1}, "constructor": {"prototype": {"b": 2}}}')
    )
    assert.deepEqual(Object.keys(parsed), ['csr'])
    assert.isFalse(Object.hasOwn(parsed, '__proto__'))
    assert.deepEqual(parseJsonBody(Buffer.alloc(0)), {})
    assert.deepEqual(parseJsonBody(Buffer.from(' [1]')), [1] as any)
    assert.throws(() => parseJsonBody(Buffer.from('"a"')), /only supports object and array/)
    assert.throws(() => parseJsonBody(Buffer.from('  ')), /only supports object and array/)
    assert.throws(() => parseJsonBody(Buffer.from('{"a": ')), /JSON/)
  })

  test('the body reader: a limit found while reading, and a client that goes away', async ({
    assert,
  }) => {
    const body = (headers: Record<string, string> = {}) =>
      Object.assign(new PassThrough(), { headers }) as unknown as IncomingMessage & PassThrough
    const whole = body()
    whole.end(Buffer.alloc(10, 1))
    assert.equal((await readBody(whole, 10))?.length, 10)
    // No Content-Length (chunked): the limit is found while reading.
    const big = body()
    big.end(Buffer.alloc(11))
    assert.isNull(await readBody(big, 10))
    // A declared length over the limit: nothing is read.
    const declared = body({ 'content-length': '11' })
    assert.isNull(await readBody(declared, 10))
    assert.equal(declared.readableLength, 0)
    // The client leaves halfway: a 400 E_REQUEST_ABORTED, not a server error.
    const gone = body({ 'content-length': '100' })
    gone.write(Buffer.alloc(5))
    setImmediate(() => gone.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })))
    const error = await readBody(gone, 1000).then(
      () => null,
      (e: any) => e
    )
    assert.equal(error?.code, 'E_REQUEST_ABORTED')
    assert.equal(error?.status, 400)
  })
})
