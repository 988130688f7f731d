/*
 * Who is acting: an API token's user, an operator at the command line, or the system itself.
 * Every service call that changes state takes one, so the audit log can say who did it.
 */
import type { Actor } from '#plugins/contract'

/* The actor type is part of the plugin contract (hooks see who acted). */
export type { Actor }

export const systemActor: Actor = { kind: 'system', label: 'system', isAdmin: true }

export function cliActor(): Actor {
  const user = process.env.SUDO_USER || process.env.USER || 'operator'
  return { kind: 'cli', label: `cli:${user}`, isAdmin: true }
}
