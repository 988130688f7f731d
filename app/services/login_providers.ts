/*
 * External login providers (GitHub, Google, generic OpenID Connect) as an install administrator
 * configures them at /admin/login-providers, stored in login_providers. The client secret is
 * encrypted with the master key ring (bound to the row by its AAD) and never leaves this module
 * except inside a driver. Ally drivers are built per request from the row, so a change made on
 * one node is used by every node on its next login.
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { GithubDriver } from '@adonisjs/ally/drivers/github'
import { GoogleDriver } from '@adonisjs/ally/drivers/google'
import pkiConfig from '#config/pki'
import { KernelError } from '#exceptions/kernel_error'
import { masterKeyRing } from './master_key.js'
import { audit } from './audit_service.js'
import { discover, OidcDriver, OidcError } from './oidc_driver.js'
import type { Actor } from './actor.js'

export const PROVIDER_KINDS = {
  github: 'GitHub',
  google: 'Google',
  oidc: 'OpenID Connect',
} as const
export type ProviderKind = keyof typeof PROVIDER_KINDS

/** Endpoint fields an administrator may override (GitHub Enterprise, test servers, proxies). */
export const ENDPOINT_FIELDS: Record<'github' | 'google', string[]> = {
  github: ['authorizeUrl', 'accessTokenUrl', 'userInfoUrl', 'userEmailUrl'],
  google: ['authorizeUrl', 'accessTokenUrl', 'userInfoUrl'],
}

export const DEFAULT_SCOPES: Record<ProviderKind, string[]> = {
  github: ['read:user', 'user:email'],
  google: ['openid', 'userinfo.email', 'userinfo.profile'],
  oidc: ['openid', 'email', 'profile'],
}

export interface ProviderConfig {
  clientId: string
  /** Encrypted blob (v1.<keyId>.…), never the plain secret. */
  clientSecret: string
  scopes: string[]
  issuer?: string
  authorizeUrl?: string
  accessTokenUrl?: string
  userInfoUrl?: string
  userEmailUrl?: string
}

export interface LoginProvider {
  id: number
  kind: ProviderKind
  name: string
  enabled: boolean
  config: ProviderConfig
  allowedDomains: string[]
  createdAt: number
  updatedAt: number
}

const secretAad = (id: number) => `login-provider:${id}:client-secret`

function fromRow(row: any): LoginProvider {
  let config: ProviderConfig
  try {
    config = JSON.parse(row.config)
  } catch {
    config = { clientId: '', clientSecret: '', scopes: [] }
  }
  return {
    id: Number(row.id),
    kind: row.kind,
    name: row.name,
    enabled: Boolean(row.enabled),
    config,
    allowedDomains: String(row.allowed_domains ?? '')
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/** The URL to register at the provider as the redirect (callback) URL. */
export const callbackUrl = (id: number) => `${pkiConfig.publicUrl}/auth/${id}/callback`

export async function listProviders(): Promise<LoginProvider[]> {
  const rows = await db.from('login_providers').orderBy('name')
  return rows.map(fromRow)
}

/** For the login page: enabled providers, no configuration. */
export async function enabledProviders() {
  const rows = await db
    .from('login_providers')
    .where('enabled', true)
    .orderBy('name')
    .select('id', 'name', 'kind')
  return rows.map((r: any) => ({ id: Number(r.id), name: String(r.name), kind: String(r.kind) }))
}

export async function findProvider(id: unknown): Promise<LoginProvider | undefined> {
  const n = Number(id)
  if (!Number.isInteger(n) || n <= 0) return undefined
  const row = await db.from('login_providers').where('id', n).first()
  return row ? fromRow(row) : undefined
}

export async function getProvider(id: unknown) {
  const provider = await findProvider(id)
  if (!provider) throw new KernelError('E_NOT_FOUND', `No login provider "${id}" exists.`)
  return provider
}

/* ----------------------------------- validation ----------------------------------------- */

export interface ProviderInput {
  kind?: unknown
  name?: unknown
  enabled?: unknown
  clientId?: unknown
  clientSecret?: unknown
  scopes?: unknown
  allowedDomains?: unknown
  issuer?: unknown
  authorizeUrl?: unknown
  accessTokenUrl?: unknown
  userInfoUrl?: unknown
  userEmailUrl?: unknown
}

export class ProviderValidationError extends KernelError {
  constructor(readonly fields: Record<string, string>) {
    super('E_VALIDATION', Object.values(fields)[0] ?? 'The provider settings are not valid.', {
      fields,
    })
  }
}

const str = (v: unknown) => (typeof v === 'string' ? v.trim() : '')
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/

function checkUrl(value: string, field: string, errors: Record<string, string>) {
  if (!value) return
  try {
    const url = new URL(value)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error()
  } catch {
    errors[field] = `"${value}" is not an http(s) URL.`
  }
}

/**
 * Checks an administrator's form; `existing` is the row being edited (a blank secret keeps its
 * secret). For OpenID Connect the issuer's discovery document is read, so a typo shows now and
 * not at the first login.
 */
async function validate(input: ProviderInput, existing?: LoginProvider) {
  const errors: Record<string, string> = {}
  const kind = (existing?.kind ?? str(input.kind)) as ProviderKind
  if (!(kind in PROVIDER_KINDS)) errors.kind = 'Choose GitHub, Google or OpenID Connect.'
  const name = str(input.name)
  if (!name) errors.name = 'Give the provider a name (shown on the login page).'
  else if (name.length > 100) errors.name = 'The name must have at most 100 characters.'
  const clientId = str(input.clientId)
  if (!clientId)
    errors.clientId = 'The client id is required (from the provider’s app registration).'
  const secret = typeof input.clientSecret === 'string' ? input.clientSecret.trim() : ''
  if (!secret && !existing) errors.clientSecret = 'The client secret is required.'
  const scopes = str(input.scopes)
    .split(/[\s,]+/)
    .filter(Boolean)
  const domains = str(input.allowedDomains)
    .toLowerCase()
    .split(/[\s,]+/)
    .map((d) => d.replace(/^@/, ''))
    .filter(Boolean)
  const badDomain = domains.find((d) => !DOMAIN.test(d))
  if (badDomain) errors.allowedDomains = `"${badDomain}" is not an email domain (e.g. example.com).`

  const config: Omit<ProviderConfig, 'clientSecret'> = {
    clientId,
    scopes: scopes.length ? scopes : (DEFAULT_SCOPES[kind] ?? []),
  }
  if (kind === 'oidc') {
    const issuer = str(input.issuer).replace(/\/+$/, '')
    checkUrl(issuer, 'issuer', errors)
    if (!issuer)
      errors.issuer = 'The issuer URL is required (e.g. https://login.example.com/realms/main).'
    if (issuer && !errors.issuer) {
      try {
        await discover(issuer, true)
      } catch (error) {
        errors.issuer = error instanceof OidcError ? error.message : String(error)
      }
    }
    config.issuer = issuer
  } else if (kind === 'github' || kind === 'google') {
    for (const field of ENDPOINT_FIELDS[kind]) {
      const value = str((input as any)[field])
      checkUrl(value, field, errors)
      if (value) (config as any)[field] = value
    }
  }
  if (Object.keys(errors).length) throw new ProviderValidationError(errors)
  return {
    kind,
    name,
    enabled: input.enabled === undefined ? true : isOn(input.enabled),
    config,
    secret,
    allowedDomains: [...new Set(domains)],
  }
}

const isOn = (v: unknown) => v === true || v === 'on' || v === 'true' || v === '1' || v === 1

async function nameTaken(name: string, exceptId?: number) {
  const q = db.from('login_providers').whereRaw('LOWER(name) = ?', [name.toLowerCase()])
  if (exceptId) q.whereNot('id', exceptId)
  return Boolean(await q.first())
}

export async function createProvider(actor: Actor, input: ProviderInput) {
  const v = await validate(input)
  if (await nameTaken(v.name)) {
    throw new ProviderValidationError({ name: `A provider named "${v.name}" already exists.` })
  }
  return db.transaction(async (trx) => {
    const now = Date.now()
    const [row] = await trx
      .table('login_providers')
      .insert({
        kind: v.kind,
        name: v.name,
        enabled: v.enabled,
        config: '{}',
        allowed_domains: v.allowedDomains.join(','),
        created_at: now,
        updated_at: now,
      })
      .returning('id')
    const id = Number(typeof row === 'object' ? row.id : row)
    const config: ProviderConfig = {
      ...v.config,
      clientSecret: masterKeyRing().encrypt(Buffer.from(v.secret, 'utf8'), secretAad(id)),
    }
    await trx
      .from('login_providers')
      .where('id', id)
      .update({ config: JSON.stringify(config) })
    await audit(
      actor,
      {
        action: 'login-provider.create',
        objectType: 'login_provider',
        objectId: id,
        details: { kind: v.kind, name: v.name, allowedDomains: v.allowedDomains },
      },
      trx
    )
    return id
  })
}

export async function updateProvider(actor: Actor, id: unknown, input: ProviderInput) {
  const existing = await getProvider(id)
  const v = await validate(input, existing)
  if (await nameTaken(v.name, existing.id)) {
    throw new ProviderValidationError({ name: `A provider named "${v.name}" already exists.` })
  }
  const config: ProviderConfig = {
    ...v.config,
    clientSecret: v.secret
      ? masterKeyRing().encrypt(Buffer.from(v.secret, 'utf8'), secretAad(existing.id))
      : existing.config.clientSecret,
  }
  await db.transaction(async (trx) => {
    await trx
      .from('login_providers')
      .where('id', existing.id)
      .update({
        name: v.name,
        enabled: v.enabled,
        config: JSON.stringify(config),
        allowed_domains: v.allowedDomains.join(','),
        updated_at: Date.now(),
      })
    await audit(
      actor,
      {
        action: 'login-provider.update',
        objectType: 'login_provider',
        objectId: existing.id,
        details: {
          name: v.name,
          enabled: v.enabled,
          allowedDomains: v.allowedDomains,
          secretChanged: Boolean(v.secret),
        },
      },
      trx
    )
  })
}

export async function setProviderEnabled(actor: Actor, id: unknown, enabled: boolean) {
  const existing = await getProvider(id)
  await db.transaction(async (trx) => {
    await trx
      .from('login_providers')
      .where('id', existing.id)
      .update({ enabled, updated_at: Date.now() })
    await audit(
      actor,
      {
        action: enabled ? 'login-provider.enable' : 'login-provider.disable',
        objectType: 'login_provider',
        objectId: existing.id,
        details: { name: existing.name },
      },
      trx
    )
  })
}

/** Deletes the provider and, with it, every user's link to it (users stay). */
export async function deleteProvider(actor: Actor, id: unknown) {
  const existing = await getProvider(id)
  await db.transaction(async (trx) => {
    await trx.from('user_identities').where('provider_id', existing.id).delete()
    await trx.from('login_providers').where('id', existing.id).delete()
    await audit(
      actor,
      {
        action: 'login-provider.delete',
        objectType: 'login_provider',
        objectId: existing.id,
        details: { name: existing.name, kind: existing.kind },
      },
      trx
    )
  })
}

/** Re-encrypts every client secret under the current master key (called by key rotation). */
export async function reencryptProviderSecrets(trx: any) {
  const ring = masterKeyRing()
  let rotated = 0
  const rows = await trx.from('login_providers').select('id', 'config')
  for (const row of rows) {
    const config = JSON.parse(row.config)
    if (!config.clientSecret || !ring.needsRotation(config.clientSecret)) continue
    config.clientSecret = ring.reencrypt(config.clientSecret, secretAad(Number(row.id)))
    await trx
      .from('login_providers')
      .where('id', row.id)
      .update({ config: JSON.stringify(config) })
    rotated++
  }
  return rotated
}

/* ------------------------------------- drivers ------------------------------------------ */

/** The ally driver for this provider, built for this request. */
export async function buildDriver(ctx: HttpContext, provider: LoginProvider) {
  const c = provider.config
  const base = {
    clientId: c.clientId,
    clientSecret: masterKeyRing().decrypt(c.clientSecret, secretAad(provider.id)).toString('utf8'),
    callbackUrl: callbackUrl(provider.id),
    scopes: c.scopes?.length ? c.scopes : DEFAULT_SCOPES[provider.kind],
  }
  const endpoints = {
    ...(c.authorizeUrl ? { authorizeUrl: c.authorizeUrl } : {}),
    ...(c.accessTokenUrl ? { accessTokenUrl: c.accessTokenUrl } : {}),
    ...(c.userInfoUrl ? { userInfoUrl: c.userInfoUrl } : {}),
  }
  switch (provider.kind) {
    case 'github':
      return new GithubDriver(ctx, {
        ...base,
        ...endpoints,
        ...(c.userEmailUrl ? { userEmailUrl: c.userEmailUrl } : {}),
      })
    case 'google':
      return new GoogleDriver(ctx, { ...base, ...endpoints })
    case 'oidc':
      return new OidcDriver(ctx, {
        ...base,
        metadata: await discover(c.issuer ?? ''),
        cookiePrefix: `oidc_${provider.id}`,
      })
    default:
      throw new KernelError('E_VALIDATION', `Unknown login provider kind "${provider.kind}".`)
  }
}
