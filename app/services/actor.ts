/*
 * Who is acting: an API token's user, an operator at the command line, or the system itself.
 * Every service call that changes state takes one, so the audit log can say who did it.
 */
export interface Actor {
  kind: 'user' | 'cli' | 'system' | 'plugin'
  /** Shown in the audit log: an email, "cli:<os user>", "system", "plugin:<id>". */
  label: string
  userId?: number
  isAdmin: boolean
  ip?: string | null
}

export const systemActor: Actor = { kind: 'system', label: 'system', isAdmin: true }

export function cliActor(): Actor {
  const user = process.env.SUDO_USER || process.env.USER || 'operator'
  return { kind: 'cli', label: `cli:${user}`, isAdmin: true }
}
