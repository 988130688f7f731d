/*
 * Admin UI: the dashboard, Certificate Authorities and Certificate Templates (manual §1.2, §4,
 * §5), each page behind the admin stack (session, CSRF, login).
 */
import router from '@adonisjs/core/services/router'
import { adminStack } from '#start/routes/web'

const DashboardController = () => import('#controllers/admin/dashboard_controller')
const CasController = () => import('#controllers/admin/cas_controller')
const TemplatesController = () => import('#controllers/admin/templates_controller')
const TemplateRequestsController = () => import('#controllers/admin/template_requests_controller')

const id = router.matchers.number()

router
  .group(() => {
    router.get('/admin', [DashboardController, 'show'])

    router.get('/admin/cas', [CasController, 'index'])
    router.get('/admin/cas/new', [CasController, 'create'])
    router.post('/admin/cas', [CasController, 'store'])
    router.get('/admin/cas/:id', [CasController, 'show']).where('id', id)
    router.get('/admin/cas/:id/csr', [CasController, 'csr']).where('id', id)
    router.get('/admin/cas/:id/csr.pem', [CasController, 'csrDownload']).where('id', id)
    router.post('/admin/cas/:id/certificate', [CasController, 'importCertificate']).where('id', id)
    router.get('/admin/cas/:id/edit', [CasController, 'edit']).where('id', id)
    router.post('/admin/cas/:id/edit', [CasController, 'update']).where('id', id)
    router.get('/admin/cas/:id/delete', [CasController, 'confirmDelete']).where('id', id)
    router.post('/admin/cas/:id/delete', [CasController, 'destroy']).where('id', id)
    router.get('/admin/cas/:id/service-urls', [CasController, 'serviceUrls']).where('id', id)
    router.get('/admin/cas/:id/downloads', [CasController, 'downloads']).where('id', id)
    router.get('/admin/cas/:id/download', [CasController, 'download']).where('id', id)

    router.get('/admin/templates', [TemplatesController, 'index'])
    router.get('/admin/templates/new', [TemplatesController, 'create'])
    router.post('/admin/templates', [TemplatesController, 'store'])
    router.get('/admin/templates/:id', [TemplatesController, 'edit']).where('id', id)
    router.get('/admin/templates/:id/tabs/:tab', [TemplatesController, 'tab']).where('id', id)
    router.post('/admin/templates/:id/tabs/:tab', [TemplatesController, 'save']).where('id', id)
    router.post('/admin/templates/:id/delete', [TemplatesController, 'destroy']).where('id', id)
    router
      .get('/admin/templates/:id/service-urls', [TemplatesController, 'serviceUrls'])
      .where('id', id)
    router
      .get('/admin/templates/:id/submit', [TemplateRequestsController, 'create'])
      .where('id', id)
    router
      .post('/admin/templates/:id/submit', [TemplateRequestsController, 'store'])
      .where('id', id)
  })
  .use(adminStack())
