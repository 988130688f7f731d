/*
 * A self-signed P-256 TLS certificate for 127.0.0.1 / localhost, made with openssl in `dir`, for
 * the benches that speak HTTPS (bench:acme, bench:acme-floor); the same `openssl req` makes
 * bench:crl's OpenSSL CA.
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

/**
 * The arguments of `openssl req` for a self-signed P-256 certificate and its unencrypted key;
 * each `extensions` entry is one `-addext`.
 */
export function selfSignedP256Args(opts: {
  keyFile: string
  certFile: string
  subject: string
  days: number
  extensions: string[]
}): string[] {
  return [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    opts.keyFile,
    '-out',
    opts.certFile,
    '-subj',
    opts.subject,
    '-days',
    String(opts.days),
    ...opts.extensions.flatMap((ext) => ['-addext', ext]),
  ]
}

export function makeTlsCertificate(dir: string): BenchTls {
  const certFile = path.join(dir, 'tls.pem')
  const keyFile = path.join(dir, 'tls.key')
  execFileSync(
    'openssl',
    selfSignedP256Args({
      keyFile,
      certFile,
      subject: '/CN=localhost',
      days: 2,
      extensions: ['subjectAltName=IP:127.0.0.1,DNS:localhost'],
    }),
    { stdio: 'ignore' }
  )
  return { certFile, keyFile, ca: fs.readFileSync(certFile, 'utf8') }
}
