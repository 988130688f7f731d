/*
 * Admin UI: X509 Certificates (Pending Requests, Issued Certificates) and Logs (manual §6, §7,
 * §15). Every route runs the admin stack (session, CSRF, login); services check per-CA access.
 */
import router from '@adonisjs/core/services/router'
import { adminStack } from '#start/routes/web'
import { middleware } from '#start/kernel'

const RequestsController = () => import('#controllers/admin/requests_controller')
const CertificatesController = () => import('#controllers/admin/certificates_controller')
const LogsController = () => import('#controllers/admin/logs_controller')

router
  .group(() => {
    router.get('/admin/requests', [RequestsController, 'index'])
    router.post('/admin/requests/bulk', [RequestsController, 'bulk'])
    router
      .get('/admin/requests/:id', [RequestsController, 'show'])
      .where('id', router.matchers.number())
    router
      .post('/admin/requests/:id/approve', [RequestsController, 'approve'])
      .where('id', router.matchers.number())
    router
      .post('/admin/requests/:id/decline', [RequestsController, 'decline'])
      .where('id', router.matchers.number())

    router.get('/admin/certificates', [CertificatesController, 'index'])
    router
      .get('/admin/certificates/:id', [CertificatesController, 'show'])
      .where('id', router.matchers.number())
    router
      .get('/admin/certificates/:id/download/:format', [CertificatesController, 'download'])
      .where('id', router.matchers.number())
    router
      .post('/admin/certificates/:id/revoke', [CertificatesController, 'revoke'])
      .where('id', router.matchers.number())
    router
      .post('/admin/certificates/:id/unrevoke', [CertificatesController, 'unrevoke'])
      .where('id', router.matchers.number())

    router.get('/admin/logs', [LogsController, 'index'])
    router
      .post('/admin/logs/retention', [LogsController, 'retention'])
      .use(middleware.installAdmin())
  })
  .use(adminStack())
