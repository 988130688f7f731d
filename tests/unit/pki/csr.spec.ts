import { test } from '@japa/runner'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  assertCsrSignature,
  buildCsr,
  EKU,
  extendedKeyUsage,
  parseCsr,
  PkiError,
  readExtensions,
  subjectAltName,
  toPem,
  verifyCsrSignature,
  type ParsedCsr,
} from '../../../app/pki/index.js'
import {
  opensslReqVerify,
  opensslText,
  repoRoot,
  run,
  toolPath,
  withTempDir,
} from '../../helpers/external.js'
import { testKey, testVerifier } from './_support.js'

const fixture = (name: string) => readFile(join(repoRoot, 'tests', 'fixtures', 'pki', name))

function expectPkiError(
  assert: {
    fail(m: string): void
    equal(a: unknown, b: unknown, m?: string): void
    match(a: string, b: RegExp): void
  },
  fn: () => unknown,
  code: string,
  message?: RegExp
) {
  try {
    fn()
  } catch (error) {
    if (!(error instanceof PkiError)) throw error
    assert.equal(error.code, code, error.message)
    if (message) assert.match(error.message, message)
    return
  }
  assert.fail(`expected a PkiError ${code}`)
}

test.group('csr: parsing requests made by openssl', () => {
  test('RSA with full subject, every SAN kind, KU and EKU', async ({ assert }) => {
    const csr = parseCsr((await fixture('csr-rsa2048-san.pem')).toString())
    assert.deepEqual(csr.subject, {
      country: 'DE',
      state: 'Berlin',
      locality: 'Berlin',
      organization: 'Example GmbH',
      organizationalUnit: 'IT',
      commonName: 'www.example.com',
      email: 'admin@example.com',
    })
    assert.deepEqual(csr.sans, [
      { type: 'dns', value: 'www.example.com' },
      { type: 'dns', value: 'example.com' },
      { type: 'ip', value: '192.0.2.10' },
      { type: 'ip', value: '2001:db8::1' },
      { type: 'email', value: 'admin@example.com' },
      { type: 'uri', value: 'https://example.com/id' },
    ])
    assert.deepEqual(csr.extensions.keyUsage, ['digitalSignature', 'keyEncipherment'])
    assert.deepEqual(csr.extensions.eku, [EKU.serverAuth, EKU.clientAuth])
    assert.include(csr.extensions.critical, '2.5.29.15')
    assert.equal(csr.signatureAlgorithmOid, '1.2.840.113549.1.1.11')
    assert.equal(csr.publicKey.keyType, 'rsa-2048')
    assert.isTrue(verifyCsrSignature(csr, testVerifier))
    // tbsDer is a slice of the input, byte for byte
    assert.include(Buffer.from(csr.der).toString('hex'), Buffer.from(csr.tbsDer).toString('hex'))
    assert.deepEqual(readExtensions(csr.der).sans, csr.sans)
  })

  test('EC P-256 wildcard, Ed25519, P-384 UTF-8, P-256/SHA-512 DER', async ({ assert }) => {
    const p256 = parseCsr(await fixture('csr-p256-san.pem'))
    assert.equal(p256.subject.commonName, '*.example.org')
    assert.deepEqual(p256.sans, [
      { type: 'dns', value: '*.example.org' },
      { type: 'dns', value: 'example.org' },
    ])
    assert.equal(p256.publicKey.keyType, 'ecdsa-p256')
    assert.isTrue(verifyCsrSignature(p256, testVerifier))
    // An asynchronous verifier: its answer; a failing checker is a bad CSR, an unavailable one
    // (its worker died) passes through as it is: a server fault.
    assert.isTrue(await verifyCsrSignature(p256, async (...args) => testVerifier(...args)))
    assert.isFalse(await verifyCsrSignature(p256, async () => false))
    const broken = await verifyCsrSignature(p256, async () => {
      throw new Error('no such curve')
    }).catch((error) => error)
    assert.equal(broken.code, 'E_INVALID_CSR')
    assert.match(broken.message, /could not be checked: no such curve/)
    const unavailable = Object.assign(new Error('worker stopped'), { code: 'E_SIGNER_UNAVAILABLE' })
    const passed = await verifyCsrSignature(p256, async () => {
      throw unavailable
    }).catch((error) => error)
    assert.strictEqual(passed, unavailable)

    const ed = parseCsr((await fixture('csr-ed25519-san.pem')).toString())
    assert.deepEqual(ed.subject, { organization: 'Example', commonName: 'device-42' })
    assert.deepEqual(ed.sans, [{ type: 'dns', value: 'device-42.example.net' }])
    assert.equal(ed.signatureAlgorithmOid, '1.3.101.112')
    assert.isTrue(verifyCsrSignature(ed, testVerifier))

    const utf8 = parseCsr((await fixture('csr-p384-utf8.pem')).toString())
    assert.deepEqual(utf8.subject, {
      country: 'DE',
      organization: 'Müller & Söhne GmbH',
      organizationalUnit: 'Einkauf',
      extra: [{ oid: '2.5.4.11', value: 'Ausland' }],
      commonName: 'Jürgen Müller',
    })
    assert.deepEqual(utf8.sans, [])
    assert.deepEqual(utf8.requestedExtensions, [])
    assert.isTrue(verifyCsrSignature(utf8, testVerifier))

    const der = parseCsr(new Uint8Array(await fixture('csr-p256-sha512.der')))
    assert.equal(der.signatureAlgorithmOid, '1.2.840.10045.4.3.4')
    assert.isTrue(verifyCsrSignature(der, testVerifier))
  })

  test('SHA-1 signature and challengePassword (SCEP style)', async ({ assert }) => {
    const csr = parseCsr((await fixture('csr-rsa-sha1-challenge.pem')).toString())
    assert.equal(csr.challengePassword, 's3cret-Challenge')
    let seenHash: string | undefined
    assert.isTrue(
      verifyCsrSignature(
        csr,
        (spki, data, sig, hash) => ((seenHash = hash), testVerifier(spki, data, sig, hash))
      )
    )
    assert.equal(seenHash, 'sha1')
  })

  test('RSASSA-PSS is reported as unsupported with a clear message', async ({ assert }) => {
    const csr = parseCsr((await fixture('csr-rsa-pss.pem')).toString())
    expectPkiError(
      assert,
      () => verifyCsrSignature(csr, testVerifier),
      'E_UNSUPPORTED_ALGORITHM',
      /RSASSA-PSS/
    )
  })

  test('fresh openssl requests for RSA, EC, Ed25519 with SANs', async ({ assert }) => {
    await withTempDir(async (dir) => {
      for (const [name, args] of [
        ['rsa', ['-newkey', 'rsa:2048']],
        ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384']],
        ['ed', ['-newkey', 'ed25519']],
      ] as const) {
        const out = join(dir, `${name}.csr`)
        const result = await run(toolPath('openssl'), [
          'req',
          '-new',
          ...args,
          '-nodes',
          '-keyout',
          join(dir, `${name}.key`),
          '-subj',
          `/O=Fresh/CN=${name}.fresh.test`,
          '-addext',
          `subjectAltName=DNS:${name}.fresh.test,IP:10.0.0.1`,
          '-out',
          out,
        ])
        assert.equal(result.code, 0, result.stderr)
        const csr = parseCsr((await readFile(out)).toString())
        assert.deepEqual(csr.subject, { organization: 'Fresh', commonName: `${name}.fresh.test` })
        assert.deepEqual(csr.sans, [
          { type: 'dns', value: `${name}.fresh.test` },
          { type: 'ip', value: '10.0.0.1' },
        ])
        assert.isTrue(verifyCsrSignature(csr, testVerifier), name)
      }
    })
  })

  test('the Microsoft "NEW CERTIFICATE REQUEST" label and bare base64 are accepted', async ({
    assert,
  }) => {
    const der = parseCsr((await fixture('csr-p256-san.pem')).toString()).der
    assert.deepEqual(parseCsr(toPem(der, 'NEW CERTIFICATE REQUEST')).der, der)
    assert.deepEqual(parseCsr(Buffer.from(der).toString('base64')).der, der)
  })
})

test.group('csr: garbage and tampering', () => {
  test('random bytes, truncated DER, wrong PEM label, empty input, a certificate', async ({
    assert,
  }) => {
    const der = parseCsr((await fixture('csr-rsa2048-san.pem')).toString()).der
    const inputs: Array<string | Uint8Array> = [
      randomBytes(300),
      new Uint8Array([0x30, ...randomBytes(120)]),
      der.subarray(0, der.length - 10),
      der.subarray(0, 40),
      new Uint8Array([...der, 0x00]),
      toPem(der, 'CERTIFICATE'),
      '',
      'hello world',
      new Uint8Array(0),
    ]
    for (const input of inputs) {
      expectPkiError(
        assert,
        () => parseCsr(input),
        'E_INVALID_CSR',
        /certificate signing request|PKCS#10/
      )
    }
    try {
      parseCsr(randomBytes(50))
    } catch (error) {
      assert.equal((error as PkiError).status, 400)
      assert.match((error as Error).message, /^not a PEM or DER certificate signing request/)
    }
  })

  test('a flipped signature byte or altered content fails verification', async ({ assert }) => {
    const original = parseCsr((await fixture('csr-p256-san.pem')).toString())
    const flipped = Buffer.from(original.der)
    flipped[flipped.length - 5] ^= 0x01
    const a = parseCsr(flipped)
    assert.isFalse(verifyCsrSignature(a, testVerifier))
    expectPkiError(
      assert,
      () => assertCsrSignature(a, testVerifier),
      'E_INVALID_CSR',
      /CSR signature does not verify/
    )

    const rsa = parseCsr((await fixture('csr-rsa2048-san.pem')).toString())
    const changed = Buffer.from(rsa.der)
    const at = changed.indexOf(Buffer.from('www.example.com'))
    changed[at] = 'x'.charCodeAt(0)
    const b = parseCsr(changed)
    assert.equal(b.subject.commonName, 'xww.example.com')
    assert.isFalse(verifyCsrSignature(b, testVerifier))
  })

  test('signature algorithm and key that do not match are E_INVALID_CSR', async ({ assert }) => {
    const csr = parseCsr((await fixture('csr-p256-san.pem')).toString())
    const lying: ParsedCsr = { ...csr, signatureAlgorithmOid: '1.2.840.113549.1.1.11' }
    expectPkiError(
      assert,
      () => verifyCsrSignature(lying, testVerifier),
      'E_INVALID_CSR',
      /rsa algorithm.*public key is ec/
    )
    const throwing = () => {
      throw new Error('backend down')
    }
    expectPkiError(
      assert,
      () => verifyCsrSignature(csr, throwing),
      'E_INVALID_CSR',
      /could not be checked: backend down/
    )
  })
})

test.group('csr: buildCsr', () => {
  test('intermediate-CA requests verify with openssl req -verify and parse back', async ({
    assert,
  }) => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048', 'ed25519', 'ecdsa-p384'] as const) {
      const { signer } = testKey(keyType)
      const der = await buildCsr({
        subject: { country: 'DE', organization: 'Example', commonName: `Issuing CA ${keyType}` },
        signer,
        hash: keyType === 'ecdsa-p384' ? 'sha384' : 'sha256',
        ca: { pathLength: 0 },
      })
      const pem = toPem(der, 'CERTIFICATE REQUEST')
      assert.isTrue(await opensslReqVerify(pem), keyType)
      const text = await opensslText(pem, 'req')
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/)
      assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/)
      const parsed = parseCsr(pem)
      assert.equal(parsed.subject.commonName, `Issuing CA ${keyType}`)
      assert.deepEqual(parsed.extensions.basicConstraints, { ca: true, pathLength: 0 })
      assert.deepEqual(parsed.extensions.keyUsage, ['keyCertSign', 'cRLSign'])
      assert.deepEqual(parsed.spki, signer.publicKeySpki)
      assert.isTrue(verifyCsrSignature(parsed, testVerifier))
    }
  })

  test('custom extensions and a challengePassword are requested as given', async ({ assert }) => {
    const { signer } = testKey('ecdsa-p256')
    const der = await buildCsr({
      subject: { commonName: 'client-7' },
      signer,
      hash: 'sha256',
      extensions: [
        subjectAltName([{ type: 'dns', value: 'client-7.example.com' }]),
        extendedKeyUsage(['clientAuth']),
      ],
      challengePassword: 'pw-123',
    })
    const pem = toPem(der, 'CERTIFICATE REQUEST')
    assert.isTrue(await opensslReqVerify(pem))
    const text = await opensslText(pem, 'req')
    assert.match(text, /challengePassword\s*:\s*pw-123/)
    assert.match(text, /DNS:client-7.example.com/)
    assert.match(text, /TLS Web Client Authentication/)
    const parsed = parseCsr(der)
    assert.equal(parsed.challengePassword, 'pw-123')
    assert.deepEqual(parsed.sans, [{ type: 'dns', value: 'client-7.example.com' }])
    assert.deepEqual(parsed.extensions.basicConstraints, undefined)
  })

  test('a CSR signed by ML-DSA (noble) parses and verifies; the OID has no parameters', async ({
    assert,
  }) => {
    const { signer } = testKey('ml-dsa-65')
    const der = await buildCsr({ subject: { commonName: 'pq' }, signer, hash: 'sha256' })
    const parsed = parseCsr(der)
    assert.equal(parsed.signatureAlgorithmOid, '2.16.840.1.101.3.4.3.18')
    assert.equal(parsed.publicKey.keyType, 'ml-dsa-65')
    assert.isTrue(verifyCsrSignature(parsed, testVerifier))
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'pq.der'), der)
      const result = await run(toolPath('openssl'), [
        'asn1parse',
        '-inform',
        'DER',
        '-in',
        join(dir, 'pq.der'),
      ])
      assert.equal(result.code, 0)
      assert.match(result.stdout, /OBJECT\s+:2.16.840.1.101.3.4.3.18\s*\n.*BIT STRING/)
    })
  })
})
