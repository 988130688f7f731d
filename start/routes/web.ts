/*
 * Admin UI routes owned by the kernel: login, setup, logout, scripts. The admin pages' own
 * route files (start/routes/admin_*.ts) are imported at the end, each with the web stack.
 */
import router from '@adonisjs/core/services/router'
import { middleware, webStack } from '#start/kernel'

const AuthController = () => import('#controllers/auth_controller')
const AssetsController = () => import('#controllers/assets_controller')

router.get('/assets/:file', [AssetsController, 'show'])
router.get('/', ({ response }) => response.redirect('/admin'))

router
  .group(() => {
    router.get('/login', [AuthController, 'showLogin'])
    router.post('/login', [AuthController, 'login'])
    router.post('/logout', [AuthController, 'logout'])
    router.get('/setup', [AuthController, 'showSetup'])
    router.post('/setup', [AuthController, 'setup'])
  })
  .use(webStack())

/** Use for every logged-in admin page group: `.use(adminStack())`. */
export const adminStack = () => [...webStack(), middleware.webAuth()]
