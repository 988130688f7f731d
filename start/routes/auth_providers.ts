/*
 * Logins and accounts: external login providers (the /auth redirect and callback, and their
 * configuration page), the Users page (install administrators) and every user's Profile page.
 */
import router from '@adonisjs/core/services/router'
import { middleware, webStack } from '#start/kernel'
import { adminStack } from '#start/routes/web'

const AuthProvidersController = () => import('#controllers/auth_providers_controller')
const LoginProvidersController = () => import('#controllers/admin/login_providers_controller')
const UsersController = () => import('#controllers/admin/users_controller')
const ProfileController = () => import('#controllers/admin/profile_controller')

router
  .group(() => {
    router.get('/auth/:provider/redirect', [AuthProvidersController, 'redirect'])
    router.get('/auth/:provider/callback', [AuthProvidersController, 'callback'])
  })
  .use(webStack())

router
  .group(() => {
    router.get('/admin/login-providers', [LoginProvidersController, 'index'])
    router.get('/admin/login-providers/new', [LoginProvidersController, 'create'])
    router.post('/admin/login-providers', [LoginProvidersController, 'store'])
    router.get('/admin/login-providers/:id/edit', [LoginProvidersController, 'edit'])
    router.post('/admin/login-providers/:id', [LoginProvidersController, 'update'])
    router.post('/admin/login-providers/:id/enable', [LoginProvidersController, 'enable'])
    router.post('/admin/login-providers/:id/disable', [LoginProvidersController, 'disable'])
    router.post('/admin/login-providers/:id/delete', [LoginProvidersController, 'destroy'])

    router.get('/admin/users', [UsersController, 'index'])
    router.post('/admin/users', [UsersController, 'store'])
    router.get('/admin/users/:id', [UsersController, 'show'])
    router.post('/admin/users/:id/enable', [UsersController, 'enable'])
    router.post('/admin/users/:id/disable', [UsersController, 'disable'])
    router.post('/admin/users/:id/admin', [UsersController, 'setAdmin'])
    router.post('/admin/users/:id/password', [UsersController, 'setPassword'])
    router.post('/admin/users/:id/delete', [UsersController, 'destroy'])
    router.post('/admin/users/:id/memberships', [UsersController, 'addMembership'])
    router.post('/admin/users/:id/memberships/:caId/delete', [UsersController, 'removeMembership'])
    router.post('/admin/users/:id/identities/:identityId/delete', [
      UsersController,
      'unlinkIdentity',
    ])
  })
  .use([...adminStack(), middleware.installAdmin()])

router
  .group(() => {
    router.get('/admin/profile', [ProfileController, 'show'])
    router.post('/admin/profile/password', [ProfileController, 'changePassword'])
    router.get('/admin/profile/tokens/new', [ProfileController, 'newToken'])
    router.post('/admin/profile/tokens', [ProfileController, 'createToken'])
    router.post('/admin/profile/tokens/:id/revoke', [ProfileController, 'revokeToken'])
  })
  .use(adminStack())
