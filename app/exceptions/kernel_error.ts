/*
 * Typed kernel errors. Each carries a stable code, an HTTP status and a message a person can
 * act on. The REST API renders them as JSON; plugins map them to their own wire formats.
 */
export type KernelErrorCode =
  | 'E_VALIDATION'
  | 'E_NOT_FOUND'
  | 'E_CA_NOT_FOUND'
  | 'E_TEMPLATE_NOT_FOUND'
  | 'E_CERT_NOT_FOUND'
  | 'E_REQUEST_NOT_FOUND'
  | 'E_CONFLICT'
  | 'E_CA_INACTIVE'
  | 'E_TEMPLATE_DISABLED'
  | 'E_INVALID_CSR'
  | 'E_INVALID_CERTIFICATE'
  | 'E_INVALID_KEY'
  | 'E_POLICY_DENIED'
  | 'E_LINT'
  | 'E_REVOCATION_REFUSED'
  | 'E_UNAUTHORIZED'
  | 'E_FORBIDDEN'
  | 'E_SIGNER_UNAVAILABLE'

const STATUS: Record<KernelErrorCode, number> = {
  E_VALIDATION: 422,
  E_NOT_FOUND: 404,
  E_CA_NOT_FOUND: 404,
  E_TEMPLATE_NOT_FOUND: 404,
  E_CERT_NOT_FOUND: 404,
  E_REQUEST_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_CA_INACTIVE: 409,
  E_TEMPLATE_DISABLED: 409,
  E_INVALID_CSR: 400,
  E_INVALID_CERTIFICATE: 400,
  E_INVALID_KEY: 400,
  E_POLICY_DENIED: 403,
  E_LINT: 422,
  E_REVOCATION_REFUSED: 409,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_SIGNER_UNAVAILABLE: 503,
}

export class KernelError extends Error {
  readonly status: number
  constructor(
    readonly code: KernelErrorCode,
    message: string,
    readonly details?: unknown
  ) {
    super(message)
    this.name = 'KernelError'
    this.status = STATUS[code]
  }

  toJSON() {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
      },
    }
  }
}

export const notFound = (
  what: 'CA' | 'template' | 'certificate' | 'request',
  id: string | number
) => {
  const code = {
    CA: 'E_CA_NOT_FOUND',
    template: 'E_TEMPLATE_NOT_FOUND',
    certificate: 'E_CERT_NOT_FOUND',
    request: 'E_REQUEST_NOT_FOUND',
  }[what] as KernelErrorCode
  return new KernelError(code, `No ${what} "${id}" exists (or you have no access to it).`)
}
