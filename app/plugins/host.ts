/*
 * The plugin host. Loads the installed plugins (config/plugins.ts), checks each one (id, API
 * version, kernel range, dependencies, settings schemas), runs its declarative setup(api), and
 * wires what it declared into the kernel: hooks, routes, fast routes, UI entries, jobs, service
 * URLs and extension points. Every registration carries an `isActive` check tied to the
 * plugin's enabled state, so enabling or disabling is a flag flip with no restart.
 *
 * Enabled state and install settings live in plugin_states; every change bumps
 * plugin_host.generation in the same transaction. Each server node polls that counter (cheap,
 * every 250 ms), reloads the states when it moved, and records the generation it applied in
 * plugin_nodes, so `node ace plugin:enable` can wait until the running nodes have it.
 *
 * A plugin that fails a check is kept as "failed" with its reason; the server runs on. A hook
 * that throws or times out is logged and passed over (unless it asked to fail closed).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import pluginsConfig from '#config/plugins'
import pkiConfig from '#config/pki'
import { KernelError, type KernelErrorCode } from '#exceptions/kernel_error'
import { hooks } from '#services/hooks'
import { registerServiceUrl } from '#services/service_urls'
import { scheduleJob, nodeId } from '#services/scheduler'
import { audit } from '#services/audit_service'
import { writeServiceLog } from '#services/service_log'
import type { Actor } from '#services/actor'
import { uiRegistry } from './ui_registry.js'
import {
  HOOK_KINDS,
  PLUGIN_API_VERSION,
  PLUGIN_ID_PATTERN,
  RESERVED_PLUGIN_IDS,
  type CommandSpec,
  type FastRouteSpec,
  type FragmentSpec,
  type HookName,
  type HookOptions,
  type HttpMethod,
  type JobSpec,
  type NavSpec,
  type PluginDefinition,
  type PluginRuntime,
  type PluginSetupApi,
  type RouteHandler,
  type RoutesSpec,
  type ServiceUrlSpec,
  type SettingsScope,
  type TabSpec,
} from './contract.js'
import {
  CompiledSettings,
  SettingsValidationError,
  coerceForm,
  materialiseInstall,
  readSettings,
  withoutSecrets,
  writeSettings,
} from './settings_store.js'
import { createRuntime } from './kernel_port.js'
import { installedEntries, importPlugin, type ImportedPlugin } from './loader.js'
import { runPluginMigrations } from './migrations.js'

export const KERNEL_VERSION: string = JSON.parse(
  readFileSync(join(pkiConfig.appRoot, 'package.json'), 'utf8')
).version

export interface RouteDeclaration {
  surface: 'device' | 'admin'
  method: HttpMethod
  path: string
  handler: RouteHandler
  /** Device routes declared `early`: answered before the framework (app/plugins/router.ts). */
  early?: { bodyLimit?: number; tooLarge?: RoutesSpec['tooLarge'] }
}

export interface Registrations {
  routes: RouteDeclaration[]
  fastRoutes: FastRouteSpec[]
  hooks: Array<{ name: HookName; options: HookOptions<any> }>
  templateTabs: TabSpec[]
  caTabs: TabSpec[]
  nav: NavSpec[]
  fragments: FragmentSpec[]
  jobs: JobSpec[]
  serviceUrls: ServiceUrlSpec[]
  provides: Array<{ point: string; impl: unknown }>
  commands: CommandSpec[]
}

export function emptyRegistrations(): Registrations {
  return {
    routes: [],
    fastRoutes: [],
    hooks: [],
    templateTabs: [],
    caTabs: [],
    nav: [],
    fragments: [],
    jobs: [],
    serviceUrls: [],
    provides: [],
    commands: [],
  }
}

/** The error a veto (`{ deny }`) becomes, by hook; E_POLICY_DENIED (403) for the others. */
const VETO_CODES: Partial<Record<HookName, KernelErrorCode>> = {
  beforeRevoke: 'E_REVOCATION_REFUSED',
  beforeTemplateDelete: 'E_CONFLICT',
}

const COMMAND_NAME = /^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)+$/
const DURATION = /^(\d+)\s*(ms|s|m|h|d)$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }

export function jobInterval(spec: JobSpec): number {
  if (spec.everyMs !== undefined) {
    if (!Number.isFinite(spec.everyMs) || spec.everyMs < 1000) {
      throw new Error(`job "${spec.name}": everyMs must be at least 1000`)
    }
    return spec.everyMs
  }
  const m = typeof spec.schedule === 'string' ? DURATION.exec(spec.schedule.trim()) : null
  if (!m) {
    throw new Error(
      `job "${spec.name}": give everyMs or a schedule such as "30s", "5m", "1h" or "1d"`
    )
  }
  const ms = Number(m[1]) * UNIT_MS[m[2]]
  if (ms < 1000) throw new Error(`job "${spec.name}": the schedule must be at least 1s`)
  return ms
}

/**
 * The api a plugin's setup() receives: it records declarations and checks them at once (a bad
 * declaration fails the plugin with a clear reason). Used by the host and by the conformance
 * suite.
 */
export function createSetupApi(pluginId: string, reg: Registrations): PluginSetupApi {
  const fail = (message: string): never => {
    throw new Error(message)
  }
  const checkPath = (path: string) => {
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('..')) {
      fail(`route path "${path}" must start with "/" (it is relative to the plugin's prefix)`)
    }
  }
  const router = (surface: 'device' | 'admin', early?: RouteDeclaration['early']) => {
    const add = (method: HttpMethod) => (path: string, handler: RouteHandler) => {
      checkPath(path)
      if (early && (/[?*]/.test(path) || (path.length > 1 && path.endsWith('/'))))
        fail(`early route ${path}: plain paths with :params only (no "?", "*" or trailing "/")`)
      if (typeof handler !== 'function') fail(`route ${method} ${path} needs a handler function`)
      reg.routes.push({ surface, method, path, handler, ...(early ? { early } : {}) })
    }
    return {
      get: add('GET'),
      post: add('POST'),
      put: add('PUT'),
      patch: add('PATCH'),
      delete: add('DELETE'),
    }
  }
  const tab = (list: TabSpec[], spec: TabSpec) => {
    if (!spec || typeof spec.label !== 'string' || !spec.label) fail('a tab needs a label')
    list.push(spec)
  }
  return {
    pluginId,
    publicUrl: pkiConfig.publicUrl,
    routes(spec) {
      if (spec?.surface !== 'device' && spec?.surface !== 'admin') {
        fail(`routes() needs surface "device" or "admin"`)
      }
      let early: RouteDeclaration['early']
      if (spec.early) {
        if (spec.surface !== 'device') fail('early routes are device routes')
        const limit = spec.bodyLimit
        if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
          fail('routes() bodyLimit must be a positive whole number of bytes')
        if (spec.tooLarge !== undefined && typeof spec.tooLarge !== 'function')
          fail('routes() tooLarge must be a function (req) => answer')
        early = { bodyLimit: limit, tooLarge: spec.tooLarge }
      }
      spec.register(router(spec.surface, early))
    },
    fastRoute(spec) {
      if (typeof spec?.handle !== 'function') fail('fastRoute() needs a handle(req) function')
      reg.fastRoutes.push(spec)
    },
    hook(name, handlerOrOptions) {
      if (!(name in HOOK_KINDS)) fail(`"${String(name)}" is not a hook`)
      const options =
        typeof handlerOrOptions === 'function' ? { handler: handlerOrOptions } : handlerOrOptions
      if (typeof options?.handler !== 'function') fail(`hook ${name} needs a handler function`)
      if (options.onError === 'deny' && HOOK_KINDS[name] !== 'series-veto') {
        fail(`hook ${name}: onError "deny" is only for veto hooks`)
      }
      reg.hooks.push({ name, options })
    },
    templateTab: (spec) => tab(reg.templateTabs, spec),
    caTab: (spec) => tab(reg.caTabs, spec),
    nav(spec) {
      if (!spec?.label) fail('a nav entry needs a label')
      checkPath(spec.path)
      reg.nav.push(spec)
    },
    fragment(spec) {
      const zones = [
        'dashboard.after',
        'ca.details.after',
        'template.menu',
        'certificate.details.after',
      ]
      if (!zones.includes(spec?.zone))
        fail(`fragment zone "${spec?.zone}" is not one of ${zones.join(', ')}`)
      if (typeof spec.render !== 'function') fail('a fragment needs a render() function')
      reg.fragments.push(spec)
    },
    job(spec) {
      if (!spec || !/^[a-z][a-z0-9-]{0,59}$/.test(spec.name ?? '')) {
        fail(`job name "${spec?.name}" must be lower-case letters, digits and dashes`)
      }
      if (!['cluster-singleton', 'per-node'].includes(spec.concurrency)) {
        fail(`job "${spec.name}": concurrency must be "cluster-singleton" or "per-node"`)
      }
      if (typeof spec.run !== 'function') fail(`job "${spec.name}" needs a run() function`)
      jobInterval(spec)
      reg.jobs.push(spec)
    },
    serviceUrl(spec) {
      if (!spec?.kind || !spec.label) fail('a service URL needs a kind and a label')
      if (spec.scope !== 'ca' && spec.scope !== 'template') {
        fail(`service URL "${spec.kind}": scope must be "ca" or "template"`)
      }
      if (typeof spec.urls !== 'function') fail(`service URL "${spec.kind}" needs urls(ctx)`)
      reg.serviceUrls.push(spec)
    },
    provide(point, impl) {
      if (typeof point !== 'string' || !/^[a-z][a-z0-9-]*\.[a-z0-9.-]+$/.test(point)) {
        fail(`extension point "${point}" must be "<plugin id>.<name>"`)
      }
      reg.provides.push({ point, impl })
    },
    command(spec) {
      const name = spec?.name
      if (
        typeof name !== 'string' ||
        !COMMAND_NAME.test(name) ||
        !name.startsWith(`${pluginId}:`)
      ) {
        fail(`command "${name}" must be named "${pluginId}:<name>" (lower-case words and colons)`)
      }
      if (typeof spec.description !== 'string' || !spec.description) {
        fail(`command "${name}" needs a description`)
      }
      for (const [flag, def] of Object.entries(spec.flags ?? {})) {
        if (!/^[a-z][A-Za-z0-9]*$/.test(flag))
          fail(`command "${name}": flag "${flag}" must be a camelCase name`)
        if (!['string', 'number', 'boolean'].includes(def?.type))
          fail(`command "${name}": flag "${flag}" needs a type of string, number or boolean`)
      }
      if (typeof spec.run !== 'function') fail(`command "${name}" needs a run() function`)
      if (reg.commands.some((c) => c.name === name)) fail(`command "${name}" is declared twice`)
      reg.commands.push(spec)
    },
  }
}

export type PluginStatus = 'enabled' | 'disabled' | 'failed'

export interface PluginRecord {
  id: string
  source: string
  definition?: PluginDefinition
  failed: string | null
  enabled: boolean
  settings: Partial<Record<SettingsScope, CompiledSettings>>
  reg: Registrations
  runtime?: PluginRuntime
  running: boolean
  /** start() finished on this node (early routes are answered only then). */
  started: boolean
  /** Counts start()/stop() calls, so that a start() overtaken by a stop never sets `started`. */
  lifecycle: number
  installSettings?: Record<string, unknown>
}

function withTimeout<T>(work: () => T | Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    Promise.resolve().then(work),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label} did not answer within ${ms} ms`)), ms)
      timer.unref()
    }),
  ]).finally(() => clearTimeout(timer))
}

export class PluginHost {
  readonly plugins = new Map<string, PluginRecord>()
  #loaded = false
  #generation = -1
  #poller?: NodeJS.Timeout
  #lastBeat = 0
  #runsServices = false
  #servicesStarted = false
  #stopJobs: Array<() => void> = []
  #refreshing?: Promise<void>

  /** Plugins in load order. */
  list(): PluginRecord[] {
    return [...this.plugins.values()]
  }

  get(id: string) {
    return this.plugins.get(id)
  }

  status(rec: PluginRecord): PluginStatus {
    if (rec.failed) return 'failed'
    return rec.enabled ? 'enabled' : 'disabled'
  }

  /** Enabled, loaded, and every plugin it requires is active too. */
  isActive(id: string, seen = new Set<string>()): boolean {
    const rec = this.plugins.get(id)
    if (!rec || rec.failed || !rec.enabled || seen.has(id)) return false
    seen.add(id)
    return (rec.definition?.requires ?? []).every((dep) => this.isActive(dep, seen))
  }

  /* ---------------------------------------------------------------------------------- */
  /* Loading (no database)                                                               */
  /* ---------------------------------------------------------------------------------- */

  /** Imports and checks every installed plugin and runs its setup(). Idempotent. */
  async load(imported?: ImportedPlugin[]) {
    if (this.#loaded) return
    this.#loaded = true
    const list = imported ?? (await Promise.all(installedEntries().map(importPlugin)))
    for (const item of list) this.#add(item)
    this.#checkDependencies()
    for (const rec of this.plugins.values()) if (!rec.failed) this.#setup(rec)
    this.#checkExtensionPoints()
    this.#checkDependencies()
    for (const rec of this.plugins.values()) if (!rec.failed) this.#wire(rec)
  }

  #add(item: ImportedPlugin) {
    const def = item.definition
    const fallbackId = item.source.replace(/^.*\//, '')
    const rec: PluginRecord = {
      id: typeof def?.id === 'string' && def.id ? def.id : fallbackId,
      source: item.source,
      definition: def,
      failed: item.error ?? null,
      enabled: false,
      settings: {},
      reg: emptyRegistrations(),
      started: false,
      lifecycle: 0,
      running: false,
    }
    if (this.plugins.has(rec.id)) {
      const other = this.plugins.get(rec.id)!
      rec.id = `${rec.id}@${item.source}`
      rec.failed = `its id "${def?.id}" is already used by ${other.source}`
    }
    this.plugins.set(rec.id, rec)
    if (rec.failed || !def) return
    rec.failed = checkIdentity(def)
    if (rec.failed) return
    try {
      for (const scope of ['install', 'ca', 'template'] as const) {
        const spec = def.settings?.[scope]
        if (spec) rec.settings[scope] = new CompiledSettings(def.id, scope, spec)
      }
    } catch (error) {
      rec.failed = `settings: ${(error as Error).message}`
    }
  }

  #checkDependencies() {
    let changed = true
    while (changed) {
      changed = false
      for (const rec of this.plugins.values()) {
        if (rec.failed) continue
        for (const dep of rec.definition?.requires ?? []) {
          const other = this.plugins.get(dep)
          const reason = !other
            ? `it requires the plugin "${dep}", which is not installed`
            : other.failed
              ? `it requires the plugin "${dep}", which failed to load`
              : null
          if (reason) {
            rec.failed = reason
            changed = true
            break
          }
        }
      }
    }
  }

  #setup(rec: PluginRecord) {
    const def = rec.definition!
    const reg = emptyRegistrations()
    try {
      const result: unknown = def.setup(createSetupApi(def.id, reg))
      if (result && typeof (result as any).then === 'function') {
        ;(result as Promise<unknown>).catch(() => {})
        throw new Error('setup() must be synchronous (it returned a promise)')
      }
      rec.reg = reg
      rec.runtime = createRuntime(def.id, this)
    } catch (error) {
      rec.failed = `setup() failed: ${(error as Error).message}`
    }
  }

  #checkExtensionPoints() {
    for (const rec of this.plugins.values()) {
      if (rec.failed) continue
      for (const name of Object.keys(rec.definition?.extensionPoints ?? {})) {
        if (!name.startsWith(`${rec.id}.`)) {
          rec.failed = `its extension point "${name}" must be named "${rec.id}.<name>"`
        }
      }
    }
    for (const rec of this.plugins.values()) {
      if (rec.failed) continue
      for (const { point } of rec.reg.provides) {
        const ownerId = point.slice(0, point.indexOf('.'))
        const owner = this.plugins.get(ownerId)
        // Offering to a plugin that is not installed is harmless: nobody asks for it.
        if (!owner || owner.failed) continue
        if (!(point in (owner.definition?.extensionPoints ?? {}))) {
          rec.failed = `it provides to "${point}", which the ${ownerId} plugin does not offer`
        }
      }
    }
  }

  /** Registers the plugin's declarations with the kernel, each switched by isActive. */
  #wire(rec: PluginRecord) {
    const id = rec.id
    const name = rec.definition!.name
    const isActive = () => this.isActive(id)
    const runtime = rec.runtime!
    for (const { name: hookName, options } of rec.reg.hooks) {
      hooks.register(hookName, {
        owner: id,
        order: options.order ?? 0,
        // The host times the handler itself; the kernel's own timer is only a backstop.
        timeoutMs: (options.timeoutMs ?? pluginsConfig.hookTimeoutMs) + 1000,
        isActive,
        handler: (ctx: any) => this.#runHook(rec, hookName, options, ctx),
      })
    }
    for (const spec of rec.reg.templateTabs) {
      uiRegistry.addTab({
        owner: id,
        scope: 'template',
        id,
        label: spec.label,
        order: spec.order,
        isActive,
      })
    }
    for (const spec of rec.reg.caTabs) {
      uiRegistry.addTab({
        owner: id,
        scope: 'ca',
        id,
        label: spec.label,
        order: spec.order,
        isActive,
      })
    }
    for (const spec of rec.reg.nav) {
      uiRegistry.addNav({
        owner: id,
        group: name,
        label: spec.label,
        href: `/admin/p/${id}${spec.path === '/' ? '' : spec.path}`,
        order: spec.order,
        adminOnly: spec.adminOnly,
        isActive,
      })
    }
    for (const spec of rec.reg.fragments) {
      uiRegistry.addFragment({
        owner: id,
        zone: spec.zone,
        order: spec.order,
        isActive,
        render: (ctx) => spec.render({ ...ctx, runtime }),
      })
    }
    for (const spec of rec.reg.serviceUrls) {
      registerServiceUrl({
        owner: id,
        kind: spec.kind,
        label: spec.label,
        scope: spec.scope,
        embedIn: spec.embedIn,
        isActive,
        urls: (ctx) => {
          try {
            const urls = spec.urls(ctx)
            return Array.isArray(urls) ? urls.filter((u) => typeof u === 'string') : []
          } catch (error) {
            runtime.log.error({ err: error, kind: spec.kind }, 'service URL provider failed')
            return []
          }
        },
      })
    }
  }

  async #runHook(rec: PluginRecord, name: HookName, options: HookOptions<any>, ctx: unknown) {
    const timeoutMs = options.timeoutMs ?? pluginsConfig.hookTimeoutMs
    const kind = HOOK_KINDS[name]
    let outcome: unknown
    try {
      outcome = await withTimeout(
        () => options.handler(ctx, rec.runtime!),
        timeoutMs,
        `the ${name} hook of plugin ${rec.id}`
      )
    } catch (error) {
      const message = (error as Error)?.message ?? String(error)
      rec.runtime!.log.error({ err: error, hook: name }, 'plugin hook failed; passed over')
      void writeServiceLog({
        service: rec.id,
        caId: (ctx as any)?.caId ?? null,
        level: 'error',
        event: 'hook.failed',
        message: `The ${name} hook failed and was passed over: ${message}`,
      })
      if (options.onError === 'deny' && kind === 'series-veto') {
        outcome = {
          deny: `The ${rec.definition!.name} plugin could not check this request (${message}); it was refused. Try again later or ask an administrator.`,
        }
      } else {
        return
      }
    }
    if (outcome && typeof outcome === 'object' && typeof (outcome as any).deny === 'string') {
      if (kind !== 'series-veto') {
        rec.runtime!.log.warn({ hook: name }, 'a deny from a hook that cannot veto was ignored')
        return
      }
      throw new KernelError(VETO_CODES[name] ?? 'E_POLICY_DENIED', String((outcome as any).deny), {
        plugin: rec.id,
      })
    }
  }

  /* ---------------------------------------------------------------------------------- */
  /* Database: migrations and states                                                      */
  /* ---------------------------------------------------------------------------------- */

  /** Runs each loaded plugin's pending migrations; a failure fails that plugin only. */
  async migrate() {
    for (const rec of this.plugins.values()) {
      if (rec.failed || !rec.definition?.migrations) continue
      try {
        const ran = await runPluginMigrations(rec.definition)
        if (ran.length) logger.info({ plugin: rec.id, ran }, 'plugin migrations ran')
      } catch (error) {
        rec.failed = (error as Error).message
        logger.error({ plugin: rec.id, err: error }, 'plugin migrations failed')
      }
    }
  }

  /** First sight of a plugin on this install: a row with its default enabled state. */
  async syncStates() {
    const rows = await db.from('plugin_states').select('plugin_id')
    const existing = new Set(rows.map((r: any) => r.plugin_id))
    const now = Date.now()
    for (const rec of this.plugins.values()) {
      if (!rec.definition || existing.has(rec.id) || rec.id.includes('@')) continue
      const defaults = rec.settings.install?.defaults() ?? {}
      try {
        await db
          .connection()
          .getWriteClient()
          .table('plugin_states')
          .insert({
            plugin_id: rec.id,
            enabled: Boolean(rec.definition.enabledByDefault),
            settings: JSON.stringify(defaults),
            settings_version: rec.settings.install?.version ?? 1,
            updated_at: now,
          })
          .onConflict('plugin_id')
          .ignore()
      } catch (error) {
        logger.warn({ err: error, plugin: rec.id }, 'could not record the plugin state')
      }
    }
    await this.refresh(true)
  }

  /** Reads generation and states from the database and applies them to this node. */
  async refresh(force = false) {
    if (this.#refreshing) return this.#refreshing
    this.#refreshing = (async () => {
      const row = await db.from('plugin_host').where('id', 1).first()
      const generation = Number(row?.generation ?? 0)
      if (!force && generation === this.#generation) return
      const states = await db.from('plugin_states')
      const byId = new Map(states.map((s: any) => [s.plugin_id, s]))
      for (const rec of this.plugins.values()) {
        const state = byId.get(rec.id)
        rec.enabled = Boolean(state?.enabled)
        const compiled = rec.settings.install
        if (compiled && !rec.failed) {
          try {
            rec.installSettings = materialiseInstall(compiled, state)
          } catch (error) {
            if (this.#generation === -1) {
              rec.failed = `its install settings are invalid: ${(error as Error).message}`
            } else {
              logger.error({ err: error, plugin: rec.id }, 'stored plugin settings are invalid')
            }
          }
        }
      }
      this.#generation = generation
      if (this.#runsServices) await this.#applyRunning()
      await this.#heartbeat(true)
    })().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  get generation() {
    return this.#generation
  }

  async #heartbeat(force = false) {
    if (!this.#runsServices) return
    const now = Date.now()
    if (!force && now - this.#lastBeat < 2000) return
    this.#lastBeat = now
    try {
      const updated = await db
        .from('plugin_nodes')
        .where('node_id', nodeId)
        .update({ generation: this.#generation, seen_at: now })
      if (Number(updated) === 0) {
        await db
          .table('plugin_nodes')
          .insert({ node_id: nodeId, generation: this.#generation, seen_at: now })
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not record the plugin generation of this node')
    }
  }

  /* ---------------------------------------------------------------------------------- */
  /* Running on a server node                                                             */
  /* ---------------------------------------------------------------------------------- */

  /** On a server node: start enabled plugins, schedule jobs, watch for changes. */
  async startServices(options: { jobs: boolean }) {
    this.#runsServices = true
    await this.refresh(true)
    this.#servicesStarted = true
    if (options.jobs) this.#scheduleJobs()
    this.#poller = setInterval(() => {
      this.refresh()
        .then(() => this.#heartbeat())
        .catch((error) => logger.warn({ err: error }, 'plugin state poll failed'))
    }, pluginsConfig.pollMs)
    this.#poller.unref()
  }

  /**
   * True once this server node has started its enabled plugins (each start() finished, or failed
   * and was marked so). Until then GET /health answers 503 "starting", so a load balancer sends
   * no device traffic to a node whose plugins are not serving yet.
   */
  get servicesStarted() {
    return this.#servicesStarted
  }

  async stopServices() {
    this.#servicesStarted = false
    if (!this.#runsServices) return
    if (this.#poller) clearInterval(this.#poller)
    this.#poller = undefined
    for (const stop of this.#stopJobs) stop()
    this.#stopJobs = []
    for (const rec of this.plugins.values()) if (rec.running) await this.#stop(rec)
    this.#runsServices = false
    try {
      // The database may already be closing: never let this hold the shutdown.
      await withTimeout(
        () => db.from('plugin_nodes').where('node_id', nodeId).delete(),
        1000,
        'plugin node deregistration'
      )
    } catch {
      // a stale row is ignored after nodeStaleMs
    }
  }

  async #applyRunning() {
    for (const rec of this.plugins.values()) {
      const active = this.isActive(rec.id)
      if (active && !rec.running) await this.#start(rec)
      else if (!active && rec.running) await this.#stop(rec)
    }
  }

  async #start(rec: PluginRecord) {
    rec.running = true
    const turn = ++rec.lifecycle
    if (!rec.definition?.start) {
      rec.started = true
      return
    }
    try {
      await withTimeout(() => rec.definition!.start!(rec.runtime!), 30_000, `${rec.id} start()`)
      if (rec.lifecycle === turn) rec.started = rec.running
    } catch (error) {
      rec.running = false
      rec.failed = `start() failed: ${(error as Error).message}`
      logger.error({ err: error, plugin: rec.id }, 'plugin start failed')
    }
  }

  async #stop(rec: PluginRecord) {
    rec.running = false
    rec.started = false
    rec.lifecycle++
    if (!rec.definition?.stop) return
    try {
      await withTimeout(() => rec.definition!.stop!(), 10_000, `${rec.id} stop()`)
    } catch (error) {
      logger.error({ err: error, plugin: rec.id }, 'plugin stop failed')
    }
  }

  #scheduleJobs() {
    for (const rec of this.plugins.values()) {
      if (rec.failed) continue
      for (const spec of rec.reg.jobs) {
        this.#stopJobs.push(
          scheduleJob({
            name: `${rec.id}:${spec.name}`,
            everyMs: jobInterval(spec),
            concurrency: spec.concurrency,
            isActive: () => this.isActive(rec.id),
            run: async () => void (await spec.run(rec.runtime!)),
          })
        )
      }
    }
  }

  /** Runs a plugin job once now, if the plugin is active (ace, tests). */
  async runJob(pluginId: string, jobName: string): Promise<'ran' | 'inactive'> {
    const rec = this.#require(pluginId)
    const spec = rec.reg.jobs.find((j) => j.name === jobName)
    if (!spec) throw new KernelError('E_NOT_FOUND', `Plugin ${pluginId} has no job "${jobName}".`)
    if (!this.isActive(pluginId)) return 'inactive'
    await spec.run(rec.runtime!)
    return 'ran'
  }

  /* ---------------------------------------------------------------------------------- */
  /* Changes (admin page, ace commands)                                                   */
  /* ---------------------------------------------------------------------------------- */

  #require(id: string): PluginRecord {
    const rec = this.plugins.get(String(id ?? ''))
    if (!rec) {
      const known = this.list().map((r) => r.id)
      throw new KernelError(
        'E_NOT_FOUND',
        `No installed plugin has the id "${id}". Installed: ${known.length ? known.join(', ') : 'none'}.`
      )
    }
    return rec
  }

  /** Enables or disables a plugin for the whole install. Harmless when already so. */
  async setEnabled(id: string, enabled: boolean, actor: Actor) {
    const rec = this.#require(id)
    if (rec.failed && enabled) {
      throw new KernelError(
        'E_CONFLICT',
        `The ${rec.id} plugin failed to load and cannot be enabled: ${rec.failed}`
      )
    }
    if (enabled) {
      const missing = (rec.definition?.requires ?? []).filter(
        (dep) => !this.plugins.get(dep)?.enabled
      )
      if (missing.length) {
        throw new KernelError(
          'E_CONFLICT',
          `The ${rec.id} plugin needs ${missing.join(', ')}; enable ${missing.length > 1 ? 'them' : 'it'} first.`
        )
      }
    }
    let changed = false
    let generation = this.#generation
    await db.transaction(async (trx) => {
      const row = await trx.from('plugin_states').where('plugin_id', rec.id).first()
      changed = !row || Boolean(row.enabled) !== enabled
      if (!changed) {
        const g = await trx.from('plugin_host').where('id', 1).first()
        generation = Number(g?.generation ?? 0)
        return
      }
      if (row) {
        await trx
          .from('plugin_states')
          .where('plugin_id', rec.id)
          .update({ enabled, updated_at: Date.now() })
      } else {
        await trx.table('plugin_states').insert({
          plugin_id: rec.id,
          enabled,
          settings: JSON.stringify(rec.settings.install?.defaults() ?? {}),
          settings_version: rec.settings.install?.version ?? 1,
          updated_at: Date.now(),
        })
      }
      generation = await bumpGeneration(trx)
      await audit(
        actor,
        {
          action: enabled ? 'plugin.enable' : 'plugin.disable',
          objectType: 'plugin',
          objectId: rec.id,
        },
        trx
      )
    })
    if (changed) {
      await writeServiceLog({
        service: rec.id,
        level: 'info',
        event: enabled ? 'plugin.enabled' : 'plugin.disabled',
        message: `${actor.label} ${enabled ? 'enabled' : 'disabled'} the ${rec.definition?.name ?? rec.id} plugin.`,
      })
    }
    await this.refresh(true)
    return { changed, generation }
  }

  /**
   * Waits until every live server node (heard from within nodeStaleMs) has applied
   * `generation`, at most `timeoutMs`. Returns how many acknowledged and how many did not.
   */
  async waitForNodes(generation: number, timeoutMs = 2000) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const since = Date.now() - pluginsConfig.nodeStaleMs
      const nodes = await db.from('plugin_nodes').where('seen_at', '>=', since)
      const pending = nodes.filter((n: any) => Number(n.generation) < generation)
      if (pending.length === 0 || Date.now() >= deadline) {
        return { acknowledged: nodes.length - pending.length, pending: pending.length }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /* ---------------------------------------------------------------------------------- */
  /* Settings                                                                             */
  /* ---------------------------------------------------------------------------------- */

  async readSettings(pluginId: string, scope: SettingsScope, scopeId: number) {
    const rec = this.#require(pluginId)
    const compiled = rec.settings[scope]
    if (!compiled) return {}
    if (scope === 'install') {
      if (!rec.installSettings) await this.refresh(true)
      return structuredClone(rec.installSettings ?? compiled.defaults())
    }
    return readSettings(compiled, scopeId)
  }

  /** The settings for a form: secrets replaced by whether one is stored. */
  async formValues(pluginId: string, scope: SettingsScope, scopeId: number) {
    const rec = this.#require(pluginId)
    const compiled = rec.settings[scope]
    if (!compiled) return { values: {}, secretsSet: {} as Record<string, boolean> }
    let values: Record<string, unknown>
    try {
      values = await this.readSettings(pluginId, scope, scopeId)
    } catch {
      values = compiled.defaults()
    }
    const secretsSet: Record<string, boolean> = {}
    for (const name of compiled.secrets) secretsSet[name] = Boolean(values[name])
    return { values: withoutSecrets(compiled, values), secretsSet }
  }

  /**
   * Saves settings from a form. Throws SettingsValidationError (with a message per field) and
   * keeps the old settings when invalid.
   */
  async saveSettings(
    pluginId: string,
    scope: SettingsScope,
    scopeId: number,
    input: Record<string, unknown>,
    actor: Actor
  ) {
    const rec = this.#require(pluginId)
    const compiled = rec.settings[scope]
    if (!compiled)
      throw new KernelError('E_NOT_FOUND', `The ${pluginId} plugin has no ${scope} settings.`)
    let current: Record<string, unknown> = {}
    try {
      current = await this.readSettings(pluginId, scope, scopeId)
    } catch {
      current = {}
    }
    const candidate = coerceForm(compiled, input, current)
    const check = compiled.spec.check
    if (check && compiled.validate(structuredClone(candidate))) {
      const runtime = rec.runtime!
      const template = scope === 'template' ? await runtime.getTemplate(scopeId) : null
      const caId = scope === 'ca' ? scopeId : (template?.caId ?? null)
      const ca = caId === null ? null : await runtime.getCa(caId)
      const refused = await check(structuredClone(candidate), { scope, scopeId, ca })
      if (refused && Object.keys(refused).length > 0) throw new SettingsValidationError(refused)
    }
    let changed: string[] = []
    await db.transaction(async (trx) => {
      changed = await writeSettings(compiled, scope === 'install' ? 0 : scopeId, candidate, trx)
      if (scope === 'install') await bumpGeneration(trx)
      await audit(
        actor,
        {
          action: 'plugin.settings.update',
          objectType: scope === 'install' ? 'plugin' : scope,
          objectId: scope === 'install' ? pluginId : scopeId,
          caId: scope === 'ca' ? scopeId : undefined,
          details: { plugin: pluginId, scope, fields: changed },
        },
        trx
      )
    })
    await writeServiceLog({
      service: pluginId,
      caId: scope === 'ca' ? scopeId : null,
      level: 'info',
      event: 'settings.changed',
      message: `${actor.label} changed the ${scope} settings${scope === 'install' ? '' : ` of ${scope} ${scopeId}`}${changed.length ? ` (${changed.join(', ')})` : ''}.`,
    })
    if (scope === 'install') await this.refresh(true)
    return changed
  }

  /** Implementations offered to an extension point by active plugins, in load order. */
  extensions(point: string): unknown[] {
    const out: unknown[] = []
    for (const rec of this.plugins.values()) {
      if (!this.isActive(rec.id)) continue
      for (const p of rec.reg.provides) if (p.point === point) out.push(p.impl)
    }
    return out
  }

  /** The tab spec a plugin declared for a scope. */
  tab(pluginId: string, scope: 'template' | 'ca'): TabSpec | undefined {
    const rec = this.plugins.get(pluginId)
    return scope === 'template' ? rec?.reg.templateTabs[0] : rec?.reg.caTabs[0]
  }
}

/** Checks the identity fields; returns the reason a plugin cannot load, or null. */
export function checkIdentity(def: PluginDefinition): string | null {
  if (typeof def.id !== 'string' || !PLUGIN_ID_PATTERN.test(def.id)) {
    return `its id "${def.id}" must be 3–40 lower-case letters, digits and dashes, starting with a letter`
  }
  if (RESERVED_PLUGIN_IDS.includes(def.id)) {
    return `its id "${def.id}" is a kernel URL prefix; choose another`
  }
  if (typeof def.name !== 'string' || !def.name.trim()) return 'it has no name'
  if (typeof def.version !== 'string' || !semver.valid(def.version)) {
    return `its version "${def.version}" is not a semantic version`
  }
  if (def.apiVersion !== PLUGIN_API_VERSION) {
    return `it was written for plugin API version ${def.apiVersion}; this kernel offers version ${PLUGIN_API_VERSION}`
  }
  if (typeof def.kernel !== 'string' || !semver.validRange(def.kernel)) {
    return `its kernel range "${def.kernel}" is not a semver range`
  }
  if (!semver.satisfies(KERNEL_VERSION, def.kernel, { includePrerelease: true })) {
    return `it needs kernel ${def.kernel}, but this kernel is ${KERNEL_VERSION}`
  }
  if (
    def.requires &&
    (!Array.isArray(def.requires) || def.requires.some((r) => typeof r !== 'string'))
  ) {
    return 'its "requires" must be a list of plugin ids'
  }
  if ((def.requires ?? []).includes(def.id)) return 'it requires itself'
  if (typeof def.setup !== 'function') return 'it has no setup(api) function'
  return null
}

export async function bumpGeneration(trx: any): Promise<number> {
  const updated = await trx.from('plugin_host').where('id', 1).increment('generation', 1)
  if (Number(updated) === 0) await trx.table('plugin_host').insert({ id: 1, generation: 1 })
  const row = await trx.from('plugin_host').where('id', 1).first()
  return Number(row.generation)
}

export { SettingsValidationError }

/** The process-wide plugin host. */
export const pluginHost = new PluginHost()
