import { defineConfig } from '@adonisjs/core/bodyparser'

/*
 * Compressed bodies (Content-Encoding gzip, deflate or br) are inflated by the framework's parsers,
 * but their default `length: 0` is kept for them (the Content-Length of a compressed body is
 * not the length of the inflated one), so every such body failed with "request size did not
 * match content length". `length: undefined` leaves the check to the identity case, where the
 * parsers set it from Content-Length; `limit` still bounds the inflated size. Any other encoding
 * is refused with 415.
 */
const inflatable = { length: undefined } as {}

const bodyParserConfig = defineConfig({
  allowedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'],
  form: {
    ...inflatable,
    convertEmptyStringsToNull: true,
    // A repeated field (ids=1&ids=2…, the requests page's 100 check boxes) is a list up to this
    // many (qs makes an object of it beyond its default 20).
    queryString: { arrayLimit: 1000 },
    types: ['application/x-www-form-urlencoded'],
  },
  json: {
    ...inflatable,
    convertEmptyStringsToNull: false,
    limit: '1mb',
    types: [
      'application/json',
      'application/json-patch+json',
      'application/vnd.api+json',
      'application/csp-report',
    ],
  },
  multipart: {
    autoProcess: true,
    convertEmptyStringsToNull: true,
    processManually: [],
    limit: '5mb',
    types: ['multipart/form-data'],
  },
  /* Protocol plugins read binary bodies themselves: raw parsing would corrupt DER. */
  raw: { types: [] },
})

export default bodyParserConfig
