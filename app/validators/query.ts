/*
 * Numbers and texts read from a query string (`?page=2&q=...`). A query string value can be
 * missing, text, or a list (a repeated or bracketed key): these turn each into what the caller
 * expects or refuse it with E_VALIDATION (422), never a 500 or a silently ignored filter.
 */
import { KernelError } from '#exceptions/kernel_error'

/**
 * A whole number from the query: `fallback` when absent or empty, clamped to [min, max] when
 * given as digits; anything else (a sign, a decimal point, `1e3`, a list) is refused.
 */
export function queryInteger(
  value: unknown,
  name: string,
  range: { fallback: number; min: number; max: number }
): number {
  if (value === undefined || value === null || value === '') return range.fallback
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value))
    throw new KernelError(
      'E_VALIDATION',
      `${name} must be a whole number from ${range.min} to ${range.max}.`
    )
  return Math.min(Math.max(Number(value), range.min), range.max)
}

/**
 * A keyset-paging cursor (`?before=<id>`): undefined when absent or 0 (from the newest); one that
 * is no number is refused, never read as "from the newest" (a client would loop on page one).
 */
export function queryCursor(value: unknown, name = 'before'): number | undefined {
  // Clamped to the largest row id: PostgreSQL refuses to compare an integer column with more.
  return queryInteger(value, name, { fallback: 0, min: 0, max: MAX_ROW_ID }) || undefined
}

/** A text from the query: undefined when absent; a list (`?q=a&q=b`) is refused. */
export function queryText(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string')
    throw new KernelError('E_VALIDATION', `${name} must be given once, as text.`)
  return value
}

/**
 * Whether `id` can be a row id (a positive integer within PostgreSQL's `integer`): a larger one
 * finds nothing, and PostgreSQL refuses to compare with it (a 500 instead of a 404).
 */
export function isRowId(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0 && id <= MAX_ROW_ID
}

/** The largest row id: PostgreSQL's `integer`. */
export const MAX_ROW_ID = 2_147_483_647
