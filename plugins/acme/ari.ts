/*
 * ACME Renewal Information (RFC 9773): CertIDs and suggested renewal windows.
 *
 * CertID = base64url(AKI keyIdentifier) "." base64url(serial DER INTEGER content bytes). Serials
 * are normalised to the canonical DER content (a leading 0x00 exactly when the high bit is set),
 * so an ID built from a serial with or without that byte finds the same certificate.
 */
import { parseCertificate } from '#pki/index'
import { AcmeProblem } from './problems.js'

const AKI_OID = '2.5.29.35'

/** The canonical DER INTEGER content of a non-negative serial given as bytes. */
export function canonicalSerial(bytes: Uint8Array): Buffer {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  const trimmed = Buffer.from(bytes.subarray(i))
  return trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed
}

/** The AKI keyIdentifier bytes of a parsed certificate. */
function akiKeyId(cert: ReturnType<typeof parseCertificate>): Buffer {
  const ext = cert.extensionList.find((e) => e.extnID === AKI_OID)
  if (!ext) throw new Error('the certificate has no Authority Key Identifier')
  // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier OPTIONAL, ... }
  const v = Buffer.from(ext.extnValue.buffer)
  let pos = 2
  if (v[1] & 0x80) pos = 2 + (v[1] & 0x7f)
  if (v[pos] !== 0x80) throw new Error('the Authority Key Identifier has no keyIdentifier')
  const len = v[pos + 1]
  return v.subarray(pos + 2, pos + 2 + len)
}

/** The RFC 9773 CertID of a certificate (DER). */
export function certId(der: Uint8Array): string {
  const cert = parseCertificate(der)
  return `${akiKeyId(cert).toString('base64url')}.${canonicalSerial(cert.serial).toString('base64url')}`
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
