/*
 * P-256 CSRs made in-process with the project's own buildCsr and a throw-away Signer over a
 * node:crypto KeyObject: CN <prefix>-N.<domain>, a matching dNSName SAN requested.
 */
import crypto from 'node:crypto'
import { buildCsr, subjectAltName, toPem, PEM_LABELS } from '../../app/pki/index.js'
import type { HashName, Signer } from '../../hsm/types.js'

export async function makeP256Csrs(
  count: number,
  prefix = 'host',
  domain = 'example.com'
): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const signer: Signer = {
      keyRef: `bench:${i}`,
      keyType: 'ecdsa-p256',
      publicKeySpki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
      sign: async (data: Uint8Array, hash: HashName) =>
        new Uint8Array(crypto.sign(hash, data, privateKey)),
    }
    const host = `${prefix}-${i}.${domain}`
    const der = await buildCsr({
      subject: { commonName: host },
      extensions: [subjectAltName([{ type: 'dns', value: host }])],
      signer,
      hash: 'sha256',
    })
    out.push(toPem(der, PEM_LABELS.csr))
  }
  return out
}
