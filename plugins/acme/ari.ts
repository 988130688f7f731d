/*
 * ACME Renewal Information (RFC 9773): CertIDs and suggested renewal windows.
 *
 * CertID = base64url(AKI keyIdentifier) "." base64url(serial DER INTEGER content bytes). Serials
 * are normalised to the canonical DER content (a leading 0x00 exactly when the high bit is set),
 * so an ID built from a serial with or without that byte finds the same certificate.
 */
import { readTlv as readDer, type Tlv } from '#pki/der'
import { AcmeProblem } from './problems.js'

/** The DER of the OID 2.5.29.35 (Authority Key Identifier). */
const AKI_OID = Buffer.from([0x55, 0x1d, 0x23])

/** The canonical DER INTEGER content of a non-negative serial given as bytes. */
export function canonicalSerial(bytes: Uint8Array): Buffer {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  const trimmed = Buffer.from(bytes.subarray(i))
  return trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed
}

/** One DER element at `pos` (ending by `limit`), with the tag expected when given. */
function readTlv(der: Uint8Array, pos: number, limit: number, tag?: number): Tlv {
  const element = readDer(der, pos, limit)
  if (tag !== undefined && element.tag !== tag) {
    throw new Error('the certificate is not well formed')
  }
  return element
}

/**
 * The serial's content bytes and the AKI keyIdentifier of a certificate (DER), read by walking
 * the few elements in front of them (a full parse costs a millisecond per certificate).
 */
function serialAndAki(der: Uint8Array): { serial: Uint8Array; keyId: Uint8Array } {
  const cert = readTlv(der, 0, der.length, 0x30)
  const tbs = readTlv(der, cert.contentStart, cert.end, 0x30)
  let element = readTlv(der, tbs.contentStart, tbs.end)
  if (element.tag === 0xa0) element = readTlv(der, element.end, tbs.end) // [0] version
  if (element.tag !== 0x02) throw new Error('the certificate has no serial number')
  const serial = der.subarray(element.contentStart, element.end)
  // signature, issuer, validity, subject, subjectPublicKeyInfo
  let pos = element.end
  for (let i = 0; i < 5; i++) pos = readTlv(der, pos, tbs.end, 0x30).end
  // [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions
  while (pos < tbs.end) {
    element = readTlv(der, pos, tbs.end)
    pos = element.end
    if (element.tag !== 0xa3) continue
    const list = readTlv(der, element.contentStart, element.end, 0x30)
    for (let at = list.contentStart; at < list.end;) {
      const extension = readTlv(der, at, list.end, 0x30)
      at = extension.end
      const oid = readTlv(der, extension.contentStart, extension.end, 0x06)
      if (!AKI_OID.equals(der.subarray(oid.contentStart, oid.end))) continue
      let value = readTlv(der, oid.end, extension.end)
      if (value.tag === 0x01) value = readTlv(der, value.end, extension.end) // critical
      if (value.tag !== 0x04) throw new Error('the Authority Key Identifier is not well formed')
      // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier OPTIONAL, ... }
      const aki = readTlv(der, value.contentStart, value.end, 0x30)
      const keyId = aki.contentStart < aki.end ? readTlv(der, aki.contentStart, aki.end) : null
      if (!keyId || keyId.tag !== 0x80) {
        throw new Error('the Authority Key Identifier has no keyIdentifier')
      }
      return { serial, keyId: der.subarray(keyId.contentStart, keyId.end) }
    }
  }
  throw new Error('the certificate has no Authority Key Identifier')
}

/** The RFC 9773 CertID of a certificate (DER). */
export function certId(der: Uint8Array): string {
  const { serial, keyId } = serialAndAki(der)
  return `${Buffer.from(keyId).toString('base64url')}.${canonicalSerial(serial).toString('base64url')}`
}

/** Normalises a CertID from a request; throws `malformed` for anything else. */
export function normalizeCertId(text: string): string {
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(text)
  if (!match) {
    throw new AcmeProblem(
      'malformed',
      'A renewalInfo CertID is base64url(AKI keyIdentifier) "." base64url(serial).'
    )
  }
  const serial = Buffer.from(match[2], 'base64url')
  if (serial.length === 0 || serial.length > 40) {
    throw new AcmeProblem('malformed', 'The CertID serial is empty or too long.')
  }
  return `${match[1]}.${canonicalSerial(serial).toString('base64url')}`
}

export interface RenewalWindow {
  start: number
  end: number
  explanation?: string
}

const HOUR = 3_600_000

/**
 * The suggested window: around 2/3 of the lifetime (1/2 for certificates under 10 days), ±1 % of
 * the validity (as Boulder does). An event asking for renewal moves it: a revocation (of the
 * certificate or its CA) to a window that already began (renew now), a CA or template change
 * to the next hour after the event, unless the normal window is earlier.
 */
export function renewalWindow(cert: {
  notBefore: number
  notAfter: number
  renewAt: number | null
  renewReason: string | null
}): RenewalWindow {
  const lifetime = cert.notAfter - cert.notBefore
  const ideal = cert.notBefore + (lifetime < 10 * 24 * HOUR ? lifetime / 2 : (lifetime * 2) / 3)
  const spread = Math.max(lifetime / 100, 60_000)
  const normal = { start: Math.round(ideal - spread), end: Math.round(ideal + spread) }
  if (cert.renewAt === null) return normal
  if (cert.renewReason === 'revoked' || cert.renewReason === 'ca-revoked') {
    return { start: cert.renewAt - HOUR, end: cert.renewAt, explanation: cert.renewReason }
  }
  if (normal.start <= cert.renewAt) return normal
  return {
    start: cert.renewAt,
    end: cert.renewAt + HOUR,
    explanation: cert.renewReason ?? undefined,
  }
}
