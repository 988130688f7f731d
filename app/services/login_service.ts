/*
 * Admin UI logins: the rate limit on failed local logins (kept in the database, so every node
 * of an install shares it) and the rule that decides who may log in through an external
 * provider (GitHub, Google, OpenID Connect).
 *
 * Rate limit: failures are counted per email and per client IP in a 15-minute window. Five
 * failures for one email, or twenty from one IP (an office behind one NAT address makes typos
 * too), block further attempts for that key for 15 minutes, whatever the password. A successful
 * login clears the email's counter (not the IP's: one valid account must not reset the count
 * of an attacker trying others from the same address).
 */
import db from '@adonisjs/lucid/services/db'
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
   * Counts one failure for the email and the IP; returns the block when this failure started
   * one. One upsert per key: concurrent failures on several nodes are all counted.
   */
  async recordFailure(
    email: string,
    ip: string | null | undefined,
    actor?: Actor
  ): Promise<LoginBlock | undefined> {
    const now = Date.now()
    const cutoff = now - LOGIN_LIMITS.windowMs
    const targets: Array<[string, number]> = [[emailKey(email), LOGIN_LIMITS.perEmail]]
    if (ip) targets.push([ipKey(ip), LOGIN_LIMITS.perIp])
    let started: number | undefined
    // now and then, drop rows whose window and block are over (keeps the table small)
    if (Math.random() < 0.02) await this.prune()
    for (const [key, limit] of targets) {
      // failures restart at 1 when the window is over; a block starts when the limit is reached
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
      if (row && Number(row.blocked_until) > now) {
        started = Math.max(started ?? 0, Number(row.blocked_until))
        if (actor && Number(row.failures) === limit) {
          await audit(actor, {
            action: 'login.blocked',
            objectType: 'login',
            objectId: key,
            details: { failures: Number(row.failures), until: Number(row.blocked_until) },
          })
        }
      }
    }
    return started ? describeBlock(started, now) : undefined
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
