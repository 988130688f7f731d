/*
 * A self-signed P-256 TLS certificate for 127.0.0.1 / localhost, made with openssl in `dir`, for
 * the benches that speak HTTPS (bench:acme, bench:acme-floor).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export interface BenchTls {
  certFile: string
  keyFile: string
  /** the certificate's PEM, the client's trust anchor */
  ca: string
}

export function makeTlsCertificate(dir: string): BenchTls {
  const certFile = path.join(dir, 'tls.pem')
  const keyFile = path.join(dir, 'tls.key')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' }
  )
  return { certFile, keyFile, ca: fs.readFileSync(certFile, 'utf8') }
}
