/*
 * A coarse guard on the CPU cost of the issuance path through app/pki. Not a benchmark: the
 * limit is several times what one core needs, so it trips only on a real regression (a PEM
 * round trip, a CA certificate re-parse or schema-object parsing per certificate...). CPU time
 * of this process is measured, not wall time, so a busy machine does not make it flaky.
 */
import { test } from '@japa/runner'
import type { Signer } from '../../../hsm/types.js'
import * as pki from '../../../app/pki/index.js'
import { makeRoot, testKey, testVerifier } from './_support.js'

test('issuance path CPU cost per certificate (CSR in → signed DER out, P-256 CA)', async ({
  assert,
}) => {
  const root = await makeRoot('ecdsa-p256')
  const issuer = pki.issuerInfo(root.der) // once per CA
  const staticExtensions = [
    // once per template
    pki.basicConstraints({ ca: false }),
    pki.keyUsage(['digitalSignature']),
    pki.extendedKeyUsage(['serverAuth', 'clientAuth']),
    issuer.authorityKeyIdentifier,
    pki.authorityInfoAccess({
      ocsp: ['http://ocsp.example.com/'],
      caIssuers: ['http://pki.example.com/ca.crt'],
    }),
    pki.crlDistributionPoints(['http://crl.example.com/ca.crl']),
    pki.certificatePolicies(['domainValidated']),
  ]
  const sigAlg = pki.signatureAlgorithm('ecdsa-p256', 'sha256')
  const csr = await pki.buildCsr({
    subject: { country: 'DE', organization: 'Example', commonName: 'www.example.com' },
    signer: testKey('ecdsa-p256').signer,
    hash: 'sha256',
    extensions: [
      pki.subjectAltName([
        { type: 'dns', value: 'www.example.com' },
        { type: 'dns', value: 'example.com' },
      ]),
    ],
  })
  const csrPem = pki.toPem(csr, 'CERTIFICATE REQUEST')

  const once = async (verifier: pki.SignatureVerifier, signer: Signer) => {
    const parsed = pki.parseCsr(csrPem)
    pki.assertCsrSignature(parsed, verifier)
    const now = Date.now()
    const draft: pki.CertificateDraft = {
      serial: pki.newSerial(),
      issuerDer: issuer.issuerDer,
      subjectDer: pki.nameToDer(parsed.subject),
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 90 * 86_400_000),
      spki: parsed.spki,
      extensions: [
        ...staticExtensions,
        pki.subjectKeyIdentifier(parsed.spki),
        pki.subjectAltName(parsed.sans),
      ],
      signatureAlgorithm: sigAlg,
    }
    pki.assertLint(draft, {
      keyFamily: 'ec',
      isCaTemplate: false,
      requireSan: true,
      caNotAfter: issuer.notAfter,
    })
    return pki.signCertificate(draft, signer, 'sha256')
  }
  const measure = async (verifier: pki.SignatureVerifier, signer: Signer) => {
    for (let i = 0; i < 200; i++) await once(verifier, signer)
    const n = 1000
    const start = process.cpuUsage()
    for (let i = 0; i < n; i++) await once(verifier, signer)
    const used = process.cpuUsage(start)
    return (used.user + used.system) / n
  }

  // app/pki alone: the crypto (CSR check, signature) replaced by constant-time stand-ins
  const fakeSignature = new Uint8Array(72).fill(1)
  const fakeSigner: Signer = { ...root.key.signer, sign: async () => fakeSignature }
  const pkiOnly = await measure(() => true, fakeSigner)
  const full = await measure(testVerifier, root.key.signer)
  console.log(
    `    app/pki alone: ${pkiOnly.toFixed(0)} µs CPU per certificate; with node:crypto CSR check and P-256 signing: ${full.toFixed(0)} µs`
  )
  assert.isBelow(pkiOnly, 1500)
})
