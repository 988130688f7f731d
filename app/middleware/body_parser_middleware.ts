/*
 * The framework's body parser, for every route except plugins' device routes: those receive
 * their body as bytes, untouched (DER sent with any content type; see app/plugins/router.ts).
 *
 * Compressed bodies (Content-Encoding gzip, deflate or br) are inflated by the framework's
 * parsers (config/bodyparser.ts keeps their length check to uncompressed bodies). A body that
 * does not decompress is the client's error: a 400 that says so, not an internal error. A client
 * that goes away mid-body ends the parse (failPipesOnAbort) instead of leaving it waiting.
 */
import app from '@adonisjs/core/services/app'
import BodyParserMiddleware from '@adonisjs/core/bodyparser_middleware'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { isDeviceRoutePattern } from '#plugins/router'
import { RequestError } from '#exceptions/api_errors'
import { failPipesOnAbort } from '#http/raw'

let parser: BodyParserMiddleware | undefined

export default class BodyParser {
  async handle(ctx: HttpContext, next: NextFn) {
    if (isDeviceRoutePattern(ctx.route?.pattern)) return next()
    parser ??= await app.container.make(BodyParserMiddleware)
    const raw = ctx.request.request.headers['content-encoding']
    if (!raw) return parser.handle(ctx, next)
    // Content codings are case-insensitive (RFC 9110 8.4.1); the parsers compare lowercase.
    const encoding = raw.trim().toLowerCase()
    ctx.request.request.headers['content-encoding'] = encoding
    if (encoding === 'identity') return parser.handle(ctx, next)
    failPipesOnAbort(ctx.request.request)
    let parsed = false
    try {
      return await parser.handle(ctx, () => {
        parsed = true
        return next()
      })
    } catch (error: any) {
      if (parsed) throw error
      if (error?.status === 415) {
        throw new RequestError(
          415,
          'E_UNSUPPORTED_MEDIA_TYPE',
          `Content-Encoding "${encoding}" is not supported; send the body as is, or with gzip, deflate or br.`
        )
      }
      // Other refusals with a status (too large, bad JSON, aborted) keep it.
      if (typeof error?.status === 'number') throw error
      throw new RequestError(
        400,
        'E_BAD_REQUEST',
        `The request body could not be decompressed (Content-Encoding: ${encoding}): ${error?.message ?? error}.`
      )
    }
  }
}
