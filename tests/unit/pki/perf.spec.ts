/*
 * A coarse guard on the cost of the issuance path through app/pki (not a benchmark: the limit
 * is several times what a laptop core needs, so it only trips on a real regression such as a
 * PEM round trip or a CA certificate re-parse per certificate).
 */
import { test } from '@japa/runner'
import * as pki from '../../../app/pki/index.js'
import { makeRoot, testKey, testVerifier } from './_support.js'

test('issuance path cost per certificate (CSR in → signed DER out, P-256 CA)', async ({ assert }) => {
  const root = await makeRoot('ecdsa-p256')
  const issuer = pki.issuerInfo(root.der) // once per CA
  const staticExtensions = [
    // once per template
    pki.basicConstraints({ ca: false }),
    pki.keyUsage(['digitalSignature']),
    pki.extendedKeyUsage(['serverAuth', 'clientAuth']),
    issuer.authorityKeyIdentifier,
    pki.authorityInfoAccess({ ocsp: ['http://ocsp.example.com/'], caIssuers: ['http://pki.example.com/ca.crt'] }),
    pki.crlDistributionPoints(['http://crl.example.com/ca.crl']),
    pki.certificatePolicies(['domainValidated']),
  ]
  const sigAlg = pki.signatureAlgorithm('ecdsa-p256', 'sha256')
  const csr = await pki.buildCsr({
    subject: { country: 'DE', organization: 'Example', commonName: 'www.example.com' },
    signer: testKey('ecdsa-p256').signer,
    hash: 'sha256',
    extensions: [pki.subjectAltName([{ type: 'dns', value: 'www.example.com' }, { type: 'dns', value: 'example.com' }])],
  })
  const csrPem = pki.toPem(csr, 'CERTIFICATE REQUEST')

  const once = async () => {
    const parsed = pki.parseCsr(csrPem)
    pki.assertCsrSignature(parsed, testVerifier)
    const now = Date.now()
    const draft: pki.CertificateDraft = {
      serial: pki.newSerial(),
      issuerDer: issuer.issuerDer,
      subjectDer: pki.nameToDer(parsed.subject),
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 90 * 86_400_000),
      spki: parsed.spki,
      extensions: [...staticExtensions, pki.subjectKeyIdentifier(parsed.spki), pki.subjectAltName(parsed.sans)],
      signatureAlgorithm: sigAlg,
    }
    pki.assertLint(draft, { keyFamily: 'ec', isCaTemplate: false, requireSan: true, caNotAfter: issuer.notAfter })
    return pki.signCertificate(draft, root.key.signer, 'sha256')
  }

  for (let i = 0; i < 200; i++) await once()
  const n = 1000
  const start = performance.now()
  for (let i = 0; i < n; i++) await once()
  const perCertUs = ((performance.now() - start) / n) * 1000
  console.log(`    app/pki issuance path incl. CSR verify and P-256 signing: ${perCertUs.toFixed(0)} µs per certificate`)
  assert.isBelow(perCertUs, 2500)
})
