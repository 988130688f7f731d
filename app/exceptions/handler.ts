import app from '@adonisjs/core/services/app'
import { HttpContext, ExceptionHandler } from '@adonisjs/core/http'
import { renderHtmlError, wantsHtml } from './html_errors.js'
import { apiErrorAnswer, reportApiError } from './api_errors.js'

/**
 * Renders every error as JSON `{ error: { code, message } }` with the right status (the rules
 * are in api_errors.ts, shared with the early API routes), or as an HTML page for the admin UI.
 */
export default class HttpExceptionHandler extends ExceptionHandler {
  protected debug = !app.inProduction

  async handle(error: unknown, ctx: HttpContext) {
    if (wantsHtml(ctx)) return renderHtmlError(error, ctx)
    const answer = apiErrorAnswer(error, {
      method: ctx.request.method(),
      url: ctx.request.url(),
      requestId: ctx.request.id(),
    })
    for (const [name, value] of Object.entries(answer.headers)) ctx.response.header(name, value)
    return ctx.response.status(answer.status).send(answer.body)
  }

  async report(error: unknown, ctx: HttpContext) {
    if (reportApiError(ctx.logger, error)) return
    return super.report(error, ctx)
  }
}
