/*
 * Errors on admin UI pages: an HTML page (or, for htmx requests, a fragment swapped into the
 * page's flash area) with the same status and message the REST API would give. The REST API
 * (/api/...) and plugin device routes keep their own formats.
 */
import type { HttpContext } from '@adonisjs/core/http'
import { KernelError } from './kernel_error.js'

const ADMIN_PATHS = /^\/(admin|login|logout|setup|auth)(\/|$|\?)/

export function wantsHtml(ctx: HttpContext) {
  const url = ctx.request.url()
  if (!ADMIN_PATHS.test(url)) return false
  return Boolean((ctx as any).view)
}

function describe(error: unknown): { status: number; title: string; message: string } {
  const e = error as any
  if (error instanceof KernelError) {
    const title =
      error.status === 404 ? 'Not found' : error.status === 403 ? 'Not allowed' : 'Cannot do that'
    return { status: error.status, title, message: error.message }
  }
  if (e?.code === 'E_BAD_CSRF_TOKEN') {
    return {
      status: 403,
      title: 'Form expired',
      message:
        'The form could not be verified (its security token is missing, expired or from another site). Reload the page and try again.',
    }
  }
  if (e?.code === 'E_ROUTE_NOT_FOUND') {
    return { status: 404, title: 'Not found', message: 'There is no page at this address.' }
  }
  if (e?.name === 'PkiError' && typeof e.status === 'number') {
    return { status: e.status, title: 'Cannot do that', message: e.message }
  }
  if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === '23505') {
    return {
      status: 409,
      title: 'Already exists',
      message: 'An object with the same unique name already exists; nothing was changed.',
    }
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, title: 'Cannot do that', message: String(e.message) }
  }
  return {
    status: 500,
    title: 'Something went wrong',
    message: 'An internal error happened; the server log has the details.',
  }
}

export async function renderHtmlError(error: unknown, ctx: HttpContext) {
  const { status, title, message } = describe(error)
  const detail = status === 500 ? `${message} (request id ${ctx.request.id() ?? '-'})` : message
  ctx.response.status(status)
  if (ctx.request.header('hx-request')) {
    ctx.response.header('HX-Retarget', '#flash')
    ctx.response.header('HX-Reswap', 'innerHTML')
    return ctx.response.send(
      await ctx.view.render('partials/flash', { level: 'error', message: detail })
    )
  }
  return ctx.response.send(await ctx.view.render('pages/error', { status, title, message: detail }))
}
