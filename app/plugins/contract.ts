/*
 * The plugin contract: the whole public API a plugin sees (import it as `#plugin-api`).
 *
 * This module has no runtime imports: only types, a few pure helpers and the literal
 * PLUGIN_API_VERSION. A third-party package can depend on it (or copy its types) without pulling
 * in the kernel. Everything a plugin needs at run time arrives through `setup(api)` (declarative,
 * synchronous, no I/O) and `start(runtime)` (the narrow kernel port; may do I/O).
 *
 * Bump PLUGIN_API_VERSION on any breaking change and note it in CHANGELOG.md.
 */

/** The contract's version. A plugin declares the version it was written for as `apiVersion`. */
export const PLUGIN_API_VERSION = 1 as const

/* ------------------------------------------------------------------------------------------ */
/* Identity and definition                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** JSON Schema (draft 2020-12 subset that ajv understands); `x-secret`, `x-message` extensions. */
export type JsonSchema = Record<string, unknown>

export interface SettingsSpec {
  /**
   * An object schema: `{ type: 'object', properties: {...}, additionalProperties: false }`.
   * Every property should have a `default` (or be optional). Mark a property secret with
   * `"x-secret": true`: it is encrypted at rest and never rendered back. `"x-message"` replaces
   * ajv's message when the field is invalid (write one a person can act on). `title` is the
   * form label, `description` the hint under the field.
   */
  schema: JsonSchema
  /** The schema's version; stored settings of an older version go through `upgrade()`. */
  version: number
  /** Turns settings written under `fromVersion` into the current version's shape. */
  upgrade?: (old: Record<string, unknown>, fromVersion: number) => Record<string, unknown>
  /**
   * Checks what a schema cannot: settings that must agree with the CA they apply to (e.g. an
   * option a post-quantum CA cannot use). Runs after the schema accepted the values, before
   * anything is stored; return messages by field name to refuse (shown next to the fields).
   * `ca` is the CA of a CA-scope setting, or the template's CA for a template-scope one.
   */
  check?: (
    values: Record<string, unknown>,
    ctx: { scope: SettingsScope; scopeId: number; ca: CaInfo | null }
  ) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>
}

export type SettingsScope = 'install' | 'ca' | 'template'

export interface PluginDefinition {
  /** Lower-case letters, digits and dashes; also the URL prefix and the table prefix. */
  id: string
  name: string
  version: string
  /** The PLUGIN_API_VERSION the plugin was written for. */
  apiVersion: number
  /** A semver range of kernel versions the plugin works with, e.g. "^0.1.0". */
  kernel: string
  description?: string
  /** Ids of plugins that must be installed (and loaded) for this one to load. */
  requires?: string[]
  /** Enabled on a new install (only plugins that do not open the CA to the network). */
  enabledByDefault?: boolean
  settings?: Partial<Record<SettingsScope, SettingsSpec>>
  /**
   * The folder of the plugin's migrations (a URL or an absolute path), e.g.
   * `new URL('./database/migrations/', import.meta.url)`. Tables must start with `<id>_`.
   */
  migrations?: string | URL
  /** Extension points this plugin offers to others: name (prefixed `<id>.`) → description. */
  extensionPoints?: Record<string, string>
  /** Declarative registration; synchronous, no I/O. */
  setup: (api: PluginSetupApi) => void
  /** Called when the plugin starts running on a node (at boot when enabled, or when enabled). */
  start?: (runtime: PluginRuntime) => void | Promise<void>
  /** Called when the plugin is disabled on this node or the node shuts down. */
  stop?: () => void | Promise<void>
}

/** Identity function that gives a plugin definition its type. */
export function definePlugin<T extends PluginDefinition>(definition: T): T {
  return definition
}

/* ------------------------------------------------------------------------------------------ */
/* Hooks                                                                                        */
/* ------------------------------------------------------------------------------------------ */

export interface Actor {
  kind: 'user' | 'cli' | 'system' | 'plugin'
  label: string
  userId?: number
  isAdmin: boolean
  ip?: string | null
}

export interface SanEntry {
  type: string
  value: string
}

export interface IssueContext {
  caId: number
  caName: string
  templateId: number
  templateName: string
  actor: Actor
  /** Where the request came from: 'api', 'web', 'cli', or a plugin id. */
  source: string
  subjectDn: string
  sans: SanEntry[]
  keyType: string
  /** Data a plugin attaches for its later hooks of the same issuance. */
  meta: Record<string, unknown>
}

export interface DraftContext extends IssueContext {
  draft: { extensions: unknown[]; notBefore: Date; notAfter: Date; serial: Uint8Array }
}

export interface IssuedContext extends IssueContext {
  certificateId: number
  serial: string
  der: Uint8Array
  notAfter: number
}

export interface RevokeContext {
  caId: number
  certificateId: number
  serial: string
  reason: string
  previousStatus: string
  actor: Actor
}

export interface CaEventContext {
  caId: number
  caName: string
  actor: Actor
}

export interface TemplateEventContext {
  caId: number
  templateId: number
  templateName: string
  actor: Actor
}

export interface HookContexts {
  validateIssue: IssueContext
  beforeIssue: DraftContext
  onPrecertificate: DraftContext
  afterIssue: IssuedContext
  beforeRevoke: RevokeContext
  afterRevoke: RevokeContext
  afterUnrevoke: RevokeContext
  afterCaCreated: CaEventContext
  afterCaUpdated: CaEventContext
  afterCaDeleted: CaEventContext
  afterTemplateUpdated: TemplateEventContext
  beforeTemplateDelete: TemplateEventContext
  afterTemplateDeleted: TemplateEventContext
}

export type HookName = keyof HookContexts

export type HookKind = 'series-veto' | 'series-modify' | 'parallel-notify'

/** Each hook's kind (documented in docs/plugin-authoring.md). */
export const HOOK_KINDS: Readonly<Record<HookName, HookKind>> = {
  validateIssue: 'series-veto',
  beforeIssue: 'series-modify',
  onPrecertificate: 'series-modify',
  afterIssue: 'parallel-notify',
  beforeRevoke: 'series-veto',
  afterRevoke: 'parallel-notify',
  afterUnrevoke: 'parallel-notify',
  afterCaCreated: 'parallel-notify',
  afterCaUpdated: 'parallel-notify',
  afterCaDeleted: 'parallel-notify',
  afterTemplateUpdated: 'parallel-notify',
  beforeTemplateDelete: 'series-veto',
  afterTemplateDeleted: 'parallel-notify',
}

/** What a veto hook returns to refuse: the message is shown to the person who asked. */
export interface Deny {
  deny: string
}

export type HookHandler<K extends HookName> = (
  ctx: HookContexts[K],
  runtime: PluginRuntime
) => void | Deny | Promise<void | Deny>

export interface HookOptions<K extends HookName> {
  handler: HookHandler<K>
  /** Lower runs first among series hooks (default 0). */
  order?: number
  /** Milliseconds before the handler counts as failed (default 5000). */
  timeoutMs?: number
  /**
   * What a throw or a timeout means. 'skip' (default): logged, the handler is passed over and
   * the action goes on. 'deny' (veto hooks only): the action is refused ("fail closed").
   */
  onError?: 'skip' | 'deny'
}

/* ------------------------------------------------------------------------------------------ */
/* Routes                                                                                       */
/* ------------------------------------------------------------------------------------------ */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface PluginRequest {
  method: string
  /** Path and query as received. */
  url: string
  params: Record<string, string>
  query: Record<string, unknown>
  headers: Record<string, string | string[] | undefined>
  ip: string
  /** Parsed body (JSON or form), {} when none. */
  body: Record<string, unknown>
  /** The raw request body as bytes (device routes: any content type, e.g. DER). */
  rawBody(): Promise<Buffer>
}

export interface PluginReply {
  status(code: number): PluginReply
  header(name: string, value: string): PluginReply
  /** Sends a string, bytes, a JSON-serialisable object, or a Node Readable (streamed). */
  send(body: unknown): void
}

export interface RouteContext {
  request: PluginRequest
  reply: PluginReply
  runtime: PluginRuntime
  /** Admin routes: who is logged in. Device routes: undefined. */
  actor?: Actor
  /** Admin routes: the CA chosen in the top dropdown. */
  currentCaId?: number | null
}

/**
 * What a route handler returns. Device routes: a value to send as the body (string, bytes or
 * JSON), or nothing when it used `reply.send`. Admin routes: `{ title, html }` (rendered inside
 * the admin layout), or anything a device route may return.
 */
export type RouteResult = unknown

export type RouteHandler = (ctx: RouteContext) => RouteResult | Promise<RouteResult>

export interface ScopedRouter {
  /** Paths are relative to the plugin's prefix: `/<id>/...` or `/admin/p/<id>/...`. */
  get(path: string, handler: RouteHandler): void
  post(path: string, handler: RouteHandler): void
  put(path: string, handler: RouteHandler): void
  patch(path: string, handler: RouteHandler): void
  delete(path: string, handler: RouteHandler): void
}

export interface RoutesSpec {
  /** device: no session, no CSRF, raw bodies. admin: logged-in admin UI users, CSRF. */
  surface: 'device' | 'admin'
  register: (router: ScopedRouter) => void
  /**
   * Device routes only: answer them before the framework's router and middleware once the
   * plugin has started on this node (a protocol whose every request is hot, e.g. ACME). The host
   * reads the whole body (up to `bodyLimit`) and runs the same handler with the same request and
   * reply; until start() finished the framework's router answers them.
   */
  early?: boolean
  /** Early routes: the largest body read (default 1 MiB); a larger one gets `tooLarge`. */
  bodyLimit?: number
  /** Early routes: the answer to a body over `bodyLimit` (default: 413, plain text). */
  tooLarge?: (req: FastRequest) => FastResponse
}

export interface FastRequest {
  method: string
  /** The path after `/<id>`, e.g. `/ocsp/MFQw...`. */
  path: string
  query: string
  headers: Record<string, string | string[] | undefined>
}

export interface FastResponse {
  status?: number
  headers?: Record<string, string>
  body: string | Uint8Array
}

export interface FastRouteSpec {
  /**
   * Answers a GET or HEAD under `/<id>/` before the framework's router (no middleware, no body)
   * from bytes kept ready, or returns null to let the normal route answer; it must be
   * synchronous and fast. (Hot routes with a body or async work: `routes({ early: true })`.)
   */
  handle: (req: FastRequest) => FastResponse | null | undefined
}

/* ------------------------------------------------------------------------------------------ */
/* UI                                                                                           */
/* ------------------------------------------------------------------------------------------ */

export type FragmentZone =
  'dashboard.after' | 'ca.details.after' | 'template.menu' | 'certificate.details.after'

export interface TabRenderContext {
  actor: Actor
  caId: number
  /** The template id (template tabs) or the CA id (CA tabs). */
  scopeId: number
  /** The plugin's settings at this scope (secrets omitted). */
  settings: Record<string, unknown>
  runtime: PluginRuntime
}

export interface TabSpec {
  label: string
  order?: number
  /** Extra HTML under the generated settings form (escape what you interpolate: `html`). */
  render?: (ctx: TabRenderContext) => string | Promise<string>
}

export interface NavSpec {
  label: string
  /** An admin path of this plugin, relative to `/admin/p/<id>` (e.g. "/" or "/accounts"). */
  path: string
  order?: number
  /** Install administrators only. */
  adminOnly?: boolean
}

export interface FragmentSpec {
  zone: FragmentZone
  order?: number
  render: (ctx: {
    actor: Actor
    caId?: number
    objectId?: number
    runtime: PluginRuntime
  }) => string | Promise<string>
}

/* ------------------------------------------------------------------------------------------ */
/* Jobs, service URLs, extension points                                                         */
/* ------------------------------------------------------------------------------------------ */

export interface JobSpec {
  /** Unique within the plugin; the host namespaces it as `<id>:<name>`. */
  name: string
  /** Every N milliseconds, or `schedule` as a duration: "30s", "5m", "1h", "1d". */
  everyMs?: number
  schedule?: string
  /** cluster-singleton: one node at a time (lease in the database). per-node: every node. */
  concurrency: 'cluster-singleton' | 'per-node'
  run: (runtime: PluginRuntime) => void | Promise<void>
}

export type EmbedTarget = 'aia.ocsp' | 'aia.caIssuers' | 'crl.distributionPoints' | 'crl.freshest'

export interface UrlContext {
  caId: number
  caName: string
  templateId?: number
  /** Serial (hex) of the certificate being issued: per-certificate URLs (CRL shards). */
  serial?: string
}

export interface ServiceUrlSpec {
  kind: string
  label: string
  scope: 'ca' | 'template'
  embedIn?: EmbedTarget
  /** Synchronous: computed while a certificate is built. Use `publicUrl` from `api`. */
  urls: (ctx: UrlContext) => string[]
}

/* ------------------------------------------------------------------------------------------ */
/* Ace commands                                                                                 */
/* ------------------------------------------------------------------------------------------ */

export interface CommandFlagSpec {
  type: 'string' | 'number' | 'boolean'
  description: string
  required?: boolean
}

export interface CommandContext {
  /** Parsed flags, by the names declared in `flags` (camelCase; `--expires-days` → expiresDays). */
  flags: Record<string, string | number | boolean | undefined>
  runtime: PluginRuntime
  /** Writes one line to standard output (what scripts read). */
  out(line: string): void
  /** Writes one line to standard error. */
  err(line: string): void
}

export interface CommandSpec {
  /**
   * The full command name; must start with `<plugin id>:`, e.g. "acme:policy:create".
   * Shown by `node ace list`; runs with the application started (database, plugins).
   */
  name: string
  description: string
  /** Flags by camelCase name; on the command line they are kebab-case (`--expires-days`). */
  flags?: Record<string, CommandFlagSpec>
  /**
   * Throw a plugin error (or any Error) to fail: its message is printed and the exit code is 1.
   * A returned number is the exit code.
   */
  run: (ctx: CommandContext) => void | number | Promise<void | number>
}

/* ------------------------------------------------------------------------------------------ */
/* setup(api)                                                                                  */
/* ------------------------------------------------------------------------------------------ */

export interface PluginSetupApi {
  readonly pluginId: string
  /** Public base URL of the install (for service URLs), without a trailing slash. */
  readonly publicUrl: string
  routes(spec: RoutesSpec): void
  fastRoute(spec: FastRouteSpec): void
  hook<K extends HookName>(name: K, handler: HookHandler<K> | HookOptions<K>): void
  templateTab(spec: TabSpec): void
  caTab(spec: TabSpec): void
  nav(spec: NavSpec): void
  fragment(spec: FragmentSpec): void
  job(spec: JobSpec): void
  serviceUrl(spec: ServiceUrlSpec): void
  /** Offers an implementation to an extension point (declared by this or another plugin). */
  provide(point: string, impl: unknown): void
  /** An ace command (`node ace <name>`); runs only while the plugin is enabled. */
  command(spec: CommandSpec): void
}

/* ------------------------------------------------------------------------------------------ */
/* start(runtime): the kernel port                                                              */
/* ------------------------------------------------------------------------------------------ */

export interface CaInfo {
  id: number
  name: string
  status: string
  keyType: string
  subjectDn: string | null
  notAfter: number | null
  certificatePem: string | null
  /**
   * The certificates above this CA (PEM), from its issuer up to the self-signed root (last):
   * empty for a root. What a chain sent to clients continues with after `certificatePem`.
   */
  chainPems: string[]
}

export interface TemplateInfo {
  id: number
  caId: number
  name: string
  options: Record<string, unknown>
}

export interface CertificateInfo {
  id: number
  caId: number
  templateId: number | null
  serial: string
  subjectDn: string
  commonName: string | null
  status: string
  notBefore: number
  notAfter: number
  revokedAt: number | null
  revocationReason: string | null
  der: Uint8Array
}

export interface RevokedEntry {
  /** The certificate's id: increases with issuance order. */
  certificateId: number
  serial: string
  revokedAt: number
  reason: string | null
  /** The certificate's notAfter (ms): a CRL issued after it may drop the entry (RFC 5280 §3.3). */
  notAfter: number
}

/**
 * A page of revoked entries read in bulk (revokedEntryPages): its rows are visited, not
 * materialized, and the page is valid only until the next one is asked for.
 */
export interface RevokedEntryPage {
  count: number
  /**
   * Calls `visit` for each row in certificate-id order, synchronously. `reason` is an RFC 5280
   * reason name ('certificateHold' for a held certificate), or null (none, or not a known name).
   */
  forEach(visit: (serial: string, revokedAt: number, reason: string | null) => void): void
}

/** One certificate's revocation status, as OCSP responders need it. */
export interface CertificateStatusEntry {
  certificateId: number
  serial: string
  /** 'valid', 'revoked' or 'hold' (certificateHold). */
  status: string
  notBefore: number
  notAfter: number
  revokedAt: number | null
  reason: string | null
}

/** What a delegated service certificate is for; decides its extended key usage. */
export type ServiceCertificatePurpose = 'ocsp-signing' | 'timestamping'

export interface ServiceCertificateRequest {
  purpose: ServiceCertificatePurpose
  /** How long it is valid from now (ms). Capped by the CA's own notAfter. */
  validityMs: number
  /** Subject common name (default: "<CA name> OCSP Responder" / "<CA name> Timestamping"). */
  commonName?: string
}

/**
 * A certificate the kernel issued for a service of a CA (an OCSP responder, a TSA) with a key
 * of its own, kept encrypted by the kernel. It shows in Issued Certificates like any other and
 * can be revoked there; `sign` uses its key. The key type follows the CA's service-certificate
 * settings (default: the CA's algorithm; ML-DSA-65 for SLH-DSA CAs).
 */
export interface ServiceCertificate {
  certificateId: number
  caId: number
  purpose: ServiceCertificatePurpose
  serial: string
  der: Uint8Array
  notBefore: number
  notAfter: number
  keyType: string
  /** The service settings' hash (or the CA's); unused by EdDSA/ML-DSA/SLH-DSA. */
  hash: 'sha256' | 'sha384' | 'sha512'
  publicKeySpki: Uint8Array
  sign(data: Uint8Array, hash?: 'sha256' | 'sha384' | 'sha512'): Promise<Uint8Array>
  /** Incremental signing for RSA and ECDSA keys (undefined for pure EdDSA/ML-DSA/SLH-DSA). */
  stream?(hash?: 'sha256' | 'sha384' | 'sha512'): StreamSigner
}

/** Feeds the to-be-signed bytes in pieces; `sign()` ends it and returns the signature. */
export interface StreamSigner {
  update(chunk: Uint8Array): void
  sign(): Promise<Uint8Array>
}

export interface IssueRequest {
  templateId: number
  /** PEM or DER. */
  csr: string | Uint8Array
  sans?: SanEntry[]
  validityDays?: number
  /** Shown as the source in logs (default: the plugin id). */
  source?: string
}

export interface IssueResult {
  id: number
  serial: string
  der: Uint8Array
  pem: string
  notBefore: number
  notAfter: number
}

/** A signer bound to one CA and one declared purpose; every use is audited. */
export interface PurposeSigner {
  readonly caId: number
  readonly purpose: string
  readonly keyType: string
  readonly publicKeySpki: Uint8Array
  /** The CA's configured signature hash (the default of `sign`; unused by EdDSA/ML-DSA/SLH-DSA). */
  readonly hash: 'sha256' | 'sha384' | 'sha512'
  sign(data: Uint8Array, hash?: 'sha256' | 'sha384' | 'sha512'): Promise<Uint8Array>
  /**
   * Incremental signing, so a large to-be-signed body (a CRL) need not be held in memory:
   * RSA and ECDSA keys only (undefined for pure EdDSA/ML-DSA/SLH-DSA, which need the whole data).
   */
  stream?(hash?: 'sha256' | 'sha384' | 'sha512'): StreamSigner
}

export interface PluginLogger {
  trace(obj: unknown, msg?: string): void
  debug(obj: unknown, msg?: string): void
  info(obj: unknown, msg?: string): void
  warn(obj: unknown, msg?: string): void
  error(obj: unknown, msg?: string): void
}

/**
 * A Knex-style query builder on one table. The host refuses any table not prefixed with
 * `<id>_`. (Typed loosely on purpose: the contract does not depend on a database library.)
 */
export type TableQuery = any

export interface PluginRuntime {
  readonly pluginId: string
  readonly publicUrl: string
  readonly log: PluginLogger
  /** Issues a certificate (the full issuance cycle, as `actor` or as the plugin). */
  issue(request: IssueRequest, actor?: Actor): Promise<IssueResult>
  revoke(certificateId: number, reason: string, actor?: Actor): Promise<void>
  findCertificate(
    query: { id: number } | { caId: number; serial: string }
  ): Promise<CertificateInfo | null>
  /**
   * Revoked and on-hold certificates of a CA, in pages ordered by certificate id, without those
   * already marked as listed by a CRL issued after their expiry (markListedAfterExpiry).
   */
  revokedEntries(caId: number, pageSize?: number): AsyncIterable<RevokedEntry[]>
  /**
   * The same rows as revokedEntries for a bulk read (a CRL of a million entries): on SQLite they
   * are read by a worker thread on its own connection, so the event loop keeps serving and no
   * object is built per row. Stop iterating early and the reader stops.
   */
  revokedEntryPages(caId: number): AsyncIterable<RevokedEntryPage>
  /**
   * Records that a CRL with this thisUpdate (ms) has been published: revoked certificates of the
   * CA that expired before it have now been listed after their expiry, so they leave later
   * CRLs and may be purged (RFC 5280 §3.3). Call it once the CRL is stored. Returns the count.
   */
  markListedAfterExpiry(caId: number, crlThisUpdate: number): Promise<number>
  /** Every stored certificate of a CA with its status, in pages ordered by id (after `afterId`). */
  certificateStatuses(
    caId: number,
    options?: { afterId?: number; pageSize?: number }
  ): AsyncIterable<CertificateStatusEntry[]>
  /** Issues a delegated service certificate (e.g. an OCSP responder's) with a new key. */
  issueServiceCertificate(
    caId: number,
    request: ServiceCertificateRequest
  ): Promise<ServiceCertificate>
  /** A service certificate issued earlier (any node), with its signer; null if gone. */
  serviceCertificate(certificateId: number): Promise<ServiceCertificate | null>
  getCa(caId: number): Promise<CaInfo | null>
  listCas(): Promise<CaInfo[]>
  getTemplate(templateId: number): Promise<TemplateInfo | null>
  listTemplates(caId: number): Promise<TemplateInfo[]>
  /** A signer for a CA's key, bound to a purpose (e.g. "ocsp", "crl"); audited once per call. */
  signerFor(caId: number, purpose: string): Promise<PurposeSigner>
  audit(entry: PluginAuditEntry): Promise<void>
  /**
   * An entry on the Logs page. `{ queue: true }` on busy paths: the entry is batched with others
   * and written within a second (not awaited, so it may be lost if the process dies first).
   */
  writeServiceLog(
    entry: {
      caId?: number | null
      level: 'info' | 'warn' | 'error'
      event: string
      message: string
      details?: Record<string, unknown>
    },
    options?: { queue?: boolean }
  ): Promise<void>
  countServiceHit(name: string, caId?: number): void
  settings: {
    install(): Promise<Record<string, unknown>>
    ca(caId: number): Promise<Record<string, unknown>>
    template(templateId: number): Promise<Record<string, unknown>>
  }
  /**
   * Secrets a plugin keeps in its own tables (e.g. an ACME EAB's HMAC key): the value is stored
   * encrypted under the master key by the kernel (and re-encrypted by `key:rotate`); the plugin
   * keeps only the handle. `get` of an unknown or another plugin's handle returns null.
   */
  secrets: {
    put(value: string): Promise<string>
    get(handle: string): Promise<string | null>
    delete(handle: string): Promise<void>
  }
  /** Implementations offered to an extension point, in plugin load order (enabled plugins). */
  extensions<T = unknown>(point: string): T[]
  /** A query builder for one of this plugin's own tables (`<id>_...`). */
  table(name: string): TableQuery
  /**
   * Runs `fn` in one database transaction over this plugin's own tables: everything `tx.table()`
   * and `tx.audit()` do commits together, or nothing does when `fn` throws (the error is rethrown).
   */
  transaction<T>(fn: (tx: PluginTransaction) => Promise<T>): Promise<T>
  /**
   * Writes in one transaction that is committed off the event loop on SQLite (by the kernel's
   * store thread, which also commits issued certificates): queries built with `table()` and not
   * awaited (insert, update, delete on the plugin's own tables) and `{ audit }` entries. Resolves
   * once committed, with each item's result in order; rejects with nothing written when any
   * fails. For hot paths whose writes need no reads in between (a group commit).
   */
  writeBatch(items: Array<WriteBatchItem>): Promise<WriteResult[]>
  /**
   * A fixed query over this plugin's own tables, built once and run many times cheaply: `build`
   * makes it with `table()` (the same own-tables check), using `param(name)` where a value
   * changes from run to run. The kernel compiles it once to SQL; each run binds the values and
   * executes it (on SQLite as a cached prepared statement, synchronously on a pooled connection;
   * on PostgreSQL as the same SQL). A parameter must stand for a whole bound value (a `where`
   * value, an inserted or updated value, a limit), not for a column or table name.
   */
  prepare(build: (param: (name: string) => unknown) => TableQuery): PreparedQuery
  /**
   * In a write batch, the id that the batch's item `index` (an insert, earlier in the batch)
   * inserted: its `returning('id')` row's id, else SQLite's rowid. Pass it as a parameter value
   * of `PreparedQuery.bind()` or as an `{ audit }` entry's `objectId`.
   */
  insertedId(index: number): InsertedIdRef
}

/** What `writeBatch` takes: an unawaited `table()` query, a bound prepared query, an audit entry. */
export type WriteBatchItem = TableQuery | BoundQuery | { audit: PluginAuditEntry }

/** A query made by `runtime.prepare()`. `params` maps each `param(name)` to its value. */
export interface PreparedQuery {
  /** Every row. */
  all(params?: Record<string, unknown>): Promise<Record<string, any>[]>
  /** The first row, or undefined. */
  first(params?: Record<string, unknown>): Promise<Record<string, any> | undefined>
  /** Runs a write on its own (its own transaction), with its result. */
  run(params?: Record<string, unknown>): Promise<WriteResult>
  /**
   * The query with these values, as a `writeBatch` item. `expect`: the number of rows it must
   * change (or return, with RETURNING); otherwise the whole batch rolls back and `writeBatch`
   * rejects with a `WriteExpectationError` naming this item.
   */
  bind(params?: Record<string, unknown>, options?: { expect?: number }): BoundQuery
}

/** A prepared query with its values (opaque: only `writeBatch` reads it). */
export interface BoundQuery {
  readonly boundQuery: true
}

/** See `runtime.insertedId()` (opaque). */
export interface InsertedIdRef {
  readonly insertedIdOf: number
}

/**
 * How `writeBatch` rejects when a bound query's `expect` was not met (nothing was written):
 * `code` is 'E_WRITE_EXPECTATION', `index` the item's position in the batch.
 */
export interface WriteExpectationError extends Error {
  code: 'E_WRITE_EXPECTATION'
  index: number
}

/** True for `writeBatch`'s rejection by an unmet `expect` (see WriteExpectationError). */
export function isWriteExpectationError(error: unknown): error is WriteExpectationError {
  return (
    error instanceof Error &&
    (error as { code?: unknown }).code === 'E_WRITE_EXPECTATION' &&
    typeof (error as { index?: unknown }).index === 'number'
  )
}

/** What one item of a write batch did. */
export interface WriteResult {
  /** rows changed (or returned, with RETURNING) */
  changes: number
  /** SQLite: the rowid an insert added (null for other statements); PostgreSQL: null (use `.returning('id')`) */
  lastId: number | null
  /** the rows of a query with RETURNING */
  rows?: Record<string, unknown>[]
}

/** An audit-log entry written by a plugin (the plugin's id is added to its details). */
export interface PluginAuditEntry {
  action: string
  caId?: number | null
  objectType?: string
  objectId?: string | number
  details?: Record<string, unknown>
}

/** What `runtime.transaction(fn)` gives `fn`. */
export interface PluginTransaction {
  table(name: string): TableQuery
  /** An audit-log entry in this transaction: stored if, and only if, the transaction commits. */
  audit(entry: PluginAuditEntry): Promise<void>
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers (pure)                                                                               */
/* ------------------------------------------------------------------------------------------ */

/** Escapes text for HTML. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

/** Tagged template that escapes every interpolated value (pass raw HTML with `safe()`). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0]
  values.forEach((value, i) => {
    const text =
      value && typeof value === 'object' && 'safeHtml' in value
        ? String((value as { safeHtml: string }).safeHtml)
        : Array.isArray(value)
          ? value
              .map((v) =>
                v && typeof v === 'object' && 'safeHtml' in v ? v.safeHtml : escapeHtml(v)
              )
              .join('')
          : escapeHtml(value)
    out += text + strings[i + 1]
  })
  return out
}

/** Marks a string as HTML that `html` must not escape. */
export function safe(value: string): { safeHtml: string } {
  return { safeHtml: value }
}

/** Plugin ids: what the host accepts, and the URL prefixes a plugin may not take. */
export const PLUGIN_ID_PATTERN = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/
export const RESERVED_PLUGIN_IDS: readonly string[] = [
  'admin',
  'api',
  'pki',
  'health',
  'ping',
  'login',
  'logout',
  'setup',
  'auth',
  'assets',
  'kernel',
]
