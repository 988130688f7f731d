/*
 * PEM (RFC 7468) encoding and tolerant decoding: CRLF or LF, indentation, blank lines,
 * explanatory text between blocks, several blocks in one file.
 */
import { PkiError } from './errors.js'

export const PEM_LABELS = {
  certificate: 'CERTIFICATE',
  csr: 'CERTIFICATE REQUEST',
  /** written by Microsoft tools (certreq) */
  csrLegacy: 'NEW CERTIFICATE REQUEST',
  /** OpenSSL reads only this label for CRLs (not "CRL") */
  crl: 'X509 CRL',
  pkcs7: 'PKCS7',
  cms: 'CMS',
  publicKey: 'PUBLIC KEY',
} as const

export interface PemBlock {
  label: string
  der: Uint8Array
}

/** DER → PEM with 64-character lines and a trailing newline. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')
  let body = ''
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n'
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function decodeBase64(text: string, what: string): Uint8Array {
  const compact = text.replace(/\s+/g, '')
  if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new PkiError('E_INVALID_PEM', `${what} does not contain valid base64`)
  }
  return new Uint8Array(Buffer.from(compact, 'base64'))
}

/** Every PEM block in `text`, in order. Headers (RFC 1421 "Proc-Type:" lines) are rejected. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = []
  for (const match of text.matchAll(BLOCK)) {
    const [, begin, body, end] = match
    if (begin !== end) {
      throw new PkiError('E_INVALID_PEM', `PEM block "BEGIN ${begin}" ends with "END ${end}"`)
    }
    if (body.includes(':')) {
      throw new PkiError(
        'E_INVALID_PEM',
        `PEM block "${begin}" has headers (encrypted PEM is not supported)`
      )
    }
    blocks.push({ label: begin, der: decodeBase64(body, `PEM block "${begin}"`) })
  }
  return blocks
}

/**
 * The DER of the first PEM block in `text` (or of the first whose label is one of
 * `expectedLabels`). Throws E_INVALID_PEM when there is none.
 */
export function fromPem(text: string, expectedLabels?: readonly string[]): Uint8Array {
  const blocks = pemBlocks(text)
  if (blocks.length === 0)
    throw new PkiError('E_INVALID_PEM', 'no PEM block found ("-----BEGIN ...-----")')
  if (!expectedLabels || expectedLabels.length === 0) return blocks[0].der
  const found = blocks.find((block) => expectedLabels.includes(block.label))
  if (!found) {
    const wanted = expectedLabels.map((l) => `"${l}"`).join(' or ')
    const got = blocks.map((b) => `"${b.label}"`).join(', ')
    throw new PkiError('E_INVALID_PEM', `expected a PEM block labelled ${wanted}, found ${got}`)
  }
  return found.der
}

function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 64)
  for (let i = 0; i < n; i++) {
    const c = bytes[i]
    if (c !== 0x09 && c !== 0x0a && c !== 0x0d && (c < 0x20 || c > 0x7e)) return false
  }
  return n > 0
}

/**
 * Accepts DER bytes, PEM (as a string or as bytes), or bare base64 of DER (as some enrollment
 * clients send), and returns DER. Binary input that is not a DER SEQUENCE is rejected.
 */
export function derOrPem(
  input: string | Uint8Array,
  expectedLabels?: readonly string[]
): Uint8Array {
  if (typeof input !== 'string') {
    if (input.length > 0 && input[0] === 0x30) return input
    if (!looksLikeText(input)) {
      throw new PkiError('E_INVALID_PEM', 'input is neither DER (an ASN.1 SEQUENCE) nor PEM text')
    }
    input = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1')
  }
  if (input.includes('-----BEGIN')) return fromPem(input, expectedLabels)
  const der = decodeBase64(input, 'input')
  if (der[0] !== 0x30) throw new PkiError('E_INVALID_PEM', 'input is neither PEM nor base64 of DER')
  return der
}
