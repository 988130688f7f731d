/*
 * Admin UI sessions: signed and encrypted cookies. The key comes from the app key, which every
 * node derives from the shared master key, so any node can read a session another node wrote.
 */
import pkiConfig from '#config/pki'
import { defineConfig, stores } from '@adonisjs/session'

/** How long an admin UI session lasts after its login (web_auth_middleware enforces it). */
export const SESSION_AGE_MS = 8 * 60 * 60_000

/**
 * Sessions kept in the server's memory: the test runner's own process only (bin/test.ts), where
 * `.loginAs()` writes a session with the user id alone. Everywhere else sessions are cookies.
 */
export const SESSIONS_IN_MEMORY = process.env.SESSION_DRIVER === 'memory'

const sessionConfig = defineConfig({
  enabled: true,
  cookieName: 'pki-session',
  clearWithBrowser: false,
  age: '8h', // = SESSION_AGE_MS
  cookie: {
    path: '/',
    httpOnly: true,
    /* Secure cookies whenever the install is reached over HTTPS (APP_URL), whatever NODE_ENV. */
    secure: pkiConfig.publicUrl.startsWith('https://'),
    sameSite: 'lax',
  },
  /* `memory` only in the test runner's own process (bin/test.ts), for `.loginAs()`. */
  store: SESSIONS_IN_MEMORY ? 'memory' : 'cookie',
  stores: {
    cookie: stores.cookie(),
  },
})

export default sessionConfig
