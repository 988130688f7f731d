/*
 * Minimal DER plumbing for the hot issuance path.
 *
 * The ASN.1 *values* (names, extensions, algorithm identifiers) are produced by the
 * @peculiar/asn1-* schemas. This module only (a) glues already-encoded DER pieces together
 * (SEQUENCE / SET / context tags around pre-computed bytes, so that the issuer name, the
 * subject public key and cached algorithm identifiers are never re-parsed and re-encoded),
 * and (b) walks definite-length TLVs to slice out elements exactly as they appear in the
 * input (the to-be-signed bytes of a CSR, a certificate's issuer and subject names, ...).
 *
 * Internal to app/pki: not re-exported from index.ts.
 */
import * as asn1js from 'asn1js'

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const

/** Error thrown by the reader; callers turn it into a PkiError with their own code. */
export class DerError extends Error {}

export function toBuffer(data: Uint8Array | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length])
  if (length < 0x100) return Buffer.from([0x81, length])
  if (length < 0x10000) return Buffer.from([0x82, length >> 8, length & 0xff])
  if (length < 0x1000000)
    return Buffer.from([0x83, length >> 16, (length >> 8) & 0xff, length & 0xff])
  return Buffer.from([
    0x84,
    (length >>> 24) & 0xff,
    (length >> 16) & 0xff,
    (length >> 8) & 0xff,
    length & 0xff,
  ])
}

/** One TLV with a single-byte tag around already-encoded content parts. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0
  for (const part of parts) length += part.length
  return Buffer.concat([Buffer.from([tag]), lengthBytes(length), ...parts])
}

export function sequence(...parts: Uint8Array[]): Buffer {
  return tlv(TAG.SEQUENCE, ...parts)
}

/** DER SET OF: elements sorted by their encodings (X.690 11.6). */
export function setOf(elements: Uint8Array[], tag: number = TAG.SET): Buffer {
  const sorted = elements.map(toBuffer).sort((a, b) => Buffer.compare(a, b))
  return tlv(tag, ...sorted)
}

/** DER INTEGER from an unsigned big-endian magnitude (leading zeros stripped, 00 added if needed). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++
  const body = toBuffer(magnitude).subarray(start)
  if (body.length === 0) return Buffer.from([TAG.INTEGER, 1, 0])
  return body[0] & 0x80 ? tlv(TAG.INTEGER, Buffer.from([0]), body) : tlv(TAG.INTEGER, body)
}

/** BIT STRING with no unused bits around `bytes`. */
export function bitString(bytes: Uint8Array): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.from([0]), bytes)
}

const oidCache = new Map<string, Buffer>()

/** DER of an OBJECT IDENTIFIER (encoded once by asn1js, then cached). */
export function oidDer(oid: string): Buffer {
  let der = oidCache.get(oid)
  if (!der) {
    if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(oid))
      throw new DerError(`not an object identifier: ${oid}`)
    der = Buffer.from(new asn1js.ObjectIdentifier({ value: oid }).toBER(false))
    oidCache.set(oid, der)
  }
  return der
}

/** Dotted text of OBJECT IDENTIFIER content bytes. */
export function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = []
  let value = 0
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f)
    if (!(byte & 0x80)) {
      if (parts.length === 0) {
        const first = value < 40 ? 0 : value < 80 ? 1 : 2
        parts.push(first, value - first * 40)
      } else parts.push(value)
      value = 0
    }
  }
  return parts.join('.')
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

/**
 * RFC 5280 4.1.2.5: UTCTime for 1950..2049, GeneralizedTime otherwise; always Zulu, whole
 * seconds (milliseconds are truncated).
 */
export function timeDer(date: Date): Buffer {
  const ms = date.getTime()
  if (!Number.isFinite(ms)) throw new DerError('invalid date')
  const year = date.getUTCFullYear()
  if (year < 0 || year > 9999) throw new DerError(`year ${year} cannot be encoded`)
  const rest =
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    'Z'
  if (year >= 1950 && year < 2050) {
    return tlv(TAG.UTC_TIME, Buffer.from(pad2(year % 100) + rest, 'latin1'))
  }
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(year).padStart(4, '0') + rest, 'latin1'))
}

/* ------------------------------------------------------------------ reader */

export interface Tlv {
  tag: number
  /** offset of the tag byte */
  start: number
  /** offset of the first content byte */
  contentStart: number
  /** offset just past the element */
  end: number
}

/** Reads one definite-length TLV at `pos` (low tag numbers only, as in X.509). */
export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated ASN.1 element')
  const tag = buf[pos]
  if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form is not supported')
  let length = buf[pos + 1]
  let contentStart = pos + 2
  if (length & 0x80) {
    const count = length & 0x7f
    if (count === 0) throw new DerError('indefinite length is not DER')
    if (count > 4) throw new DerError('ASN.1 length too large')
    if (contentStart + count > limit) throw new DerError('truncated ASN.1 length')
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i]
    contentStart += count
  }
  const end = contentStart + length
  if (end > limit) throw new DerError('truncated ASN.1 element')
  return { tag, start: pos, contentStart, end }
}

/** Reads `buf` as exactly one TLV (no trailing bytes). */
export function readSingle(buf: Uint8Array, expectedTag?: number): Tlv {
  const el = readTlv(buf, 0)
  if (el.end !== buf.length) throw new DerError('trailing bytes after the ASN.1 element')
  if (expectedTag !== undefined && el.tag !== expectedTag) {
    throw new DerError(`expected tag 0x${expectedTag.toString(16)}, found 0x${el.tag.toString(16)}`)
  }
  return el
}

/** Direct children of a constructed element. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if (!(parent.tag & 0x20)) throw new DerError('element is not constructed')
  const out: Tlv[] = []
  let pos = parent.contentStart
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end)
    out.push(child)
    pos = child.end
  }
  return out
}

export function slice(buf: Uint8Array, el: Tlv): Buffer {
  return toBuffer(buf).subarray(el.start, el.end)
}

export function content(buf: Uint8Array, el: Tlv): Buffer {
  return toBuffer(buf).subarray(el.contentStart, el.end)
}

/** True when `buf` is exactly one SEQUENCE TLV (cheap sanity check for pre-encoded pieces). */
export function isSingleSequence(buf: Uint8Array): boolean {
  try {
    readSingle(buf, TAG.SEQUENCE)
    return true
  } catch {
    return false
  }
}

export function hex(bytes: Uint8Array | ArrayBuffer): string {
  return toBuffer(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes).toString('hex')
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && toBuffer(a).equals(toBuffer(b))
}
