/*
 * Admin UI pages of the kernel. Each group runs the admin stack (session, CSRF, login).
 */
import router from '@adonisjs/core/services/router'
import { adminStack } from '#start/routes/web'

router
  .group(() => {
    // The dashboard moved to start/routes/admin_cas.ts.
  })
  .use(adminStack())
