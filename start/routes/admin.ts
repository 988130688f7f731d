/*
 * Admin UI pages of the kernel. Each group runs the admin stack (session, CSRF, login).
 */
import router from '@adonisjs/core/services/router'
import { adminStack } from '#start/routes/web'

const DashboardController = () => import('#controllers/admin/dashboard_controller')

router
  .group(() => {
    router.get('/admin', [DashboardController, 'show'])
  })
  .use(adminStack())
