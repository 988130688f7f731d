/*
 * HTTP middleware stacks. The REST API and plugin device routes stay lean (no session, no
 * CSRF); the admin UI's route group adds session, shield (CSRF), auth and the web layout data.
 */
import router from '@adonisjs/core/services/router'
import server from '@adonisjs/core/services/server'

server.errorHandler(() => import('#exceptions/handler'))

server.use([])

// The framework's body parser, except on plugins' device routes (raw bytes, see the middleware).
router.use([() => import('#middleware/body_parser_middleware')])

export const middleware = router.named({
  apiAuth: () => import('#middleware/api_auth_middleware'),
  /* Session, CSRF and auth initialisation for every admin UI route (logged in or not). */
  session: () => import('@adonisjs/session/session_middleware'),
  shield: () => import('@adonisjs/shield/shield_middleware'),
  initAuth: () => import('@adonisjs/auth/initialize_auth_middleware'),
  /** A logged-in admin UI user; sets ctx.actor like the API's bearer token does. */
  webAuth: () => import('#middleware/web_auth_middleware'),
  /** An install administrator (Plugins, Users). */
  installAdmin: () => import('#middleware/install_admin_middleware'),
})

/** The middleware every admin UI route runs, in order (then webAuth for logged-in pages). */
export const webStack = () => [middleware.session(), middleware.shield(), middleware.initAuth()]
