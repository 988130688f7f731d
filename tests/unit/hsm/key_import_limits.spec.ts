import { test } from '@japa/runner'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as asn1js from 'asn1js'
import { slh_dsa_sha2_128s } from '@noble/post-quantum/slh-dsa.js'
import { importPrivateKeyPem } from '../../../hsm/keys.js'
import { expectSignerError, openssl } from './_helpers.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

const algId = (oid: string, params?: asn1js.AsnType) =>
  new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: oid }), ...(params ? [params] : [])],
  })

/** EncryptedPrivateKeyInfo with the given scheme; the ciphertext is random (never reached). */
function encryptedPem(scheme: asn1js.AsnType): string {
  const der = new asn1js.Sequence({
    value: [scheme, new asn1js.OctetString({ valueHex: crypto.randomBytes(64) })],
  }).toBER()
  return pem('ENCRYPTED PRIVATE KEY', new Uint8Array(der))
}

function pbes2(kdf: asn1js.AsnType): asn1js.AsnType {
  const aes = algId(
    '2.16.840.1.101.3.4.1.42',
    new asn1js.OctetString({ valueHex: crypto.randomBytes(16) })
  )
  return algId('1.2.840.113549.1.5.13', new asn1js.Sequence({ value: [kdf, aes] }))
}

function scryptKdf(N: number, r: number, p: number): asn1js.AsnType {
  return algId(
    '1.3.6.1.4.1.11591.4.11',
    new asn1js.Sequence({
      value: [
        new asn1js.OctetString({ valueHex: crypto.randomBytes(16) }),
        new asn1js.Integer({ value: N }),
        new asn1js.Integer({ value: r }),
        new asn1js.Integer({ value: p }),
      ],
    })
  )
}

/** Runs fn and checks that it took less than `ms` (the limits are checked before any work). */
function quickly(fn: () => void, ms: number): void {
  const start = performance.now()
  fn()
  const took = performance.now() - start
  if (took > ms) throw new Error(`took ${Math.round(took)} ms, expected under ${ms} ms`)
}

test.group('hsm/keys: encrypted private key import limits', (group) => {
  let dir = ''
  group.setup(() => {
    dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'pki-limits-'))
    return () => fs.rmSync(dir, { recursive: true, force: true })
  })
  const file = (name: string) => path.join(dir, name)
  const read = (name: string) => fs.readFileSync(file(name), 'utf8')

  test('PBKDF2 iteration count above 1,000,000 is refused before any derivation', async () => {
    await openssl([
      'genpkey',
      '-algorithm',
      'ec',
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
      '-iter',
      '2000000',
      '-in',
      file('k.pem'),
      '-passout',
      'pass:pw',
      '-out',
      file('k.2m.pem'),
    ])
    quickly(
      () =>
        expectSignerError(
          () => importPrivateKeyPem(read('k.2m.pem'), 'pw'),
          'E_KEY_UNSUPPORTED',
          /PBKDF2 iteration count 2000000 is above the limit of 1,000,000/
        ),
      200
    )
  }).timeout(60000)

  test('a normal encrypted key (default openssl iterations) still imports', async ({ assert }) => {
    await openssl([
      'genpkey',
      '-algorithm',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      file('n.pem'),
    ])
    await openssl([
      'pkcs8',
      '-topk8',
      '-v2',
      'aes-256-cbc',
      '-in',
      file('n.pem'),
      '-passout',
      'pass:pw',
      '-out',
      file('n.enc.pem'),
    ])
    await openssl([
      'pkcs8',
      '-topk8',
      '-scrypt',
      '-in',
      file('n.pem'),
      '-passout',
      'pass:pw',
      '-out',
      file('n.scrypt.pem'),
    ])
    const expected = importPrivateKeyPem(read('n.pem'))
    for (const name of ['n.enc.pem', 'n.scrypt.pem']) {
      const imported = importPrivateKeyPem(read(name), 'pw')
      assert.equal(hex(imported.spki), hex(expected.spki))
    }
  }).timeout(60000)

  test('scrypt parameters above 256 MiB (128·N·r·p) are refused', () => {
    for (const [N, r, p] of [
      [2 ** 22, 32, 1], // 16 GiB
      [2 ** 20, 4, 1], // 512 MiB
      [2 ** 20, 2, 2], // 256 MiB twice
    ]) {
      quickly(
        () =>
          expectSignerError(
            () => importPrivateKeyPem(encryptedPem(pbes2(scryptKdf(N, r, p))), 'pw'),
            'E_KEY_UNSUPPORTED',
            /scrypt parameters .* above the limit of 128·N·r·p ≤ 256 MiB/
          ),
        200
      )
    }
  })

  test('PBES1 keys (decrypted by node:crypto) are capped too', () => {
    const params = new asn1js.Sequence({
      value: [
        new asn1js.OctetString({ valueHex: crypto.randomBytes(8) }),
        new asn1js.Integer({ value: 50_000_000 }),
      ],
    })
    // pbeWithSHA1AndDES-CBC (PKCS#5 v1.5) and pbeWithSHAAnd3-KeyTripleDES-CBC (PKCS#12)
    for (const oid of ['1.2.840.113549.1.5.10', '1.2.840.113549.1.12.1.3']) {
      quickly(
        () =>
          expectSignerError(
            () => importPrivateKeyPem(encryptedPem(algId(oid, params)), 'pw'),
            'E_KEY_UNSUPPORTED',
            /iteration count 50000000 is above the limit/
          ),
        200
      )
    }
    // PBES2 with a PRF this module does not decode (left to node:crypto): still capped
    const kdf = algId(
      '1.2.840.113549.1.5.12',
      new asn1js.Sequence({
        value: [
          new asn1js.OctetString({ valueHex: crypto.randomBytes(8) }),
          new asn1js.Integer({ value: 50_000_000 }),
          algId('1.2.840.113549.2.12', new asn1js.Null()),
        ],
      })
    )
    quickly(
      () =>
        expectSignerError(
          () => importPrivateKeyPem(encryptedPem(pbes2(kdf)), 'pw'),
          'E_KEY_UNSUPPORTED',
          /iteration count 50000000 is above the limit/
        ),
      200
    )
  })
})

test.group('hsm/keys: imported private and public halves must match', () => {
  const der = (node: asn1js.AsnType) => new Uint8Array(node.toBER())
  const parse = (bytes: Buffer) => asn1js.fromBER(new Uint8Array(bytes)).result as asn1js.Sequence

  test('SEC1 P-256 key carrying another key public point is refused', ({ assert }) => {
    const pair = () =>
      crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
        type: 'sec1',
        format: 'der',
      })
    const a = parse(pair())
    const b = parse(pair())
    // ECPrivateKey { version, privateKey, [0] parameters, [1] publicKey }
    a.valueBlock.value[3] = b.valueBlock.value[3]
    const mixed = pem('EC PRIVATE KEY', der(a))
    expectSignerError(
      () => importPrivateKeyPem(mixed),
      'E_KEY_INVALID',
      /the private key does not match its public key/
    )
    // the same key in PKCS#8
    const pkcs8 = crypto
      .createPrivateKey({ key: mixed, format: 'pem' })
      .export({ type: 'pkcs8', format: 'pem' })
      .toString()
    expectSignerError(
      () => importPrivateKeyPem(pkcs8),
      'E_KEY_INVALID',
      /the private key does not match its public key/
    )
    // untouched keys still import
    assert.doesNotThrow(() => importPrivateKeyPem(pem('EC PRIVATE KEY', der(b))))
  })

  test('PKCS#1 RSA key carrying another key modulus is refused', ({ assert }) => {
    const pair = () =>
      crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        type: 'pkcs1',
        format: 'der',
      })
    const a = parse(pair())
    const b = parse(pair())
    // RSAPrivateKey { version, modulus, publicExponent, privateExponent, prime1, ... }
    a.valueBlock.value[1] = b.valueBlock.value[1]
    expectSignerError(
      () => importPrivateKeyPem(pem('RSA PRIVATE KEY', der(a))),
      'E_KEY_INVALID',
      /the private key does not match its public key/
    )
    assert.doesNotThrow(() => importPrivateKeyPem(pem('RSA PRIVATE KEY', der(b))))
  }).timeout(30000)

  test('SLH-DSA key with a wrong PK.root is refused', ({ assert }) => {
    const n = 16
    const { secretKey } = slh_dsa_sha2_128s.keygen(crypto.randomBytes(3 * n))
    const pkcs8 = (sk: Uint8Array) =>
      der(
        new asn1js.Sequence({
          value: [
            new asn1js.Integer({ value: 0 }),
            algId('2.16.840.1.101.3.4.3.20'),
            new asn1js.OctetString({ valueHex: sk }),
          ],
        })
      )
    assert.equal(
      importPrivateKeyPem(pem('PRIVATE KEY', pkcs8(secretKey))).keyType,
      'slh-dsa-sha2-128s'
    )
    const wrongRoot = Uint8Array.from(secretKey)
    wrongRoot[4 * n - 1] ^= 1
    expectSignerError(
      () => importPrivateKeyPem(pem('PRIVATE KEY', pkcs8(wrongRoot))),
      'E_KEY_INVALID',
      /the private key does not match its public key/
    )
  }).timeout(30000)
})
