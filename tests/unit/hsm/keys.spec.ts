import { test } from '@japa/runner'
import crypto from 'node:crypto'
import * as asn1js from 'asn1js'
import { ml_dsa44, ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { slh_dsa_sha2_128s, slh_dsa_shake_128f } from '@noble/post-quantum/slh-dsa.js'
import {
  describeSpki,
  describeSpkiUncached,
  generateKeyPair,
  importPkcs8,
  importPrivateKeyPem,
  keyTypeFromSpki,
  pkcs8KeyType,
  verifySignature,
  verifySignatureOffThread,
  type SpkiDescription,
} from '../../../hsm/keys.js'
import { KEY_TYPES, type KeyType } from '../../../hsm/types.js'
import { expectSignerError, expectSignerRejection, openssl } from './_helpers.js'
import { getPqWorkerPool } from '../../../hsm/pq_worker_pool.js'
import fs from 'node:fs'
import path from 'node:path'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Each listed field of the description equals the expected value (undefined = absent). */
function expectInfo(info: SpkiDescription, expected: Partial<SpkiDescription>): void {
  for (const [field, value] of Object.entries(expected)) {
    const actual = info[field as keyof SpkiDescription]
    if (actual !== value)
      throw new Error(`describeSpki ${field}: expected ${String(value)}, got ${String(actual)}`)
  }
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

function toDer(node: asn1js.AsnType): Uint8Array {
  return new Uint8Array(node.toBER())
}

const oidSeq = (oid: string) =>
  new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid })] })

function pkcs8Of(oid: string, privateKey: Uint8Array): Uint8Array {
  return toDer(
    new asn1js.Sequence({
      value: [
        new asn1js.Integer({ value: 0 }),
        oidSeq(oid),
        new asn1js.OctetString({ valueHex: privateKey }),
      ],
    })
  )
}

function spkiOf(oid: string, publicKey: Uint8Array): Uint8Array {
  return toDer(
    new asn1js.Sequence({ value: [oidSeq(oid), new asn1js.BitString({ valueHex: publicKey })] })
  )
}

/** EncryptedPrivateKeyInfo, PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC, as OpenSSL writes it. */
function encryptPkcs8(plain: Uint8Array, password: string): Uint8Array {
  const salt = crypto.randomBytes(16)
  const iv = crypto.randomBytes(16)
  const key = crypto.pbkdf2Sync(password, salt, 2048, 32, 'sha256')
  const cipher = crypto.createCipheriv('aes-256-cbc', key, iv)
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()])
  const pbkdf2 = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.5.12' }),
      new asn1js.Sequence({
        value: [
          new asn1js.OctetString({ valueHex: salt }),
          new asn1js.Integer({ value: 2048 }),
          new asn1js.Sequence({
            value: [
              new asn1js.ObjectIdentifier({ value: '1.2.840.113549.2.9' }),
              new asn1js.Null(),
            ],
          }),
        ],
      }),
    ],
  })
  const aes = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.1.42' }),
      new asn1js.OctetString({ valueHex: iv }),
    ],
  })
  return toDer(
    new asn1js.Sequence({
      value: [
        new asn1js.Sequence({
          value: [
            new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.5.13' }),
            new asn1js.Sequence({ value: [pbkdf2, aes] }),
          ],
        }),
        new asn1js.OctetString({ valueHex: encrypted }),
      ],
    })
  )
}

const ML_DSA_44_OID = '2.16.840.1.101.3.4.3.17'
const ML_DSA_65_OID = '2.16.840.1.101.3.4.3.18'
const SLH_128S_OID = '2.16.840.1.101.3.4.3.20'

test.group('hsm / keys: generation and encodings', () => {
  for (const keyType of KEY_TYPES.filter((t) => !t.startsWith('slh-dsa') && !t.startsWith('rsa'))) {
    test(`generates ${keyType}; describeSpki and keyTypeFromSpki recognise it`, async ({
      assert,
    }) => {
      const { pkcs8, spki } = await generateKeyPair(keyType)
      assert.equal(keyTypeFromSpki(spki), keyType)
      assert.equal(describeSpki(spki).keyType, keyType)
      assert.equal(pkcs8KeyType(pkcs8), keyType)
      const imported = importPkcs8(pkcs8)
      assert.equal(imported.keyType, keyType)
      assert.equal(hex(imported.spki), hex(spki))
    })
  }

  test('generates RSA 2048/3072 with e=65537 (OpenSSL reads it)', async ({ assert }) => {
    for (const keyType of ['rsa-2048', 'rsa-3072'] as const) {
      const { pkcs8, spki } = await generateKeyPair(keyType)
      const info = describeSpki(spki)
      expectInfo(info, {
        family: 'rsa',
        keyType,
        bits: Number(keyType.slice(4)),
        name: `RSA ${keyType.slice(4)}`,
      })
      const text = await openssl(['pkey', '-inform', 'DER', '-noout', '-text'], Buffer.from(pkcs8))
      assert.include(text, 'publicExponent: 65537')
      assert.equal(importPkcs8(pkcs8).keyType, keyType)
    }
  }).timeout(60000)

  test('ML-DSA keys use the RFC 9881 encodings: seed-form PKCS#8, raw SPKI, parameters absent', async ({
    assert,
  }) => {
    const { pkcs8, spki } = await generateKeyPair('ml-dsa-44')
    // SEQUENCE { INTEGER 0, SEQUENCE { OID id-ml-dsa-44 }, OCTET STRING { [0] 32-byte seed } }
    assert.equal(hex(pkcs8.subarray(0, 22)), '3034020100300b0609608648016503040311042280' + '20')
    assert.lengthOf(pkcs8, 54)
    // SEQUENCE { SEQUENCE { OID }, BIT STRING { 00 || 1312-byte key } }
    assert.equal(hex(spki.subarray(0, 22)), '30820532300b0609608648016503040311038205210' + '0')
    const seed = pkcs8.subarray(22)
    assert.equal(hex(spki.subarray(22)), hex(ml_dsa44.keygen(seed).publicKey))
    for (const [keyType, oidByte, pkLen] of [
      ['ml-dsa-65', '12', 1952],
      ['ml-dsa-87', '13', 2592],
    ] as const) {
      const pair = await generateKeyPair(keyType)
      assert.equal(
        hex(pair.pkcs8.subarray(0, 22)),
        `3034020100300b06096086480165030403${oidByte}04228020`
      )
      assert.lengthOf(pair.spki, 22 + pkLen)
    }
  })

  test('SLH-DSA-SHA2-128s keys use the RFC 9909 encodings (raw 4n-byte private key)', async ({
    assert,
  }) => {
    const { pkcs8, spki } = await generateKeyPair('slh-dsa-sha2-128s')
    assert.equal(hex(pkcs8.subarray(0, 20)), '3052020100300b06096086480165030403140440')
    assert.lengthOf(pkcs8, 84)
    assert.equal(hex(spki.subarray(0, 18)), '3030300b0609608648016503040314032100')
    assert.equal(
      hex(spki.subarray(18)),
      hex(pkcs8.subarray(20 + 32)),
      'PK.seed || PK.root ends the secret key'
    )
    assert.equal(keyTypeFromSpki(spki), 'slh-dsa-sha2-128s')
    assert.equal(importPkcs8(pkcs8).keyType, 'slh-dsa-sha2-128s')
  }).timeout(60000)

  test('RSA keys need an odd modulus and an odd public exponent of at least 3', ({ assert }) => {
    const jwk = crypto
      .generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ format: 'jwk' })
    const spkiWith = (n: string, e: string) =>
      crypto
        .createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' })
        .export({ type: 'spki', format: 'der' })
    assert.equal(describeSpki(spkiWith(jwk.n!, 'AQAB')).keyType, 'rsa-2048')
    assert.equal(describeSpki(spkiWith(jwk.n!, 'Aw')).bits, 2048)
    // e = 1 makes every padded digest a valid signature; e = 2 is no RSA key
    for (const e of ['AQ', 'Ag', 'AQAA']) {
      assert.throws(() => describeSpki(spkiWith(jwk.n!, e)), /public exponent/)
    }
    const n = Buffer.from(jwk.n!, 'base64url')
    n[n.length - 1] &= 0xfe
    assert.throws(() => describeSpki(spkiWith(n.toString('base64url'), 'AQAB')), /even modulus/)
  })

  test('Ed25519 keys of small order (anyone can sign for them) are refused', ({ assert }) => {
    const prefix = Buffer.from('302a300506032b6570032100', 'hex')
    const identity = Buffer.alloc(32)
    identity[0] = 1
    // the identity (order 1) and -1 on the curve (y = p - 1, order 2)
    const minusOne = Buffer.from('ec' + 'ff'.repeat(30) + '7f', 'hex')
    // an order-8 point, the identity with the x-sign bit set, and 1 spelled non-canonically (p + 1)
    const order8 = Buffer.from(
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
      'hex'
    )
    const signed = Buffer.from(identity)
    signed[31] |= 0x80
    const nonCanonical = Buffer.from('ee' + 'ff'.repeat(30) + '7f', 'hex')
    for (const point of [identity, minusOne, order8, signed]) {
      assert.throws(() => describeSpki(Buffer.concat([prefix, point])), /small order/)
    }
    // a non-canonical encoding (y ≥ p) is no key we take, whichever point it spells
    assert.throws(
      () => describeSpki(Buffer.concat([prefix, nonCanonical])),
      /small order|not a point/
    )
    const good = crypto
      .generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'der' })
    assert.equal(describeSpki(good).keyType, 'ed25519')
    // ML-DSA: t1 = 0 leaves no secret in the verification equation
    const mlPk = ml_dsa44.keygen().publicKey
    assert.equal(describeSpki(spkiOf(ML_DSA_44_OID, mlPk)).keyType, 'ml-dsa-44')
    const degenerate = new Uint8Array(mlPk.length)
    degenerate.set(mlPk.subarray(0, 32))
    assert.throws(() => describeSpki(spkiOf(ML_DSA_44_OID, degenerate)), /degenerate/)
  })

  test('unknown key types are refused', async () => {
    await expectSignerRejection(
      () => generateKeyPair('rsa-1024' as KeyType),
      'E_KEY_UNSUPPORTED',
      /rsa-1024/
    )
  })
})

test.group('hsm / keys: PEM import', (group) => {
  let dir = ''
  group.setup(() => {
    dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'pki-keys-'))
    return () => fs.rmSync(dir, { recursive: true, force: true })
  })
  const file = (name: string) => path.join(dir, name)
  const read = (name: string) => fs.readFileSync(file(name), 'utf8')

  test('PKCS#8 RSA, PKCS#1 RSA (traditional), SEC1 EC with an EC PARAMETERS block, Ed25519', async ({
    assert,
  }) => {
    await openssl([
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      file('rsa.p8.pem'),
    ])
    await openssl(['genrsa', '-traditional', '-out', file('rsa.p1.pem'), '3072'])
    await openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-out', file('ec.sec1.pem')])
    await openssl([
      'ecparam',
      '-name',
      'prime256v1',
      '-genkey',
      '-noout',
      '-out',
      file('p256.sec1.pem'),
    ])
    await openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-521',
      '-out',
      file('p521.p8.pem'),
    ])
    await openssl(['genpkey', '-algorithm', 'ed25519', '-out', file('ed.pem')])
    assert.include(read('rsa.p1.pem'), 'BEGIN RSA PRIVATE KEY')
    assert.include(read('ec.sec1.pem'), 'BEGIN EC PARAMETERS')
    assert.include(read('ec.sec1.pem'), 'BEGIN EC PRIVATE KEY')

    const cases: Array<[string, KeyType]> = [
      ['rsa.p8.pem', 'rsa-2048'],
      ['rsa.p1.pem', 'rsa-3072'],
      ['ec.sec1.pem', 'ecdsa-p384'],
      ['p256.sec1.pem', 'ecdsa-p256'],
      ['p521.p8.pem', 'ecdsa-p521'],
      ['ed.pem', 'ed25519'],
    ]
    for (const [name, keyType] of cases) {
      const imported = importPrivateKeyPem(read(name))
      assert.equal(imported.keyType, keyType, name)
      // The SPKI is the one OpenSSL derives from the same key.
      const pub = await openssl([
        'pkey',
        '-in',
        file(name),
        '-pubout',
        '-outform',
        'DER',
        '-out',
        file(name + '.pub.der'),
      ])
      assert.equal(pub, '')
      assert.equal(hex(imported.spki), hex(fs.readFileSync(file(name + '.pub.der'))), name)
      // The PKCS#8 is standard: OpenSSL reads it back.
      await openssl(['pkey', '-inform', 'DER', '-noout'], Buffer.from(imported.pkcs8))
    }
  }).timeout(60000)

  test('encrypted PKCS#8 (PBES2 AES-256-CBC, 3DES, scrypt) and legacy-encrypted PKCS#1 with a password', async ({
    assert,
  }) => {
    await openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      file('k.pem'),
    ])
    await openssl([
      'pkcs8',
      '-topk8',
      '-v2',
      'aes-256-cbc',
      '-in',
      file('k.pem'),
      '-passout',
      'pass:s3cret pw',
      '-out',
      file('aes.pem'),
    ])
    await openssl([
      'pkcs8',
      '-topk8',
      '-v2',
      'des3',
      '-in',
      file('k.pem'),
      '-passout',
      'pass:s3cret pw',
      '-out',
      file('des3.pem'),
    ])
    await openssl([
      'pkcs8',
      '-topk8',
      '-scrypt',
      '-in',
      file('k.pem'),
      '-passout',
      'pass:s3cret pw',
      '-out',
      file('scrypt.pem'),
    ])
    await openssl([
      'genrsa',
      '-traditional',
      '-aes256',
      '-passout',
      'pass:s3cret pw',
      '-out',
      file('rsa.enc.pem'),
      '2048',
    ])
    const expected = importPrivateKeyPem(read('k.pem'))
    for (const name of ['aes.pem', 'des3.pem', 'scrypt.pem']) {
      assert.include(read(name), 'BEGIN ENCRYPTED PRIVATE KEY')
      const imported = importPrivateKeyPem(read(name), 's3cret pw')
      assert.equal(imported.keyType, 'ecdsa-p256', name)
      assert.equal(hex(imported.spki), hex(expected.spki), name)
    }
    assert.include(read('rsa.enc.pem'), 'Proc-Type: 4,ENCRYPTED')
    assert.equal(importPrivateKeyPem(read('rsa.enc.pem'), 's3cret pw').keyType, 'rsa-2048')
  }).timeout(60000)

  test('wrong or missing password', async () => {
    await openssl(['genpkey', '-algorithm', 'ed25519', '-out', file('e.pem')])
    await openssl([
      'pkcs8',
      '-topk8',
      '-v2',
      'aes-256-cbc',
      '-in',
      file('e.pem'),
      '-passout',
      'pass:right',
      '-out',
      file('e.enc.pem'),
    ])
    await openssl([
      'genrsa',
      '-traditional',
      '-aes128',
      '-passout',
      'pass:right',
      '-out',
      file('r.enc.pem'),
      '2048',
    ])
    for (const name of ['e.enc.pem', 'r.enc.pem']) {
      expectSignerError(
        () => importPrivateKeyPem(read(name), 'wrong'),
        'E_KEY_INVALID',
        /wrong password/
      )
      expectSignerError(
        () => importPrivateKeyPem(read(name)),
        'E_KEY_INVALID',
        /password is required/
      )
    }
  }).timeout(60000)

  test('unsupported sizes, curves and algorithms say what is supported', async () => {
    await openssl([
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:1024',
      '-out',
      file('rsa1024.pem'),
    ])
    await openssl(['ecparam', '-name', 'secp256k1', '-genkey', '-noout', '-out', file('k1.pem')])
    await openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:brainpoolP256r1',
      '-out',
      file('bp.pem'),
    ])
    await openssl(['genpkey', '-algorithm', 'ed448', '-out', file('ed448.pem')])
    await openssl(['genpkey', '-algorithm', 'x25519', '-out', file('x25519.pem')])
    await openssl([
      'genpkey',
      '-algorithm',
      'rsa-pss',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      file('pss.pem'),
    ])
    expectSignerError(
      () => importPrivateKeyPem(read('rsa1024.pem')),
      'E_KEY_UNSUPPORTED',
      /1024 bits .*2048, 3072 or 4096/
    )
    expectSignerError(
      () => importPrivateKeyPem(read('k1.pem')),
      'E_KEY_UNSUPPORTED',
      /secp256k1 .*P-256, P-384 or P-521/
    )
    expectSignerError(
      () => importPrivateKeyPem(read('bp.pem')),
      'E_KEY_UNSUPPORTED',
      /brainpoolP256r1/
    )
    expectSignerError(() => importPrivateKeyPem(read('ed448.pem')), 'E_KEY_UNSUPPORTED', /ed448/i)
    expectSignerError(() => importPrivateKeyPem(read('x25519.pem')), 'E_KEY_UNSUPPORTED', /x25519/i)
    expectSignerError(() => importPrivateKeyPem(read('pss.pem')), 'E_KEY_UNSUPPORTED', /RSASSA-PSS/)
  }).timeout(60000)

  test('garbage, truncated, public-only and non-PEM input', async () => {
    await openssl(['genpkey', '-algorithm', 'ed25519', '-out', file('g.pem')])
    await openssl(['pkey', '-in', file('g.pem'), '-pubout', '-out', file('g.pub.pem')])
    const good = read('g.pem')
    expectSignerError(
      () => importPrivateKeyPem('hello world'),
      'E_KEY_INVALID',
      /not a PEM private key/
    )
    expectSignerError(() => importPrivateKeyPem(''), 'E_KEY_INVALID')
    expectSignerError(
      () => importPrivateKeyPem(read('g.pub.pem')),
      'E_KEY_INVALID',
      /no private key found .*PUBLIC KEY/
    )
    expectSignerError(() => importPrivateKeyPem(good.replace(/-----END[^]*/, '')), 'E_KEY_INVALID')
    expectSignerError(
      () =>
        importPrivateKeyPem(
          '-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n'
        ),
      'E_KEY_INVALID',
      /PKCS#8/
    )
    expectSignerError(
      () =>
        importPrivateKeyPem(
          '-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n-----END RSA PRIVATE KEY-----\n'
        ),
      'E_KEY_INVALID',
      /RSA PRIVATE KEY block could not be read/
    )
    expectSignerError(
      () =>
        importPrivateKeyPem(
          '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'
        ),
      'E_KEY_UNSUPPORTED',
      /ssh-keygen/
    )
    // A second, well-formed block after a leading comment line is found.
    const imported = importPrivateKeyPem(`# my key\n${good}`)
    if (imported.keyType !== 'ed25519') throw new Error('ed25519 expected')
  }).timeout(30000)

  test('ML-DSA in the seed, expanded, both and bare forms; PKCS#8 v2; encrypted', async ({
    assert,
  }) => {
    const seed = crypto.randomBytes(32)
    const { publicKey, secretKey } = ml_dsa65.keygen(seed)
    const expectedSpki = hex(spkiOf(ML_DSA_65_OID, publicKey))
    const seedForm = pkcs8Of(
      ML_DSA_65_OID,
      toDer(new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: seed }))
    )
    const expandedForm = pkcs8Of(
      ML_DSA_65_OID,
      toDer(new asn1js.OctetString({ valueHex: secretKey }))
    )
    const bothForm = pkcs8Of(
      ML_DSA_65_OID,
      toDer(
        new asn1js.Sequence({
          value: [
            new asn1js.OctetString({ valueHex: seed }),
            new asn1js.OctetString({ valueHex: secretKey }),
          ],
        })
      )
    )
    const bareSeed = pkcs8Of(ML_DSA_65_OID, seed)

    for (const [name, form, normalised] of [
      ['seed', seedForm, seedForm],
      ['both', bothForm, seedForm],
      ['bare seed', bareSeed, seedForm],
      ['expanded', expandedForm, expandedForm],
    ] as const) {
      const imported = importPrivateKeyPem(pem('PRIVATE KEY', form))
      assert.equal(imported.keyType, 'ml-dsa-65', name)
      assert.equal(hex(imported.spki), expectedSpki, name)
      assert.equal(hex(imported.pkcs8), hex(normalised), name)
    }

    // "both" with a seed that does not belong to the expanded key
    const otherSeed = crypto.randomBytes(32)
    const mismatched = pkcs8Of(
      ML_DSA_65_OID,
      toDer(
        new asn1js.Sequence({
          value: [
            new asn1js.OctetString({ valueHex: otherSeed }),
            new asn1js.OctetString({ valueHex: secretKey }),
          ],
        })
      )
    )
    expectSignerError(
      () => importPrivateKeyPem(pem('PRIVATE KEY', mismatched)),
      'E_KEY_INVALID',
      /do not match/
    )
    // corrupted expanded key
    const corrupted = Uint8Array.from(secretKey)
    corrupted[70] ^= 0xff
    expectSignerError(
      () =>
        importPrivateKeyPem(
          pem(
            'PRIVATE KEY',
            pkcs8Of(ML_DSA_65_OID, toDer(new asn1js.OctetString({ valueHex: corrupted })))
          )
        ),
      'E_KEY_INVALID',
      /inconsistent/
    )
    // wrong seed length
    expectSignerError(
      () =>
        importPrivateKeyPem(
          pem(
            'PRIVATE KEY',
            pkcs8Of(
              ML_DSA_65_OID,
              toDer(
                new asn1js.Primitive({
                  idBlock: { tagClass: 3, tagNumber: 0 },
                  valueHex: seed.subarray(1),
                })
              )
            )
          )
        ),
      'E_KEY_INVALID',
      /32 bytes/
    )

    // OneAsymmetricKey v2 with the public key: accepted when it matches, refused when not.
    const v2 = (pk: Uint8Array) =>
      toDer(
        new asn1js.Sequence({
          value: [
            new asn1js.Integer({ value: 1 }),
            oidSeq(ML_DSA_65_OID),
            new asn1js.OctetString({
              valueHex: toDer(
                new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: seed })
              ),
            }),
            new asn1js.Primitive({
              idBlock: { tagClass: 3, tagNumber: 1 },
              valueHex: Buffer.concat([Buffer.from([0]), pk]),
            }),
          ],
        })
      )
    assert.equal(hex(importPrivateKeyPem(pem('PRIVATE KEY', v2(publicKey))).spki), expectedSpki)
    const wrongPk = Uint8Array.from(publicKey)
    wrongPk[5] ^= 1
    expectSignerError(
      () => importPrivateKeyPem(pem('PRIVATE KEY', v2(wrongPk))),
      'E_KEY_INVALID',
      /does not match/
    )

    // encrypted PKCS#8 around an ML-DSA key (Node 20's OpenSSL cannot parse the inner key)
    const encrypted = pem('ENCRYPTED PRIVATE KEY', encryptPkcs8(seedForm, 'pw'))
    assert.equal(hex(importPrivateKeyPem(encrypted, 'pw').spki), expectedSpki)
    expectSignerError(
      () => importPrivateKeyPem(encrypted, 'nope'),
      'E_KEY_INVALID',
      /wrong password/
    )

    // parameters must be absent
    const withParams = toDer(
      new asn1js.Sequence({
        value: [
          new asn1js.Integer({ value: 0 }),
          new asn1js.Sequence({
            value: [new asn1js.ObjectIdentifier({ value: ML_DSA_65_OID }), new asn1js.Null()],
          }),
          new asn1js.OctetString({
            valueHex: toDer(
              new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: seed })
            ),
          }),
        ],
      })
    )
    expectSignerError(() => importPkcs8(withParams), 'E_KEY_INVALID', /parameters must be absent/)
  }).timeout(30000)

  test('SLH-DSA raw and legacy wrapped private keys; unsupported parameter sets', async ({
    assert,
  }) => {
    const { secretKey, publicKey } = slh_dsa_sha2_128s.keygen()
    const raw = pkcs8Of(SLH_128S_OID, secretKey)
    const wrapped = pkcs8Of(SLH_128S_OID, toDer(new asn1js.OctetString({ valueHex: secretKey })))
    for (const form of [raw, wrapped]) {
      const imported = importPrivateKeyPem(pem('PRIVATE KEY', form))
      assert.equal(imported.keyType, 'slh-dsa-sha2-128s')
      assert.equal(hex(imported.spki), hex(spkiOf(SLH_128S_OID, publicKey)))
      assert.equal(hex(imported.pkcs8), hex(raw))
    }
    expectSignerError(
      () => importPkcs8(pkcs8Of(SLH_128S_OID, secretKey.subarray(1))),
      'E_KEY_INVALID',
      /must be 64 bytes/
    )
    // SLH-DSA-SHAKE-128f (…3.27) is recognised but not a key type of the install
    expectSignerError(
      () => importPkcs8(pkcs8Of('2.16.840.1.101.3.4.3.27', new Uint8Array(64))),
      'E_KEY_UNSUPPORTED',
      /SLH-DSA-SHAKE-128f keys are not supported/
    )
  }).timeout(30000)
})

test.group('hsm / keys: describeSpki', () => {
  test('the fast path for common encodings says exactly what the full parser says', ({
    assert,
  }) => {
    const spkis: Array<[string, Uint8Array]> = [
      ...(['P-256', 'P-384', 'P-521'] as const).map((namedCurve): [string, Uint8Array] => [
        namedCurve,
        crypto
          .generateKeyPairSync('ec', { namedCurve })
          .publicKey.export({ type: 'spki', format: 'der' }),
      ]),
      [
        'Ed25519',
        crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }),
      ],
    ]
    for (const [name, spki] of spkis) {
      assert.deepEqual(describeSpki(new Uint8Array(spki)), describeSpkiUncached(spki), name)
    }
    // A compressed P-256 point has another length: the full parser describes it.
    const p256 = crypto.createECDH('prime256v1')
    p256.generateKeys()
    const compressed = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      p256.getPublicKey(undefined, 'compressed'),
    ])
    assert.equal(describeSpki(compressed).keyType, 'ecdsa-p256')
    // The right prefix with a wrong point format is not taken by the fast path.
    const odd = Buffer.from(spkis[0][1])
    odd[26] = 0x05
    assert.deepEqual(describeSpki(odd), describeSpkiUncached(odd))
  })

  test('classical keys outside the install key types are still described', async () => {
    const rsa1024 = crypto
      .generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(rsa1024), { family: 'rsa', bits: 1024, keyType: undefined })
    const rsa4096Spki = crypto
      .generateKeyPairSync('rsa', { modulusLength: 4096 })
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(rsa4096Spki), { family: 'rsa', bits: 4096, keyType: 'rsa-4096' })
    const k1 = crypto
      .generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(k1), {
      family: 'ec',
      curve: 'secp256k1',
      keyType: undefined,
      bits: 256,
    })
    const p384 = crypto
      .generateKeyPairSync('ec', { namedCurve: 'P-384' })
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(p384), {
      family: 'ec',
      curve: 'P-384',
      keyType: 'ecdsa-p384',
      bits: 384,
      oid: '1.2.840.10045.2.1',
    })
    const ed448 = crypto
      .generateKeyPairSync('ed448')
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(ed448), { family: 'ed448', keyType: undefined, oid: '1.3.101.113' })
    const x25519 = crypto
      .generateKeyPairSync('x25519')
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(x25519), { family: 'unknown', oid: '1.3.101.110' })
    const pss = crypto
      .generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'der' })
    expectInfo(describeSpki(pss), { family: 'rsa', bits: 2048, keyType: undefined, rsaPss: true })
  }).timeout(60000)

  test('post-quantum keys: every SLH-DSA variant is recognised; wrong sizes are refused', ({
    assert,
  }) => {
    const { publicKey } = ml_dsa44.keygen()
    expectInfo(describeSpki(spkiOf(ML_DSA_44_OID, publicKey)), {
      family: 'ml-dsa',
      keyType: 'ml-dsa-44',
      name: 'ML-DSA-44',
    })
    for (let arc = 20; arc <= 31; arc++) {
      const n = [16, 24, 32][Math.floor((arc - 20) / 2) % 3]
      const info = describeSpki(spkiOf(`2.16.840.1.101.3.4.3.${arc}`, new Uint8Array(2 * n)))
      assert.equal(info.family, 'slh-dsa')
      const expected = {
        20: 'slh-dsa-sha2-128s',
        22: 'slh-dsa-sha2-192s',
        24: 'slh-dsa-sha2-256s',
      }[arc as 20 | 22 | 24]
      assert.equal(info.keyType, expected)
    }
    assert.equal(
      describeSpki(spkiOf('2.16.840.1.101.3.4.3.27', new Uint8Array(32))).name,
      'SLH-DSA-SHAKE-128f'
    )
    expectSignerError(
      () => describeSpki(spkiOf(ML_DSA_44_OID, publicKey.subarray(1))),
      'E_KEY_INVALID',
      /1312 bytes/
    )
    assert.isUndefined(keyTypeFromSpki(spkiOf(ML_DSA_44_OID, publicKey.subarray(1))))
    assert.isUndefined(keyTypeFromSpki(new Uint8Array([1, 2, 3])))
    expectSignerError(() => describeSpki(new Uint8Array([0x30, 0x03, 1, 2, 3])), 'E_KEY_INVALID')
  })
})

for (const [where, verify] of [
  [
    'on the event loop',
    async (...args: Parameters<typeof verifySignature>) => verifySignature(...args),
  ],
  ['off the thread', verifySignatureOffThread],
] as const) {
  test.group(`hsm / keys: verifySignature ${where}`, () => {
    const data = Buffer.from('to be signed')

    test('RSA PKCS#1 v1.5 and PSS, ECDSA with sha1/sha384, Ed25519, Ed448', async ({ assert }) => {
      const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      const rsaSpki = rsa.publicKey.export({ type: 'spki', format: 'der' })
      const v15 = crypto.sign('sha384', data, rsa.privateKey)
      assert.isTrue(await verify(rsaSpki, data, v15, 'sha384'))
      assert.isFalse(await verify(rsaSpki, data, v15, 'sha256'))
      const pss = crypto.sign('sha256', data, {
        key: rsa.privateKey,
        padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      })
      assert.isFalse(await verify(rsaSpki, data, pss))
      assert.isTrue(await verify(rsaSpki, data, pss, 'sha256', { pss: { saltLength: 32 } }))
      assert.isTrue(await verify(rsaSpki, data, pss, 'sha256', { pss: {} }))
      assert.isFalse(await verify(rsaSpki, data, pss, 'sha256', { pss: { saltLength: 20 } }))

      const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const ecSpki = ec.publicKey.export({ type: 'spki', format: 'der' })
      assert.isTrue(await verify(ecSpki, data, crypto.sign('sha1', data, ec.privateKey), 'sha1'))
      assert.isTrue(
        await verify(ecSpki, data, crypto.sign('sha384', data, ec.privateKey), 'sha384')
      )
      assert.isTrue(await verify(ecSpki, data, crypto.sign('sha256', data, ec.privateKey)))
      // Views into larger buffers (as a parsed CSR's parts are): only the viewed bytes count.
      const around = (b: Uint8Array) => Buffer.concat([Buffer.alloc(7, 1), b, Buffer.alloc(5, 2)])
      const view = (b: Uint8Array) => around(b).subarray(7, 7 + b.length)
      const sig256 = crypto.sign('sha256', data, ec.privateKey)
      assert.isTrue(await verify(view(ecSpki), view(data), view(sig256)))
      if (where === 'off the thread') assert.isAtLeast(getPqWorkerPool().workerCount, 1)
      const p1363 = crypto.sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
      assert.isFalse(await verify(ecSpki, data, p1363))
      // P-384 and P-521 keys are imported as DER, RSA keys of any exponent as JWK (the faster
      // way for each): the answers are the same.
      for (const namedCurve of ['P-384', 'P-521']) {
        const pair = crypto.generateKeyPairSync('ec', { namedCurve })
        const spki = pair.publicKey.export({ type: 'spki', format: 'der' })
        const sig = crypto.sign('sha384', data, pair.privateKey)
        assert.isTrue(await verify(spki, data, sig, 'sha384'), namedCurve)
        assert.isFalse(await verify(spki, Buffer.from('other'), sig, 'sha384'), namedCurve)
      }
      const e3 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 })
      const e3Spki = e3.publicKey.export({ type: 'spki', format: 'der' })
      assert.isTrue(await verify(e3Spki, data, crypto.sign('sha256', data, e3.privateKey)))
      assert.isFalse(await verify(e3Spki, data, v15, 'sha384'))

      for (const type of ['ed25519', 'ed448'] as const) {
        const pair = crypto.generateKeyPairSync(type as 'ed25519')
        const spki = pair.publicKey.export({ type: 'spki', format: 'der' })
        const sig = crypto.sign(null, data, pair.privateKey)
        assert.isTrue(await verify(spki, data, sig), type)
        assert.isFalse(await verify(spki, Buffer.from('other'), sig), type)
      }
    })

    test('bad signatures give false, never an exception', async ({ assert }) => {
      const keys = [
        crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
        crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
        crypto.generateKeyPairSync('ed25519').publicKey,
      ].map((k) => k.export({ type: 'spki', format: 'der' }))
      keys.push(Buffer.from(spkiOf(ML_DSA_44_OID, ml_dsa44.keygen().publicKey)))
      keys.push(Buffer.from(spkiOf(SLH_128S_OID, new Uint8Array(32).fill(7))))
      for (const spki of keys) {
        for (const sig of [
          new Uint8Array(0),
          new Uint8Array(64),
          crypto.randomBytes(2420),
          crypto.randomBytes(7856),
        ]) {
          assert.isFalse(await verify(spki, data, sig))
        }
      }
    })

    test('ML-DSA and SLH-DSA signatures (pure, empty context), including non-install SLH-DSA variants', async ({
      assert,
    }) => {
      const ml = ml_dsa44.keygen()
      const mlSpki = spkiOf(ML_DSA_44_OID, ml.publicKey)
      const sig = ml_dsa44.sign(data, ml.secretKey)
      assert.isTrue(await verify(mlSpki, data, sig))
      assert.isFalse(await verify(mlSpki, Buffer.from('x'), sig))
      const withContext = ml_dsa44.sign(data, ml.secretKey, { context: new Uint8Array([1]) })
      assert.isFalse(await verify(mlSpki, data, withContext))

      const f = slh_dsa_shake_128f.keygen()
      const fSpki = spkiOf('2.16.840.1.101.3.4.3.27', f.publicKey)
      const fSig = slh_dsa_shake_128f.sign(data, f.secretKey)
      assert.isTrue(await verify(fSpki, data, fSig))
      assert.isFalse(await verify(fSpki, Buffer.from('x'), fSig))
    }).timeout(60000)

    test('unreadable or unsupported keys throw typed errors', async () => {
      const x25519 = crypto
        .generateKeyPairSync('x25519')
        .publicKey.export({ type: 'spki', format: 'der' })
      await expectSignerRejection(
        () => verify(x25519, data, new Uint8Array(64)),
        'E_KEY_UNSUPPORTED',
        /cannot be verified/
      )
      await expectSignerRejection(
        () => verify(new Uint8Array([1, 2]), data, new Uint8Array(64)),
        'E_KEY_INVALID'
      )
      const badEc = spkiOf('1.2.840.10045.2.1', new Uint8Array(65).fill(4))
      await expectSignerRejection(
        () => verify(badEc, data, new Uint8Array(64)),
        'E_KEY_INVALID',
        /could not be read/
      )
    })
  })
}
