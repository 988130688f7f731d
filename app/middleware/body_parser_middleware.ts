/*
 * The framework's body parser, for every route except plugins' device routes: those receive
 * their body as bytes, untouched (DER sent with any content type; see app/plugins/router.ts).
 */
import app from '@adonisjs/core/services/app'
import BodyParserMiddleware from '@adonisjs/core/bodyparser_middleware'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { isDeviceRoutePattern } from '#plugins/router'

let parser: BodyParserMiddleware | undefined

export default class BodyParser {
  async handle(ctx: HttpContext, next: NextFn) {
    if (isDeviceRoutePattern(ctx.route?.pattern)) return next()
    parser ??= await app.container.make(BodyParserMiddleware)
    return parser.handle(ctx, next)
  }
}
