/*
 * Per-CA values the issuance path needs on every certificate, computed once per CA version:
 * the signer (key parsed once), the issuer Name exactly as encoded in the CA certificate, the
 * ready-made AKI extension. Keyed by CA id and its updated_at, so an edit made by another
 * process (an ace command, another node) is picked up on the next request.
 */
import type CertificateAuthority from '#models/certificate_authority'
import type { Extension } from '@peculiar/asn1-x509'
import type { HashName, Signer } from '../../hsm/types.js'
import * as pki from '#pki/index'
import { KernelError } from '#exceptions/kernel_error'
import { keyService } from './key_service.js'

export interface CaMaterial {
  version: number
  signer: Signer
  issuerDer: Uint8Array
  authorityKeyIdentifier: Extension
  /** the CA certificate's validity (ms): every certificate it issues lies within it */
  notBefore: number
  notAfter: number
  hash: HashName
}

const cache = new Map<number, CaMaterial>()

export const caMaterial = {
  async get(ca: CertificateAuthority): Promise<CaMaterial> {
    const hit = cache.get(ca.id)
    if (hit && hit.version === ca.updatedAt) return hit
    if (ca.status !== 'active' || !ca.certificate) {
      throw new KernelError(
        'E_CA_INACTIVE',
        `CA "${ca.name}" is not active yet: import its signed certificate first (ca:import-cert).`
      )
    }
    const issuer = pki.issuerInfo(ca.certificate)
    const material: CaMaterial = {
      version: ca.updatedAt,
      signer: await keyService.signerFor(ca),
      issuerDer: issuer.issuerDer,
      authorityKeyIdentifier: issuer.authorityKeyIdentifier,
      notBefore: issuer.notBefore.getTime(),
      notAfter: issuer.notAfter.getTime(),
      hash: ca.signatureHash,
    }
    cache.set(ca.id, material)
    return material
  },

  forget(caId: number) {
    cache.delete(caId)
  },
}
