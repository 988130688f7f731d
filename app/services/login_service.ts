/*
 * Admin UI logins: the rate limit on failed local logins (kept in the database, so every node
 * of an install shares it) and the rule that decides who may log in through an external
 * provider (GitHub, Google, OpenID Connect).
 *
 * Rate limit: failures are counted per email and per client IP in a 15-minute window, each
 * attempt before its password is checked (so concurrent attempts cannot all slip under the
 * limit). Five failures for one email, or twenty from one IP (an office behind one NAT address makes typos
 * too), block further attempts for that key for 15 minutes, whatever the password. A successful
 * login clears the email's counter (not the IP's: one valid account must not reset the count
 * of an attacker trying others from the same address).
 */
import db from '@adonisjs/lucid/services/db'
import hash from '@adonisjs/core/services/hash'
import User from '#models/user'
import { audit } from './audit_service.js'
import type { Actor } from './actor.js'

export const LOGIN_LIMITS = {
  windowMs: 15 * 60_000,
  blockMs: 15 * 60_000,
  perEmail: 5,
  perIp: 20,
}

const emailKey = (email: string) => `email:${email.trim().toLowerCase()}`
const ipKey = (ip: string) => `ip:${ip}`

/** One login attempt, counted before its password is checked (loginRateLimit.reserve). */
export interface LoginReservation {
  /** Set when the attempt is past a limit: refuse it without checking the password. */
  over?: LoginBlock
  /** The keys whose limit this attempt reached (their block is written). */
  reached: Array<{ key: string; failures: number; until: number }>
}

export interface LoginBlock {
  /** Epoch milliseconds when attempts are accepted again. */
  until: number
  /** Seconds until then (for Retry-After). */
  retryAfter: number
  message: string
}

function describeBlock(until: number, now = Date.now()): LoginBlock {
  const retryAfter = Math.max(1, Math.ceil((until - now) / 1000))
  const minutes = Math.ceil(retryAfter / 60)
  const at = new Date(until).toISOString().slice(11, 16)
  return {
    until,
    retryAfter,
    message:
      `Too many failed logins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'} ` +
      `(after ${at} UTC).`,
  }
}

export const loginRateLimit = {
  /** The block in force for this email or IP, if any (the later one when both are blocked). */
  async blocked(email: string, ip: string | null | undefined): Promise<LoginBlock | undefined> {
    const now = Date.now()
    const keys = [emailKey(email)]
    if (ip) keys.push(ipKey(ip))
    const rows = await db
      .from('login_attempts')
      .whereIn('key', keys)
      .where('blocked_until', '>', now)
    if (!rows.length) return undefined
    const until = Math.max(...rows.map((r: any) => Number(r.blocked_until)))
    return describeBlock(until, now)
  },

  /**
   * Counts this attempt for the email and the IP *before* the password is checked (one upsert
   * per key, so concurrent attempts on one or several nodes are all counted and each sees its
   * own number). `over`: the attempt is past a limit (other attempts used them up): refuse it
   * without checking the password. `reached`: this attempt is the last one allowed for those
   * keys (their block is now written); when its password is wrong, the block is announced
   * (finishFailure). A success gives the attempt back (release).
   */
  async reserve(email: string, ip: string | null | undefined): Promise<LoginReservation> {
    const now = Date.now()
    const cutoff = now - LOGIN_LIMITS.windowMs
    const targets: Array<[string, number]> = [[emailKey(email), LOGIN_LIMITS.perEmail]]
    if (ip) targets.push([ipKey(ip), LOGIN_LIMITS.perIp])
    // now and then, drop rows whose window and block are over (keeps the table small)
    if (Math.random() < 0.02) await this.prune()
    const reservation: LoginReservation = { reached: [] }
    let over: number | undefined
    for (const [key, limit] of targets) {
      // attempts restart at 1 when the window is over; a block starts when the limit is reached
      const fresh = 'login_attempts.window_start < ?'
      const newFailures = `CASE WHEN ${fresh} THEN 1 ELSE login_attempts.failures + 1 END`
      const result = await db.rawQuery(
        `INSERT INTO login_attempts (key, failures, window_start, blocked_until)
         VALUES (?, 1, ?, ?)
         ON CONFLICT (key) DO UPDATE SET
           failures = ${newFailures},
           window_start = CASE WHEN ${fresh} THEN ? ELSE login_attempts.window_start END,
           blocked_until = CASE WHEN ${newFailures} >= ? THEN ? ELSE login_attempts.blocked_until END
         RETURNING failures, blocked_until`,
        [
          key,
          now,
          limit <= 1 ? now + LOGIN_LIMITS.blockMs : null,
          cutoff,
          cutoff,
          now,
          cutoff,
          limit,
          now + LOGIN_LIMITS.blockMs,
        ]
      )
      const row = (Array.isArray(result) ? result[0] : result.rows?.[0]) as any
      if (!row) continue
      const failures = Number(row.failures)
      const until = Number(row.blocked_until) || now + LOGIN_LIMITS.blockMs
      if (failures > limit) over = Math.max(over ?? 0, until)
      else if (failures === limit) reservation.reached.push({ key, failures, until })
    }
    if (over) reservation.over = describeBlock(over, now)
    return reservation
  },

  /**
   * The password of a reserved attempt was wrong: the block it started, if any (audited once,
   * by the attempt that reached the limit).
   */
  async finishFailure(
    reservation: LoginReservation,
    actor?: Actor
  ): Promise<LoginBlock | undefined> {
    if (!reservation.reached.length) return undefined
    for (const { key, failures, until } of reservation.reached) {
      if (actor) {
        await audit(actor, {
          action: 'login.blocked',
          objectType: 'login',
          objectId: key,
          details: { failures, until },
        })
      }
    }
    const until = Math.max(...reservation.reached.map((r) => r.until))
    return describeBlock(until, Date.now())
  },

  /**
   * The password of a reserved attempt was right: the email's counter is cleared and the IP's
   * attempt given back (a success is not a failure; it never starts a block by itself).
   */
  async release(email: string, ip: string | null | undefined) {
    await this.clearEmail(email)
    if (!ip) return
    await db.rawQuery(
      `UPDATE login_attempts SET
         failures = failures - 1,
         blocked_until = CASE WHEN failures - 1 < ? THEN NULL ELSE blocked_until END
       WHERE key = ? AND failures > 0`,
      [LOGIN_LIMITS.perIp, ipKey(ip)]
    )
  },

  async clearEmail(email: string) {
    await db.from('login_attempts').where('key', emailKey(email)).delete()
  },

  /** Drops rows whose window and block are both over (called now and then, cheap). */
  async prune() {
    const cutoff = Date.now() - LOGIN_LIMITS.windowMs
    await db
      .from('login_attempts')
      .where('window_start', '<', cutoff)
      .where((q) => q.whereNull('blocked_until').orWhere('blocked_until', '<', Date.now()))
      .delete()
  },
}

/** A local login refused: unknown email, no local password, or a wrong password (one answer). */
export class WrongCredentials extends Error {}

/**
 * Checks an email and password, at the same cost whoever asks: an unknown email and a user
 * without a local password (invited, external logins only) each cost one argon2 hash, like the
 * check of a real password, and all three fail alike. Disabled accounts are checked by the
 * caller once the password is known to be right, so a wrong password never tells them apart.
 */
export async function verifyLocalLogin(email: string, password: string): Promise<User> {
  if (!email || !password) throw new WrongCredentials()
  const user = await User.findBy('email', email)
  if (!user || !user.password) {
    await hash.use('argon').make(password)
    throw new WrongCredentials()
  }
  if (!(await hash.use('argon').verify(user.password, password))) throw new WrongCredentials()
  return user
}

/* ---------------------------------------------------------------------------------------- */
/* External logins                                                                          */
/* ---------------------------------------------------------------------------------------- */

/** What a provider told us about the person (after the OAuth/OIDC exchange). */
export interface ExternalProfile {
  /** The provider's stable user id (OIDC `sub`, GitHub id, Google sub). */
  subject: string
  email: string | null
  /** 'verified' only when the provider says the address is the person's. */
  emailVerificationState: 'verified' | 'unverified' | 'unsupported'
  name?: string | null
}

export interface ProviderRow {
  id: number
  name: string
  kind: string
  allowedDomains: string[]
}

export class ExternalLoginRefused extends Error {}

const LOGIN_HELP = 'Ask an administrator to add your email address under Users.'

/**
 * Finds (or, for an allowed email domain, creates) the user an external login belongs to.
 * Order: an existing link to this provider's subject; a user an administrator created or
 * invited with this (verified) email; an email domain the administrator allowed for this
 * provider (creates a non-administrator). Anything else is refused with a message for the
 * login page.
 */
export async function resolveExternalUser(
  provider: ProviderRow,
  profile: ExternalProfile,
  ip: string | null
): Promise<User> {
  const subject = String(profile.subject ?? '')
  if (!subject) throw new ExternalLoginRefused(`${provider.name} did not say who you are.`)
  const email = profile.email ? profile.email.trim().toLowerCase() : null
  const actorFor = (user: { id: number; email: string; isAdmin: boolean }): Actor => ({
    kind: 'user',
    label: user.email,
    userId: user.id,
    isAdmin: user.isAdmin,
    ip,
  })

  const linked = await db
    .from('user_identities')
    .where({ provider_id: provider.id, subject })
    .first()
  if (linked) {
    const user = await User.find(linked.user_id)
    if (user) {
      if (email && email !== linked.email) {
        await db.from('user_identities').where('id', linked.id).update({ email })
      }
      return checkEnabled(user)
    }
  }

  if (!email) {
    throw new ExternalLoginRefused(
      `${provider.name} did not give an email address for your account, so it cannot be matched to a user. ${LOGIN_HELP}`
    )
  }
  if (profile.emailVerificationState === 'unverified') {
    throw new ExternalLoginRefused(
      `${provider.name} says the email address ${email} is not verified. Verify it there, then try again.`
    )
  }

  const existing = await User.findBy('email', email)
  if (existing) {
    checkEnabled(existing)
    await db.transaction(async (trx) => {
      await trx.table('user_identities').insert({
        user_id: existing.id,
        provider_id: provider.id,
        subject,
        email,
        created_at: Date.now(),
      })
      await audit(
        actorFor(existing),
        {
          action: 'user.identity.link',
          objectType: 'user',
          objectId: existing.id,
          details: { provider: provider.name, subject, email },
        },
        trx
      )
    })
    return existing
  }

  const domain = email.split('@')[1] ?? ''
  if (domain && provider.allowedDomains.includes(domain)) {
    return db.transaction(async (trx) => {
      const user = await User.create(
        { email, isAdmin: false, disabled: false, fullName: profile.name || null, password: null },
        { client: trx }
      )
      await trx.table('user_identities').insert({
        user_id: user.id,
        provider_id: provider.id,
        subject,
        email,
        created_at: Date.now(),
      })
      await audit(
        actorFor(user),
        {
          action: 'user.create',
          objectType: 'user',
          objectId: user.id,
          details: { email, isAdmin: false, via: provider.name, allowedDomain: domain },
        },
        trx
      )
      return user
    })
  }

  throw new ExternalLoginRefused(`${email} has no access to this server. ${LOGIN_HELP}`)
}

function checkEnabled(user: User) {
  if (user.disabled) {
    throw new ExternalLoginRefused('This account is disabled. Ask an administrator.')
  }
  return user
}
