import { test } from '@japa/runner'
import {
  assertLint,
  authorityInfoAccess,
  basicConstraints,
  extendedKeyUsage,
  issuerInfo,
  keyUsage,
  lintDraft,
  nameToDer,
  newSerial,
  PkiError,
  rawExtension,
  signatureAlgorithm,
  subjectAltName,
  subjectKeyIdentifier,
  type CertificateDraft,
  type LintContext,
} from '../../../app/pki/index.js'
import { makeRoot, testKey, type TestCa } from './_support.js'

const DAY = 86_400_000
let root: TestCa

function leafDraft(overrides: Partial<CertificateDraft> = {}): CertificateDraft {
  const info = issuerInfo(root.der)
  const spki = testKey('ecdsa-p256').signer.publicKeySpki
  const now = Date.now()
  return {
    serial: newSerial(),
    issuerDer: info.issuerDer,
    subjectDer: nameToDer({ commonName: 'www.example.com' }),
    notBefore: new Date(now),
    notAfter: new Date(now + 90 * DAY),
    spki,
    extensions: [
      basicConstraints({ ca: false }),
      keyUsage(['digitalSignature']),
      extendedKeyUsage(['serverAuth']),
      subjectKeyIdentifier(spki),
      info.authorityKeyIdentifier,
      subjectAltName([{ type: 'dns', value: 'www.example.com' }]),
    ],
    signatureAlgorithm: signatureAlgorithm('ecdsa-p256', 'sha256'),
    ...overrides,
  }
}

function ctx(overrides: Partial<LintContext> = {}): LintContext {
  return {
    keyFamily: 'ec',
    isCaTemplate: false,
    requireSan: true,
    caNotAfter: root.notAfter,
    ...overrides,
  }
}

function replaceExt(
  draft: CertificateDraft,
  oid: string,
  ext?: CertificateDraft['extensions'][number]
) {
  const extensions = draft.extensions.filter((e) => e.extnID !== oid)
  if (ext) extensions.push(ext)
  return { ...draft, extensions }
}

test.group('lint', (group) => {
  group.setup(async () => {
    root = await makeRoot('ecdsa-p256')
  })

  test('a well-formed TLS leaf and a CA draft have no problems', ({ assert }) => {
    assert.deepEqual(lintDraft(leafDraft(), ctx()), [])
    const spki = testKey('rsa-2048').signer.publicKeySpki
    const ca = leafDraft({
      spki,
      subjectDer: nameToDer({ country: 'DE', organization: 'X', commonName: 'Issuing CA' }),
      extensions: [
        basicConstraints({ ca: true, pathLength: 0 }),
        keyUsage(['keyCertSign', 'cRLSign']),
        subjectKeyIdentifier(spki),
        issuerInfo(root.der).authorityKeyIdentifier,
      ],
    })
    assert.deepEqual(
      lintDraft(ca, ctx({ keyFamily: 'rsa', isCaTemplate: true, requireSan: false })),
      []
    )
  })

  test('validity: order, CA window, maximum', ({ assert }) => {
    const now = Date.now()
    assert.include(
      lintDraft(leafDraft({ notBefore: new Date(now), notAfter: new Date(now - 1000) }), ctx()),
      'notBefore must be earlier than notAfter'
    )
    const late = lintDraft(leafDraft({ notAfter: new Date(root.notAfter.getTime() + DAY) }), ctx())
    assert.isTrue(late.some((p) => /after the CA certificate's notAfter/.test(p)))
    const long = lintDraft(
      leafDraft({ notAfter: new Date(now + 400 * DAY) }),
      ctx({ maxValidityDays: 398 })
    )
    assert.isTrue(long.some((p) => /exceeds the maximum of 398 days/.test(p)))
    assert.deepEqual(
      lintDraft(
        leafDraft({ notAfter: new Date(now + 398 * DAY - 1000) }),
        ctx({ maxValidityDays: 398 })
      ),
      []
    )
    const early = lintDraft(leafDraft(), ctx({ caNotBefore: new Date(now + DAY) }))
    assert.isTrue(early.some((p) => /before the CA certificate's notBefore/.test(p)))
  })

  test('serial: positive, at most 20 octets, at least 64 bits', ({ assert }) => {
    assert.include(
      lintDraft(leafDraft({ serial: new Uint8Array([0, 0]) }), ctx()),
      'the serial number must be a positive, non-zero integer'
    )
    const long = lintDraft(leafDraft({ serial: new Uint8Array(20).fill(0xff) }), ctx())
    assert.isTrue(long.some((p) => /21 octets long; at most 20/.test(p)))
    assert.deepEqual(lintDraft(leafDraft({ serial: new Uint8Array(20).fill(0x7f) }), ctx()), [])
    assert.isTrue(
      lintDraft(leafDraft({ serial: new Uint8Array([1, 2, 3]) }), ctx()).some((p) =>
        /fewer than 64 bits/.test(p)
      )
    )
  })

  test('key usage versus key type', ({ assert }) => {
    const ec = lintDraft(
      replaceExt(leafDraft(), '2.5.29.15', keyUsage(['digitalSignature', 'keyEncipherment'])),
      ctx()
    )
    assert.include(ec, 'keyUsage keyEncipherment is not possible with ec keys')
    const edSpki = testKey('ed25519').signer.publicKeySpki
    const ed = lintDraft(
      replaceExt(
        leafDraft({ spki: edSpki }),
        '2.5.29.15',
        keyUsage(['digitalSignature', 'keyAgreement', 'dataEncipherment'])
      ),
      ctx({ keyFamily: 'ed25519' })
    )
    assert.includeMembers(ed, [
      'keyUsage dataEncipherment is not possible with ed25519 keys',
      'keyUsage keyAgreement is not possible with ed25519 keys',
    ])
    const notCritical = lintDraft(
      replaceExt(leafDraft(), '2.5.29.15', keyUsage(['digitalSignature'], { critical: false })),
      ctx()
    )
    assert.include(notCritical, 'keyUsage should be critical')
    const mismatch = lintDraft(leafDraft(), ctx({ keyFamily: 'rsa' }))
    assert.include(mismatch, 'the subject key is ec but the lint context says rsa')
  })

  test('keyCertSign only with a CA, a CA only with keyCertSign, critical BC, template kind', ({
    assert,
  }) => {
    const signLeaf = lintDraft(
      replaceExt(leafDraft(), '2.5.29.15', keyUsage(['digitalSignature', 'keyCertSign'])),
      ctx()
    )
    assert.include(signLeaf, 'keyUsage keyCertSign requires basicConstraints cA true')
    const caNoSign = lintDraft(
      replaceExt(
        replaceExt(leafDraft(), '2.5.29.19', basicConstraints({ ca: true })),
        '2.5.29.15',
        keyUsage(['digitalSignature'])
      ),
      ctx({ isCaTemplate: true })
    )
    assert.include(caNoSign, 'a CA certificate must have keyUsage keyCertSign')
    const nonCriticalCa = lintDraft(
      replaceExt(leafDraft(), '2.5.29.19', basicConstraints({ ca: true }, { critical: false })),
      ctx({ isCaTemplate: true })
    )
    assert.include(nonCriticalCa, 'basicConstraints must be critical in a CA certificate')
    assert.include(
      lintDraft(leafDraft(), ctx({ isCaTemplate: true })),
      'a CA template must issue basicConstraints with cA true'
    )
    const caFromLeafTemplate = lintDraft(
      replaceExt(leafDraft(), '2.5.29.19', basicConstraints({ ca: true })),
      ctx()
    )
    assert.include(
      caFromLeafTemplate,
      'basicConstraints cA is true but the template is not a CA template'
    )
  })

  test('EKU consistent with KU; timeStamping alone and critical', ({ assert }) => {
    const agreeOnly = lintDraft(
      replaceExt(leafDraft(), '2.5.29.15', keyUsage(['keyAgreement'])),
      ctx()
    )
    assert.deepEqual(agreeOnly, [], 'serverAuth accepts keyAgreement')
    const code = lintDraft(
      replaceExt(leafDraft(), '2.5.29.37', extendedKeyUsage(['codeSigning'])),
      { ...ctx(), requireSan: false }
    )
    assert.deepEqual(code, [])
    const codeAgree = lintDraft(
      replaceExt(
        replaceExt(leafDraft(), '2.5.29.37', extendedKeyUsage(['codeSigning'])),
        '2.5.29.15',
        keyUsage(['keyAgreement'])
      ),
      ctx()
    )
    assert.include(codeAgree, 'extKeyUsage codeSigning needs keyUsage digitalSignature')
    const tsa = lintDraft(
      replaceExt(leafDraft(), '2.5.29.37', extendedKeyUsage(['timeStamping', 'serverAuth'])),
      ctx()
    )
    assert.includeMembers(tsa, [
      'the timeStamping extKeyUsage must be the only purpose (RFC 3161)',
      'extKeyUsage must be critical for timeStamping (RFC 3161)',
    ])
    assert.deepEqual(
      lintDraft(
        replaceExt(
          leafDraft(),
          '2.5.29.37',
          extendedKeyUsage(['timeStamping'], { critical: true })
        ),
        ctx()
      ),
      []
    )
  })

  test('SANs: required, empty subject, CN listed, well-formed, duplicates', ({ assert }) => {
    const noSan = replaceExt(leafDraft(), '2.5.29.17')
    assert.include(lintDraft(noSan, ctx()), 'the template requires a subjectAltName')
    assert.deepEqual(lintDraft(noSan, ctx({ requireSan: false })), [])
    const empty = leafDraft({ subjectDer: nameToDer({}) })
    assert.include(
      lintDraft(empty, ctx()),
      'subjectAltName must be critical when the subject is empty'
    )
    assert.include(
      lintDraft(replaceExt(empty, '2.5.29.17'), ctx({ requireSan: false })),
      'the subject is empty and there is no subjectAltName'
    )
    const noCnNoSan = replaceExt(
      leafDraft({ subjectDer: nameToDer({ organization: 'Only O' }) }),
      '2.5.29.17'
    )
    assert.include(
      lintDraft(noCnNoSan, ctx({ requireSan: false })),
      'the certificate has neither a commonName nor a subjectAltName'
    )
    const cnMissing = leafDraft({ subjectDer: nameToDer({ commonName: 'other.example.com' }) })
    assert.include(
      lintDraft(cnMissing, ctx()),
      'commonName "other.example.com" is not among the subjectAltName entries'
    )
    const cnPerson = leafDraft({ subjectDer: nameToDer({ commonName: 'Jane Doe' }) })
    assert.deepEqual(
      lintDraft(cnPerson, ctx()),
      [],
      'a CN that is not a host name need not be in the SAN'
    )
    const dup = replaceExt(
      leafDraft(),
      '2.5.29.17',
      subjectAltName([
        { type: 'dns', value: 'www.example.com' },
        { type: 'dns', value: 'WWW.example.com' },
      ])
    )
    assert.include(lintDraft(dup, ctx()), 'SAN dns "WWW.example.com" appears more than once')
  })

  test('names: country, lengths, email; issuer; duplicate extensions; key identifiers', ({
    assert,
  }) => {
    const longCn = leafDraft({
      subjectDer: nameToDer({
        commonName: 'a'.repeat(65),
        extra: [{ oid: '2.5.4.6', value: 'de' }],
      }),
    })
    const problems = lintDraft(longCn, ctx({ requireSan: false }))
    assert.includeMembers(problems, [
      'subject CN is 65 characters long; at most 64 are allowed',
      'subject C "de" must be a two-letter upper-case ISO 3166 code',
    ])
    const dup = leafDraft()
    dup.extensions.push(keyUsage(['digitalSignature']))
    assert.include(lintDraft(dup, ctx()), 'extension keyUsage appears more than once')
    const noAki = replaceExt(leafDraft(), '2.5.29.35')
    assert.include(
      lintDraft(noAki, ctx()),
      'authorityKeyIdentifier is required (the certificate is not self-issued)'
    )
    const criticalAia = leafDraft()
    criticalAia.extensions.push(authorityInfoAccess({ ocsp: ['http://ocsp.example.com'] }))
    criticalAia.extensions.at(-1)!.critical = true
    assert.include(lintDraft(criticalAia, ctx()), 'authorityInfoAccess must not be critical')
    const broken = leafDraft()
    broken.extensions.push(rawExtension('2.5.29.32', new Uint8Array([0x01, 0x02])))
    assert.isTrue(
      lintDraft(broken, ctx()).some((p) => /certificatePolicies extension is malformed/.test(p))
    )
    assert.include(
      lintDraft(leafDraft({ issuerDer: nameToDer({}) }), ctx()),
      'the issuer name is empty'
    )
  })

  test('assertLint throws E_LINT with every problem in details', ({ assert }) => {
    const now = Date.now()
    try {
      assertLint(
        leafDraft({
          notBefore: new Date(now),
          notAfter: new Date(now - 1),
          serial: new Uint8Array([0]),
        }),
        ctx()
      )
      assert.fail('no error')
    } catch (error) {
      assert.instanceOf(error, PkiError)
      assert.equal((error as PkiError).code, 'E_LINT')
      assert.equal((error as PkiError).status, 422)
      assert.lengthOf((error as PkiError).details, 2)
    }
  })
})
