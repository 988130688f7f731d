/*
 * Users and API tokens. A token is shown once; only its SHA-256 is stored.
 * Format: `pki_<43 base64url chars>`.
 */
import { createHash, randomBytes } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
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
  FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND NOT u.disabled`

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

  /**
   * The REST API's caller from an `Authorization: Bearer pki_...` header, or E_UNAUTHORIZED.
   * `ip` is the client's address under the TRUST_PROXY rule (the audit log's "from where").
   */
  async bearerActor(authorization: string | undefined, ip: string): Promise<Actor> {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')
    const user = match ? await tokenService.verify(match[1]) : undefined
    if (!user) {
      throw new KernelError(
        'E_UNAUTHORIZED',
        'A valid API token is required (Authorization: Bearer pki_...). Create one with `node ace token:create --user EMAIL`.'
      )
    }
    return { kind: 'user', label: user.email, userId: user.id, isAdmin: user.isAdmin, ip }
  },
}

/*
 * First-administrator bootstrap: while no administrator exists, the server keeps a one-time
 * token (hashed in kernel_meta) and prints it at start. Redeeming it creates the administrator.
 */
const BOOTSTRAP = 'bootstrap_token'

/**
 * Nodes starting within this long of the one that issued the pending bootstrap token leave it
 * be (they started a fresh install together); a later start replaces it.
 */
export const BOOTSTRAP_RACE_MS = 30_000

/** A new bootstrap token and the kernel_meta value kept for it: its SHA-256, `:`, when. */
function newBootstrapToken() {
  const token = randomBytes(24).toString('base64url')
  const issuedAt = Date.now()
  return { token, issuedAt, value: `${hashToken(token)}:${issuedAt}` }
}

/** Inserts the bootstrap row; a row already there is kept (`ignore`) or replaced (`merge`). */
function writeBootstrap(value: string, onConflict: 'ignore' | 'merge') {
  const insert = db
    .connection()
    .getWriteClient()
    .table('kernel_meta')
    .insert({ key: BOOTSTRAP, value })
    .onConflict('key')
  return onConflict === 'ignore' ? insert.ignore() : insert.merge()
}

export const bootstrapService = {
  /** The token to print at start, or undefined (an administrator exists, or see startToken). */
  async ensureToken(): Promise<string | undefined> {
    const started = await this.startToken()
    return started?.token
  },

  /**
   * At start: issues a bootstrap token while no administrator exists. Several nodes starting a
   * fresh install at once must not replace each other's token (the one printed would not
   * work): the token is inserted only when none is pending, and only the node whose insert
   * landed gets it (`token`); the others get `issuedElsewhere`. A pending token older than
   * BOOTSTRAP_RACE_MS (an earlier start, whose output may be gone) is replaced.
   */
  async startToken(): Promise<{ token?: string; issuedElsewhere?: boolean } | undefined> {
    const { token, value, issuedAt: now } = newBootstrapToken()
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await db.from('users').where('is_admin', true).first()) {
        await db.from('kernel_meta').where('key', BOOTSTRAP).delete()
        return undefined
      }
      await writeBootstrap(value, 'ignore')
      const row = await db.from('kernel_meta').where('key', BOOTSTRAP).first()
      if (!row) continue // redeemed meanwhile: an administrator exists now
      if (row.value === value) return { token }
      const issuedAt = Number(String(row.value).split(':')[1])
      if (Number.isFinite(issuedAt) && Math.abs(now - issuedAt) < BOOTSTRAP_RACE_MS) {
        return { issuedElsewhere: true }
      }
      // Left by an earlier start: replace it (only that row: another node may replace it too).
      await db.from('kernel_meta').where({ key: BOOTSTRAP, value: row.value }).delete()
    }
    return { issuedElsewhere: true }
  },

  /** Replaces any pending bootstrap token with a new one and returns it. */
  async issueToken(): Promise<string> {
    const { token, value } = newBootstrapToken()
    // An upsert: two at once (two nodes) do not fail on the key; the last one's token stands.
    await writeBootstrap(value, 'merge')
    return token
  },

  /**
   * Creates the first administrator. With a password (the web setup page) they can log in to
   * the admin UI; without one (the API) they use the returned API token.
   */
  async redeem(token: string, email: string, ip?: string | null, password?: string) {
    if (password !== undefined) checkPasswordStrength(password)
    const passwordHash = password !== undefined ? await hash.use('argon').make(password) : null
    const redeemed = await db.transaction(async (trx) => {
      const row = await trx.from('kernel_meta').where('key', BOOTSTRAP).forUpdate().first()
      // The value is the token's SHA-256, then `:` and when it was issued (epoch ms).
      if (
        !row ||
        typeof token !== 'string' ||
        String(row.value).split(':')[0] !== hashToken(token)
      ) {
        throw new KernelError(
          'E_UNAUTHORIZED',
          'The bootstrap token is wrong or has already been used.'
        )
      }
      // One-time, and only while no administrator exists: one made another way (`node ace
      // user:create --admin`, the Users page) retires the token, which may sit in a log.
      if (await trx.from('users').where('is_admin', true).first()) {
        await trx.from('kernel_meta').where('key', BOOTSTRAP).delete()
        return null
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
      await trx.from('kernel_meta').where('key', BOOTSTRAP).delete()
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
    if (!redeemed) {
      throw new KernelError(
        'E_UNAUTHORIZED',
        'An administrator exists already, so the bootstrap token is no longer valid: sign in, or ask an administrator for an account.'
      )
    }
    return redeemed
  },
}

/*
 * Account management for the admin UI (Users page, Profile page). Every change is audited.
 * Guard rails: nobody disables, demotes or deletes themselves, and the last enabled install
 * administrator cannot be disabled, demoted or deleted (the install would have nobody to manage
 * it).
 */
export const CA_ROLES = ['owner', 'member'] as const
export type CaRole = (typeof CA_ROLES)[number]

/**
 * Changes a user and writes the audit entry in one transaction; `guard` runs first in that
 * transaction (the last-administrator check, see guardLastAdmin).
 */
async function saveAudited(
  actor: Actor,
  user: User,
  action: string,
  change: (u: User) => void,
  guard?: (trx: TransactionClientContract) => Promise<void>
) {
  await db.transaction(async (trx) => {
    if (guard) await guard(trx)
    user.useTransaction(trx)
    change(user)
    await user.save()
    await audit(
      actor,
      { action, objectType: 'user', objectId: user.id, details: { email: user.email } },
      trx
    )
  })
  return user
}

async function userOr404(id: unknown) {
  const n = Number(id)
  const user = Number.isInteger(n) && n > 0 ? await User.find(n) : null
  if (!user) throw new KernelError('E_NOT_FOUND', `No user "${id}" exists.`)
  return user
}

/**
 * Refuses, inside the transaction that disables, demotes or deletes `user`, to take away the last
 * enabled install administrator. The check and the write must be atomic: counted outside, two
 * requests at once (on two nodes) could each see the other administrator still enabled and both
 * commit. On PostgreSQL the enabled administrators' rows are locked (in id order, so two such
 * transactions queue instead of deadlocking; the second re-reads them once the first commits);
 * on SQLite every write transaction begins IMMEDIATE (sqlite_setup.js), so one runs at a time.
 */
async function guardLastAdmin(trx: TransactionClientContract, user: User) {
  const enabled = await trx
    .from('users')
    .where('is_admin', true)
    .where('disabled', false)
    .orderBy('id')
    .forUpdate()
    .select('id')
  const ids = enabled.map((row: any) => Number(row.id))
  if (ids.includes(user.id) && ids.length === 1) {
    throw new KernelError('E_CONFLICT', `${user.email} is the last enabled administrator.`)
  }
}

export const accountService = {
  /** Users with their external identities and CA memberships, for the Users page. */
  async listUsers() {
    const users = await db.from('users').orderBy('email')
    const identities = await db
      .from('user_identities as i')
      .join('login_providers as p', 'p.id', 'i.provider_id')
      .select('i.id', 'i.user_id', 'i.email', 'i.subject', 'i.created_at', 'p.name as provider')
    const memberships = await db
      .from('ca_members as m')
      .join('cas as c', 'c.id', 'm.ca_id')
      .select('m.user_id', 'm.role', 'c.id as ca_id', 'c.name as ca_name')
      .orderBy('c.name')
    return users.map((u: any) => ({
      id: Number(u.id),
      email: String(u.email),
      fullName: u.full_name ?? null,
      isAdmin: Boolean(u.is_admin),
      disabled: Boolean(u.disabled),
      hasPassword: Boolean(u.password),
      lastLoginAt: u.last_login_at ? Number(u.last_login_at) : null,
      createdAt: Number(u.created_at),
      identities: identities
        .filter((i: any) => Number(i.user_id) === Number(u.id))
        .map((i: any) => ({
          id: Number(i.id),
          provider: String(i.provider),
          email: i.email ?? null,
          subject: String(i.subject),
          createdAt: Number(i.created_at),
        })),
      memberships: memberships
        .filter((m: any) => Number(m.user_id) === Number(u.id))
        .map((m: any) => ({ caId: Number(m.ca_id), caName: String(m.ca_name), role: m.role })),
    }))
  },

  async getUser(id: unknown) {
    const user = await userOr404(id)
    const all = await this.listUsers()
    return all.find((u) => u.id === user.id)!
  },

  /**
   * Creates a user. With a password they can log in locally; without one they are "invited":
   * they log in through an external provider that gives this email address.
   */
  async createUser(
    actor: Actor,
    input: { email: unknown; isAdmin?: boolean; password?: unknown }
  ): Promise<User> {
    const password = typeof input.password === 'string' ? input.password : ''
    if (password) checkPasswordStrength(password)
    const email = String(input.email ?? '')
      .trim()
      .toLowerCase()
    if (!EMAIL.test(email) || email.length > 254) {
      throw new KernelError(
        'E_VALIDATION',
        `"${input.email ?? ''}" is not a valid email address.`,
        {
          field: 'email',
        }
      )
    }
    if (await User.findBy('email', email)) {
      throw new KernelError('E_CONFLICT', `A user with the email ${email} already exists.`, {
        field: 'email',
      })
    }
    return db.transaction(async (trx) => {
      const user = new User()
      user.useTransaction(trx)
      user.fill({ email, isAdmin: Boolean(input.isAdmin), disabled: false, fullName: null })
      user.password = password || null
      await user.save()
      await audit(
        actor,
        {
          action: 'user.create',
          objectType: 'user',
          objectId: user.id,
          details: { email, isAdmin: user.isAdmin, invited: !password },
        },
        trx
      )
      return user
    })
  },

  async setDisabled(actor: Actor, id: unknown, disabled: boolean) {
    const user = await userOr404(id)
    if (disabled && user.id === actor.userId) {
      throw new KernelError('E_CONFLICT', 'You cannot disable your own account.')
    }
    if (user.disabled === disabled) return user
    return saveAudited(
      actor,
      user,
      disabled ? 'user.disable' : 'user.enable',
      (u) => {
        u.disabled = disabled
      },
      disabled ? (trx) => guardLastAdmin(trx, user) : undefined
    )
  },

  async setAdmin(actor: Actor, id: unknown, isAdmin: boolean) {
    const user = await userOr404(id)
    if (!isAdmin && user.id === actor.userId) {
      throw new KernelError('E_CONFLICT', 'You cannot remove your own administrator role.')
    }
    if (user.isAdmin === isAdmin) return user
    return saveAudited(
      actor,
      user,
      isAdmin ? 'user.grant-admin' : 'user.revoke-admin',
      (u) => {
        u.isAdmin = isAdmin
      },
      isAdmin ? undefined : (trx) => guardLastAdmin(trx, user)
    )
  },

  /** Deletes a user with their API tokens, CA memberships and identity links (CAs stay). */
  async deleteUser(actor: Actor, id: unknown) {
    const user = await userOr404(id)
    if (user.id === actor.userId) {
      throw new KernelError('E_CONFLICT', 'You cannot delete your own account.')
    }
    await db.transaction(async (trx) => {
      await guardLastAdmin(trx, user)
      await trx.from('api_tokens').where('user_id', user.id).delete()
      await trx.from('ca_members').where('user_id', user.id).delete()
      await trx.from('user_identities').where('user_id', user.id).delete()
      await trx.from('users').where('id', user.id).delete()
      await audit(
        actor,
        {
          action: 'user.delete',
          objectType: 'user',
          objectId: user.id,
          details: { email: user.email },
        },
        trx
      )
    })
  },

  /** An administrator sets (or resets) a user's local password. */
  async setPassword(actor: Actor, id: unknown, password: unknown) {
    const user = await userOr404(id)
    checkPasswordStrength(password)
    await db.transaction(async (trx) => {
      user.useTransaction(trx)
      user.password = String(password)
      await user.save()
      await audit(
        actor,
        {
          action: 'user.set-password',
          objectType: 'user',
          objectId: user.id,
          details: { email: user.email },
        },
        trx
      )
    })
  },

  /** A user changes their own password; the current one is required. */
  async changeOwnPassword(actor: Actor, current: unknown, next: unknown, confirm: unknown) {
    const user = await userOr404(actor.userId)
    if (!user.password) {
      throw new KernelError(
        'E_VALIDATION',
        'Your account has no local password (you log in through an external provider). Ask an administrator to set one.',
        { field: 'current' }
      )
    }
    if (!(await hash.use('argon').verify(user.password, String(current ?? '')))) {
      throw new KernelError('E_VALIDATION', 'The current password is wrong.', { field: 'current' })
    }
    checkPasswordStrength(next)
    if (next !== confirm) {
      throw new KernelError('E_VALIDATION', 'The two new passwords differ.', { field: 'confirm' })
    }
    await db.transaction(async (trx) => {
      user.useTransaction(trx)
      user.password = String(next)
      await user.save()
      await audit(
        actor,
        { action: 'user.change-password', objectType: 'user', objectId: user.id },
        trx
      )
    })
  },

  /** Adds a user to a CA (or changes their role there). */
  async addMembership(actor: Actor, id: unknown, caId: unknown, role: unknown) {
    const user = await userOr404(id)
    const ca = Number.isInteger(Number(caId))
      ? await db.from('cas').where('id', Number(caId)).select('id', 'name').first()
      : undefined
    if (!ca) throw new KernelError('E_VALIDATION', 'Choose a CA.', { field: 'caId' })
    if (!CA_ROLES.includes(role as CaRole)) {
      throw new KernelError('E_VALIDATION', 'Choose the role: owner or member.', { field: 'role' })
    }
    await db.transaction(async (trx) => {
      const existing = await trx
        .from('ca_members')
        .where({ ca_id: ca.id, user_id: user.id })
        .first()
      if (existing) {
        await trx.from('ca_members').where({ ca_id: ca.id, user_id: user.id }).update({ role })
      } else {
        await trx
          .table('ca_members')
          .insert({ ca_id: ca.id, user_id: user.id, role, created_at: Date.now() })
      }
      await audit(
        actor,
        {
          action: existing ? 'ca.member.update' : 'ca.member.add',
          objectType: 'user',
          objectId: user.id,
          caId: Number(ca.id),
          details: { email: user.email, ca: ca.name, role },
        },
        trx
      )
    })
  },

  async removeMembership(actor: Actor, id: unknown, caId: unknown) {
    const user = await userOr404(id)
    const row = Number.isInteger(Number(caId))
      ? await db
          .from('ca_members')
          .where({ ca_id: Number(caId), user_id: user.id })
          .first()
      : undefined
    if (!row) throw new KernelError('E_NOT_FOUND', `${user.email} is not a member of CA "${caId}".`)
    await db.transaction(async (trx) => {
      await trx
        .from('ca_members')
        .where({ ca_id: Number(caId), user_id: user.id })
        .delete()
      await audit(
        actor,
        {
          action: 'ca.member.remove',
          objectType: 'user',
          objectId: user.id,
          caId: Number(caId),
          details: { email: user.email },
        },
        trx
      )
    })
  },

  async unlinkIdentity(actor: Actor, id: unknown, identityId: unknown) {
    const user = await userOr404(id)
    const row = Number.isInteger(Number(identityId))
      ? await db
          .from('user_identities')
          .where({ id: Number(identityId), user_id: user.id })
          .first()
      : undefined
    if (!row)
      throw new KernelError('E_NOT_FOUND', `No external login "${identityId}" for ${user.email}.`)
    await db.transaction(async (trx) => {
      await trx.from('user_identities').where('id', row.id).delete()
      await audit(
        actor,
        {
          action: 'user.identity.unlink',
          objectType: 'user',
          objectId: user.id,
          details: { email: user.email, providerId: Number(row.provider_id), subject: row.subject },
        },
        trx
      )
    })
  },

  /** A user's API tokens (never the secrets: only their hashes are stored). */
  async listTokens(userId: number) {
    const rows = await db
      .from('api_tokens')
      .where('user_id', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
    return rows.map((r: any) => ({
      id: Number(r.id),
      name: String(r.name),
      createdAt: Number(r.created_at),
      lastUsedAt: r.last_used_at ? Number(r.last_used_at) : null,
      expiresAt: r.expires_at ? Number(r.expires_at) : null,
      expired: Boolean(r.expires_at && Number(r.expires_at) < Date.now()),
    }))
  },

  /** Revokes (deletes) one of the user's own tokens; another user's token id is a 404. */
  async revokeToken(actor: Actor, userId: number, tokenId: unknown) {
    const n = Number(tokenId)
    const row = Number.isInteger(n)
      ? await db.from('api_tokens').where({ id: n, user_id: userId }).first()
      : undefined
    if (!row) throw new KernelError('E_NOT_FOUND', `No API token "${tokenId}" exists.`)
    await db.transaction(async (trx) => {
      await trx.from('api_tokens').where('id', row.id).delete()
      await audit(
        actor,
        {
          action: 'token.revoke',
          objectType: 'api_token',
          objectId: row.id,
          details: { name: row.name },
        },
        trx
      )
    })
  },
}
