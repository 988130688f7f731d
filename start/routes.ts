/*
 * Kernel routes: health, the public CA certificate downloads, the REST API.
 * Plugin routes are mounted by the plugin host, not here.
 */
import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'
import { fastRoutes } from '#start/http_server'
import { earlyApi } from '#http/early_api'

const HealthController = () => import('#controllers/health_controller')
const BootstrapController = () => import('#controllers/bootstrap_controller')
const CasController = () => import('#controllers/cas_controller')
const TemplatesController = () => import('#controllers/templates_controller')
const RequestsController = () => import('#controllers/requests_controller')
const CertificatesController = () => import('#controllers/certificates_controller')
const AuditController = () => import('#controllers/audit_controller')
const PublicController = () => import('#controllers/public_controller')

router.get('/health', [HealthController, 'show'])
router.get('/ping', ({ response }) => response.send({ ok: true }))

// Public, unauthenticated: what AIA caIssuers URLs and relying parties fetch.
router.get('/pki/ca/:file', [PublicController, 'caCertificate']).where('file', /^\d+\.crt$/)
router
  .get('/pki/ca/:id/chain.pem', [PublicController, 'caChain'])
  .where('id', router.matchers.number())

router
  .group(() => {
    router.post('/bootstrap', [BootstrapController, 'redeem'])
    router.get('/openapi.json', [HealthController, 'openapi'])

    router
      .group(() => {
        router.get('/me', [HealthController, 'me'])

        router.get('/cas', [CasController, 'index'])
        router.post('/cas', [CasController, 'store'])
        router.get('/cas/:id', [CasController, 'show'])
        router.patch('/cas/:id', [CasController, 'update'])
        router.delete('/cas/:id', [CasController, 'destroy'])
        router.post('/cas/:id/certificate', [CasController, 'importCertificate'])
        router.get('/cas/:id/certificate', [CasController, 'certificate'])
        router.get('/cas/:id/chain', [CasController, 'chain'])
        router.get('/cas/:id/csr', [CasController, 'csr'])
        router.get('/cas/:id/service-urls', [CasController, 'serviceUrls'])

        router.get('/starter-templates', [TemplatesController, 'starters'])
        router.get('/cas/:id/templates', [TemplatesController, 'index'])
        router.post('/cas/:id/templates', [TemplatesController, 'store'])
        router.get('/templates/:id', [TemplatesController, 'show'])
        router.patch('/templates/:id', [TemplatesController, 'update'])
        router.delete('/templates/:id', [TemplatesController, 'destroy'])
        router.get('/templates/:id/service-urls', [TemplatesController, 'serviceUrls'])

        router.post('/templates/:id/requests', [RequestsController, 'submit'])
        router.post('/templates/:id/issue', [CertificatesController, 'issue'])
        router.get('/cas/:id/requests', [RequestsController, 'index'])
        router.get('/requests/:id', [RequestsController, 'show'])
        router.post('/requests/:id/approve', [RequestsController, 'approve'])
        router.post('/requests/:id/decline', [RequestsController, 'decline'])
        router.post('/requests/bulk', [RequestsController, 'bulk'])

        router.get('/cas/:id/certificates', [CertificatesController, 'index'])
        router.get('/cas/:id/certificates/:serial', [CertificatesController, 'bySerial'])
        router.get('/certificates/:id', [CertificatesController, 'show'])
        router.post('/certificates/:id/revoke', [CertificatesController, 'revoke'])
        router.post('/certificates/:id/unrevoke', [CertificatesController, 'unrevoke'])

        router.get('/audit', [AuditController, 'index'])
      })
      .use(middleware.apiAuth())
  })
  .prefix('/api/v1')

// Direct issuance with a JSON body is answered before the router (app/http/early_api.ts).
fastRoutes.push(earlyApi)

// Admin UI (server-rendered pages).
await import('#start/routes/web')
await import('#start/routes/admin')
await import('#start/routes/admin_cas') // CAs, templates, dashboard
await import('#start/routes/admin_certs') // requests, certificates, logs
await import('#start/routes/auth_providers') // external logins, users, profile
await import('#start/routes/plugins') // plugin pages and the routes plugins register
