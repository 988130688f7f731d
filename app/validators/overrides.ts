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
    out.validityDays = wholeDays(body.validityDays)
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
  // Two ways of saying how long: refused rather than one silently winning over the other.
  if (out.validityDays !== undefined && (out.notBefore !== undefined || out.notAfter !== undefined))
    throw new KernelError(
      'E_VALIDATION',
      'Give either validityDays or a notBefore/notAfter window, not both.'
    )
  return Object.keys(out).length ? out : undefined
}

/**
 * validityDays: a whole number of days, at least 1 — a JSON integer, or digits only (a form
 * body's text). Not `true`, `[30]`, `"30.5"` or `""`, which Number() would have turned into days.
 */
function wholeDays(value: unknown): number {
  const days =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN
  if (!Number.isInteger(days) || days < 1)
    throw new KernelError(
      'E_VALIDATION',
      `validityDays must be a whole number of days, at least 1 (got ${String(JSON.stringify(value)).slice(0, 40)}).`
    )
  return days
}
