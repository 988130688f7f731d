import type { HttpContext } from '@adonisjs/core/http'
import { bootstrapService } from '#services/token_service'

export default class BootstrapController {
  /** POST /api/v1/bootstrap { token, email } — creates the first administrator, once. */
  async redeem({ request, response }: HttpContext) {
    const { token, email } = request.only(['token', 'email'])
    const result = await bootstrapService.redeem(token, email, request.ip())
    return response.status(201).send({
      user: { id: result.userId, email: result.email, isAdmin: true },
      apiToken: result.token,
    })
  }
}
