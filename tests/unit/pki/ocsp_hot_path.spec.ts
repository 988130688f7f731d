/*
 * The responder's hot-path helpers: quickOcspCertId (the CertID of a plain request without
 * exceptions or allocations, or null so the full parser decides) against parseOcspRequest on
 * requests made by `openssl ocsp`, and assembleOcspResponse (one allocation) against the same
 * structure built with the generic DER helpers, for every length form, read back by openssl.
 */
import { test } from '@japa/runner'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  assembleOcspResponse,
  encodeBasicResponseTbs,
  encodeSingleResponse,
  issuerHashes,
  ocspCertsField,
  ocspResponderKeyHash,
  parseOcspRequest,
  quickOcspCertId,
  serialHex,
  signOcspBody,
  toPem,
} from '../../../app/pki/index.js'
import { run, toolPath, withTempDir } from '../../helpers/external.js'
import { makeRoot } from './_support.js'

/** id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1 */
const BASIC_OID = Buffer.from('06092b0601050507300101', 'hex')

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  const n = body.length
  const len =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : n < 0x10000
          ? Buffer.from([0x82, n >> 8, n & 0xff])
          : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}

async function opensslRequest(dir: string, args: string[]): Promise<Buffer> {
  const r = await run(toolPath('openssl'), [
    'ocsp',
    '-issuer',
    join(dir, 'ca.pem'),
    ...args,
    '-reqout',
    join(dir, 'req.der'),
  ])
  if (r.code !== 0) throw new Error(r.stderr)
  return readFile(join(dir, 'req.der'))
}

test.group('ocsp hot path: quickOcspCertId', () => {
  test('matches the full parser on plain requests (SHA-1, SHA-256, SHA-512)', async ({
    assert,
  }) => {
    const ca = await makeRoot('ecdsa-p256')
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), toPem(ca.der, 'CERTIFICATE'))
      for (const [digest, serial] of [
        ['sha1', '7f0a'],
        ['sha256', '80ff'],
        ['sha512', '01'],
      ]) {
        const der = await opensslRequest(dir, [`-${digest}`, '-serial', `0x${serial}`, '-no_nonce'])
        const quick = quickOcspCertId(der)
        const full = parseOcspRequest(der).requests[0]
        assert.isNotNull(quick, digest)
        assert.equal(quick!.hash, full.hashAlgorithm)
        assert.deepEqual(quick!.issuerNameHash, Buffer.from(full.issuerNameHash))
        assert.deepEqual(quick!.issuerKeyHash, Buffer.from(full.issuerKeyHash))
        assert.equal(serialHex(quick!.serial), full.serial)
        assert.equal(quick!.serial.toString('hex'), serial)
        const expected = issuerHashes(ca.der, digest as 'sha1')
        assert.deepEqual(quick!.issuerKeyHash, expected.keyHash)
      }
    })
  })

  test('returns null for what only the full parser reads, and for garbage', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), toPem(ca.der, 'CERTIFICATE'))
      const nonce = await opensslRequest(dir, ['-serial', '0x01', '-nonce'])
      assert.isNull(quickOcspCertId(nonce), 'a nonce')
      const two = await opensslRequest(dir, ['-serial', '0x01', '-serial', '0x02', '-no_nonce'])
      assert.isNull(quickOcspCertId(two), 'two CertIDs')
      const plain = await opensslRequest(dir, ['-serial', '0x01', '-no_nonce'])
      for (let cut = 0; cut < plain.length; cut++) {
        assert.isNull(quickOcspCertId(plain.subarray(0, cut)), `truncated at ${cut}`)
      }
      assert.isNull(quickOcspCertId(Buffer.concat([plain, Buffer.from([0])])), 'trailing byte')
      for (let i = 0; i < 200; i++) {
        const junk = randomBytes(1 + (i % 90))
        const q = quickOcspCertId(junk)
        if (q) assert.doesNotThrow(() => parseOcspRequest(junk))
      }
    })
  })
})

test.group('ocsp hot path: assembleOcspResponse', () => {
  test('same bytes as the generic DER construction, for every length form', ({ assert }) => {
    const certs = ocspCertsField([tlv(0x30, randomBytes(300))])
    for (const size of [10, 100, 127, 128, 200, 255, 256, 1000, 65_535, 65_536, 70_000]) {
      const body = randomBytes(size)
      for (const field of [Buffer.alloc(0), certs]) {
        const expected = tlv(
          0x30,
          Buffer.from([0x0a, 1, 0]),
          tlv(0xa0, tlv(0x30, BASIC_OID, tlv(0x04, tlv(0x30, body, field))))
        )
        assert.deepEqual(assembleOcspResponse(body, field), expected, `${size}/${field.length}`)
      }
    }
  })

  test('a body signed once, assembled with the responder certificate, verifies in openssl', async ({
    assert,
  }) => {
    const ca = await makeRoot('ecdsa-p256')
    const h = issuerHashes(ca.der, 'sha1')
    const now = new Date(Math.floor(Date.now() / 1000) * 1000)
    const tbs = encodeBasicResponseTbs({
      responderKeyHash: ocspResponderKeyHash(ca.key.signer.publicKeySpki),
      producedAt: now,
      responses: [
        encodeSingleResponse({
          certId: {
            hash: 'sha1',
            issuerNameHash: h.nameHash,
            issuerKeyHash: h.keyHash,
            serial: '2a',
          },
          status: { good: true },
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + 3_600_000),
        }),
      ],
    })
    const body = await signOcspBody(tbs, ca.key.signer, 'sha256')
    const der = assembleOcspResponse(body, ocspCertsField([]))
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), toPem(ca.der, 'CERTIFICATE'))
      await writeFile(join(dir, 'resp.der'), der)
      const r = await run(toolPath('openssl'), [
        'ocsp',
        '-respin',
        join(dir, 'resp.der'),
        '-issuer',
        join(dir, 'ca.pem'),
        '-CAfile',
        join(dir, 'ca.pem'),
        '-serial',
        '0x2a',
        '-no_nonce',
      ])
      const out = r.stdout + r.stderr
      assert.include(out, 'Response verify OK')
      assert.match(out, /0x2a: good/)
    })
  })
})
