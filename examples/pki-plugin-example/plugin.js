/*
 * pki-plugin-example: a third-party Open PKI plugin that uses every extension point of the
 * plugin contract. Plain ESM JavaScript with JSDoc types, so it loads from node_modules with no
 * TypeScript loader, and no runtime import of Open PKI: everything arrives through setup(api)
 * and the runtime.
 *
 * What it does:
 *  - device routes   GET /example/hello, GET /example/hello/:name, POST /example/echo (raw bytes),
 *                    GET /example/ca/:caId/info
 *  - early routes    POST and PUT /example/fast/digest: device routes the host answers before
 *                    the framework's router once started (body read by the host, 4 KiB limit)
 *  - fast route      GET /example/fast/ping from ready bytes, before the framework's router
 *  - admin page      /admin/p/example (nav entry "Greetings")
 *  - template tab    setting "blockedWord": common names or SANs containing it are refused
 *  - CA tab          setting "contact", and how many certificates the plugin saw for the CA
 *  - fragment        a card on the dashboard
 *  - hooks           validateIssue (the veto above), afterIssue (records the certificate)
 *  - job             "tally" every 10 minutes, one node at a time
 *  - service URLs    the CA info page (CA scope), the greeting endpoint (template scope)
 *  - its own tables  example_greetings, example_issued, example_job_runs (migration)
 *  - install settings with a secret (webhookToken), versioned (v1 "salutation" → v2 "greeting")
 *  - an extension point of its own, "example.greeting-validators", which it also uses itself
 *
 * @typedef {import('../../app/plugins/contract.js').PluginDefinition} PluginDefinition
 * @typedef {import('../../app/plugins/contract.js').PluginRuntime} PluginRuntime
 * @typedef {import('../../app/plugins/contract.js').RouteHandler} RouteHandler
 */

import { createHash } from 'node:crypto'

const ID = 'example'

/** @param {unknown} value */
function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

/** A greeting validator: returns a message when the name is refused, null when fine. */
/** @param {string} name */
function lettersOnly(name) {
  return /^[\p{L} '-]{1,60}$/u.test(name)
    ? null
    : 'A name may contain letters, spaces, apostrophes and dashes only (at most 60).'
}

/** The common name inside a subject DN ("CN=www.example.com, O=Example"). */
/** @param {string} dn */
function commonName(dn) {
  const m = /(?:^|,\s*)CN=((?:\\,|[^,])*)/i.exec(dn ?? '')
  return m ? m[1].replace(/\\,/g, ',') : ''
}

/** @type {Buffer | null} bytes the fast route answers with, prepared in start() */
let pong = null
/** How many greetings are stored. @param {PluginRuntime} runtime */
async function countGreetings(runtime) {
  const [row] = await runtime.table('example_greetings').count('* as n')
  return Number(/** @type {any} */ (row).n)
}

/** @type {PluginDefinition} */
const plugin = {
  id: ID,
  name: 'Example',
  version: '1.0.0',
  apiVersion: 1,
  kernel: '^0.1.0',
  description:
    'Shows third-party authors every extension point: greetings over HTTP, a naming policy per template, a dashboard card.',
  requires: [],
  enabledByDefault: false,
  migrations: new URL('./database/migrations/', import.meta.url),
  extensionPoints: {
    'example.greeting-validators':
      'Functions (name: string) => string | null; a string refuses the greeting with that message.',
  },

  settings: {
    install: {
      version: 2,
      schema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          greeting: {
            'type': 'string',
            'title': 'Greeting word',
            'description': 'What GET /example/hello says before the name.',
            'minLength': 1,
            'maxLength': 40,
            'default': 'Hello',
            'x-message': 'The greeting word needs 1 to 40 characters.',
          },
          webhookToken: {
            'type': 'string',
            'title': 'Webhook token',
            'description': 'Sent with each notification (an example of a secret setting).',
            'maxLength': 200,
            'default': '',
            'x-secret': true,
          },
        },
      },
      // Version 1 called the greeting "salutation".
      upgrade(old, fromVersion) {
        if (fromVersion < 2) {
          const { salutation, ...rest } = old
          return { ...rest, greeting: salutation ?? 'Hello' }
        }
        return old
      },
    },
    template: {
      version: 1,
      schema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          blockedWord: {
            'type': 'string',
            'title': 'Refuse names containing',
            'description':
              'Certificates whose common name or a SAN contains this word are refused (empty: no check).',
            'pattern': '^[A-Za-z0-9-]*$',
            'maxLength': 30,
            'default': '',
            'x-message': 'Use letters, digits and dashes only (at most 30 characters).',
          },
        },
      },
    },
    ca: {
      version: 1,
      schema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          contact: {
            type: 'string',
            title: 'Contact for this CA',
            description: 'Shown on the public CA info page.',
            maxLength: 100,
            default: '',
          },
          showInfoPage: {
            type: 'boolean',
            title: 'Publish the CA info page',
            default: true,
          },
        },
      },
    },
  },

  setup(api) {
    const base = `${api.publicUrl}/${ID}`

    api.provide('example.greeting-validators', lettersOnly)

    api.routes({
      surface: 'device',
      register(r) {
        r.get('/hello', async ({ runtime }) => {
          const { greeting } = await runtime.settings.install()
          return { message: `${greeting}, world!` }
        })

        r.get('/hello/:name', async ({ request, reply, runtime }) => {
          const name = String(request.params.name)
          for (const validate of runtime.extensions('example.greeting-validators')) {
            const refusal = typeof validate === 'function' ? validate(name) : null
            if (refusal) {
              reply.status(422).send({ error: { code: 'E_VALIDATION', message: refusal } })
              return
            }
          }
          const { greeting } = await runtime.settings.install()
          await runtime.table('example_greetings').insert({ name, at: Date.now() })
          runtime.countServiceHit('greeting')
          return { message: `${greeting}, ${name}!` }
        })

        // Raw binary body, no CSRF: what device protocols (OCSP, SCEP...) need.
        r.post('/echo', async ({ request, reply }) => {
          const body = await request.rawBody()
          reply.header('content-type', 'application/octet-stream').status(200).send(body)
        })

        r.get('/ca/:caId/info', async ({ request, reply, runtime }) => {
          const caId = Number(request.params.caId)
          const ca = Number.isInteger(caId) ? await runtime.getCa(caId) : null
          const settings = ca ? await runtime.settings.ca(caId) : null
          if (!ca || !settings?.showInfoPage) {
            reply
              .status(404)
              .send({ error: { code: 'E_NOT_FOUND', message: 'No such CA info page.' } })
            return
          }
          return { name: ca.name, subject: ca.subjectDn, contact: settings.contact || null }
        })
      },
    })

    api.fastRoute({
      handle(req) {
        if (req.path !== '/fast/ping' || !pong) return null
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: pong }
      },
    })

    // Device endpoints answered before the framework's router once the plugin started (early
    // routes, what a protocol plugin such as ACME uses): the body read by the host, 4 KiB at most.
    /** @type {RouteHandler} */
    const digest = async ({ request, runtime }) => {
      if (request.query.fail === '1') throw new Error('asked to fail')
      const body = await request.rawBody()
      return {
        method: request.method,
        ip: request.ip,
        length: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        greetings: await countGreetings(runtime),
      }
    }
    api.routes({
      surface: 'device',
      early: true,
      bodyLimit: 4096,
      tooLarge: () => ({
        status: 413,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'body over 4096 bytes' }),
      }),
      register(r) {
        r.post('/fast/digest', digest)
        r.put('/fast/digest', digest)
      },
    })
    // The same without an own answer to a large body: the kernel's JSON 413 (1 KiB here), and
    // `:params` decoded as on the framework's route.
    api.routes({
      surface: 'device',
      early: true,
      bodyLimit: 1024,
      register(r) {
        r.post('/fast/size/:label', async ({ request }) => ({
          label: request.params.label,
          length: (await request.rawBody()).length,
        }))
      },
    })

    api.routes({
      surface: 'admin',
      register(r) {
        r.get('/', async ({ runtime, currentCaId }) => {
          const greetings = await runtime.table('example_greetings').orderBy('id', 'desc').limit(20)
          const issued = currentCaId
            ? await runtime
                .table('example_issued')
                .where('ca_id', currentCaId)
                .orderBy('id', 'desc')
                .limit(20)
            : []
          const rows = /** @type {any[]} */ (greetings)
            .map(
              (g) =>
                `<tr><td>${esc(g.name)}</td><td>${esc(new Date(Number(g.at)).toISOString())}</td></tr>`
            )
            .join('')
          const certs = /** @type {any[]} */ (issued)
            .map((c) => `<tr><td><code>${esc(c.serial)}</code></td><td>${esc(c.subject)}</td></tr>`)
            .join('')
          return {
            title: 'Greetings',
            html: `
              <section class="card"><h2>Recent greetings</h2>
                ${rows ? `<div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">When</th></tr></thead><tbody>${rows}</tbody></table></div>` : '<p class="empty">Nobody was greeted yet. Try <code>GET /example/hello/Ada</code>.</p>'}
              </section>
              <section class="card"><h2>Certificates seen for this CA</h2>
                ${certs ? `<div class="table-wrap"><table><thead><tr><th scope="col">Serial</th><th scope="col">Subject</th></tr></thead><tbody>${certs}</tbody></table></div>` : '<p class="empty">No certificate was issued for this CA while the plugin was enabled.</p>'}
              </section>`,
          }
        })
      },
    })

    api.nav({ label: 'Greetings', path: '/' })

    api.templateTab({
      label: 'Example',
      render: ({ settings }) =>
        settings.blockedWord
          ? `<p class="muted">Requests whose names contain <strong>${esc(settings.blockedWord)}</strong> are refused.</p>`
          : '<p class="muted">No word is refused for this template.</p>',
    })

    api.caTab({
      label: 'Example',
      render: async ({ caId, runtime }) => {
        const [row] = await runtime.table('example_issued').where('ca_id', caId).count('* as n')
        return `<p class="muted">The Example plugin saw ${Number(row?.n ?? 0)} certificate(s) issued by this CA.</p>`
      },
    })

    api.fragment({
      zone: 'dashboard.after',
      render: async ({ caId, runtime }) => {
        if (!caId) return ''
        const [row] = await runtime.table('example_issued').where('ca_id', caId).count('* as n')
        return `<section class="card example-card"><h2>Example plugin</h2><p>${Number(row?.n ?? 0)} certificate(s) seen for this CA. <a href="/admin/p/example">Open Greetings</a></p></section>`
      },
    })

    api.hook('validateIssue', {
      timeoutMs: 2000,
      handler: async (ctx, runtime) => {
        const { blockedWord } = await runtime.settings.template(ctx.templateId)
        if (!blockedWord) return
        const word = String(blockedWord).toLowerCase()
        const cn = commonName(ctx.subjectDn)
        const hit = [cn, ...ctx.sans.map((s) => s.value)].find((v) =>
          v.toLowerCase().includes(word)
        )
        if (!hit) return
        return {
          deny: `The name "${hit}" contains "${blockedWord}", which template "${ctx.templateName}" does not allow. Choose a name without "${blockedWord}", or ask an administrator to change the word on the template's Example tab.`,
        }
      },
    })

    api.hook('afterIssue', async (ctx, runtime) => {
      await runtime.table('example_issued').insert({
        ca_id: ctx.caId,
        template_id: ctx.templateId,
        serial: ctx.serial,
        subject: ctx.subjectDn.slice(0, 400),
        at: Date.now(),
      })
    })

    api.job({
      name: 'tally',
      schedule: '10m',
      concurrency: 'cluster-singleton',
      async run(runtime) {
        const [row] = await runtime.table('example_issued').count('* as n')
        await runtime
          .table('example_job_runs')
          .insert({ at: Date.now(), issued_total: Number(row?.n ?? 0) })
      },
    })

    // `node ace example:greetings --limit 5`: what scripts can read (one greeting a line).
    api.command({
      name: 'example:greetings',
      description: 'Print the most recent greetings, newest first (name, then ISO time)',
      flags: {
        limit: { type: 'number', description: 'How many (1 to 1000, default 20)' },
      },
      async run({ flags, runtime, out, err }) {
        const limit = flags.limit === undefined ? 20 : Number(flags.limit)
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          err('--limit must be a whole number from 1 to 1000.')
          return 2
        }
        const rows = await runtime.table('example_greetings').orderBy('id', 'desc').limit(limit)
        if (rows.length === 0) out('Nobody was greeted yet.')
        for (const g of /** @type {any[]} */ (rows))
          out(`${g.name}\t${new Date(Number(g.at)).toISOString()}`)
      },
    })

    api.serviceUrl({
      kind: 'example-ca-info',
      label: 'Example: CA info page',
      scope: 'ca',
      urls: ({ caId }) => [`${base}/ca/${caId}/info`],
    })

    api.serviceUrl({
      kind: 'example-greeting',
      label: 'Example: greeting endpoint',
      scope: 'template',
      urls: () => [`${base}/hello`],
    })
  },

  async start(runtime) {
    pong = Buffer.from('pong\n')
    runtime.log.info('example plugin started')
  },

  async stop() {
    pong = null
  },
}

export default plugin
