/*
 * Maps a kernel refusal onto the form field it is about, so a page can re-render its form with
 * the message next to that field. The kernel does the validating; this only decides where its
 * message goes: `details.field` when the kernel names one (renamed to the form's input name),
 * else a per-form default for the error code, else the form as a whole ("_form").
 */
import type { HttpContext } from '@adonisjs/core/http'
import { readFile } from 'node:fs/promises'
import { KernelError } from '#exceptions/kernel_error'
import { PkiError } from '#pki/errors'

export type FieldErrors = Record<string, string>

export interface FieldMapping {
  /** Kernel field path → form input name (e.g. "subject.country" → "country"). */
  rename?: Record<string, string>
  /** Error code → form input name, for errors that carry no field. */
  byCode?: Record<string, string>
}

/** Field errors for a refusal caused by the input, or null when the error is something else (404, 500...). */
export function fieldErrors(error: unknown, mapping: FieldMapping = {}): FieldErrors | null {
  const inputError =
    (error instanceof KernelError && [400, 409, 422].includes(error.status)) ||
    error instanceof PkiError
  if (!inputError) return null
  const e = error as KernelError | PkiError
  const out: FieldErrors = {}
  const details = e instanceof KernelError ? (e.details as any) : undefined
  const message = e instanceof PkiError ? capitalise(e.message) : e.message
  if (details && Array.isArray(details.fields) && details.fields.length) {
    for (const f of details.fields as Array<{ field: string; message: string }>) {
      const name = mapping.rename?.[f.field] ?? f.field
      out[name] ??= f.message
    }
    return out
  }
  const field =
    details && typeof details.field === 'string'
      ? (mapping.rename?.[details.field] ?? details.field)
      : (mapping.byCode?.[e.code] ?? '_form')
  out[field] = message
  return out
}

function capitalise(text: string) {
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.')
}

/** True for requests made by htmx (they get fragments, not whole pages). */
export const isHtmx = (ctx: HttpContext) => Boolean(ctx.request.header('hx-request'))

/**
 * Sends the browser to `target` after a successful form: `HX-Redirect` for htmx requests (a
 * 3xx would be followed by htmx itself and swapped in), a plain redirect otherwise.
 */
export function redirectAfterForm(ctx: HttpContext, target: string, status?: number) {
  if (isHtmx(ctx)) {
    ctx.response.header('HX-Redirect', target)
    // An empty body answers 204 unless a status (e.g. 201 Created) is given.
    if (status) ctx.response.status(status)
    return ctx.response.send('')
  }
  return ctx.response.redirect(target)
}

/**
 * The text of a pasted field or, when given, an uploaded file (PEM or DER; DER comes back as
 * the bytes, for the caller to convert). Returns undefined when neither was given.
 */
export async function textOrFile(
  ctx: HttpContext,
  textField: string,
  fileField: string
): Promise<string | Uint8Array | undefined> {
  const file = ctx.request.file(fileField, { size: '1mb' })
  if (file && file.isValid && file.tmpPath) {
    const bytes = await readFile(file.tmpPath)
    if (bytes.length > 0) {
      const text = bytes.toString('latin1')
      return text.includes('-----BEGIN') ? text : new Uint8Array(bytes)
    }
  }
  if (file && !file.isValid) {
    throw new KernelError('E_VALIDATION', file.errors.map((x) => x.message).join(' '), {
      field: fileField,
    })
  }
  const text = ctx.request.input(textField)
  return typeof text === 'string' && text.trim() ? text : undefined
}

/** Checkbox groups arrive as a string, a list or nothing. */
export function list(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return []
  return (Array.isArray(value) ? value : [value]).map(String)
}

/** A checkbox: present ("on", "true", "1") or absent. */
export function checked(value: unknown): boolean {
  return value === 'on' || value === 'true' || value === '1' || value === true
}
