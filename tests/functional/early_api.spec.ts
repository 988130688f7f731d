/*
 * Direct issuance answered before the framework (app/http/early_api.ts) and by the framework's
 * route (every other body type): the same answers, the same refusals, nothing half-written.
 * The requests are raw fetches so that headers and bodies are exactly what a client sends.
 */
import { test } from '@japa/runner'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  baseUrl,
  createCa,
  opensslCsr,
  unique,
  webServerTemplate,
} from '#tests/helpers/api'
import { opensslVerify } from '#tests/helpers/external'

async function setUp(client: Parameters<typeof createCa>[0]) {
  const ca = await createCa(client, { name: unique('Early CA'), keyType: 'ecdsa-p256' })
  const template = await webServerTemplate(client, ca.id)
  const { csrPem } = await opensslCsr({ key: 'ec-p256', subject: '/CN=early.example.com' })
  return { ca, template, csrPem, url: `${baseUrl()}/api/v1/templates/${template.id}/issue` }
}

/** A raw POST as a client sends it: JSON with the administrator's token unless told otherwise. */
async function post(
  url: string,
  body: string | Buffer,
  options: { type?: string; token?: boolean; headers?: Record<string, string> } = {}
) {
  const headers: Record<string, string> = {
    'content-type': options.type ?? 'application/json',
    ...options.headers,
  }
  if (options.token !== false) headers.authorization = `Bearer ${await adminToken()}`
  return fetch(url, { method: 'POST', headers, body })
}

async function count(caId: number) {
  return Number((await db.from('certificates').where('ca_id', caId).count('* as n').first()).n)
}

test.group('Direct issuance: early path and framework route', () => {
  test('a JSON body and a form body issue the same certificate shape', async ({
    client,
    assert,
  }) => {
    const { ca, url, csrPem } = await setUp(client)
    const echoed = await post(url, '{}', { headers: { 'x-request-id': 'trace-42' } })
    assert.equal(echoed.status, 400)
    assert.equal(echoed.headers.get('x-request-id'), 'trace-42')
    const viaJson = await post(url, JSON.stringify({ csr: csrPem, validityDays: 30 }))
    const viaForm = await post(
      url,
      new URLSearchParams({ csr: csrPem, validityDays: '30' }).toString(),
      { type: 'application/x-www-form-urlencoded' }
    )
    for (const res of [viaJson, viaForm]) {
      assert.equal(res.status, 201)
      // Both ways name the request, as the framework does.
      assert.match(res.headers.get('x-request-id') ?? '', /^[\w-]{16,}$/)
      assert.match(res.headers.get('content-type')!, /^application\/json; charset=utf-8/)
      const body = (await res.json()) as any
      assert.sameMembers(Object.keys(body.certificate), [
        'id',
        'serial',
        'subjectDn',
        'notBefore',
        'notAfter',
        'certificatePem',
      ])
      assert.equal(body.certificate.subjectDn, 'CN=early.example.com')
      const verdict = await opensslVerify({
        roots: [ca.certificatePem!],
        cert: body.certificate.certificatePem,
        purpose: 'sslserver',
      })
      assert.isTrue(verdict.ok, verdict.output)
      const days = (Date.parse(body.certificate.notAfter) - Date.now()) / 86400_000
      assert.approximately(days, 30, 0.1)
    }
    assert.equal(await count(ca.id), 2)
  }).timeout(30000)

  test('compressed JSON bodies (gzip, deflate, br) issue; a broken or unknown one is a 4xx', async ({
    client,
    assert,
  }) => {
    const { ca, template, url, csrPem } = await setUp(client)
    const json = JSON.stringify({ csr: csrPem })
    const compressed: Array<[string, Buffer]> = [
      ['gzip', gzipSync(json)],
      ['deflate', deflateSync(json)],
      ['br', brotliCompressSync(json)],
      // content codings are case-insensitive
      ['GZip', gzipSync(json)],
    ]
    for (const [encoding, body] of compressed) {
      const res = await post(url, body, { headers: { 'content-encoding': encoding } })
      assert.equal(res.status, 201, `${encoding}: ${await res.clone().text()}`)
      const pem = ((await res.json()) as any).certificate.certificatePem
      const verdict = await opensslVerify({ roots: [ca.certificatePem!], cert: pem })
      assert.isTrue(verdict.ok, verdict.output)
    }
    assert.equal(await count(ca.id), 4)

    const refused: Array<[string, Buffer, number, RegExp]> = [
      // cut short: the gzip stream ends early
      [
        'gzip',
        gzipSync(json).subarray(0, 40),
        400,
        /could not be decompressed \(Content-Encoding: gzip\)/,
      ],
      // labelled br, sent as gzip
      ['br', gzipSync(json), 400, /could not be decompressed \(Content-Encoding: br\)/],
      ['compress', Buffer.from(json), 415, /Content-Encoding "compress" is not supported/],
      // 2 MiB of JSON inflated from a few kilobytes: the limit counts inflated bytes
      ['gzip', gzipSync(JSON.stringify({ csr: ' '.repeat(2 * 1024 * 1024) })), 413, /larger/],
    ]
    for (const [encoding, body, status, message] of refused) {
      const res = await post(url, body, { headers: { 'content-encoding': encoding } })
      assert.equal(res.status, status, `${encoding}: ${await res.clone().text()}`)
      const error = ((await res.json()) as any).error
      assert.match(error.message, message)
      const codes: Record<number, string> = {
        400: 'E_BAD_REQUEST',
        413: 'E_REQUEST_ENTITY_TOO_LARGE',
        415: 'E_UNSUPPORTED_MEDIA_TYPE',
      }
      assert.equal(error.code, codes[status])
    }
    assert.equal(await count(ca.id), 4)

    // A body sent in chunks (no Content-Length) to a route of the framework: read too.
    const chunked = await fetch(`${baseUrl()}/api/v1/templates/${template.id}/requests`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'authorization': `Bearer ${await adminToken()}`,
      },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(json.slice(0, 100)))
          controller.enqueue(new TextEncoder().encode(json.slice(100)))
          controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    assert.equal(chunked.status, 201, await chunked.clone().text())
  }).timeout(30000)

  test('?format=pem, a charset parameter and a __proto__ key', async ({ client, assert }) => {
    const { ca, url, csrPem } = await setUp(client)
    const pem = await post(`${url}?format=pem`, JSON.stringify({ csr: csrPem }), {
      type: 'application/json; charset=UTF-8',
    })
    assert.equal(pem.status, 201)
    assert.equal(pem.headers.get('content-type'), 'application/x-pem-file')
    assert.match(
      await pem.text(),
      /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/
    )

    // The keys that could reach an object's prototype are dropped, as by the framework's parser.
    const proto = await post(
      url,
      `{"csr": ${JSON.stringify(csrPem)}, "__proto__": {"isAdmin": true}, "constructor": {"prototype": {"x": 1}}}`
    )
    assert.equal(proto.status, 201, await proto.clone().text())
    assert.isUndefined(({} as any).x)
    assert.equal(await count(ca.id), 2)
  }).timeout(30000)

  test('bad bodies and a missing token are refused in the API error format; nothing is stored', async ({
    client,
    assert,
  }) => {
    const { ca, url, csrPem } = await setUp(client)
    const cases: Array<{
      body: string
      token?: boolean
      headers?: Record<string, string>
      status: number
      code: string
      message: RegExp
    }> = [
      {
        body: '{"csr": ',
        status: 400,
        code: 'E_BAD_REQUEST',
        message: /JSON/,
      },
      {
        body: '"a string"',
        status: 422,
        code: 'E_BAD_REQUEST',
        message: /only supports object and array/,
      },
      {
        body: '[]',
        status: 400,
        code: 'E_INVALID_CSR',
        message: /Give the PEM certificate signing request as "csr"/,
      },
      {
        body: '',
        status: 400,
        code: 'E_INVALID_CSR',
        message: /Give the PEM certificate signing request as "csr"/,
      },
      {
        body: JSON.stringify({ csr: 'not a csr' }),
        status: 400,
        code: 'E_INVALID_CSR',
        message: /./,
      },
      {
        body: JSON.stringify({ csr: csrPem, validityDays: 99999 }),
        status: 422,
        code: 'E_VALIDATION',
        message: /./,
      },
      {
        body: JSON.stringify({ csr: csrPem, subject: { title: 'x' } }),
        status: 422,
        code: 'E_VALIDATION',
        message: /Unknown subject attribute "title"/,
      },
      {
        body: JSON.stringify({ csr: csrPem }),
        token: false,
        status: 401,
        code: 'E_UNAUTHORIZED',
        message: /A valid API token is required/,
      },
      {
        body: JSON.stringify({ csr: csrPem }),
        token: false,
        headers: { authorization: 'Bearer pki_nope' },
        status: 401,
        code: 'E_UNAUTHORIZED',
        message: /A valid API token is required/,
      },
    ]
    for (const c of cases) {
      const res = await post(url, c.body, { token: c.token, headers: c.headers })
      const text = await res.text()
      assert.equal(res.status, c.status, text)
      assert.match(res.headers.get('content-type')!, /^application\/json/)
      const body = JSON.parse(text)
      assert.equal(body.error.code, c.code, text)
      assert.match(body.error.message, c.message)
      if (c.status === 401) assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="api"')
    }
    // An unknown template, through the same path: 404 in the same format.
    const missing = await post(
      `${baseUrl()}/api/v1/templates/999999999/issue`,
      JSON.stringify({ csr: csrPem })
    )
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as any).error.code, 'E_TEMPLATE_NOT_FOUND')
    assert.equal(await count(ca.id), 0)
  }).timeout(30000)

  test('a body over 1 MiB gets a 413 and the connection is closed', async ({ client, assert }) => {
    const { ca, url } = await setUp(client)
    const res = await post(url, JSON.stringify({ csr: 'x'.repeat(1024 * 1024 + 10) }))
    assert.equal(res.status, 413)
    assert.equal(res.headers.get('connection'), 'close')
    const body = (await res.json()) as any
    assert.equal(body.error.code, 'E_REQUEST_ENTITY_TOO_LARGE')
    assert.equal(body.error.message, 'The request body is larger than 1 MiB.')
    assert.equal(await count(ca.id), 0)
  }).timeout(30000)

  test('the audit entry names the client behind a trusted proxy', async ({ client, assert }) => {
    const { ca, url, csrPem } = await setUp(client)
    // The test client connects over loopback, which TRUST_PROXY trusts by default.
    const res = await post(url, JSON.stringify({ csr: csrPem }), {
      headers: { 'x-forwarded-for': '203.0.113.9' },
    })
    assert.equal(res.status, 201)
    const id = ((await res.json()) as any).certificate.id
    const row = await db
      .from('audit_logs')
      .where('action', 'certificate.issue')
      .where('object_id', String(id))
      .first()
    assert.equal(row?.ip, '203.0.113.9')
    assert.equal(await count(ca.id), 1)
  }).timeout(30000)

  test('the early path and the framework route refuse the same bad requests the same way', async ({
    client,
    assert,
  }) => {
    const { ca, url, csrPem } = await setUp(client)
    // application/json is answered early; application/vnd.api+json is JSON to the framework's
    // body parser but not taken by the early path.
    const send = (type: string, body: string, token: boolean) => post(url, body, { type, token })
    const cases: Array<[string, string, boolean]> = [
      ['invalid JSON', '{"csr": ', true],
      ['a string', '"pem"', true],
      ['whitespace only', '   ', true],
      ['a byte order mark', `\ufeff${JSON.stringify({ csr: csrPem })}`, true],
      ['an array', '[1, 2]', true],
      ['an array without a token', '[1, 2]', false],
      ['no token', JSON.stringify({ csr: csrPem }), false],
      ['no csr', JSON.stringify({ validityDays: 3 }), true],
      ['a bad validity', JSON.stringify({ csr: csrPem, validityDays: 0 }), true],
      ['too large', JSON.stringify({ csr: 'x'.repeat(1024 * 1024 + 10) }), true],
    ]
    let issued = 0
    for (const [label, body, auth] of cases) {
      const early = await send('application/json', body, auth)
      const framework = await send('application/vnd.api+json', body, auth)
      const [a, b] = [(await early.json()) as any, (await framework.json()) as any]
      assert.equal(early.status, framework.status, `${label}: ${JSON.stringify([a, b])}`)
      if (early.status === 201) {
        issued += 2 // a byte order mark is dropped by both
        continue
      }
      assert.equal(a.error.code, b.error.code, label)
      if (early.status !== 413) assert.equal(a.error.message, b.error.message, label)
      assert.equal(
        early.headers.get('www-authenticate'),
        framework.headers.get('www-authenticate'),
        label
      )
    }
    assert.equal(issued, 2)
    assert.equal(await count(ca.id), issued)
  }).timeout(30000)
})
