/*
 * Finding and listing certificates (Issued Certificates), scoped by CA access.
 */
import Certificate from '#models/certificate'
import { KernelError, notFound } from '#exceptions/kernel_error'
import * as pki from '#pki/index'
import type { Actor } from './actor.js'
import { assertCaAccess } from './access.js'
import { isRowId } from '#validators/query'

export function serializeCertificate(cert: Certificate, withPem = true) {
  const now = Date.now()
  return {
    id: cert.id,
    caId: cert.caId,
    templateId: cert.templateId,
    requestId: cert.requestId,
    serial: cert.serial,
    kind: cert.kind,
    subjectDn: cert.subjectDn,
    commonName: cert.commonName,
    sans: cert.sans,
    keyType: cert.keyType,
    notBefore: new Date(cert.notBefore).toISOString(),
    notAfter: new Date(cert.notAfter).toISOString(),
    status: cert.status === 'valid' && cert.notAfter < now ? 'expired' : cert.status,
    revokedAt: cert.revokedAt ? new Date(cert.revokedAt).toISOString() : null,
    revocationReason: cert.revocationReason,
    fingerprintSha256: cert.fingerprint,
    issuedBy: cert.issuedBy,
    ...(withPem ? { certificatePem: pki.toPem(cert.der, 'CERTIFICATE') } : {}),
  }
}

export function normalizeSerial(input: string) {
  try {
    return pki.normalizeSerialHex(input)
  } catch {
    throw new KernelError(
      'E_VALIDATION',
      `"${input}" is not a serial number in hex (colons and a leading 00 are fine).`
    )
  }
}

export const certificateService = {
  async find(actor: Actor, id: number) {
    const cert = isRowId(id) ? await Certificate.find(id) : null
    if (!cert) throw notFound('certificate', id)
    await assertCaAccess(actor, cert.caId)
    return cert
  },

  async findBySerial(actor: Actor, caId: number, serial: string) {
    await assertCaAccess(actor, caId)
    const hex = normalizeSerial(serial)
    const cert = await Certificate.query().where({ ca_id: caId, serial: hex }).first()
    if (!cert) throw notFound('certificate', serial)
    return cert
  },

  async list(
    actor: Actor,
    caId: number,
    filter: { status?: string; q?: string; page?: number; perPage?: number }
  ) {
    await assertCaAccess(actor, caId)
    const q = Certificate.query().where('ca_id', caId).orderBy('id', 'desc')
    const now = Date.now()
    if (filter.status === 'expired') q.where('not_after', '<', now).where('status', 'valid')
    else if (filter.status === 'valid') q.where('status', 'valid').where('not_after', '>=', now)
    else if (filter.status === 'revoked' || filter.status === 'hold')
      q.where('status', filter.status)
    else if (filter.status)
      throw new KernelError('E_VALIDATION', 'status must be valid, expired, revoked or hold.')
    if (filter.q) {
      // The text itself, `_` and `%` included (they were dropped: "svc_backup" found nothing);
      // a serial in any spelling normalizeSerialHex reads (00:8a:…, 0x8a…, spaces).
      const like = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      let serial: string | null
      try {
        serial = pki.normalizeSerialHex(filter.q)
      } catch {
        serial = null
      }
      q.where((w) => {
        w.whereRaw(`lower(subject_dn) like ? escape '\\'`, [like]).orWhereRaw(
          `lower(sans) like ? escape '\\'`,
          [like]
        )
        if (serial) w.orWhere('serial', serial)
      })
    }
    const perPage = Math.min(Math.max(filter.perPage ?? 50, 1), 500)
    return q.paginate(Math.max(filter.page ?? 1, 1), perPage)
  },
}
