import { test } from '@japa/runner'
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema'
import { CRLDistributionPoints, Extensions } from '@peculiar/asn1-x509'
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  certificatePolicies,
  crlDistributionPoints,
  EKU,
  extendedKeyUsage,
  extensionDer,
  freshestCrl,
  keyIdentifier,
  keyUsage,
  ocspNoCheck,
  parseExtensions,
  PkiError,
  rawExtension,
  readExtensions,
  subjectAltName,
  subjectKeyIdentifier,
  summarizeExtensions,
} from '../../../app/pki/index.js'
import { createHash } from 'node:crypto'
import { testKey } from './_support.js'

const valueHex = (ext: { extnValue: { buffer: ArrayBuffer } }) =>
  Buffer.from(ext.extnValue.buffer).toString('hex')

test.group('extensions: builders', () => {
  test('keyUsage bit strings are minimal DER; critical by default; aliases accepted', ({
    assert,
  }) => {
    assert.equal(valueHex(keyUsage(['digitalSignature'])), '03020780')
    assert.equal(valueHex(keyUsage(['keyCertSign', 'crlSign'])), '03020106')
    assert.equal(
      valueHex(keyUsage(['digitalSignature', 'contentCommitment', 'keyEncipherment'])),
      '030205e0'
    )
    assert.equal(valueHex(keyUsage(['decipherOnly', 'keyAgreement'])), '0303070880')
    assert.isTrue(keyUsage(['digitalSignature']).critical)
    assert.isFalse(keyUsage(['digitalSignature'], { critical: false }).critical)
    assert.throws(() => keyUsage([]), /at least one/)
    assert.throws(() => keyUsage(['signEverything']), /unknown key usage "signEverything"/)
  })

  test('basicConstraints: CA with/without pathLength, end entity; always critical unless told', ({
    assert,
  }) => {
    assert.equal(valueHex(basicConstraints({ ca: true })), '30030101ff')
    assert.equal(valueHex(basicConstraints({ ca: true, pathLength: 0 })), '30060101ff020100')
    assert.equal(valueHex(basicConstraints({ ca: false })), '3000')
    assert.isTrue(basicConstraints({ ca: false }).critical)
    assert.isFalse(basicConstraints({ ca: false }, { critical: false }).critical)
    assert.throws(() => basicConstraints({ ca: false, pathLength: 1 }), /only allowed when ca/)
    assert.throws(() => basicConstraints({ ca: true, pathLength: -1 }), /non-negative/)
    assert.equal(valueHex(basicConstraints({ ca: true })), '30030101ff')
  })

  test('SKI is SHA-1 of the subjectPublicKey bits (RFC 5280 method 1); AKI carries keyIdentifier only', ({
    assert,
  }) => {
    const spki = testKey('ecdsa-p256').signer.publicKeySpki
    // P-256 SPKI: 26-byte header, then 65 bytes of key (04 || X || Y)
    const expected = createHash('sha1')
      .update(spki.subarray(spki.length - 65))
      .digest('hex')
    assert.equal(Buffer.from(keyIdentifier(spki)).toString('hex'), expected)
    assert.equal(valueHex(subjectKeyIdentifier(spki)), `0414${expected}`)
    assert.equal(valueHex(subjectKeyIdentifier(spki)), `0414${expected}`)
    assert.equal(valueHex(authorityKeyIdentifier(keyIdentifier(spki))), `30168014${expected}`)
    assert.isFalse(subjectKeyIdentifier(spki).critical)
  })

  test('EKU from names and OIDs, de-duplicated; unknown names refused', ({ assert }) => {
    const ext = extendedKeyUsage([
      'serverAuth',
      'clientAuth',
      '1.3.6.1.5.5.7.3.1',
      'smartcardLogon',
      '1.2.3.4',
    ])
    assert.deepEqual(readExtensions([ext]).eku, [
      EKU.serverAuth,
      EKU.clientAuth,
      EKU.smartcardLogon,
      '1.2.3.4',
    ])
    assert.isFalse(ext.critical)
    assert.isTrue(extendedKeyUsage(['timeStamping'], { critical: true }).critical)
    assert.throws(() => extendedKeyUsage(['webServer']), /unknown extended key usage "webServer"/)
  })

  test('SAN criticality follows the caller; AIA, CDP, FreshestCRL, policies, OCSP no-check', ({
    assert,
  }) => {
    assert.isTrue(
      subjectAltName([{ type: 'dns', value: 'a.example' }], { critical: true }).critical
    )
    assert.isFalse(subjectAltName([{ type: 'dns', value: 'a.example' }]).critical)
    assert.throws(() => subjectAltName([]), /at least one/)
    assert.throws(() => authorityInfoAccess({}), /at least one URL/)
    assert.throws(() => authorityInfoAccess({ ocsp: ['not a url'] }), /OCSP URL "not a url"/)
    assert.throws(() => crlDistributionPoints([]), /at least one URL/)
    assert.throws(() => certificatePolicies(['1.2.3', '1.2.3']), /listed twice/)
    assert.throws(() => certificatePolicies(['madeUpPolicy']), /unknown certificate policy/)
    assert.equal(valueHex(ocspNoCheck()), '0500')

    // URL extensions are built once per distinct input and reused.
    const aia = { ocsp: ['http://o.example/ocsp'], caIssuers: ['http://i.example/ca.crt'] }
    assert.strictEqual(authorityInfoAccess(aia), authorityInfoAccess({ ...aia }))
    assert.notStrictEqual(
      authorityInfoAccess(aia),
      authorityInfoAccess({
        ocsp: [],
        caIssuers: ['http://o.example/ocsp', 'http://i.example/ca.crt'],
      })
    )
    assert.strictEqual(
      crlDistributionPoints(['http://a/1.crl']),
      crlDistributionPoints(['http://a/1.crl'])
    )
    assert.notStrictEqual(
      crlDistributionPoints(['http://a/1.crl']),
      crlDistributionPoints(['http://a/2.crl'])
    )
    assert.notStrictEqual(
      freshestCrl(['http://a/1.crl']),
      crlDistributionPoints(['http://a/1.crl'])
    )
    assert.notStrictEqual(
      crlDistributionPoints(['http://a/1.crl', 'http://a/2.crl']),
      crlDistributionPoints(['http://a/1.crl', 'http://a/2.crl'], { onePointPerUri: true })
    )

    const one = crlDistributionPoints(['http://a.example/x.crl', 'http://b.example/x.crl'])
    const many = crlDistributionPoints(['http://a.example/x.crl', 'http://b.example/x.crl'], {
      onePointPerUri: true,
    })
    // one DistributionPoint with two fullName URIs vs two DistributionPoints, no reasons/cRLIssuer
    const points = (ext: typeof one) => [
      ...AsnConvert.parse(ext.extnValue.buffer, CRLDistributionPoints),
    ]
    assert.deepEqual(
      points(one).map((p) => p.distributionPoint?.fullName?.length),
      [2]
    )
    assert.deepEqual(
      points(many).map((p) => p.distributionPoint?.fullName?.length),
      [1, 1]
    )
    assert.isTrue(points(many).every((p) => p.cRLIssuer === undefined && p.reasons === undefined))
    const summary = readExtensions([one, freshestCrl(['http://d.example/delta.crl'])])
    assert.deepEqual(summary.cdp, ['http://a.example/x.crl', 'http://b.example/x.crl'])
    assert.deepEqual(summary.freshestCrl, ['http://d.example/delta.crl'])
    assert.deepEqual(readExtensions([many]).cdp, [
      'http://a.example/x.crl',
      'http://b.example/x.crl',
    ])

    const policies = certificatePolicies([
      { oid: '2.23.140.1.2.2' },
      { oid: 'anyPolicy', cpsUri: ['https://a.example/cps', 'https://b.example/cps'] },
    ])
    assert.deepEqual(readExtensions([policies]).policies, [
      { oid: '2.23.140.1.2.2', cpsUris: [] },
      { oid: '2.5.29.32.0', cpsUris: ['https://a.example/cps', 'https://b.example/cps'] },
    ])
  })

  test('extensionDer is byte-identical to AsnConvert.serialize(Extension)', ({ assert }) => {
    const spki = testKey('rsa-2048').signer.publicKeySpki
    for (const ext of [
      keyUsage(['digitalSignature', 'keyEncipherment']),
      basicConstraints({ ca: true, pathLength: 3 }),
      subjectKeyIdentifier(spki),
      subjectAltName(
        Array.from({ length: 40 }, (_, i) => ({
          type: 'dns' as const,
          value: `host-${i}.example.com`,
        }))
      ),
      rawExtension('1.3.6.1.4.1.99999.1', new Uint8Array(300).fill(7), true),
    ]) {
      assert.equal(
        extensionDer(ext).toString('hex'),
        Buffer.from(AsnConvert.serialize(ext)).toString('hex')
      )
    }
  })
})

test.group('extensions: reading', () => {
  test('summary lists every extension with its criticality', ({ assert }) => {
    const spki = testKey('ecdsa-p256').signer.publicKeySpki
    const summary = summarizeExtensions([
      basicConstraints({ ca: true, pathLength: 1 }),
      keyUsage(['keyCertSign', 'cRLSign']),
      subjectKeyIdentifier(spki),
      authorityKeyIdentifier(keyIdentifier(spki)),
      ocspNoCheck(),
      rawExtension('1.2.3.4.5', new Uint8Array([0x05, 0x00]), true),
    ])
    assert.deepEqual(summary.basicConstraints, { ca: true, pathLength: 1 })
    assert.deepEqual(summary.keyUsage, ['keyCertSign', 'cRLSign'])
    assert.equal(summary.ski, summary.aki)
    assert.isTrue(summary.ocspNoCheck)
    assert.deepEqual(summary.critical, ['2.5.29.19', '2.5.29.15', '1.2.3.4.5'])
    assert.deepEqual(
      summary.all.map((e) => e.name),
      [
        'basicConstraints',
        'keyUsage',
        'subjectKeyIdentifier',
        'authorityKeyIdentifier',
        'ocspNoCheck',
        '1.2.3.4.5',
      ]
    )
  })

  test('cached pieces are not shared with callers, and a changed value is re-read', ({
    assert,
  }) => {
    const ku = keyUsage(['digitalSignature'])
    const first = summarizeExtensions([ku])
    first.keyUsage!.push('keyCertSign')
    assert.deepEqual(summarizeExtensions([ku]).keyUsage, ['digitalSignature'])
    const other = keyUsage(['keyEncipherment'])
    ku.extnValue = other.extnValue
    assert.deepEqual(summarizeExtensions([ku]).keyUsage, ['keyEncipherment'])
  })

  test('parseExtensions (direct walk) agrees with the asn1-x509 Extensions schema', ({
    assert,
  }) => {
    const list = [
      basicConstraints({ ca: true }),
      keyUsage(['keyCertSign']),
      subjectAltName([{ type: 'dns', value: 'x.example' }]),
      rawExtension('1.2.3.4', new Uint8Array(200).fill(9), true),
    ]
    const der = new Uint8Array(AsnConvert.serialize(new Extensions(list)))
    const view = (
      exts: { extnID: string; critical: boolean; extnValue: { buffer: ArrayBuffer } }[]
    ) => exts.map((e) => `${e.extnID}/${e.critical}/${valueHex(e)}`)
    assert.deepEqual(view(parseExtensions(der)), view([...AsnParser.parse(der, Extensions)]))
    assert.deepEqual(view(parseExtensions(der)), view(list))
    for (const bad of [
      new Uint8Array([0x30, 0x03, 0x30, 0x01, 0x06]),
      new Uint8Array([0x30, 0x05, 0x30, 0x03, 0x06, 0x01, 0x2a]),
    ]) {
      assert.throws(() => parseExtensions(bad), /extension list is malformed/)
    }
  })

  test('malformed known extensions are E_INVALID_EXTENSION; garbage DER is E_INVALID_CERTIFICATE', ({
    assert,
  }) => {
    try {
      summarizeExtensions([rawExtension('2.5.29.15', new Uint8Array([0x04, 0x01, 0x00]))])
      assert.fail('accepted')
    } catch (error) {
      assert.equal((error as PkiError).code, 'E_INVALID_EXTENSION')
      assert.match((error as Error).message, /keyUsage extension is malformed/)
    }
    assert.throws(
      () => readExtensions(new Uint8Array([0x30, 0x02, 0x05, 0x00])),
      /not a DER or PEM certificate/
    )
  })
})
