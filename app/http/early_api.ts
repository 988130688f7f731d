/*
 * REST API requests answered before the framework's router (start/http_server.ts runs this
 * first). Only the hot path of a CA that issues at volume is here: direct issuance,
 * `POST /api/v1/templates/:id/issue` with a JSON body. The framework's route, middleware and
 * exception handler cost about a fifth of one issuance's main-thread time; this path does the
 * same steps with the same functions and answers byte for byte the same JSON:
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
import { KernelError } from '#exceptions/kernel_error'
import { tokenService } from '#services/token_service'
import { directIssue, type EndpointAnswer } from './direct_issue.js'
import {
  MAX_RAW_BODY,
  clientIp,
  readBody,
  requestIdOf,
  sendApiError,
  sendRaw,
  sizeText,
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
  void answer(req, res, Number(found[1]), new URLSearchParams(found[2] ?? '').get('format'))
  return true
}

class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  templateId: number,
  format: string | null
): Promise<void> {
  try {
    const raw = await readBody(req, MAX_RAW_BODY)
    if (raw === null) {
      const error = new BodyError(413, 'E_BODY_TOO_LARGE', tooLarge)
      sendApiError(req, res, error, { headers: { connection: 'close' } })
      req.destroy()
      return
    }
    const body = parseJson(raw)
    const actor = await tokenService.bearerActor(req.headers.authorization, clientIp(req))
    send(req, res, await directIssue(actor, templateId, body, format ?? undefined))
  } catch (error) {
    sendApiError(req, res, error)
  }
}

const tooLarge = `The request body is larger than ${sizeText(MAX_RAW_BODY)}.`

/** The body as the framework's JSON parser reads it: empty is {}, anything but an object too. */
function parseJson(raw: Buffer): Record<string, any> {
  const text = raw.toString('utf8')
  if (!text.trim()) return {}
  let value: unknown
  try {
    value = sjson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' })
  } catch (error) {
    throw new BodyError(
      400,
      'E_BAD_REQUEST',
      `The request body is not valid JSON (${(error as Error).message}).`
    )
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new KernelError('E_VALIDATION', 'The request body must be a JSON object.')
  }
  return value as Record<string, any>
}

function send(req: IncomingMessage, res: ServerResponse, result: EndpointAnswer): void {
  sendRaw(req, res, {
    status: result.status,
    headers: { 'content-type': result.contentType, 'x-request-id': requestIdOf(req) },
    body: result.body,
  })
}
