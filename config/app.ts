import { createHash } from 'node:crypto'
import proxyAddr from 'proxy-addr'
import env from '#start/env'
import { StartupError } from '#exceptions/startup_error'
import { Secret } from '@adonisjs/core/helpers'
import { defineConfig } from '@adonisjs/core/http'
import { loadMasterKey } from '#services/master_key'
import pkiConfig from '#config/pki'

/**
 * The app key signs cookies and encrypts framework values. When APP_KEY is not given it is
 * derived from the PKI master key, so every node that shares the master key shares it too.
 */
function resolveAppKey(): string {
  const given = env.get('APP_KEY')
  if (given) return given
  return createHash('sha256')
    .update('app-key:')
    .update(loadMasterKey().ring.deriveKey('app-key'))
    .digest('base64url')
}

export const appKey = new Secret(resolveAppKey())

/**
 * Which peers may set X-Forwarded-For/-Proto/-Host. Default: loopback only, so a reverse proxy
 * on the same machine works out of the box. TRUST_PROXY takes a comma-separated list of
 * addresses, CIDR ranges or the names loopback, linklocal, uniquelocal; "false" disables it.
 */
const trustList = String(env.get('TRUST_PROXY', 'loopback')).trim()
const trustProxy = (() => {
  const word = trustList.toLowerCase()
  if (['false', 'none', 'off', ''].includes(word)) return () => false
  // Every peer: only when nothing but the proxy can reach the server.
  if (['true', 'all', '*'].includes(word)) return () => true
  try {
    return proxyAddr.compile(
      trustList
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    )
  } catch (error) {
    throw new StartupError(
      `TRUST_PROXY="${trustList}" cannot be read (${(error as Error).message}): give addresses, CIDR ranges or loopback / linklocal / uniquelocal, comma-separated; "false" trusts no proxy, "true" every peer.`
    )
  }
})()

export const http = defineConfig({
  generateRequestId: true,
  allowMethodSpoofing: false,
  useAsyncLocalStorage: false,
  trustProxy,
  cookie: {
    domain: '',
    path: '/',
    maxAge: '2h',
    httpOnly: true,
    secure: pkiConfig.publicUrl.startsWith('https://'),
    sameSite: 'lax',
  },
})
