/*
 * Helpers for admin UI tests: users that log in through the session guard. With the Japa
 * plugins registered in tests/bootstrap.ts a request logs in with `.loginAs(user)` and carries
 * a valid CSRF token with `.withCsrfToken()`.
 */
import { randomUUID } from 'node:crypto'
import User from '#models/user'

export async function webUser(options: { isAdmin?: boolean; password?: string } = {}) {
  return User.create({
    email: `web-${randomUUID().slice(0, 8)}@test.example`,
    isAdmin: Boolean(options.isAdmin),
    password: options.password ?? null,
    disabled: false,
  })
}
