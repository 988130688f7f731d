/*
 * How the REST API answers an error, for both ways a request is served: the framework's
 * exception handler (handler.ts) and the early API routes answered before the router
 * (app/http/early_api.ts). JSON `{ error: { code, message } }` with the right status; typed
 * errors from the kernel and the PKI layer carry their own code and status; anything unexpected
 * is a 500 whose details are logged, never sent.
 */
import type { Logger } from '@adonisjs/core/logger'
import { errors as vineErrors } from '@vinejs/vine'
import { KernelError } from './kernel_error.js'

export interface ApiErrorAnswer {
  status: number
  headers: Record<string, string>
  body: { error: { code: string; message: string; details?: unknown } }
}

/** What the request was, for the messages that name it. */
export interface ApiRequestInfo {
  method: string
  url: string
  requestId: string | undefined
}

/** "1 MiB", "64 KiB" or "100 bytes": a body limit as a person reads it. */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

/**
 * A refusal of the request itself (its body, its framing) by the code that reads it before the
 * framework: answered with its own status and code, like the framework's body parser errors.
 */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

/** A body over the limit: the body parser's code and status; the message names the limit. */
export class RequestTooLargeError extends RequestError {
  constructor(limit: number) {
    super(413, 'E_REQUEST_ENTITY_TOO_LARGE', `The request body is larger than ${sizeText(limit)}.`)
  }
}

/** The client went away before its body arrived (as the framework's body parser says it). */
export class RequestAbortedError extends RequestError {
  constructor() {
    super(400, 'E_REQUEST_ABORTED', 'The request was aborted before its body arrived.')
  }
}

const isUniqueViolation = (e: any) => e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === '23505'

/** The answer for `error` (no side effects; see reportApiError for the log). */
export function apiErrorAnswer(error: unknown, request: ApiRequestInfo): ApiErrorAnswer {
  const e = error as any
  const answer = (status: number, body: ApiErrorAnswer['body']): ApiErrorAnswer => ({
    status,
    // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
    headers: status === 401 ? { 'WWW-Authenticate': 'Bearer realm="api"' } : {},
    body,
  })
  if (error instanceof KernelError) return answer(error.status, error.toJSON())
  if (e && typeof e.code === 'string' && typeof e.status === 'number' && e.name === 'PkiError') {
    return answer(e.status, { error: { code: e.code, message: e.message } })
  }
  // Two requests racing for the same unique name: the database decides, the loser gets a 409.
  if (isUniqueViolation(e)) {
    return answer(409, {
      error: {
        code: 'E_CONFLICT',
        message:
          'An object with the same unique name or serial already exists; nothing was changed.',
      },
    })
  }
  if (error instanceof vineErrors.E_VALIDATION_ERROR) {
    return answer(422, {
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
    return answer(404, {
      error: {
        code: 'E_NOT_FOUND',
        message: `Nothing is served at ${request.method} ${request.url}.`,
      },
    })
  }
  // The framework's body parser says "request entity too large": say what it means.
  if (e?.code === 'E_REQUEST_ENTITY_TOO_LARGE' && !(error instanceof RequestTooLargeError)) {
    return answer(413, {
      error: { code: e.code, message: 'The request body is larger than this endpoint accepts.' },
    })
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return answer(e.status, { error: { code: e.code ?? 'E_BAD_REQUEST', message: e.message } })
  }
  return answer(500, {
    error: {
      code: 'E_INTERNAL',
      message: `Internal error; the server log has the details (request id ${request.requestId ?? '-'}).`,
    },
  })
}

/**
 * Logs what an operator needs to see: nothing for refusals the client caused, the cause alone
 * for database errors (their message carries the SQL with its values: encrypted keys, CSRs...),
 * the error itself for the rest. Returns false when the framework's default report should run.
 */
export function reportApiError(log: Logger, error: unknown): boolean {
  if (error instanceof KernelError) return true
  const e = error as any
  if (isUniqueViolation(e)) return true
  if (typeof e?.message === 'string' && /^(insert|update|select|delete) /i.test(e.message)) {
    log.error({ code: e.code, cause: e.message.split(' - ').pop() }, 'database error')
    return true
  }
  return false
}
