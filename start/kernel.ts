/*
 * HTTP middleware stacks.
 */
import router from '@adonisjs/core/services/router'
import server from '@adonisjs/core/services/server'

server.errorHandler(() => import('#exceptions/handler'))

server.use([])

router.use([() => import('@adonisjs/core/bodyparser_middleware')])

export const middleware = router.named({
  apiAuth: () => import('#middleware/api_auth_middleware'),
})
