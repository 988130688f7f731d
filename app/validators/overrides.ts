/*
 * Reads issuance overrides (subject, SANs, validity) from a request body.
 * The issuance service validates the values themselves; this only checks the shape.
 */
import { KernelError } from '#exceptions/kernel_error'
import type { IssueOverrides, SanEntry } from '#services/issuance_service'

const SUBJECT_KEYS = [
  'commonName',
  'organization',
  'organizationalUnit',
  'country',
  'state',
  'locality',
  'email',
]

export function overridesFrom(body: Record<string, any>): IssueOverrides | undefined {
  const out: IssueOverrides = {}
  if (body.subject !== undefined && body.subject !== null) {
    if (typeof body.subject !== 'object' || Array.isArray(body.subject))
      throw new KernelError('E_VALIDATION', 'subject must be an object of attribute → value.')
    for (const k of Object.keys(body.subject)) {
      if (!SUBJECT_KEYS.includes(k))
        throw new KernelError(
          'E_VALIDATION',
          `Unknown subject attribute "${k}"; use ${SUBJECT_KEYS.join(', ')}.`
        )
    }
    out.subject = body.subject
  }
  if (body.sans !== undefined && body.sans !== null) {
    if (!Array.isArray(body.sans))
      throw new KernelError('E_VALIDATION', 'sans must be a list of { type, value }.')
    out.sans = body.sans.map((s: any) => {
      if (!s || typeof s.type !== 'string' || typeof s.value !== 'string')
        throw new KernelError(
          'E_VALIDATION',
          'Each SAN needs a type (dns, ip, email, uri) and a value.'
        )
      return { type: s.type, value: s.value } as SanEntry
    })
  }
  if (body.validityDays !== undefined && body.validityDays !== null)
    out.validityDays = Number(body.validityDays)
  // null is "not given", as for the other fields (a client sending every optional field).
  for (const key of ['notBefore', 'notAfter'] as const) {
    const value = body[key]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string')
      throw new KernelError(
        'E_VALIDATION',
        `${key} must be a date in ISO 8601 text, e.g. 2027-01-31T00:00:00Z.`
      )
    out[key] = value
  }
  return Object.keys(out).length ? out : undefined
}
