import { test } from '@japa/runner'
import { readFile } from 'node:fs/promises'
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema'
import {
  Extensions,
  Name,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
} from '@peculiar/asn1-x509'
import type { HashName, KeyType } from '../../../hsm/types.js'
import {
  authorityInfoAccess,
  basicConstraints,
  certificateMatchesKey,
  certificatePolicies,
  certificatesFromInput,
  crlDistributionPoints,
  encodeTbs,
  extendedKeyUsage,
  freshestCrl,
  fromPem,
  issuerInfo,
  keyUsage,
  nameToDer,
  newSerial,
  ocspNoCheck,
  parseCertificate,
  parseCsr,
  PkiError,
  signatureAlgorithm,
  signCertificate,
  subjectAltName,
  subjectKeyIdentifier,
  toPem,
  verifyCertificateSignature,
  type CertificateDraft,
  type IssuerInfo,
  type SanEntry,
  type SubjectFields,
} from '../../../app/pki/index.js'
import {
  opensslText,
  opensslVerify,
  openssl35Verify,
  opensslSelfSigned,
  run,
  toolPath,
  withTempDir,
  zlint,
  ZLINT_ML_DSA_EXCLUDE_NAMES,
} from '../../helpers/external.js'
import { makeRoot, testKey, testVerifier, type TestKey } from './_support.js'

const DAY = 86_400_000
const pem = (der: Uint8Array) => toPem(der, 'CERTIFICATE')

async function issue(
  issuer: IssuerInfo,
  issuerKey: TestKey,
  hash: HashName,
  subjectKey: TestKey,
  options: {
    ca?: boolean
    pathLength?: number
    sans?: SanEntry[]
    cn?: string
    subject?: SubjectFields
    extra?: CertificateDraft['extensions']
    days?: number
  } = {}
): Promise<Uint8Array> {
  const now = Date.now()
  const spki = subjectKey.signer.publicKeySpki
  const extensions: CertificateDraft['extensions'] = options.ca
    ? [
        basicConstraints({
          ca: true,
          ...(options.pathLength === undefined ? {} : { pathLength: options.pathLength }),
        }),
        keyUsage(['keyCertSign', 'cRLSign', 'digitalSignature']),
      ]
    : [
        basicConstraints({ ca: false }),
        keyUsage(['digitalSignature']),
        extendedKeyUsage(['serverAuth', 'clientAuth']),
      ]
  extensions.push(subjectKeyIdentifier(spki), issuer.authorityKeyIdentifier)
  if (options.sans) extensions.push(subjectAltName(options.sans))
  extensions.push(...(options.extra ?? []))
  return signCertificate(
    {
      serial: newSerial(),
      issuerDer: issuer.issuerDer,
      subjectDer: nameToDer(
        options.subject ?? {
          country: 'DE',
          organization: 'Open PKI Test',
          commonName: options.cn ?? 'leaf.example.com',
        }
      ),
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + (options.days ?? 90) * DAY),
      spki,
      extensions,
      signatureAlgorithm: signatureAlgorithm(issuerKey.signer.keyType, hash),
    },
    issuerKey.signer,
    hash
  )
}

const LEAF_SANS: SanEntry[] = [
  { type: 'dns', value: 'leaf.example.com' },
  { type: 'dns', value: '*.leaf.example.com' },
  { type: 'ip', value: '192.0.2.44' },
  { type: 'ip', value: '2001:db8::44' },
]

test.group('certificate: chains verified by openssl', () => {
  for (const rootType of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as KeyType[]) {
    test(`root ${rootType} → intermediate P-256 → leaf RSA: openssl verify -x509_strict OK`, async ({
      assert,
    }) => {
      const root = await makeRoot(rootType)
      const rootInfo = issuerInfo(root.der)
      const interKey = testKey('ecdsa-p256', true)
      const inter = await issue(rootInfo, root.key, root.hash, interKey, {
        ca: true,
        pathLength: 0,
        cn: 'Test Issuing CA',
        days: 1000,
      })
      const interInfo = issuerInfo(inter)
      const leaf = await issue(interInfo, interKey, 'sha256', testKey('rsa-2048'), {
        sans: LEAF_SANS,
      })

      const rootOnly = await opensslVerify({ roots: [pem(root.der)], cert: pem(root.der) })
      assert.isTrue(rootOnly.ok, rootOnly.output)
      const interResult = await opensslVerify({ roots: [pem(root.der)], cert: pem(inter) })
      assert.isTrue(interResult.ok, interResult.output)
      const leafResult = await opensslVerify({
        roots: [pem(root.der)],
        untrusted: [pem(inter)],
        cert: pem(leaf),
        purpose: 'sslserver',
      })
      assert.isTrue(leafResult.ok, leafResult.output)

      // and our own checks agree
      assert.isTrue(verifyCertificateSignature(inter, root.key.signer.publicKeySpki, testVerifier))
      assert.isTrue(verifyCertificateSignature(leaf, interKey.signer.publicKeySpki, testVerifier))
      assert.isFalse(verifyCertificateSignature(leaf, root.key.signer.publicKeySpki, testVerifier))
    })
  }

  test('a tampered certificate fails openssl and our verification', async ({ assert }) => {
    const root = await makeRoot('ecdsa-p256')
    const leaf = Buffer.from(
      await issue(issuerInfo(root.der), root.key, 'sha256', testKey('ed25519'), { sans: LEAF_SANS })
    )
    const at = leaf.indexOf(Buffer.from('leaf.example.com'))
    leaf[at] = 'x'.charCodeAt(0)
    const result = await opensslVerify({ roots: [pem(root.der)], cert: pem(leaf) })
    assert.isFalse(result.ok)
    assert.match(result.output, /signature failure/)
    assert.isFalse(verifyCertificateSignature(leaf, root.key.signer.publicKeySpki, testVerifier))
  })

  test('openssl x509 -text shows every extension with the right criticality', async ({
    assert,
  }) => {
    const root = await makeRoot('ecdsa-p256')
    const rootInfo = issuerInfo(root.der)
    const leaf = await issue(rootInfo, root.key, 'sha256', testKey('ecdsa-p256'), {
      sans: [
        ...LEAF_SANS,
        { type: 'email', value: 'ops@example.com' },
        { type: 'uri', value: 'https://example.com/device/9' },
      ],
      extra: [
        authorityInfoAccess({
          ocsp: ['http://ocsp.example.com/'],
          caIssuers: ['http://pki.example.com/ca.crt'],
        }),
        crlDistributionPoints(['http://crl.example.com/ca.crl', 'ldap://ldap.example.com/cn=CA']),
        freshestCrl(['http://crl.example.com/delta.crl'], { onePointPerUri: true }),
        certificatePolicies([
          { oid: 'domainValidated', cpsUri: 'https://pki.example.com/cps' },
          '1.3.6.1.4.1.99999.1',
        ]),
        ocspNoCheck(),
      ],
    })
    const text = await opensslText(pem(leaf), 'x509')
    assert.match(text, /Version: 3 \(0x2\)/)
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/)
    assert.match(text, /Issuer: C = DE, O = Open PKI Test, CN = Test Root ecdsa-p256/)
    assert.match(text, /Subject: C = DE, O = Open PKI Test, CN = leaf.example.com/)
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/)
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/)
    assert.match(
      text,
      /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication/
    )
    assert.match(text, /X509v3 Subject Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/)
    assert.match(text, /X509v3 Authority Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/)
    assert.match(
      text,
      /X509v3 Subject Alternative Name: \n\s+DNS:leaf.example.com, DNS:\*.leaf.example.com, IP Address:192.0.2.44, IP Address:2001:DB8:0:0:0:0:0:44, email:ops@example.com, URI:https:\/\/example.com\/device\/9/
    )
    assert.match(
      text,
      /Authority Information Access: \n\s+OCSP - URI:http:\/\/ocsp.example.com\/\n\s+CA Issuers - URI:http:\/\/pki.example.com\/ca.crt/
    )
    assert.match(
      text,
      /X509v3 CRL Distribution Points: \n\s+Full Name:\n\s+URI:http:\/\/crl.example.com\/ca.crl\n\s+URI:ldap:\/\/ldap.example.com\/cn=CA/
    )
    assert.match(
      text,
      /X509v3 Freshest CRL: \n\s+Full Name:\n\s+URI:http:\/\/crl.example.com\/delta.crl/
    )
    assert.match(
      text,
      /X509v3 Certificate Policies: \n\s+Policy: 2.23.140.1.2.1\n\s+CPS: https:\/\/pki.example.com\/cps\n\s+Policy: 1.3.6.1.4.1.99999.1/
    )
    assert.match(text, /OCSP No Check: \n/)
    // critical exactly where we asked
    assert.notMatch(
      text,
      /(Subject Alternative Name|Extended Key Usage|Key Identifier|Information Access|Distribution Points|Policies): critical/
    )

    // the SKI printed by openssl is ours, the AKI is the root's SKI
    const parsed = parseCertificate(leaf)
    assert.equal(parsed.extensions.aki, parseCertificate(root.der).extensions.ski)
    assert.include(text.replace(/:/g, '').toLowerCase(), parsed.extensions.ski!)
    assert.deepEqual(parsed.extensions.aia, {
      ocsp: ['http://ocsp.example.com/'],
      caIssuers: ['http://pki.example.com/ca.crt'],
    })
    assert.deepEqual(parsed.extensions.cdp, [
      'http://crl.example.com/ca.crl',
      'ldap://ldap.example.com/cn=CA',
    ])
    assert.deepEqual(parsed.extensions.freshestCrl, ['http://crl.example.com/delta.crl'])
    assert.deepEqual(parsed.extensions.policies, [
      { oid: '2.23.140.1.2.1', cpsUris: ['https://pki.example.com/cps'] },
      { oid: '1.3.6.1.4.1.99999.1', cpsUris: [] },
    ])
    assert.isTrue(parsed.extensions.ocspNoCheck)
    assert.equal(parsed.extensions.sans.length, 6)
  })

  test('a SAN-only certificate with an empty subject has a critical SAN and verifies', async ({
    assert,
  }) => {
    const root = await makeRoot('ecdsa-p256')
    const rootInfo = issuerInfo(root.der)
    const key = testKey('ecdsa-p256')
    const now = Date.now()
    const leaf = await signCertificate(
      {
        serial: newSerial(),
        issuerDer: rootInfo.issuerDer,
        subjectDer: nameToDer({}),
        notBefore: new Date(now - 1000),
        notAfter: new Date(now + 30 * DAY),
        spki: key.signer.publicKeySpki,
        extensions: [
          keyUsage(['digitalSignature']),
          extendedKeyUsage(['clientAuth']),
          subjectAltName([{ type: 'uri', value: 'spiffe://example.org/ns/prod/sa/api' }], {
            critical: true,
          }),
          rootInfo.authorityKeyIdentifier,
        ],
        signatureAlgorithm: signatureAlgorithm('ecdsa-p256', 'sha256'),
      },
      root.key.signer,
      'sha256'
    )
    const text = await opensslText(pem(leaf), 'x509')
    assert.match(
      text,
      /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/example.org\/ns\/prod\/sa\/api/
    )
    const result = await opensslVerify({ roots: [pem(root.der)], cert: pem(leaf) })
    assert.isTrue(result.ok, result.output)
  })
})

test.group('certificate: encoding details', () => {
  test('encodeTbs equals the asn1-x509 TBSCertificate encoding of the same values', async ({
    assert,
  }) => {
    const root = await makeRoot('ecdsa-p384')
    const info = issuerInfo(root.der)
    const spki = testKey('rsa-2048').signer.publicKeySpki
    const draft: CertificateDraft = {
      serial: new Uint8Array([0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]), // top bit set → 00 pad
      issuerDer: info.issuerDer,
      subjectDer: nameToDer({ commonName: 'equal.example.com', organization: 'Ö' }),
      notBefore: new Date('2024-02-29T12:34:56.789Z'),
      notAfter: new Date('2051-06-01T00:00:00Z'),
      spki,
      extensions: [
        basicConstraints({ ca: false }),
        keyUsage(['digitalSignature', 'keyEncipherment']),
        subjectKeyIdentifier(spki),
        info.authorityKeyIdentifier,
        subjectAltName([{ type: 'dns', value: 'equal.example.com' }]),
      ],
      signatureAlgorithm: signatureAlgorithm('ecdsa-p384', 'sha384'),
    }
    const ours = Buffer.from(encodeTbs(draft))
    const reference = new TBSCertificate({
      version: 2,
      serialNumber: new Uint8Array([0x00, ...draft.serial]).buffer,
      signature: draft.signatureAlgorithm,
      issuer: AsnParser.parse(draft.issuerDer, Name),
      validity: new Validity({
        notBefore: new Date('2024-02-29T12:34:56Z'),
        notAfter: new Date('2051-06-01T00:00:00Z'),
      }),
      subject: AsnParser.parse(draft.subjectDer, Name),
      subjectPublicKeyInfo: AsnParser.parse(spki, SubjectPublicKeyInfo),
      extensions: new Extensions(draft.extensions),
    })
    assert.equal(ours.toString('hex'), Buffer.from(AsnConvert.serialize(reference)).toString('hex'))
  })

  test('UTCTime through 2049, GeneralizedTime from 2050; milliseconds dropped (openssl asn1parse)', async ({
    assert,
  }) => {
    const root = await makeRoot('ed25519')
    const info = issuerInfo(root.der)
    const base: CertificateDraft = {
      serial: newSerial(),
      issuerDer: info.issuerDer,
      subjectDer: nameToDer({ commonName: 'time.example.com' }),
      notBefore: new Date('2049-12-31T23:59:59.999Z'),
      notAfter: new Date('2050-01-01T00:00:00.000Z'),
      spki: testKey('ed25519').signer.publicKeySpki,
      extensions: [],
      signatureAlgorithm: signatureAlgorithm('ed25519', 'sha256'),
    }
    const { code, stdout } = await run(toolPath('openssl'), ['asn1parse', '-inform', 'DER'], {
      input: Buffer.from(encodeTbs(base)),
    })
    assert.equal(code, 0)
    assert.match(stdout, /UTCTIME\s+:491231235959Z/)
    assert.match(stdout, /GENERALIZEDTIME\s+:20500101000000Z/)
    const early = {
      ...base,
      notBefore: new Date('1949-12-31T23:59:59Z'),
      notAfter: new Date('1950-01-01T00:00:00Z'),
    }
    const second = await run(toolPath('openssl'), ['asn1parse', '-inform', 'DER'], {
      input: Buffer.from(encodeTbs(early)),
    })
    assert.match(second.stdout, /GENERALIZEDTIME\s+:19491231235959Z/)
    assert.match(second.stdout, /UTCTIME\s+:500101000000Z/)
    // no extensions → no [3] field, still v3
    assert.notMatch(stdout, /cont \[ 3 \]/)
    assert.match(stdout, /cont \[ 0 \]/)
  })

  test('encodeTbs and signCertificate refuse malformed drafts (E_INVALID_DRAFT)', async ({
    assert,
  }) => {
    const root = await makeRoot('ecdsa-p256')
    const info = issuerInfo(root.der)
    const good: CertificateDraft = {
      serial: newSerial(),
      issuerDer: info.issuerDer,
      subjectDer: nameToDer({ commonName: 'x.example.com' }),
      notBefore: new Date(),
      notAfter: new Date(Date.now() + DAY),
      spki: testKey('ecdsa-p256').signer.publicKeySpki,
      extensions: [keyUsage(['digitalSignature'])],
      signatureAlgorithm: signatureAlgorithm('ecdsa-p256', 'sha256'),
    }
    const bad: Partial<CertificateDraft>[] = [
      { serial: new Uint8Array(0) },
      { issuerDer: new Uint8Array([0x31, 0x00]) },
      { subjectDer: new Uint8Array([0x30, 0x05, 0x00]) },
      { spki: new Uint8Array([0x30, 0x00, 0x00]) },
      { notAfter: new Date('nope') },
      { extensions: [keyUsage(['digitalSignature']), keyUsage(['keyEncipherment'])] },
    ]
    for (const change of bad) {
      try {
        encodeTbs({ ...good, ...change })
        assert.fail(`accepted ${Object.keys(change)[0]}`)
      } catch (error) {
        assert.equal((error as PkiError).code, 'E_INVALID_DRAFT', (error as Error).message)
      }
    }
    try {
      await signCertificate(
        { ...good, signatureAlgorithm: signatureAlgorithm('rsa-2048', 'sha256') },
        root.key.signer,
        'sha256'
      )
      assert.fail('signed with the wrong algorithm')
    } catch (error) {
      assert.equal((error as PkiError).code, 'E_INVALID_DRAFT')
      assert.match((error as Error).message, /does not match the signer/)
    }
  })
})

test.group('certificate: parsing', () => {
  test('parseCertificate of an openssl-made certificate matches openssl', async ({ assert }) => {
    await withTempDir(async (dir) => {
      const { certPath, keyPath } = await opensslSelfSigned(dir, {
        subject: '/C=US/O=Other Org/CN=other.example',
        extra: ['-set_serial', '0x00ff00aa'],
        addext: ['subjectAltName=DNS:other.example,IP:10.1.2.3'],
      })
      const text = (await readFile(certPath)).toString()
      const cert = parseCertificate(text)
      const fp = await run(toolPath('openssl'), [
        'x509',
        '-noout',
        '-fingerprint',
        '-sha256',
        '-serial',
        '-in',
        certPath,
      ])
      const fingerprint = /Fingerprint=([0-9A-F:]+)/
        .exec(fp.stdout)![1]
        .replace(/:/g, '')
        .toLowerCase()
      assert.equal(cert.fingerprintSha256, fingerprint)
      assert.equal(cert.serialHex, 'ff00aa')
      assert.match(fp.stdout, /serial=FF00AA/)
      assert.deepEqual(cert.subject, {
        country: 'US',
        organization: 'Other Org',
        commonName: 'other.example',
      })
      assert.equal(cert.subjectString, 'CN=other.example,O=Other Org,C=US')
      assert.isTrue(cert.selfIssued)
      assert.isTrue(cert.isCa) // openssl req -x509 adds basicConstraints CA:TRUE
      assert.deepEqual(cert.extensions.sans, [
        { type: 'dns', value: 'other.example' },
        { type: 'ip', value: '10.1.2.3' },
      ])
      assert.equal(cert.version, 3)
      assert.equal(Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY), 30)
      assert.isTrue(verifyCertificateSignature(cert.der, cert.spki, testVerifier))
      // the key: openssl's public key export equals the certificate's SPKI
      const pub = await run(toolPath('openssl'), ['pkey', '-in', keyPath, '-pubout'])
      assert.equal(pub.code, 0)
      assert.deepEqual(Buffer.from(fromPem(pub.stdout, ['PUBLIC KEY'])), Buffer.from(cert.spki))
      assert.isTrue(certificateMatchesKey(text, fromPem(pub.stdout)))
      assert.isTrue(certificateMatchesKey(cert.der, cert.spki))
      assert.isFalse(certificateMatchesKey(cert.der, testKey('ecdsa-p256').signer.publicKeySpki))
      // issuerInfo keeps the certificate's own SKI for the AKI of what it issues
      assert.equal(Buffer.from(issuerInfo(cert).keyIdentifier).toString('hex'), cert.extensions.ski)
    })
  })

  test('garbage certificates are E_INVALID_CERTIFICATE; a certificate is not a CSR', async ({
    assert,
  }) => {
    const root = await makeRoot('ecdsa-p256')
    for (const input of [
      new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]),
      root.der.subarray(0, 100),
      'garbage',
      toPem(root.der, 'X509 CRL'),
    ]) {
      try {
        parseCertificate(input)
        assert.fail('accepted garbage')
      } catch (error) {
        assert.equal((error as PkiError).code, 'E_INVALID_CERTIFICATE')
        assert.equal((error as PkiError).status, 400)
      }
    }
    try {
      parseCsr(root.der)
      assert.fail('a certificate parsed as a CSR')
    } catch (error) {
      assert.equal((error as PkiError).code, 'E_INVALID_CSR')
    }
  })

  test('certificatesFromInput reads PEM bundles (skipping other blocks) and single DER', async ({
    assert,
  }) => {
    const a = await makeRoot('ecdsa-p256')
    const b = await makeRoot('ed25519')
    const bundle = `# chain\n${pem(a.der)}\n${toPem(new Uint8Array([0x30, 0]), 'PRIVATE KEY')}${pem(b.der)}`
    assert.deepEqual(
      certificatesFromInput(bundle),
      [a.der, b.der].map((d) => Buffer.from(d))
    )
    assert.deepEqual(certificatesFromInput(a.der), [a.der])
    assert.throws(
      () => certificatesFromInput(toPem(new Uint8Array([0x30, 0]), 'PRIVATE KEY')),
      /no CERTIFICATE/
    )
  })
})

/** A leaf that satisfies the CA/B Forum baseline requirements (as zlint checks them). */
function webLeaf(cn: string): Parameters<typeof issue>[4] {
  return {
    subject: {
      country: 'DE',
      state: 'Berlin',
      locality: 'Berlin',
      organization: 'Open PKI Test',
      commonName: cn,
    },
    sans: [{ type: 'dns', value: cn }],
    extra: [
      authorityInfoAccess({
        ocsp: ['http://ocsp.example.com/'],
        caIssuers: ['http://pki.example.com/ca.crt'],
      }),
      crlDistributionPoints(['http://crl.example.com/ca.crl']),
      certificatePolicies(['organizationValidated']),
    ],
  }
}

test.group('certificate: zlint and post-quantum', () => {
  test('zlint finds no errors in our intermediate and TLS leaf', async ({ assert }) => {
    const root = await makeRoot('ecdsa-p384')
    const rootInfo = issuerInfo(root.der)
    const interKey = testKey('ecdsa-p256', true)
    const inter = await issue(rootInfo, root.key, root.hash, interKey, {
      ca: true,
      pathLength: 0,
      cn: 'Test Issuing CA',
      days: 1000,
      extra: [
        authorityInfoAccess({
          ocsp: ['http://ocsp.example.com/'],
          caIssuers: ['http://pki.example.com/root.crt'],
        }),
        crlDistributionPoints(['http://crl.example.com/root.crl']),
        certificatePolicies(['anyPolicy']),
        extendedKeyUsage(['serverAuth', 'clientAuth']),
      ],
    })
    const leaf = await issue(
      issuerInfo(inter),
      interKey,
      'sha256',
      testKey('ecdsa-p256', true),
      webLeaf('leaf.example.com')
    )
    for (const [name, der] of [
      ['intermediate', inter],
      ['leaf', leaf],
    ] as const) {
      const report = await zlint(pem(der))
      assert.deepEqual(
        report.errors,
        [],
        `${name}: ${JSON.stringify(report.findings.filter((f) => report.errors.includes(f.lint)))}`
      )
    }
  })

  test('ML-DSA-65 root and ML-DSA-44 leaf verify with OpenSSL 3.5', async ({ assert }) => {
    const root = await makeRoot('ml-dsa-65')
    const leaf = await issue(
      issuerInfo(root.der),
      root.key,
      'sha256',
      testKey('ml-dsa-44'),
      webLeaf('pq.example.com')
    )
    assert.isTrue(verifyCertificateSignature(leaf, root.key.signer.publicKeySpki, testVerifier))
    const result = await openssl35Verify({ roots: [pem(root.der)], cert: pem(leaf) })
    assert.isTrue(result.ok, result.output)
    const text = await opensslText(pem(leaf), 'x509', 'openssl35')
    assert.match(text, /Signature Algorithm: ML-DSA-65/)
    assert.match(text, /Public Key Algorithm: ML-DSA-44/)
    const report = await zlint(pem(leaf), { excludeNames: [...ZLINT_ML_DSA_EXCLUDE_NAMES] })
    assert.deepEqual(
      report.errors,
      [],
      JSON.stringify(report.findings.filter((f) => report.errors.includes(f.lint)))
    )
  })
})
