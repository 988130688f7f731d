/*
 * Kernel PKI settings: where data lives, public URLs, issuance limits.
 */
import { isAbsolute, join } from 'node:path'
import env from '#start/env'

const appRoot = new URL('../', import.meta.url).pathname

function resolveFromRoot(path: string) {
  return isAbsolute(path) ? path : join(appRoot, path)
}

// The server binds HOST (default 0.0.0.0, every interface); URLs need a reachable name.
const host = env.get('HOST', '0.0.0.0')
const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
const port = env.get('PORT', 3333)
const dataDir = resolveFromRoot(env.get('DATA_DIR', 'data'))

const pkiConfig = {
  appRoot,
  dataDir,
  /** Public base URL written into AIA/CDP extensions and shown as service URLs. */
  publicUrl: (
    env.get('APP_URL') ||
    `${process.env.TLS_CERT_FILE && process.env.TLS_KEY_FILE ? 'https' : 'http'}://${urlHost}:${port}`
  ).replace(/\/+$/, ''),
  masterKey: {
    env: env.get('PKI_MASTER_KEY'),
    file: resolveFromRoot(env.get('PKI_MASTER_KEY_FILE', join(dataDir, 'master.key'))),
    previous: (env.get('PKI_PREVIOUS_MASTER_KEYS') || '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
  },
  /** Backdate notBefore by this many seconds to absorb client clock skew. */
  backdateSeconds: 60,
  /** Expired certificates are purged this many days after expiry. */
  purgeExpiredAfterDays: env.get('PURGE_EXPIRED_AFTER_DAYS', 30),
}

export default pkiConfig
export type PkiConfig = typeof pkiConfig
