import { test } from '@japa/runner'
import { KEY_TYPES, type KeyType } from '../../../hsm/types.js'
import {
  algorithmIdentifierDer,
  allowedHashes,
  defaultHash,
  describeSpki,
  keyFamily,
  newSerial,
  PkiError,
  serialFromHex,
  serialHex,
  signatureAlgorithm,
  signatureAlgorithmInfo,
  SIG,
} from '../../../app/pki/index.js'
import { testKey } from './_support.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

test.group('algorithms', () => {
  test('signature AlgorithmIdentifier DER for every key type', ({ assert }) => {
    // RSA: NULL parameters (RFC 4055 2.1); ECDSA, EdDSA, ML-DSA, SLH-DSA: parameters absent
    const expected: Array<[KeyType, 'sha256' | 'sha384' | 'sha512', string]> = [
      ['rsa-2048', 'sha256', '300d06092a864886f70d01010b0500'],
      ['rsa-3072', 'sha384', '300d06092a864886f70d01010c0500'],
      ['rsa-4096', 'sha512', '300d06092a864886f70d01010d0500'],
      ['ecdsa-p256', 'sha256', '300a06082a8648ce3d040302'],
      ['ecdsa-p384', 'sha384', '300a06082a8648ce3d040303'],
      ['ecdsa-p521', 'sha512', '300a06082a8648ce3d040304'],
      ['ed25519', 'sha512', '300506032b6570'],
      ['ml-dsa-44', 'sha256', '300b0609608648016503040311'],
      ['ml-dsa-65', 'sha384', '300b0609608648016503040312'],
      ['ml-dsa-87', 'sha256', '300b0609608648016503040313'],
      ['slh-dsa-sha2-128s', 'sha256', '300b0609608648016503040314'],
      ['slh-dsa-sha2-192s', 'sha256', '300b0609608648016503040316'],
      ['slh-dsa-sha2-256s', 'sha256', '300b0609608648016503040318'],
    ]
    assert.lengthOf(expected, KEY_TYPES.length)
    for (const [keyType, hash, der] of expected) {
      const alg = signatureAlgorithm(keyType, hash)
      assert.equal(hex(algorithmIdentifierDer(alg)), der, keyType)
      assert.strictEqual(signatureAlgorithm(keyType, hash), alg, 'identifiers are shared')
      assert.isTrue(Object.isFrozen(alg))
    }
  })

  test('allowedHashes / defaultHash / keyFamily', ({ assert }) => {
    assert.deepEqual([...allowedHashes('rsa-3072')], ['sha256', 'sha384', 'sha512'])
    assert.deepEqual([...allowedHashes('ecdsa-p256')], ['sha256'])
    assert.deepEqual([...allowedHashes('ecdsa-p384')], ['sha384'])
    assert.deepEqual([...allowedHashes('ecdsa-p521')], ['sha512'])
    assert.deepEqual([...allowedHashes('ed25519')], [])
    assert.deepEqual([...allowedHashes('ml-dsa-65')], [])
    assert.equal(defaultHash('ecdsa-p384'), 'sha384')
    assert.equal(defaultHash('ecdsa-p521'), 'sha512')
    assert.equal(defaultHash('rsa-2048'), 'sha256')
    assert.equal(defaultHash('ecdsa-p256'), 'sha256')
    assert.equal(keyFamily('slh-dsa-sha2-192s'), 'slh-dsa')
    assert.equal(keyFamily('ecdsa-p521'), 'ec')
  })

  test('signatureAlgorithmInfo maps OIDs to family and hash; PSS is refused clearly', ({
    assert,
  }) => {
    assert.deepEqual(signatureAlgorithmInfo(SIG.sha1WithRSAEncryption), {
      oid: SIG.sha1WithRSAEncryption,
      family: 'rsa',
      hash: 'sha1',
    })
    assert.deepEqual(signatureAlgorithmInfo(SIG.ecdsaWithSHA384), {
      oid: SIG.ecdsaWithSHA384,
      family: 'ec',
      hash: 'sha384',
    })
    assert.deepEqual(signatureAlgorithmInfo(SIG.ed25519), { oid: SIG.ed25519, family: 'ed25519' })
    assert.deepEqual(signatureAlgorithmInfo(SIG.mlDsa87), { oid: SIG.mlDsa87, family: 'ml-dsa' })
    assert.deepEqual(signatureAlgorithmInfo(SIG.slhDsaShake_256f), {
      oid: SIG.slhDsaShake_256f,
      family: 'slh-dsa',
    })
    try {
      signatureAlgorithmInfo(SIG.rsassaPss)
      assert.fail('PSS accepted')
    } catch (error) {
      assert.instanceOf(error, PkiError)
      assert.equal((error as PkiError).code, 'E_UNSUPPORTED_ALGORITHM')
      assert.match((error as Error).message, /RSASSA-PSS.*PKCS#1 v1.5/)
    }
    assert.throws(
      () => signatureAlgorithmInfo('1.2.3.4'),
      /unsupported signature algorithm 1.2.3.4/
    )
  })

  test('describeSpki recognises the test keys', ({ assert }) => {
    for (const keyType of [
      'rsa-2048',
      'ecdsa-p256',
      'ecdsa-p384',
      'ecdsa-p521',
      'ed25519',
      'ml-dsa-44',
      'ml-dsa-65',
    ] as const) {
      const info = describeSpki(testKey(keyType).signer.publicKeySpki)
      assert.equal(info.keyType, keyType)
      assert.equal(info.family, keyFamily(keyType))
    }
    assert.equal(describeSpki(testKey('rsa-2048').signer.publicKeySpki).rsaBits, 2048)
    assert.throws(() => describeSpki(new Uint8Array([0x30, 0x03, 0x01, 0x01, 0x00])), /malformed/)
  })
})

test.group('serial', () => {
  test('newSerial: 16 bytes, positive, first byte non-zero, all different', ({ assert }) => {
    const seen = new Set<string>()
    let topBitsSeen = 0
    for (let i = 0; i < 5000; i++) {
      const serial = newSerial()
      assert.lengthOf(serial, 16)
      assert.equal(serial[0] & 0x80, 0)
      assert.notEqual(serial[0], 0)
      topBitsSeen |= serial[0]
      seen.add(hex(serial))
    }
    assert.equal(seen.size, 5000)
    assert.equal(topBitsSeen, 0x7f, 'all 7 usable bits of the first byte vary')
  })

  test('serialHex / serialFromHex agree with normalizeSerialHex', ({ assert }) => {
    assert.equal(serialHex(new Uint8Array([0x00, 0x80, 0x01])), '8001')
    assert.equal(serialHex(new Uint8Array([0x7f])), '7f')
    assert.deepEqual(serialFromHex('00:80:01'), new Uint8Array([0x80, 0x01]))
    const serial = newSerial()
    assert.deepEqual(serialFromHex(serialHex(serial).toUpperCase()), serial)
  })
})
