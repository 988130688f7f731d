/*
 * REST API requests answered before the framework's router (start/http_server.ts runs this
 * first). Only the hot path of a CA that issues at volume is here: direct issuance,
 * `POST /api/v1/templates/:id/issue` with a JSON body. The framework's route, middleware and
 * exception handler cost about a fifth of one issuance's main-thread time; this path does the
 * same steps with the same functions and answers with the same statuses, codes and JSON (a body
 * over the limit is told the limit):
 *
 *   body (1 MiB at most, read here) → JSON parse (secure-json-parse, as the framework's body
 *   parser: `__proto__` and `constructor.prototype` keys removed) → bearer token
 *   (tokenService.bearerActor, TRUST_PROXY for the client's address) → directIssue() →
 *   errors through apiErrorAnswer() and reportApiError(), as the exception handler does.
 *
 * Everything else on that path (a form or multipart body, a compressed body, another JSON
 * flavour, HEAD, a trailing slash...) is left to the framework's route, which calls the same
 * directIssue().
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import sjson from 'secure-json-parse'
import { RequestError } from '#exceptions/api_errors'
import { tokenService } from '#services/token_service'
import { directIssue, type EndpointAnswer } from './direct_issue.js'
import {
  MAX_RAW_BODY,
  clientIp,
  readBody,
  requestIdOf,
  sendApiError,
  sendRaw,
  sendTooLarge,
} from './raw.js'

const ISSUE_PATH = /^\/api\/v1\/templates\/(\d{1,15})\/issue(?:\?(.*))?$/
const JSON_TYPE = /^application\/json\s*(?:;|$)/i

/** Taken by the early path: the exact issue URL, POST, an uncompressed JSON body. */
export function earlyApi(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'POST') return false
  const found = ISSUE_PATH.exec(req.url ?? '')
  if (!found) return false
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) return false
  const encoding = req.headers['content-encoding']
  if (encoding && encoding.toLowerCase() !== 'identity') return false
  // As the framework's query parser: a repeated `format` is a list, which is not "pem".
  const formats = new URLSearchParams(found[2] ?? '').getAll('format')
  void answer(req, res, Number(found[1]), formats.length === 1 ? formats[0] : undefined)
  return true
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  templateId: number,
  format: string | undefined
): Promise<void> {
  try {
    const raw = await readBody(req, MAX_RAW_BODY)
    if (raw === null) return sendTooLarge(req, res, MAX_RAW_BODY)
    const body = parseJsonBody(raw)
    const actor = await tokenService.bearerActor(req.headers.authorization, clientIp(req))
    send(req, res, await directIssue(actor, templateId, body, format))
  } catch (error) {
    sendApiError(req, res, error)
  }
}

/** The framework's rule (bodyparser, strict JSON): an object or an array, else a 422. */
const STRICT_JSON = /^[ \t\n\r]*(\[|\{)/

/**
 * The body as the framework's JSON parser reads it: empty is {}; it must start with `{` or `[`;
 * `__proto__` and `constructor.prototype` keys are dropped (secure-json-parse, the framework's
 * options); a syntax error is a 400 with the parser's message.
 */
export function parseJsonBody(raw: Buffer): Record<string, any> {
  // A leading byte order mark is dropped, as the framework's UTF-8 decoding does.
  const decoded = raw.toString('utf8')
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded
  if (!text) return {}
  if (!STRICT_JSON.test(text)) {
    throw new RequestError(422, 'E_BAD_REQUEST', 'Invalid JSON, only supports object and array')
  }
  try {
    return sjson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' })
  } catch (error) {
    throw new RequestError(400, 'E_BAD_REQUEST', (error as Error).message)
  }
}

function send(req: IncomingMessage, res: ServerResponse, result: EndpointAnswer): void {
  sendRaw(req, res, {
    status: result.status,
    headers: { 'content-type': result.contentType, 'x-request-id': requestIdOf(req) },
    body: result.body,
  })
}
