/*
 * The access-control matrix: two users who are not install administrators, each owning one CA
 * (with a template, a pending request and an issued certificate). For EVERY route registered
 * under /api/v1 and /admin (read from the router at test time, so routes added later are
 * covered too):
 *
 * - a route that takes a CA, template, request or certificate id (or a serial) is called by
 *   each user with the other's ids: it must answer 404, as for an object that does not exist
 *   (403 on install-administrator pages); as a control, the owner reaches their own (any
 *   answer but 401/403/404 or a bounce to the login page);
 * - install-administrator pages (Plugins, Users, Login providers, …) answer 403 to both;
 * - pages and API lists without ids, called with `?ca=<the other's CA>`, show nothing of the
 *   other's CA; forms posted with the other's ids in their fields change nothing of theirs.
 *
 * A route parameter this test cannot place (a new kind of id) fails the test until it is
 * classified here or put in the small allow-list of routes that take no CA-scoped id.
 */
import { test } from '@japa/runner'
import router from '@adonisjs/core/services/router'
import db from '@adonisjs/lucid/services/db'
import type { ApiClient } from '@japa/api-client'
import type User from '#models/user'
import { tokenService } from '#services/token_service'
import { systemActor } from '#services/actor'
import { randomBytes } from 'node:crypto'
import { webUser } from '#tests/helpers/web'
import { opensslCsr, unique } from '#tests/helpers/api'

/** Routes with parameters that are not CA-scoped objects, and why. */
const ALLOW_LIST: Record<string, string> = {
  '/auth/:provider/redirect': 'login provider id; anonymous login flow',
  '/auth/:provider/callback': 'login provider id; anonymous login flow',
}

type Kind =
  | 'ca'
  | 'template'
  | 'request'
  | 'certificate'
  | 'serial'
  | 'token'
  | 'admin-object'
  | 'fixed'
  | 'acme-policy'
  | 'acme-eab'
  | 'acme-account'

const SEGMENT_KINDS: Record<string, Kind> = {
  'cas': 'ca',
  'templates': 'template',
  'requests': 'request',
  'certificates': 'certificate',
  'tokens': 'token',
  'users': 'admin-object',
  'login-providers': 'admin-object',
  'plugins': 'admin-object',
  'identities': 'admin-object',
  'memberships': 'admin-object',
}

/**
 * Objects of plugins, scoped to a CA by the plugin (its admin pages answer 404 for another CA's
 * objects): `/admin/p/<plugin>/<segment>/:id`.
 */
const PLUGIN_SEGMENT_KINDS: Record<string, Record<string, Kind>> = {
  acme: { policies: 'acme-policy', eabs: 'acme-eab', accounts: 'acme-account' },
}

const NAMED_KINDS: Record<string, Kind> = {
  caId: 'ca',
  templateId: 'template',
  requestId: 'request',
  certificateId: 'certificate',
  certId: 'certificate',
  serial: 'serial',
  identityId: 'admin-object',
  tokenId: 'token',
}

/** Parameters whose value is not an object id: a fixed value that exists. */
const FIXED_VALUES: Record<string, string> = {
  tab: 'general',
  format: 'pem',
}

interface World {
  user: User
  token: string
  caName: string
  ca: number
  template: number
  request: number
  certificate: number
  serial: string
  tokenId: number
  /** A CSR and an issued certificate (PEM) to put in request bodies. */
  csrPem: string
  certPem: string
  /** Strings that only this user's objects carry (for leak checks). */
  markers: string[]
  /** ACME objects of the user's CA (when the ACME plugin is installed). */
  acme?: { policy: number; eab: number; account: number }
}

/** A policy, an EAB and an account of the ACME plugin for the CA, made through its own code. */
async function acmeObjects(caId: number, templateId: number) {
  const { pluginHost } = await import('#plugins/host')
  const runtime = pluginHost.get('acme')?.runtime
  if (!runtime) return undefined
  const { createPolicy, createEab } = await import('../../plugins/acme/policies.js')
  const policy = await createPolicy(runtime, {
    caId,
    name: unique('matrix policy'),
    template: templateId,
  })
  const eab = await createEab(runtime, { policyId: policy.id, name: 'matrix' })
  const inserted = await runtime
    .table('acme_accounts')
    .insert({
      policy_id: policy.id,
      eab_id: eab.id,
      eab_kid: eab.kid,
      thumbprint: randomBytes(32).toString('base64url'),
      jwk: '{}',
      status: 'valid',
      created_at: Date.now(),
    })
    .returning('id')
  const account = Number(inserted[0]?.id ?? inserted[0])
  return { policy: policy.id, eab: eab.id, account }
}

async function buildWorld(client: ApiClient, label: string): Promise<World> {
  const user = await webUser()
  const token = await tokenService.createToken(systemActor, user, 'matrix')
  const caName = unique(`Matrix ${label}`)
  const created = await client
    .post('/api/v1/cas')
    .bearerToken(token)
    .json({ name: caName, keyType: 'ecdsa-p256' })
  if (created.status() !== 201) throw new Error(`CA: ${created.status()} ${created.text()}`)
  const ca = Number(created.body().ca.id)
  const templates = await client.get(`/api/v1/cas/${ca}/templates`).bearerToken(token)
  const template = Number(templates.body().templates[0].id)
  const tag = unique(label.toLowerCase()).replace(' ', '-')

  const { csrPem } = await opensslCsr({ subject: `/CN=${tag}-cert.example` })
  const issued = await client
    .post(`/api/v1/templates/${template}/issue`)
    .bearerToken(token)
    .json({ csr: csrPem })
  if (issued.status() !== 201) throw new Error(`issue: ${issued.status()} ${issued.text()}`)
  const certificate = Number(issued.body().certificate.id)
  const serial = String(issued.body().certificate.serial)
  const certPem = String(issued.body().certificate.certificatePem)

  const submitted = await client
    .post(`/api/v1/templates/${template}/requests`)
    .bearerToken(token)
    .json({ csr: (await opensslCsr({ subject: `/CN=${tag}-request.example` })).csrPem })
  if (submitted.status() !== 201)
    throw new Error(`request: ${submitted.status()} ${submitted.text()}`)
  const request = Number(submitted.body().request.id)

  const tokenRow = await db.from('api_tokens').where('user_id', user.id).first()
  return {
    user,
    token,
    caName,
    ca,
    template,
    request,
    certificate,
    serial,
    tokenId: Number(tokenRow.id),
    csrPem,
    certPem,
    markers: [caName, `${tag}-cert.example`, `${tag}-request.example`],
    acme: await acmeObjects(ca, template),
  }
}

interface RouteInfo {
  pattern: string
  method: string
  params: string[]
  installAdmin: boolean
}

/** Every route under /api/v1 and /admin, one entry per method. */
function registeredRoutes(): RouteInfo[] {
  const list: RouteInfo[] = []
  const byDomain = router.toJSON() as Record<string, any[]>
  for (const route of Object.values(byDomain).flat()) {
    const pattern = String(route.pattern)
    if (!pattern.startsWith('/api/v1') && !pattern.startsWith('/admin')) continue
    const middleware = [...(route.middleware?.all?.() ?? [])]
    const installAdmin = middleware.some((m: any) => m?.name === 'installAdmin')
    const params = pattern
      .split('/')
      .filter((s) => s.startsWith(':'))
      .map((s) => s.slice(1).replace(/\?$/, ''))
    for (const method of route.methods as string[]) {
      if (method === 'HEAD') continue
      list.push({ pattern, method, params, installAdmin })
    }
  }
  return list
}

/** The kind of each parameter, from its name or the path segment before it. */
function classify(pattern: string): Map<string, Kind> | string {
  const segments = pattern.split('/')
  const kinds = new Map<string, Kind>()
  for (const [i, segment] of segments.entries()) {
    if (!segment.startsWith(':')) continue
    const name = segment.slice(1).replace(/\?$/, '')
    let kind: Kind | undefined = NAMED_KINDS[name]
    if (!kind && name in FIXED_VALUES) kind = 'fixed'
    if (!kind && name === 'id' && segments[1] === 'admin' && segments[2] === 'p')
      kind = PLUGIN_SEGMENT_KINDS[segments[3]]?.[segments[i - 1]]
    if (!kind && name === 'id') kind = SEGMENT_KINDS[segments[i - 1]]
    if (!kind && (name === 'scope' || name === 'scopeId' || name === 'pluginId')) kind = 'fixed'
    if (!kind) return `parameter :${name}`
    kinds.set(name, kind)
  }
  return kinds
}

const CA_SCOPED: Kind[] = [
  'ca',
  'template',
  'request',
  'certificate',
  'serial',
  'acme-policy',
  'acme-eab',
  'acme-account',
]

/** The URL with `owner`'s ids (and the plugin-tab scope `scope`). */
function fill(pattern: string, kinds: Map<string, Kind>, owner: World, scope: 'ca' | 'template') {
  return pattern
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment
      const name = segment.slice(1).replace(/\?$/, '')
      if (name === 'scope') return scope
      if (name === 'scopeId') return String(scope === 'ca' ? owner.ca : owner.template)
      if (name === 'pluginId') return pluginForTabs
      if (name in FIXED_VALUES) return FIXED_VALUES[name]
      switch (kinds.get(name)) {
        case 'ca':
          return String(owner.ca)
        case 'template':
          return String(owner.template)
        case 'request':
          return String(owner.request)
        case 'certificate':
          return String(owner.certificate)
        case 'serial':
          return owner.serial
        case 'token':
          return String(owner.tokenId)
        case 'acme-policy':
          return String(owner.acme?.policy ?? 0)
        case 'acme-eab':
          return String(owner.acme?.eab ?? 0)
        case 'acme-account':
          return String(owner.acme?.account ?? 0)
        default:
          return '1'
      }
    })
    .join('/')
}

let pluginForTabs = 'example'
/** Scopes for which pluginForTabs has a tab (its tab URLs answer 200 to the owner). */
const scopesWithTabs = new Set<'ca' | 'template'>()

async function call(client: ApiClient, as: World, method: string, url: string, body: any = {}) {
  const verb = method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete'
  let request = (client as any)[verb](url).redirects(0)
  if (url.startsWith('/api/')) {
    request = request.bearerToken(as.token)
    if (verb !== 'get') request = request.json(body)
  } else {
    request = request.loginAs(as.user)
    if (verb !== 'get') request = request.form(body).withCsrfToken()
  }
  const response = await request
  return {
    status: response.status() as number,
    location: String(response.header('location') ?? ''),
    text: response.text() as string,
  }
}

const bouncedToLogin = (r: { status: number; location: string }) =>
  r.status === 401 || (r.status >= 300 && r.status < 400 && r.location.startsWith('/login'))

test.group('Access matrix', (group) => {
  let a: World
  let b: World
  let routes: RouteInfo[]
  group.setup(async () => {
    routes = registeredRoutes()
    // plugin tabs: use an installed plugin that has one, enabled for this group
    // (imported by name at run time: the plugin host is optional for this test)
    const hostModule = '#plugins/host'
    const pluginHost: any = await import(hostModule).then(
      (m) => m.pluginHost,
      () => null
    )
    const withTabs = pluginHost
      ?.list()
      .find(
        (p: any) => !p.failed && (pluginHost.tab(p.id, 'template') || pluginHost.tab(p.id, 'ca'))
      )
    // Enabled for the group: the plugin with tabs, and plugins whose objects are classified
    // here (their pages answer a "disabled" 404 otherwise, which would prove nothing).
    const toEnable = new Set<string>(Object.keys(PLUGIN_SEGMENT_KINDS))
    if (withTabs) {
      toEnable.add(withTabs.id)
      pluginForTabs = withTabs.id
      for (const scope of ['ca', 'template'] as const) {
        if (pluginHost.tab(withTabs.id, scope)) scopesWithTabs.add(scope)
      }
    }
    const switched: string[] = []
    for (const id of toEnable) {
      const rec = pluginHost?.get(id)
      if (!rec || rec.failed || rec.enabled) continue
      await pluginHost.setEnabled(id, true, systemActor)
      switched.push(id)
    }
    return async () => {
      for (const id of switched) await pluginHost.setEnabled(id, false, systemActor)
    }
  })

  test('every route is classified: CA-scoped ids, install-admin pages, or the allow-list', async ({
    assert,
  }) => {
    const unknown: string[] = []
    for (const route of routes) {
      if (!route.params.length || ALLOW_LIST[route.pattern]) continue
      const kinds = classify(route.pattern)
      if (typeof kinds === 'string') unknown.push(`${route.method} ${route.pattern}: ${kinds}`)
      else if (
        !route.installAdmin &&
        [...kinds.values()].includes('admin-object') &&
        !route.pattern.startsWith('/admin/plugin-tabs')
      ) {
        unknown.push(
          `${route.method} ${route.pattern}: an administrator object on a page every user reaches`
        )
      }
    }
    assert.deepEqual(unknown, [], 'classify these routes in tests/functional/access_matrix.spec.ts')
    // the enumeration sees the routes it must (a sanity check that it is not empty)
    const patterns = new Set(routes.map((r) => r.pattern))
    for (const expected of [
      '/api/v1/cas/:id',
      '/api/v1/certificates/:id/revoke',
      '/admin/cas/:id',
      '/admin/templates/:id',
      '/admin/requests/:id',
      '/admin/certificates/:id',
      '/admin/users',
      '/admin/profile/tokens/:id/revoke',
    ]) {
      assert.isTrue(patterns.has(expected), `${expected} is not registered`)
    }
  })

  test("each user is refused the other's CA, template, request and certificate on every route", async ({
    client,
    assert,
  }) => {
    a = await buildWorld(client, 'A')
    b = await buildWorld(client, 'B')
    const failures: string[] = []
    let checked = 0

    for (const route of routes) {
      if (ALLOW_LIST[route.pattern]) continue
      const kinds = classify(route.pattern)
      if (typeof kinds === 'string') continue // reported by the classification test
      const scopes: Array<'ca' | 'template'> = route.params.includes('scope')
        ? ['ca', 'template']
        : ['ca']
      for (const scope of scopes) {
        for (const [me, other] of [
          [a, b],
          [b, a],
        ] as const) {
          const url = fill(route.pattern, kinds, other, scope)
          if (route.installAdmin) {
            const r = await call(client, me, route.method, url)
            checked++
            if (r.status !== 403)
              failures.push(`${route.method} ${url} as a user: ${r.status} (want 403)`)
            continue
          }
          const values = [...kinds.values()]
          const scoped =
            values.some((k) => CA_SCOPED.includes(k)) || route.params.includes('scopeId')
          if (!scoped && !values.includes('token')) continue
          // a well-formed body, so a route that checks its input first still reaches the check
          const r = await call(client, me, route.method, url, {
            csr: me.csrPem,
            certificatePem: me.certPem,
            reason: 'keyCompromise',
            name: unique('matrix'),
          })
          checked++
          if (r.status !== 404) {
            failures.push(`${route.method} ${url} (the other user's ids): ${r.status} (want 404)`)
          }
          // the own CA with the other's serial: not found either
          if (kinds.get('serial') && kinds.get('id') === 'ca') {
            const cross = route.pattern
              .replace(':id', String(me.ca))
              .replace(':serial', other.serial)
            const rc = await call(client, me, route.method, cross)
            checked++
            if (rc.status !== 404)
              failures.push(`${route.method} ${cross}: ${rc.status} (want 404)`)
          }
        }
      }
    }
    assert.isAbove(checked, 20)
    assert.deepEqual(failures, [])
  }).timeout(300_000)

  test('lists and pages with ?ca=<other CA> show nothing of it; forms with its ids change nothing', async ({
    client,
    assert,
  }) => {
    const failures: string[] = []
    const before = await snapshot(b)
    for (const route of routes) {
      if (route.params.length || route.installAdmin) continue
      const url = `${route.pattern}?ca=${b.ca}&caId=${b.ca}&templateId=${b.template}`
      if (route.method === 'GET') {
        const r = await call(client, a, 'GET', url)
        const leaked = b.markers.find((m) => r.text.includes(m))
        if (leaked) failures.push(`GET ${url} shows "${leaked}" (status ${r.status})`)
        continue
      }
      if (route.pattern === '/api/v1/bootstrap') continue
      // forms and API calls that name objects in their body
      const r = await call(client, a, route.method, route.pattern, {
        caId: b.ca,
        ca: b.ca,
        ca_id: b.ca,
        templateId: b.template,
        template: b.template,
        ids: [b.request],
        requestIds: [b.request],
        action: 'approve',
        name: unique('leak'),
        csr: 'x',
      })
      const leaked = b.markers.find((m) => r.text.includes(m))
      if (leaked)
        failures.push(`${route.method} ${route.pattern} shows "${leaked}" (status ${r.status})`)
    }
    assert.deepEqual(failures, [])
    assert.deepEqual(await snapshot(b), before, "the other user's objects are unchanged")
  }).timeout(300_000)

  test('control: the owner reaches their own objects on every route', async ({
    client,
    assert,
  }) => {
    const failures: string[] = []
    const destructive = (r: RouteInfo) =>
      r.method === 'DELETE' || /\/(delete|revoke|unrevoke|decline|approve)\b/.test(r.pattern)
    const candidates = routes.filter(
      (r) => r.params.length && !r.installAdmin && !ALLOW_LIST[r.pattern]
    )
    let checked = 0
    let own = a
    for (const route of candidates.sort(
      (x, y) => Number(destructive(x)) - Number(destructive(y))
    )) {
      const kinds = classify(route.pattern)
      if (typeof kinds === 'string') continue
      const values = [...kinds.values()]
      if (!values.some((k) => CA_SCOPED.includes(k)) && !route.params.includes('scopeId')) continue
      const scopes: Array<'ca' | 'template'> = route.params.includes('scope')
        ? ['ca', 'template']
        : ['ca']
      for (const scope of scopes) {
        // a change that consumes its object (delete, approve, revoke…) gets fresh objects
        if (destructive(route)) own = await buildWorld(client, 'A')
        const url = fill(route.pattern, kinds, own, scope)
        const r = await call(client, own, route.method, url, {
          csr: own.csrPem,
          reason: 'superseded',
        })
        checked++
        const notFound =
          r.status === 404 &&
          (/no access to it|There is no page at this address|E_ROUTE_NOT_FOUND/.test(r.text) ||
            // a plugin's own object: any 404 means the owner did not reach it
            values.some((k) => k.startsWith('acme-')))
        if (bouncedToLogin(r) || r.status === 403 || notFound) {
          // a plugin tab answers 404 when the plugin has no tab for this scope
          if (route.params.includes('pluginId') && r.status === 404 && !scopesWithTabs.has(scope)) {
            continue
          }
          failures.push(`${route.method} ${url} as its owner: ${r.status} ${r.location}`)
        }
      }
    }
    assert.isAbove(checked, 20)
    assert.deepEqual(failures, [])
  }).timeout(300_000)
})

/** The state of a user's objects that no other user may change. */
async function snapshot(w: World) {
  const ca = await db.from('cas').where('id', w.ca).first()
  const templates = await db.from('templates').where('ca_id', w.ca).orderBy('id')
  const requests = await db.from('certificate_requests').where('ca_id', w.ca).orderBy('id')
  const certs = await db.from('certificates').where('ca_id', w.ca).orderBy('id')
  const members = await db.from('ca_members').where('ca_id', w.ca).orderBy('user_id')
  return {
    ca: ca && { name: ca.name, status: ca.status, updated: String(ca.updated_at) },
    templates: templates.map((t: any) => `${t.id}:${t.name}:${t.updated_at}`),
    requests: requests.map((r: any) => `${r.id}:${r.status}`),
    certs: certs.map((c: any) => `${c.id}:${c.status}:${c.revocation_reason ?? ''}`),
    members: members.map((m: any) => `${m.user_id}:${m.role}`),
  }
}
