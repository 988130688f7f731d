import app from '@adonisjs/core/services/app'
import { HttpContext, ExceptionHandler } from '@adonisjs/core/http'
import { errors as vineErrors } from '@vinejs/vine'
import { KernelError } from './kernel_error.js'
import { renderHtmlError, wantsHtml } from './html_errors.js'

/**
 * Renders every error as JSON `{ error: { code, message } }` with the right status. Typed errors
 * from the kernel and the PKI layer carry their own code and status; anything unexpected is a 500
 * whose details are logged, never sent.
 */
export default class HttpExceptionHandler extends ExceptionHandler {
  protected debug = !app.inProduction

  async handle(error: unknown, ctx: HttpContext) {
    if (wantsHtml(ctx)) return renderHtmlError(error, ctx)
    const e = error as any
    if (error instanceof KernelError) {
      return ctx.response.status(error.status).send(error.toJSON())
    }
    if (e && typeof e.code === 'string' && typeof e.status === 'number' && e.name === 'PkiError') {
      return ctx.response.status(e.status).send({ error: { code: e.code, message: e.message } })
    }
    // Two requests racing for the same unique name: the database decides, the loser gets a 409.
    if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === '23505') {
      return ctx.response.status(409).send({
        error: {
          code: 'E_CONFLICT',
          message:
            'An object with the same unique name or serial already exists; nothing was changed.',
        },
      })
    }
    if (error instanceof vineErrors.E_VALIDATION_ERROR) {
      return ctx.response.status(422).send({
        error: {
          code: 'E_VALIDATION',
          message:
            'The request is invalid: ' +
            e.messages.map((m: any) => `${m.field}: ${m.message}`).join('; '),
          details: e.messages,
        },
      })
    }
    if (e?.code === 'E_ROUTE_NOT_FOUND') {
      return ctx.response.status(404).send({
        error: {
          code: 'E_NOT_FOUND',
          message: `Nothing is served at ${ctx.request.method()} ${ctx.request.url()}.`,
        },
      })
    }
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      return ctx.response
        .status(e.status)
        .send({ error: { code: e.code ?? 'E_BAD_REQUEST', message: e.message } })
    }
    return ctx.response.status(500).send({
      error: {
        code: 'E_INTERNAL',
        message:
          'Internal error; the server log has the details (request id ' +
          (ctx.request.id() ?? '-') +
          ').',
      },
    })
  }

  async report(error: unknown, ctx: HttpContext) {
    if (error instanceof KernelError) return
    const e = error as any
    if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === '23505') return
    // Database errors carry the SQL with its values (encrypted keys, CSRs...): log the cause only.
    if (typeof e?.message === 'string' && /^(insert|update|select|delete) /i.test(e.message)) {
      ctx.logger.error({ code: e.code, cause: e.message.split(' - ').pop() }, 'database error')
      return
    }
    return super.report(error, ctx)
  }
}
