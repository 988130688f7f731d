/*
 * Certificate download formats: PEM (default), DER (one certificate), PKCS#7 certs-only (p7b).
 */
import type { Response } from '@adonisjs/core/http'
import { KernelError } from '#exceptions/kernel_error'
import * as pki from '#pki/index'

export function sendCertificates(
  response: Response,
  certs: Uint8Array[],
  format: string | undefined,
  basename: string
) {
  const safe = basename.replace(/[^A-Za-z0-9._-]+/g, '_')
  switch ((format ?? 'pem').toLowerCase()) {
    case 'pem':
      response.header('content-type', 'application/x-pem-file')
      response.header('content-disposition', `attachment; filename="${safe}.pem"`)
      return response.send(certs.map((c) => pki.toPem(c, 'CERTIFICATE')).join(''))
    case 'der':
    case 'crt':
    case 'cer':
      if (certs.length !== 1)
        throw new KernelError(
          'E_VALIDATION',
          'DER holds one certificate; download a chain as pem or p7b.'
        )
      response.header('content-type', 'application/pkix-cert')
      response.header('content-disposition', `attachment; filename="${safe}.crt"`)
      return response.send(Buffer.from(certs[0]))
    case 'p7b':
    case 'p7c':
    case 'pkcs7':
      response.header('content-type', 'application/pkcs7-mime')
      response.header('content-disposition', `attachment; filename="${safe}.p7b"`)
      return response.send(Buffer.from(pki.certsOnlyPkcs7(certs)))
    default:
      throw new KernelError('E_VALIDATION', `Unknown format "${format}"; use pem, der or p7b.`)
  }
}
