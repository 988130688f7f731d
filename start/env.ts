/*
 * Typed environment. Every variable is optional: a fresh install runs with none set.
 * See .env.example for what each one means.
 */
import { Env } from '@adonisjs/core/env'

export default await Env.create(new URL('../', import.meta.url), {
  NODE_ENV: Env.schema.enum.optional(['development', 'production', 'test'] as const),
  HOST: Env.schema.string.optional({ format: 'host' }),
  PORT: Env.schema.number.optional(),
  APP_URL: Env.schema.string.optional(),
  APP_KEY: Env.schema.string.optional(),
  LOG_LEVEL: Env.schema.string.optional(),
  DATA_DIR: Env.schema.string.optional(),

  DB_CONNECTION: Env.schema.enum.optional(['sqlite', 'pg'] as const),
  DB_HOST: Env.schema.string.optional(),
  DB_PORT: Env.schema.number.optional(),
  DB_USER: Env.schema.string.optional(),
  DB_PASSWORD: Env.schema.string.optional(),
  DB_DATABASE: Env.schema.string.optional(),
  DB_POOL_MAX: Env.schema.number.optional(),

  /** Server processes (bin/start.js, node:cluster): a number or "auto"; unset = 1. */
  WEB_CONCURRENCY: Env.schema.string.optional(),
  PKI_MASTER_KEY: Env.schema.string.optional(),
  PKI_MASTER_KEY_FILE: Env.schema.string.optional(),
  PKI_PREVIOUS_MASTER_KEYS: Env.schema.string.optional(),

  TRUST_PROXY: Env.schema.string.optional(),
  TLS_CERT_FILE: Env.schema.string.optional(),
  TLS_KEY_FILE: Env.schema.string.optional(),

  /** Days after expiry before a certificate is purged: a whole number, 0 or more. */
  PURGE_EXPIRED_AFTER_DAYS: (name: string, value?: string) => {
    if (value === undefined || value === '') return undefined
    // A negative figure would put the cutoff in the future: certificates still valid deleted.
    if (!/^\d{1,6}$/.test(value.trim()))
      throw new Error(`${name} must be a whole number of days, 0 or more (got "${value}").`)
    return Number(value)
  },
})
