/*
 * Users and API tokens. A token is shown once; only its SHA-256 is stored.
 * Format: `pki_<43 base64url chars>`.
 */
import { createHash, randomBytes } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import hash from '@adonisjs/core/services/hash'
import User from '#models/user'
import { KernelError } from '#exceptions/kernel_error'
import { audit } from './audit_service.js'
import { fastDb } from './fast_db.js'
import type { Actor } from './actor.js'

/** Who a valid API token belongs to (read on every API request: a plain object, no model). */
export interface TokenUser {
  id: number
  email: string
  isAdmin: boolean
}

const VERIFY_TOKEN = `SELECT t.id AS token_id, t.expires_at, t.last_used_at, u.id AS user_id, u.email, u.is_admin
  FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

const EMAIL = /^[^\s@]+@[^\s@]+$/

/** Passwords: at least 12 characters (NIST SP 800-63B: length over composition rules). */
export function checkPasswordStrength(password: unknown) {
  if (typeof password !== 'string' || password.length < 12) {
    throw new KernelError('E_VALIDATION', 'The password must have at least 12 characters.', {
      field: 'password',
    })
  }
  if (password.length > 512) {
    throw new KernelError('E_VALIDATION', 'The password must have at most 512 characters.', {
      field: 'password',
    })
  }
}

export const tokenService = {
  async createUser(actor: Actor, input: { email: string; isAdmin?: boolean; fullName?: string }) {
    const email = String(input.email ?? '')
      .trim()
      .toLowerCase()
    if (!EMAIL.test(email) || email.length > 254) {
      throw new KernelError('E_VALIDATION', `"${input.email}" is not a valid email address.`)
    }
    if (await User.findBy('email', email)) {
      throw new KernelError('E_CONFLICT', `A user with the email ${email} already exists.`)
    }
    return db.transaction(async (trx) => {
      const user = await User.create(
        { email, isAdmin: Boolean(input.isAdmin), fullName: input.fullName ?? null },
        { client: trx }
      )
      await audit(
        actor,
        {
          action: 'user.create',
          objectType: 'user',
          objectId: user.id,
          details: { email, isAdmin: user.isAdmin },
        },
        trx
      )
      return user
    })
  },

  async findUser(email: string) {
    const user = await User.findBy('email', String(email).trim().toLowerCase())
    if (!user)
      throw new KernelError(
        'E_NOT_FOUND',
        `No user with the email ${email} exists. Create one with user:create.`
      )
    return user
  },

  async createToken(actor: Actor, user: User, name = 'api', expiresInDays?: number) {
    const token = `pki_${randomBytes(32).toString('base64url')}`
    const now = Date.now()
    await db.transaction(async (trx) => {
      const [row] = await trx
        .table('api_tokens')
        .insert({
          user_id: user.id,
          name,
          token_hash: hashToken(token),
          created_at: now,
          expires_at: expiresInDays ? now + expiresInDays * 86400_000 : null,
        })
        .returning('id')
      const id = typeof row === 'object' ? row.id : row
      await audit(
        actor,
        {
          action: 'token.create',
          objectType: 'api_token',
          objectId: id,
          details: { user: user.email, name },
        },
        trx
      )
    })
    return token
  },

  /** Resolves a bearer token to its user, or undefined. One indexed lookup (a prepared statement). */
  async verify(token: string): Promise<TokenUser | undefined> {
    if (!token.startsWith('pki_') || token.length > 100) return undefined
    const row = await fastDb.first(VERIFY_TOKEN, [hashToken(token)])
    if (!row) return undefined
    const now = Date.now()
    if (row.expires_at && Number(row.expires_at) < now) return undefined
    // Record use at most once a minute: a write per request would cost more than the request.
    if (!row.last_used_at || Number(row.last_used_at) < now - 60_000) {
      await fastDb.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, row.token_id])
    }
    return { id: Number(row.user_id), email: row.email, isAdmin: Boolean(row.is_admin) }
  },
}

/*
 * First-administrator bootstrap: while no administrator exists, the server keeps a one-time
 * token (hashed in kernel_meta) and prints it at start. Redeeming it creates the administrator.
 */
export const bootstrapService = {
  async ensureToken(): Promise<string | undefined> {
    const admin = await db.from('users').where('is_admin', true).first()
    if (admin) {
      await db.from('kernel_meta').where('key', 'bootstrap_token').delete()
      return undefined
    }
    return this.issueToken()
  },

  /** Replaces any pending bootstrap token with a new one and returns it. */
  async issueToken(): Promise<string> {
    const token = randomBytes(24).toString('base64url')
    await db.transaction(async (trx) => {
      await trx.from('kernel_meta').where('key', 'bootstrap_token').delete()
      await trx.table('kernel_meta').insert({ key: 'bootstrap_token', value: hashToken(token) })
    })
    return token
  },

  /**
   * Creates the first administrator. With a password (the web setup page) they can log in to
   * the admin UI; without one (the API) they use the returned API token.
   */
  async redeem(token: string, email: string, ip?: string | null, password?: string) {
    if (password !== undefined) checkPasswordStrength(password)
    const passwordHash = password !== undefined ? await hash.use('argon').make(password) : null
    return db.transaction(async (trx) => {
      const row = await trx.from('kernel_meta').where('key', 'bootstrap_token').forUpdate().first()
      if (!row || typeof token !== 'string' || row.value !== hashToken(token)) {
        throw new KernelError(
          'E_UNAUTHORIZED',
          'The bootstrap token is wrong or has already been used.'
        )
      }
      const normalized = String(email ?? '')
        .trim()
        .toLowerCase()
      if (!EMAIL.test(normalized))
        throw new KernelError('E_VALIDATION', `"${email}" is not a valid email address.`)
      const now = Date.now()
      const [created] = await trx
        .table('users')
        .insert({
          email: normalized,
          is_admin: true,
          password: passwordHash,
          created_at: now,
          updated_at: now,
        })
        .returning('id')
      const userId = typeof created === 'object' ? created.id : created
      await trx.from('kernel_meta').where('key', 'bootstrap_token').delete()
      const apiToken = `pki_${randomBytes(32).toString('base64url')}`
      await trx.table('api_tokens').insert({
        user_id: userId,
        name: 'bootstrap',
        token_hash: hashToken(apiToken),
        created_at: now,
      })
      await audit(
        { kind: 'user', label: normalized, userId, isAdmin: true, ip },
        { action: 'user.bootstrap', objectType: 'user', objectId: userId },
        trx
      )
      return { userId, email: normalized, token: apiToken }
    })
  },
}
