/*
 * Admin UI sessions: signed and encrypted cookies. The key comes from the app key, which every
 * node derives from the shared master key, so any node can read a session another node wrote.
 */
import pkiConfig from '#config/pki'
import { defineConfig, stores } from '@adonisjs/session'

const sessionConfig = defineConfig({
  enabled: true,
  cookieName: 'pki-session',
  clearWithBrowser: false,
  age: '8h',
  cookie: {
    path: '/',
    httpOnly: true,
    /* Secure cookies whenever the install is reached over HTTPS (APP_URL), whatever NODE_ENV. */
    secure: pkiConfig.publicUrl.startsWith('https://'),
    sameSite: 'lax',
  },
  /* `memory` only in the test runner's own process (bin/test.ts), for `.loginAs()`. */
  store: process.env.SESSION_DRIVER === 'memory' ? 'memory' : 'cookie',
  stores: {
    cookie: stores.cookie(),
  },
})

export default sessionConfig
