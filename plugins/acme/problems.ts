/*
 * RFC 8555 §6.7 problem documents (RFC 7807, application/problem+json) with the ACME error types.
 * Handlers throw AcmeProblem; the route wrapper turns it into the response.
 */
export type ProblemType =
  | 'accountDoesNotExist'
  | 'alreadyReplaced'
  | 'alreadyRevoked'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'caa'
  | 'connection'
  | 'dns'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'invalidContact'
  | 'invalidProfile'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'tls'
  | 'unauthorized'
  | 'unsupportedContact'
  | 'unsupportedIdentifier'
  | 'userActionRequired'

const STATUS: Partial<Record<ProblemType, number>> = {
  accountDoesNotExist: 400,
  alreadyReplaced: 409,
  badNonce: 400,
  externalAccountRequired: 400,
  orderNotReady: 403,
  rateLimited: 429,
  serverInternal: 500,
  unauthorized: 403,
  userActionRequired: 403,
}

export interface Subproblem {
  type: string
  detail: string
  identifier?: { type: string; value: string }
}

export class AcmeProblem extends Error {
  readonly status: number
  readonly subproblems?: Subproblem[]
  /** Seconds for a Retry-After header. */
  readonly retryAfter?: number
  /** Extra fields of the document (e.g. `algorithms` for badSignatureAlgorithm). */
  readonly extra?: Record<string, unknown>
  /** Extra response headers (e.g. Location of the conflicting account, Allow). */
  readonly headers?: Record<string, string>

  constructor(
    readonly type: ProblemType,
    detail: string,
    options: {
      status?: number
      subproblems?: Subproblem[]
      retryAfter?: number
      extra?: Record<string, unknown>
      headers?: Record<string, string>
    } = {}
  ) {
    super(detail)
    this.status = options.status ?? STATUS[type] ?? 400
    this.subproblems = options.subproblems
    this.retryAfter = options.retryAfter
    this.extra = options.extra
    this.headers = options.headers
  }

  toJSON() {
    return problemDocument(this.type, this.message, {
      status: this.status,
      subproblems: this.subproblems,
      ...this.extra,
    })
  }
}

export function acmeType(type: ProblemType | string) {
  return type.startsWith('urn:') ? type : `urn:ietf:params:acme:error:${type}`
}

/** A problem document as stored on orders and challenges (`error` fields). */
export function problemDocument(
  type: ProblemType | string,
  detail: string,
  extra: Record<string, unknown> = {}
) {
  const doc: Record<string, unknown> = { type: acmeType(type), detail }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) doc[k] = v
  if (Array.isArray(doc.subproblems)) {
    doc.subproblems = (doc.subproblems as Subproblem[]).map((s) => ({
      ...s,
      type: acmeType(s.type),
    }))
  }
  return doc
}
