/*
 * Which requests the early API path takes (app/http/early_api.ts). A request it does not take
 * must reach the framework untouched: no byte of its body read, nothing written.
 */
import { test } from '@japa/runner'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import { earlyApi, parseJsonBody } from '#http/early_api'

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
})
