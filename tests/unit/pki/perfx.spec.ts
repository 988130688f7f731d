import { test } from '@japa/runner'
import * as pki from '../../../app/pki/index.js'
import { makeRoot, testKey, testVerifier } from './_support.js'
test('x', async () => {
  const root = await makeRoot('ecdsa-p256')
  const issuer = pki.issuerInfo(root.der)
  const staticExtensions = [pki.basicConstraints({ ca: false }), pki.keyUsage(['digitalSignature']), pki.extendedKeyUsage(['serverAuth', 'clientAuth']), issuer.authorityKeyIdentifier,
    pki.authorityInfoAccess({ ocsp: ['http://ocsp.example.com/'], caIssuers: ['http://pki.example.com/ca.crt'] }), pki.crlDistributionPoints(['http://crl.example.com/ca.crl']), pki.certificatePolicies(['domainValidated'])]
  const sigAlg = pki.signatureAlgorithm('ecdsa-p256', 'sha256')
  const csr = await pki.buildCsr({ subject: { country: 'DE', organization: 'Example', commonName: 'www.example.com' }, signer: testKey('ecdsa-p256').signer, hash: 'sha256',
    extensions: [pki.subjectAltName([{ type: 'dns', value: 'www.example.com' }, { type: 'dns', value: 'example.com' }])] })
  const csrPem = pki.toPem(csr, 'CERTIFICATE REQUEST')
  const T: Record<string, number> = {}
  const t = async <X>(k: string, f: () => X | Promise<X>): Promise<X> => { const s = performance.now(); const r = await f(); T[k] = (T[k] ?? 0) + performance.now() - s; return r }
  const N = 1000
  for (let i = 0; i < N + 200; i++) {
    if (i === 200) for (const k in T) T[k] = 0
    const parsed = await t('parse', () => pki.parseCsr(csrPem))
    await t('verify', () => pki.assertCsrSignature(parsed, testVerifier))
    const now = Date.now()
    const subjectDer = await t('name', () => pki.nameToDer(parsed.subject))
    const exts = await t('exts', () => [...staticExtensions, pki.subjectKeyIdentifier(parsed.spki), pki.subjectAltName(parsed.sans)])
    const draft = { serial: pki.newSerial(), issuerDer: issuer.issuerDer, subjectDer, notBefore: new Date(now - 60_000), notAfter: new Date(now + 90 * 86_400_000), spki: parsed.spki, extensions: exts, signatureAlgorithm: sigAlg }
    await t('lint', () => pki.assertLint(draft, { keyFamily: 'ec', isCaTemplate: false, requireSan: true, caNotAfter: issuer.notAfter }))
    const tbs = await t('tbs', () => pki.encodeTbs(draft))
    const sig = await t('sign', () => root.key.signer.sign(tbs, 'sha256'))
    await t('assemble', () => pki.assembleCertificate(tbs, sigAlg, sig))
  }
  for (const [k, v] of Object.entries(T)) console.log(k.padEnd(10), ((v / N) * 1000).toFixed(0), 'us')
})
