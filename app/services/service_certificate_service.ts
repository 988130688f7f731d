/*
 * Delegated service certificates (manual §11: "OCSP Responder" in Issued Certificates): a
 * certificate the CA issues to one of its own services, with a key of its own. The key type and
 * hash come from the CA's service-certificate settings (default: the CA's own algorithm, and
 * ML-DSA-65 for SLH-DSA CAs, whose signatures take seconds). The key is encrypted under the
 * master key (service_keys), bound to its key reference, and goes with its certificate.
 *
 * Issued outside the template cycle on purpose: the profile is fixed by the purpose
 * (OCSP signing: EKU id-kp-OCSPSigning + id-pkix-ocsp-nocheck; timestamping: critical EKU
 * id-kp-timeStamping), and plugins ask for these only from jobs, never on a request path.
 */
import { createHash } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import CertificateAuthority from '#models/certificate_authority'
import { KernelError } from '#exceptions/kernel_error'
import * as pki from '#pki/index'
import type { HashName, KeyType, Signer } from '../../hsm/types.js'
import type {
  ServiceCertificate,
  ServiceCertificatePurpose,
  ServiceCertificateRequest,
} from '#plugins/contract'
import type { Actor } from './actor.js'
import { auditRow } from './audit_service.js'
import { caMaterial } from './ca_material.js'
import { certificateNames } from './certificate_store.js'
import { keyService } from './key_service.js'
import { queueServiceLog } from './service_log.js'

const PURPOSES: Record<ServiceCertificatePurpose, { label: string; eku: string }> = {
  'ocsp-signing': { label: 'OCSP Responder', eku: 'OCSPSigning' },
  'timestamping': { label: 'Timestamping', eku: 'timeStamping' },
}

/** Certificates may start a little in the past, for relying parties whose clocks lag. */
const BACKDATE_MS = 5 * 60_000
const MIN_VALIDITY_MS = 10 * 60_000
const MAX_VALIDITY_MS = 397 * 86_400_000

/** The key type a CA's service certificates get (its settings, or the default for its key). */
export function serviceKeyType(ca: Pick<CertificateAuthority, 'keyType' | 'serviceSettings'>) {
  const configured = ca.serviceSettings?.keyType
  if (configured) return configured
  return (ca.keyType.startsWith('slh-dsa') ? 'ml-dsa-65' : ca.keyType) as KeyType
}

function serviceHash(ca: Pick<CertificateAuthority, 'signatureHash' | 'serviceSettings'>) {
  return (ca.serviceSettings?.hash ?? ca.signatureHash) as HashName
}

function toServiceCertificate(
  row: {
    id: number
    ca_id: number
    serial: string
    der: Uint8Array
    not_before: number
    not_after: number
  },
  purpose: ServiceCertificatePurpose,
  signer: Signer,
  hash: HashName
): ServiceCertificate {
  const stream = signer.stream
  return {
    certificateId: Number(row.id),
    caId: Number(row.ca_id),
    purpose,
    serial: String(row.serial),
    der: new Uint8Array(row.der),
    notBefore: Number(row.not_before),
    notAfter: Number(row.not_after),
    keyType: signer.keyType,
    hash,
    publicKeySpki: signer.publicKeySpki,
    sign: (data, h) => signer.sign(data, h ?? hash),
    ...(stream ? { stream: (h?: HashName) => stream(h ?? hash) } : {}),
  }
}

export const serviceCertificateService = {
  async issue(
    caId: number,
    request: ServiceCertificateRequest,
    actor: Actor
  ): Promise<ServiceCertificate> {
    const profile = PURPOSES[request.purpose]
    if (!profile) {
      throw new KernelError(
        'E_VALIDATION',
        `"${String(request.purpose)}" is not a service certificate purpose (${Object.keys(PURPOSES).join(', ')}).`
      )
    }
    const validityMs = Number(request.validityMs)
    if (
      !Number.isFinite(validityMs) ||
      validityMs < MIN_VALIDITY_MS ||
      validityMs > MAX_VALIDITY_MS
    ) {
      throw new KernelError(
        'E_VALIDATION',
        'A service certificate is valid for at least 10 minutes and at most 397 days.'
      )
    }
    const ca = await CertificateAuthority.find(caId)
    if (!ca) throw new KernelError('E_CA_NOT_FOUND', `No CA "${caId}" exists.`)
    const material = await caMaterial.get(ca)
    const now = Date.now()
    if (material.notAfter <= now)
      throw new KernelError('E_CA_INACTIVE', `CA "${ca.name}" has expired.`)

    const keyType = serviceKeyType(ca)
    const hash = serviceHash(ca)
    const key = await keyService.createKey(keyType)
    const commonName = (request.commonName ?? `${ca.name} ${profile.label}`).slice(0, 64)
    const subjectDer = pki.nameToDer({ commonName })
    const serial = pki.newSerial()
    const serialHex = pki.serialHex(serial)
    const notBefore = new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000)
    const notAfter = new Date(Math.min(now + validityMs, material.notAfter))
    const extensions = [
      pki.basicConstraints({ ca: false }, { critical: true }),
      pki.keyUsage(['digitalSignature']),
      pki.extendedKeyUsage([profile.eku], { critical: request.purpose === 'timestamping' }),
      pki.subjectKeyIdentifier(key.spki),
      material.authorityKeyIdentifier,
      ...(request.purpose === 'ocsp-signing' ? [pki.ocspNoCheck()] : []),
    ]
    const der = await pki.signCertificate(
      {
        serial,
        issuerDer: material.issuerDer,
        subjectDer,
        notBefore,
        notAfter,
        spki: key.spki,
        extensions,
        signatureAlgorithm: pki.signatureAlgorithm(ca.keyType, material.hash),
      },
      material.signer,
      material.hash
    )
    const subjectDn = pki.nameToString(subjectDer)
    const row = {
      ca_id: ca.id,
      template_id: null,
      request_id: null,
      serial: serialHex,
      kind: 'service',
      subject_dn: subjectDn,
      common_name: commonName,
      sans: '[]',
      key_type: keyType,
      not_before: notBefore.getTime(),
      not_after: notAfter.getTime(),
      status: 'valid',
      der: Buffer.from(der),
      fingerprint: createHash('sha256').update(der).digest('hex'),
      issued_by: actor.label,
      created_at: now,
    }
    const id = await db.transaction(async (trx) => {
      const inserted = await trx.table('certificates').insert(row).returning('id')
      const first = inserted[0] as any
      const certId = Number(typeof first === 'object' ? first.id : first)
      await trx
        .table('certificate_names')
        .multiInsert(
          certificateNames(row).map((name) => ({ certificate_id: certId, ca_id: ca.id, name }))
        )
      await trx.table('service_keys').insert({
        certificate_id: certId,
        ca_id: ca.id,
        purpose: request.purpose,
        key_ref: key.keyRef,
        key_material: key.encrypted,
        created_at: now,
      })
      await trx.table('audit_logs').insert({
        ...auditRow(actor, {
          action: 'certificate.issue-service',
          objectType: 'certificate',
          caId: ca.id,
          details: { serial: serialHex, subject: subjectDn, purpose: request.purpose, keyType },
        }),
        object_id: String(certId),
      })
      return certId
    })
    queueServiceLog({
      service: 'kernel',
      caId: ca.id,
      level: 'info',
      event: 'certificate.issued',
      message: `${profile.label} certificate ${serialHex} issued for "${subjectDn}" (${actor.label}).`,
      details: { certificate: id, serial: serialHex, purpose: request.purpose },
    })
    const signer = await keyService.signerFor({ keyRef: key.keyRef, keyMaterial: key.encrypted })
    return toServiceCertificate(
      {
        id,
        ca_id: ca.id,
        serial: serialHex,
        der,
        not_before: row.not_before,
        not_after: row.not_after,
      },
      request.purpose,
      signer,
      hash
    )
  },

  /** A service certificate and its signer, or null when it (or its key) no longer exists. */
  async load(certificateId: number): Promise<ServiceCertificate | null> {
    if (!Number.isSafeInteger(certificateId)) return null
    const row = await db
      .from('service_keys')
      .join('certificates', 'certificates.id', 'service_keys.certificate_id')
      .where('service_keys.certificate_id', certificateId)
      .select(
        'certificates.id',
        'certificates.ca_id',
        'certificates.serial',
        'certificates.der',
        'certificates.not_before',
        'certificates.not_after',
        'service_keys.purpose',
        'service_keys.key_ref',
        'service_keys.key_material'
      )
      .first()
    if (!row) return null
    const ca = await CertificateAuthority.find(row.ca_id)
    if (!ca) return null
    const signer = await keyService.signerFor({
      keyRef: row.key_ref,
      keyMaterial: row.key_material,
    })
    return toServiceCertificate(row, row.purpose, signer, serviceHash(ca))
  },
}
