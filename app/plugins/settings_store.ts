/*
 * Plugin settings at three scopes, validated by the plugin's ajv JSON schemas (strict, with
 * defaults), versioned with upgrade(), and with secret fields encrypted at rest by the master
 * key ring (AAD naming the plugin, scope, record and field, so a blob cannot be moved).
 *
 * Where they live:
 *   install  — plugin_states.settings (+ settings_version)
 *   ca       — cas.plugin_settings       { <pluginId>: { version, values } }
 *   template — templates.plugin_settings { <pluginId>: { version, values } }
 * A secret value is stored as { "$enc": "v1.<keyId>.<iv>.<ct>" }.
 *
 * CA and template settings are read on hot paths (ACME reads its template settings for every
 * order). Their materialised values (decrypted, upgraded, validated) are kept per record and
 * used again while the record's updated_at is unchanged: every settings change bumps it in the
 * same transaction, so a change made by any node is seen on the next read. (Key rotation
 * re-encrypts stored secrets without bumping it: their values, which are what is kept, do not
 * change.)
 */
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { masterKeyRing } from '#services/master_key'
import { fastDb } from '#services/fast_db'
import type { JsonSchema, SettingsScope, SettingsSpec } from './contract.js'

const ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true, allowUnionTypes: true })
ajv.addKeyword({ keyword: 'x-secret', schemaType: 'boolean' })
ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' })

export interface FieldInfo {
  name: string
  label: string
  hint?: string
  type: 'string' | 'number' | 'integer' | 'boolean' | 'enum'
  options?: Array<string | number>
  secret: boolean
  required: boolean
  default?: unknown
  minimum?: number
  maximum?: number
  maxLength?: number
}

export class CompiledSettings {
  readonly validate: ValidateFunction
  readonly fields: FieldInfo[]
  readonly secrets: Set<string>

  constructor(
    readonly pluginId: string,
    readonly scope: SettingsScope,
    readonly spec: SettingsSpec
  ) {
    const schema = spec.schema as any
    if (!schema || schema.type !== 'object' || typeof schema.properties !== 'object') {
      throw new Error(`its ${scope} settings schema must be an object schema with properties`)
    }
    if (!Number.isInteger(spec.version) || spec.version < 1) {
      throw new Error(`its ${scope} settings need an integer version (1 or more)`)
    }
    try {
      this.validate = ajv.compile(schema)
    } catch (error) {
      throw new Error(`its ${scope} settings schema does not compile: ${(error as Error).message}`)
    }
    const required = new Set<string>(Array.isArray(schema.required) ? schema.required : [])
    this.fields = Object.entries(schema.properties as Record<string, any>).map(([name, p]) => {
      const type: FieldInfo['type'] = Array.isArray(p.enum)
        ? 'enum'
        : ['number', 'integer', 'boolean'].includes(p.type)
          ? p.type
          : 'string'
      return {
        name,
        label: typeof p.title === 'string' ? p.title : name,
        hint: typeof p.description === 'string' ? p.description : undefined,
        type,
        options: Array.isArray(p.enum) ? p.enum : undefined,
        secret: p['x-secret'] === true,
        required: required.has(name),
        default: p.default,
        minimum: p.minimum,
        maximum: p.maximum,
        maxLength: p.maxLength,
      }
    })
    this.secrets = new Set(this.fields.filter((f) => f.secret).map((f) => f.name))
    const defaults = this.defaults()
    if (!this.validate(defaults)) {
      throw new Error(
        `the defaults of its ${scope} settings do not validate: ${describeErrors(this, this.validate.errors).join('; ')}`
      )
    }
  }

  /** The settings an empty object becomes (ajv fills the defaults). */
  defaults(): Record<string, unknown> {
    const value: Record<string, unknown> = {}
    this.validate(value)
    return value
  }

  get version() {
    return this.spec.version
  }
}

/** Messages per field (x-message when the schema gives one, ajv's otherwise). */
export function fieldErrors(
  compiled: CompiledSettings,
  errors: ErrorObject[] | null | undefined
): Record<string, string> {
  const out: Record<string, string> = {}
  const props = (compiled.spec.schema as any).properties as Record<string, JsonSchema>
  for (const e of errors ?? []) {
    const field =
      e.instancePath.split('/')[1] ||
      (e.params as any)?.missingProperty ||
      (e.params as any)?.additionalProperty ||
      '_'
    if (out[field]) continue
    const custom = props[field]?.['x-message']
    const label = compiled.fields.find((f) => f.name === field)?.label ?? field
    out[field] =
      typeof custom === 'string'
        ? custom
        : e.keyword === 'additionalProperties'
          ? `"${field}" is not a setting of this plugin.`
          : `${label} ${e.message ?? 'is invalid'}.`
  }
  return out
}

function describeErrors(compiled: CompiledSettings, errors: ErrorObject[] | null | undefined) {
  return Object.values(fieldErrors(compiled, errors))
}

export class SettingsValidationError extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(Object.values(fields).join(' '))
    this.name = 'SettingsValidationError'
  }
}

/* ---------------------------------------------------------------------------------------- */

function aad(pluginId: string, scope: SettingsScope, scopeId: number, field: string) {
  return `plugin-setting:${pluginId}:${scope}:${scopeId}:${field}`
}

function isEncrypted(value: unknown): value is { $enc: string } {
  return Boolean(value && typeof value === 'object' && typeof (value as any).$enc === 'string')
}

interface Stored {
  version: number
  values: Record<string, unknown>
}

function parseJson(text: unknown): Record<string, any> {
  if (text && typeof text === 'object') return text as Record<string, any>
  try {
    const value = JSON.parse(String(text ?? '{}'))
    return value && typeof value === 'object' ? value : {}
  } catch {
    return {}
  }
}

/** The stored settings, read in the transaction that is about to replace them. */
async function readStored(
  pluginId: string,
  scope: SettingsScope,
  scopeId: number,
  client: TransactionClientContract
): Promise<Stored | null> {
  if (scope === 'install') {
    const row = await client.from('plugin_states').where('plugin_id', pluginId).first()
    if (!row) return null
    return { version: Number(row.settings_version), values: parseJson(row.settings) }
  }
  const table = scope === 'ca' ? 'cas' : 'templates'
  const row = await client.from(table).where('id', scopeId).select('plugin_settings').first()
  if (!row) return null
  return pluginEntry(row.plugin_settings, pluginId)
}

/** One plugin's entry of a plugin_settings column. */
function pluginEntry(column: unknown, pluginId: string): Stored | null {
  const entry = parseJson(column)[pluginId]
  if (!entry || typeof entry !== 'object') return null
  return { version: Number(entry.version ?? 1), values: parseJson(entry.values) }
}

/** Decrypts secrets, upgrades an older version, fills defaults. Throws when invalid. */
function materialise(
  compiled: CompiledSettings,
  scopeId: number,
  stored: Stored | null
): Record<string, unknown> {
  if (!stored) return compiled.defaults()
  const ring = masterKeyRing()
  let values: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(stored.values)) {
    values[key] = isEncrypted(value)
      ? ring.decrypt(value.$enc, aad(compiled.pluginId, compiled.scope, scopeId, key)).toString()
      : value
  }
  if (stored.version < compiled.version) {
    if (!compiled.spec.upgrade) {
      throw new Error(
        `its ${compiled.scope} settings are version ${stored.version} and it has no upgrade() to version ${compiled.version}`
      )
    }
    values = compiled.spec.upgrade(values, stored.version)
  }
  if (!compiled.validate(values)) {
    throw new SettingsValidationError(fieldErrors(compiled, compiled.validate.errors))
  }
  return values
}

const RECORD_SETTINGS = {
  ca: 'SELECT plugin_settings, updated_at FROM cas WHERE id = ?',
  template: 'SELECT plugin_settings, updated_at FROM templates WHERE id = ?',
} as const

/** Materialised CA / template settings by record id, with the updated_at they were read at. */
const recordCache = new WeakMap<
  CompiledSettings,
  Map<number, { updatedAt: number; values: Record<string, unknown> }>
>()
const RECORD_CACHE_MAX = 2000

/**
 * A plugin's settings for a CA or a template; a copy the caller may change. (Install settings
 * come from the plugin host's state cache, materialiseInstall.)
 */
export async function readSettings(
  compiled: CompiledSettings,
  scopeId: number
): Promise<Record<string, unknown>> {
  if (compiled.scope === 'install') {
    throw new Error('readSettings reads CA and template settings; use materialiseInstall')
  }
  const row = await fastDb.first(RECORD_SETTINGS[compiled.scope], [scopeId])
  if (!row) return compiled.defaults()
  const updatedAt = Number(row.updated_at)
  let records = recordCache.get(compiled)
  if (!records) recordCache.set(compiled, (records = new Map()))
  const hit = records.get(scopeId)
  if (hit && hit.updatedAt === updatedAt) return structuredClone(hit.values)
  // Invalid settings throw here, every time: nothing is kept.
  const values = materialise(compiled, scopeId, pluginEntry(row.plugin_settings, compiled.pluginId))
  if (records.size >= RECORD_CACHE_MAX) records.clear()
  records.set(scopeId, { updatedAt, values: structuredClone(values) })
  return values
}

/** For the install scope when the row was already read (the host's state cache). */
export function materialiseInstall(
  compiled: CompiledSettings,
  row: { settings: unknown; settings_version: unknown } | undefined
) {
  return materialise(
    compiled,
    0,
    row ? { version: Number(row.settings_version), values: parseJson(row.settings) } : null
  )
}

/** Settings without their secrets, for views and tab renderers. */
export function withoutSecrets(compiled: CompiledSettings, values: Record<string, unknown>) {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(values)) if (!compiled.secrets.has(k)) out[k] = v
  return out
}

/**
 * Turns form input (strings) into typed values by the schema. A secret left empty keeps the
 * stored one; a checkbox that is absent is false.
 */
export function coerceForm(
  compiled: CompiledSettings,
  input: Record<string, unknown>,
  current: Record<string, unknown>
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of compiled.fields) {
    const raw = input[f.name]
    const text = raw === null || raw === undefined ? '' : String(raw)
    if (f.secret && text === '') {
      if (current[f.name] !== undefined) out[f.name] = current[f.name]
      continue
    }
    if (f.type === 'boolean') {
      out[f.name] = ['on', 'true', '1', 'yes'].includes(text.toLowerCase())
      continue
    }
    if (text === '') continue // the default applies
    if (f.type === 'number' || f.type === 'integer') {
      const n = Number(text)
      out[f.name] = Number.isFinite(n) && text.trim() !== '' ? n : text
      continue
    }
    if (f.type === 'enum' && f.options?.every((o) => typeof o === 'number')) {
      out[f.name] = Number(text)
      continue
    }
    out[f.name] = text
  }
  return out
}

/**
 * Validates and stores settings. Throws SettingsValidationError (nothing written) when invalid.
 * Returns the names of the fields that changed.
 */
export async function writeSettings(
  compiled: CompiledSettings,
  scopeId: number,
  candidate: Record<string, unknown>,
  trx: TransactionClientContract
): Promise<string[]> {
  const values = structuredClone(candidate)
  if (!compiled.validate(values)) {
    throw new SettingsValidationError(fieldErrors(compiled, compiled.validate.errors))
  }
  let before: Record<string, unknown> = {}
  try {
    before = await materialise(
      compiled,
      scopeId,
      await readStored(compiled.pluginId, compiled.scope, scopeId, trx)
    )
  } catch {
    before = {}
  }
  const changed = compiled.fields
    .map((f) => f.name)
    .filter((name) => JSON.stringify(before[name]) !== JSON.stringify(values[name]))
  const ring = masterKeyRing()
  const stored: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) {
    stored[key] =
      compiled.secrets.has(key) && typeof value === 'string' && value !== ''
        ? {
            $enc: ring.encrypt(
              Buffer.from(value),
              aad(compiled.pluginId, compiled.scope, scopeId, key)
            ),
          }
        : value
  }
  const now = Date.now()
  if (compiled.scope === 'install') {
    const updated = await trx
      .from('plugin_states')
      .where('plugin_id', compiled.pluginId)
      .update({
        settings: JSON.stringify(stored),
        settings_version: compiled.version,
        updated_at: now,
      })
    if (Number(updated) === 0) {
      throw new Error(`plugin ${compiled.pluginId} has no state row`)
    }
    return changed
  }
  const table = compiled.scope === 'ca' ? 'cas' : 'templates'
  const query = trx.from(table).where('id', scopeId)
  if (trx.dialect.name === 'postgres') query.forUpdate()
  const row = await query.select('plugin_settings', 'updated_at').first()
  if (!row) throw new Error(`${compiled.scope} ${scopeId} no longer exists`)
  const all = parseJson(row.plugin_settings)
  all[compiled.pluginId] = { version: compiled.version, values: stored }
  await trx
    .from(table)
    .where('id', scopeId)
    .update({
      plugin_settings: JSON.stringify(all),
      // Kernel caches are keyed by updated_at: a settings change is seen on the next request.
      updated_at: Math.max(now, Number(row.updated_at) + 1),
    })
  return changed
}

/** Re-encrypts every plugin secret under the current master key (key rotation). */
export async function reencryptPluginSecrets(trx: TransactionClientContract) {
  const ring = masterKeyRing()
  let rotated = 0
  const walk = (pluginId: string, scope: SettingsScope, scopeId: number, values: any) => {
    let changed = false
    for (const [key, value] of Object.entries(values ?? {})) {
      if (isEncrypted(value) && ring.needsRotation(value.$enc)) {
        values[key] = { $enc: ring.reencrypt(value.$enc, aad(pluginId, scope, scopeId, key)) }
        changed = true
        rotated++
      }
    }
    return changed
  }
  for (const row of await trx.from('plugin_states').select('plugin_id', 'settings')) {
    const values = parseJson(row.settings)
    if (walk(row.plugin_id, 'install', 0, values)) {
      await trx
        .from('plugin_states')
        .where('plugin_id', row.plugin_id)
        .update({ settings: JSON.stringify(values) })
    }
  }
  for (const [table, scope] of [
    ['cas', 'ca'],
    ['templates', 'template'],
  ] as const) {
    const rows = await trx
      .from(table)
      .whereNot('plugin_settings', '{}')
      .select('id', 'plugin_settings')
    for (const row of rows) {
      const all = parseJson(row.plugin_settings)
      let changed = false
      for (const [pluginId, entry] of Object.entries(all)) {
        if (
          entry &&
          typeof entry === 'object' &&
          walk(pluginId, scope, Number(row.id), (entry as any).values)
        )
          changed = true
      }
      if (changed) {
        await trx
          .from(table)
          .where('id', row.id)
          .update({ plugin_settings: JSON.stringify(all) })
      }
    }
  }
  return rotated
}
