/*
 * Typed errors of the protocol-agnostic PKI layer. Each carries a stable `code`, an HTTP-ish
 * `status` and a message a person can act on; protocol plugins map them to their wire format.
 */

export type PkiErrorCode =
  | 'E_INVALID_PEM'
  | 'E_INVALID_CSR'
  | 'E_INVALID_OCSP_REQUEST'
  | 'E_INVALID_CERTIFICATE'
  | 'E_INVALID_NAME'
  | 'E_INVALID_SAN'
  | 'E_INVALID_SERIAL'
  | 'E_INVALID_EXTENSION'
  | 'E_INVALID_DRAFT'
  | 'E_UNSUPPORTED_ALGORITHM'
  | 'E_LINT'

const STATUS: Record<PkiErrorCode, number> = {
  E_INVALID_PEM: 400,
  E_INVALID_CSR: 400,
  E_INVALID_OCSP_REQUEST: 400,
  E_INVALID_CERTIFICATE: 400,
  E_INVALID_NAME: 422,
  E_INVALID_SAN: 422,
  E_INVALID_SERIAL: 400,
  E_INVALID_EXTENSION: 422,
  E_INVALID_DRAFT: 422,
  E_UNSUPPORTED_ALGORITHM: 422,
  E_LINT: 422,
}

export class PkiError extends Error {
  readonly code: PkiErrorCode
  readonly status: number
  /** Individual problems (e.g. every lint finding), when there are several. */
  readonly details: string[]

  constructor(
    code: PkiErrorCode,
    message: string,
    options: { details?: string[]; cause?: unknown } = {}
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PkiError'
    this.code = code
    this.status = STATUS[code]
    this.details = options.details ?? []
  }

  static is(error: unknown, code?: PkiErrorCode): error is PkiError {
    return error instanceof PkiError && (code === undefined || error.code === code)
  }
}
