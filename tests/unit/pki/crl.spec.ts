import { test } from '@japa/runner'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AsnParser } from '@peculiar/asn1-schema'
import { CertificateList } from '@peculiar/asn1-x509'
import type { HashName, KeyType } from '../../../hsm/types.js'
import crypto from 'node:crypto'
import {
  assembleCrl,
  basicConstraints,
  CRL_REASON_CODES,
  crlDistributionPoints,
  crlEnvelope,
  crlTbsParts,
  crlTbsPrefix,
  encodeCrlEntry,
  encodeCrlTbs,
  freshestCrl,
  keyUsage,
  nameToDer,
  newSerial,
  PkiError,
  serialHex,
  signatureAlgorithm,
  signCertificate,
  signCrl,
  subjectKeyIdentifier,
  writeCrlEntry,
  toPem,
  type CrlDraftWithEntries,
  type CrlReason,
} from '../../../app/pki/index.js'
import {
  opensslVerify,
  run,
  toolPath,
  withTempDir,
  type OpensslBinary,
} from '../../helpers/external.js'
import { makeRoot, testKey, testVerifier, type TestCa } from './_support.js'

const DAY = 86_400_000
const CRL_URL = 'http://pki.example.test/crl/ca-1.crl'
const DELTA_URL = 'http://pki.example.test/crl/ca-1-delta.crl'

/** `openssl crl -verify` against the CA, then `openssl crl -text`; returns the text. */
async function opensslCrl(
  ca: TestCa,
  crl: Uint8Array,
  binary: OpensslBinary = 'openssl'
): Promise<{ verified: boolean; output: string; text: string }> {
  return withTempDir(async (dir) => {
    const caPath = join(dir, 'ca.pem')
    const crlPath = join(dir, 'crl.der')
    await writeFile(caPath, toPem(ca.der, 'CERTIFICATE'))
    await writeFile(crlPath, crl)
    const bin = toolPath(binary)
    const verify = await run(bin, [
      'crl',
      '-inform',
      'DER',
      '-in',
      crlPath,
      '-CAfile',
      caPath,
      '-verify',
      '-noout',
    ])
    const text = await run(bin, ['crl', '-inform', 'DER', '-in', crlPath, '-text', '-noout'])
    if (text.code !== 0) throw new Error(`openssl crl -text failed: ${text.stderr}`)
    const output = verify.stdout + verify.stderr
    return { verified: verify.code === 0 && /verify OK/.test(output), output, text: text.stdout }
  })
}

function colonHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase().match(/../g)!.join(':')
}

function draft(ca: TestCa, overrides: Partial<CrlDraftWithEntries> = {}): CrlDraftWithEntries {
  const now = Date.now()
  return {
    issuerDer: ca.subjectDer,
    signatureAlgorithm: signatureAlgorithm(ca.key.signer.keyType, ca.hash),
    thisUpdate: new Date(now - 60_000),
    nextUpdate: new Date(now + 30 * DAY),
    crlNumber: 42n,
    authorityKeyId: ca.keyId,
    ...overrides,
  }
}

const CASES: { keyType: KeyType; binary: OpensslBinary }[] = [
  { keyType: 'ecdsa-p256', binary: 'openssl' },
  { keyType: 'rsa-2048', binary: 'openssl' },
  { keyType: 'ed25519', binary: 'openssl' },
  { keyType: 'ml-dsa-65', binary: 'openssl35' },
]

test.group('crl: signed CRLs verified by openssl', () => {
  for (const { keyType, binary } of CASES) {
    test(`${keyType} CA: entries, reasons and every CRL extension`, async ({ assert }) => {
      const ca = await makeRoot(keyType)
      const serials = [newSerial(), newSerial(), newSerial()]
      const revokedAt = new Date(Date.UTC(2026, 10, 2, 8, 30, 15))
      const entries = [
        encodeCrlEntry({ serial: serials[0], revokedAt, reason: 'keyCompromise' }),
        encodeCrlEntry({
          serial: serialHex(serials[1]),
          revokedAt,
          reason: 'certificateHold',
          invalidityDate: new Date(Date.UTC(2026, 10, 1, 0, 0, 0)),
        }),
        encodeCrlEntry({ serial: serials[2], revokedAt, reason: 'unspecified' }),
      ]
      const tbs = encodeCrlTbs(
        draft(ca, {
          entries,
          crlNumber: 1234n,
          issuingDistributionPoint: { url: CRL_URL, onlyContainsUserCerts: true },
          freshestCrlUrls: [DELTA_URL],
        })
      )
      const crl = await signCrl(tbs, ca.key.signer, ca.hash)
      const { verified, output, text } = await opensslCrl(ca, crl, binary)
      assert.isTrue(verified, output)
      assert.match(text, /Version 2 \(0x1\)/)
      assert.match(text, /X509v3 CRL Number:\s*\n\s*1234\b/)
      assert.match(
        text,
        new RegExp(`X509v3 Authority Key Identifier:\\s*\\n\\s*(keyid:)?${colonHex(ca.keyId)}`)
      )
      assert.match(
        text,
        /X509v3 Issuing Distribution Point: critical\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/pki\.example\.test\/crl\/ca-1\.crl\s*Only User Certificates/
      )
      assert.match(
        text,
        /X509v3 Freshest CRL:\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/pki\.example\.test\/crl\/ca-1-delta\.crl/
      )
      assert.notMatch(text, /Delta CRL Indicator/)
      for (const serial of serials) {
        assert.include(text, `Serial Number: ${serialHex(serial).toUpperCase()}`)
      }
      assert.equal(text.match(/Revocation Date: Nov {2}2 08:30:15 2026 GMT/g)?.length, 3)
      assert.match(text, /CRL Reason Code:\s*\n\s*Key Compromise/)
      assert.match(text, /CRL Reason Code:\s*\n\s*Certificate Hold/)
      assert.match(text, /Invalidity Date:\s*\n\s*Nov {2}1 00:00:00 2026 GMT/)
      assert.equal(text.match(/CRL Reason Code/g)?.length, 2, 'unspecified writes no reasonCode')
      // our own verifier agrees, and the schema parser reads the same structure
      const parsed = AsnParser.parse(crl, CertificateList)
      assert.equal(parsed.tbsCertList.version, 1)
      assert.lengthOf(parsed.tbsCertList.revokedCertificates ?? [], 3)
      assert.isTrue(
        testVerifier(
          ca.key.signer.publicKeySpki,
          tbs,
          new Uint8Array(parsed.signature),
          ca.hash as HashName
        )
      )
    })
  }

  test('delta CRL: Delta CRL Indicator with the base number, removeFromCRL', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const serial = newSerial()
    const tbs = encodeCrlTbs(
      draft(ca, {
        crlNumber: 1235n,
        deltaCrlIndicator: 1234n,
        issuingDistributionPoint: { url: CRL_URL },
        entries: [
          encodeCrlEntry({ serial, revokedAt: new Date(), reason: 'removeFromCRL' }),
          encodeCrlEntry({ serial: 'ff01', revokedAt: new Date(), reason: 'superseded' }),
        ],
      })
    )
    const crl = await signCrl(tbs, ca.key.signer, ca.hash)
    const { verified, output, text } = await opensslCrl(ca, crl)
    assert.isTrue(verified, output)
    assert.match(text, /X509v3 Delta CRL Indicator: critical\s*\n\s*1234\b/)
    assert.match(text, /X509v3 CRL Number:\s*\n\s*1235\b/)
    assert.match(text, /CRL Reason Code:\s*\n\s*Remove From CRL/)
    assert.match(text, /Serial Number: FF01\b/)
    assert.match(text, /CRL Reason Code:\s*\n\s*Superseded/)
    assert.notMatch(text, /Freshest CRL/)
  })

  test('empty CRL: no revokedCertificates field at all', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const d = draft(ca, { crlNumber: 1n })
    const tbs = encodeCrlTbs(d)
    assert.deepEqual(encodeCrlTbs({ ...d, entries: [] }), tbs)
    const parts = crlTbsParts(d)
    // SEQUENCE header, head, then straight into [0] crlExtensions
    const prefix = crlTbsPrefix(parts, 0)
    assert.equal(tbs[prefix.length], 0xa0)
    const crl = await signCrl(tbs, ca.key.signer, ca.hash)
    const parsed = AsnParser.parse(crl, CertificateList)
    assert.isUndefined(parsed.tbsCertList.revokedCertificates)
    const { verified, output, text } = await opensslCrl(ca, crl)
    assert.isTrue(verified, output)
    assert.include(text, 'No Revoked Certificates.')
    assert.match(text, /X509v3 CRL Number:\s*\n\s*1\b/)
  })

  test('10,000 entries, streamed in two passes, equal to the in-memory TBS', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const base = Date.UTC(2026, 0, 1)
    const reasons = ['keyCompromise', 'superseded', 'cessationOfOperation', undefined] as const
    // a "database cursor": entries are re-created on each pass, never held by the caller
    function* rows() {
      for (let i = 0; i < 10_000; i++) {
        yield encodeCrlEntry({
          serial: (0x10_0000 + i).toString(16),
          revokedAt: new Date(base + i * 1000),
          reason: reasons[i % reasons.length],
        })
      }
    }
    const d = draft(ca, { crlNumber: 2n ** 64n, issuingDistributionPoint: { url: CRL_URL } })
    const parts = crlTbsParts(d)
    let total = 0
    for (const entry of rows()) total += entry.length
    const chunks: Uint8Array[] = [crlTbsPrefix(parts, total)]
    for (const entry of rows()) chunks.push(entry)
    chunks.push(parts.tail)
    const streamed = Buffer.concat(chunks)
    assert.deepEqual(streamed, encodeCrlTbs({ ...d, entries: rows() }))

    const crl = await signCrl(streamed, ca.key.signer, ca.hash)
    const { verified, output, text } = await opensslCrl(ca, crl)
    assert.isTrue(verified, output)
    assert.equal(text.match(/Serial Number: /g)?.length, 10_000)
    assert.include(text, 'Serial Number: 100000')
    assert.include(text, `Serial Number: ${(0x10_0000 + 9999).toString(16).toUpperCase()}`)
    assert.equal(text.match(/Key Compromise/g)?.length, 2500)
    assert.match(text, /X509v3 CRL Number:\s*\n\s*18446744073709551616\b/)
  }).timeout(60_000)

  test('streamed TBS signed incrementally: crlEnvelope around it verifies', async ({ assert }) => {
    const ca = await makeRoot('rsa-2048')
    const d = draft(ca, { crlNumber: 7n, issuingDistributionPoint: { url: CRL_URL } })
    const parts = crlTbsParts(d)
    const entries = Array.from({ length: 300 }, (_, i) =>
      encodeCrlEntry({
        serial: (0x5000 + i).toString(16),
        revokedAt: new Date(Date.UTC(2026, 0, 2)),
      })
    )
    const total = entries.reduce((n, e) => n + e.length, 0)
    const pieces = [crlTbsPrefix(parts, total), ...entries, parts.tail]
    // hash piece by piece, as a streaming signer does
    const sign = crypto.createSign(ca.hash)
    for (const piece of pieces) sign.update(piece)
    const signature = sign.sign(ca.key.privateKey!)
    const sigAlg = signatureAlgorithm(ca.key.signer.keyType, ca.hash)
    const tbsLength = pieces.reduce((n, p) => n + p.length, 0)
    const { header, trailer } = crlEnvelope(tbsLength, sigAlg, signature)
    const crl = Buffer.concat([header, ...pieces, trailer])
    assert.deepEqual(crl, assembleCrl(Buffer.concat(pieces), sigAlg, signature))
    const { verified, output, text } = await opensslCrl(ca, crl)
    assert.isTrue(verified, output)
    assert.equal(text.match(/Serial Number: /g)?.length, 300)
  }).timeout(60_000)

  test('dates after 2049 are GeneralizedTime', async ({ assert }) => {
    const ca = await makeRoot('ed25519')
    const thisUpdate = new Date(Date.UTC(2050, 0, 1, 0, 0, 0))
    const nextUpdate = new Date(Date.UTC(2051, 5, 30, 12, 0, 0))
    const lastUtc = new Date(Date.UTC(2049, 11, 31, 23, 59, 59))
    const tbs = encodeCrlTbs(
      draft(ca, {
        thisUpdate,
        nextUpdate,
        entries: [
          encodeCrlEntry({ serial: 'abcdef', revokedAt: thisUpdate, reason: 'keyCompromise' }),
          encodeCrlEntry({ serial: '0abcde', revokedAt: lastUtc }),
        ],
      })
    )
    assert.include(tbs.toString('latin1'), '\x18\x0f20500101000000Z')
    assert.include(tbs.toString('latin1'), '\x18\x0f20510630120000Z')
    assert.include(tbs.toString('latin1'), '\x17\x0d491231235959Z')
    const crl = await signCrl(tbs, ca.key.signer, ca.hash)
    const { verified, output, text } = await opensslCrl(ca, crl)
    assert.isTrue(verified, output)
    assert.match(text, /Last Update: Jan {2}1 00:00:00 2050 GMT/)
    assert.match(text, /Next Update: Jun 30 12:00:00 2051 GMT/)
    assert.match(text, /Revocation Date: Jan {2}1 00:00:00 2050 GMT/)
    assert.match(text, /Revocation Date: Dec 31 23:59:59 2049 GMT/)
  })
})

test.group('crl: openssl verify -crl_check', () => {
  test('a listed leaf is revoked; hold lifted by removeFromCRL in a delta', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const now = Date.now()
    const serial = newSerial()
    const spki = testKey('ecdsa-p256').signer.publicKeySpki
    const leaf = await signCertificate(
      {
        serial,
        issuerDer: ca.subjectDer,
        subjectDer: nameToDer({ commonName: 'leaf.example.com' }),
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 30 * DAY),
        spki,
        extensions: [
          basicConstraints({ ca: false }),
          keyUsage(['digitalSignature']),
          subjectKeyIdentifier(spki),
          ca.aki,
          crlDistributionPoints([CRL_URL]),
          freshestCrl([DELTA_URL]),
        ],
        signatureAlgorithm: signatureAlgorithm('ecdsa-p256', ca.hash),
      },
      ca.key.signer,
      ca.hash
    )
    const sign = async (
      crlNumber: bigint,
      url: string,
      entries: Uint8Array[],
      deltaCrlIndicator?: bigint
    ) => {
      const d = draft(ca, {
        crlNumber,
        entries,
        issuingDistributionPoint: { url, onlyContainsUserCerts: true },
        ...(deltaCrlIndicator === undefined
          ? { freshestCrlUrls: [DELTA_URL] }
          : { deltaCrlIndicator }),
      })
      return toPem(await signCrl(encodeCrlTbs(d), ca.key.signer, ca.hash), 'X509 CRL')
    }
    const verify = (crls: string[]) =>
      opensslVerify({
        roots: [toPem(ca.der, 'CERTIFICATE')],
        cert: toPem(leaf, 'CERTIFICATE'),
        crls,
        extraArgs: ['-extended_crl', '-use_deltas'],
      })
    const revokedAt = new Date(now - 30_000)
    const other = encodeCrlEntry({ serial: newSerial(), revokedAt, reason: 'superseded' })

    const clean = await verify([await sign(10n, CRL_URL, [other])])
    assert.isTrue(clean.ok, clean.output)

    const hold = encodeCrlEntry({ serial, revokedAt, reason: 'certificateHold' })
    const base = await sign(11n, CRL_URL, [other, hold])
    const held = await verify([base])
    assert.isFalse(held.ok)
    assert.include(held.output, 'certificate revoked')

    const lifted = encodeCrlEntry({ serial, revokedAt: new Date(now), reason: 'removeFromCRL' })
    // a delta carries the same IDP as its base (OpenSSL compares the two extensions)
    const delta = await sign(12n, CRL_URL, [lifted], 11n)
    const unheld = await verify([base, delta])
    assert.isTrue(unheld.ok, unheld.output)

    const compromised = encodeCrlEntry({ serial, revokedAt, reason: 'keyCompromise' })
    const revoked = await verify([await sign(13n, CRL_URL, [compromised, other])])
    assert.isFalse(revoked.ok)
    assert.include(revoked.output, 'certificate revoked')
  })

  test('a tampered CRL fails openssl crl -verify', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const crl = await signCrl(encodeCrlTbs(draft(ca)), ca.key.signer, ca.hash)
    const tampered = Buffer.from(crl)
    tampered[crl.indexOf(Buffer.from([0x02, 0x01, 42])) + 2] = 43 // the CRL number
    assert.isTrue((await opensslCrl(ca, crl)).verified)
    assert.isFalse((await opensslCrl(ca, tampered)).verified)
  })
})

test.group('crl: encoding details and errors', () => {
  test('entry bytes: serial forms agree; reasonCode omitted for unspecified', ({ assert }) => {
    const revokedAt = new Date(Date.UTC(2026, 0, 2, 3, 4, 5))
    const a = encodeCrlEntry({ serial: new Uint8Array([0x00, 0x80, 0x01]), revokedAt })
    const b = encodeCrlEntry({ serial: '00:80:01', revokedAt, reason: 'unspecified' })
    assert.deepEqual(a, b)
    // SEQUENCE { INTEGER 0x008001, UTCTime }
    assert.equal(
      a.toString('hex'),
      '3014' + '0203008001' + '170d' + Buffer.from('260102030405Z').toString('hex')
    )
    const hold = encodeCrlEntry({ serial: '01', revokedAt, reason: 'certificateHold' })
    // crlEntryExtensions { Extension { cRLReason, OCTET STRING { ENUMERATED 6 } } }
    assert.isTrue(hold.toString('hex').endsWith('300c300a0603551d1504030a0106'))
    const removed = encodeCrlEntry({ serial: '01', revokedAt, reason: 'removeFromCRL' })
    assert.isTrue(removed.toString('hex').endsWith('0a0108'))
  })

  test('writeCrlEntry writes what encodeCrlEntry encodes, in place', ({ assert }) => {
    const reasons = [undefined, ...Object.keys(CRL_REASON_CODES)] as Array<CrlReason | undefined>
    const serials = [
      '1',
      '7f',
      '80',
      'ff',
      '0080',
      '00ff01',
      'ABCDEF',
      'de:ad:be:ef',
      '1'.repeat(40),
    ]
    const times = [
      Date.UTC(1950, 0, 1),
      Date.UTC(1949, 11, 31, 23, 59, 59),
      Date.UTC(2049, 11, 31, 23, 59, 59, 999),
      Date.UTC(2050, 0, 1),
      Date.UTC(2000, 1, 29, 12, 34, 56),
      Date.UTC(1969, 11, 31, 23, 59, 59),
      Date.UTC(9999, 11, 31, 23, 59, 59),
      Date.UTC(1, 0, 1),
    ]
    for (let i = 0; i < 3000; i++) {
      serials.push(`${(i % 15) + 1}${crypto.randomBytes(i % 20).toString('hex')}`.slice(0, 40))
      times.push(Math.floor(Math.random() * Date.UTC(2200, 0, 1)))
    }
    const out = Buffer.alloc(200)
    let n = 0
    for (const serial of serials) {
      const revokedAt = times[n % times.length]
      const reason = reasons[n % reasons.length]
      n++
      const expected = encodeCrlEntry({ serial, revokedAt: new Date(revokedAt), reason })
      const end = writeCrlEntry(out, 7, serial, revokedAt, reason)
      assert.equal(end, 7 + expected.length, serial)
      assert.deepEqual(out.subarray(7, end), expected, `${serial} ${revokedAt} ${reason}`)
    }
    // every time on its own, with one serial
    for (const t of times) {
      const expected = encodeCrlEntry({ serial: '0a', revokedAt: new Date(t) })
      assert.deepEqual(out.subarray(0, writeCrlEntry(out, 0, '0a', t)), expected, String(t))
    }
    // no room: nothing written, -1
    const small = Buffer.alloc(10, 0xee)
    assert.equal(writeCrlEntry(small, 0, 'abcdef', Date.now(), 'keyCompromise'), -1)
    assert.isTrue(small.every((b) => b === 0xee))
    // the same refusals
    for (const bad of ['', '0', '00', 'xyz', '-1']) {
      assert.throws(() => writeCrlEntry(out, 0, bad, Date.now()))
    }
    assert.throws(() => writeCrlEntry(out, 0, '01', Number.NaN))
    assert.throws(() => writeCrlEntry(out, 0, '01', Date.now(), 'bogus' as CrlReason))
  })

  test('rejects malformed drafts and a mismatched signer', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const revokedAt = new Date()
    const cases: [string, () => unknown][] = [
      ['empty serial', () => encodeCrlEntry({ serial: new Uint8Array(0), revokedAt })],
      ['bad reason', () => encodeCrlEntry({ serial: '01', revokedAt, reason: 'bogus' as never })],
      ['bad date', () => encodeCrlEntry({ serial: '01', revokedAt: new Date(Number.NaN) })],
      [
        'nextUpdate before thisUpdate',
        () => encodeCrlTbs(draft(ca, { nextUpdate: new Date(Date.now() - DAY) })),
      ],
      ['CRL number over 20 octets', () => encodeCrlTbs(draft(ca, { crlNumber: 2n ** 160n }))],
      ['negative CRL number', () => encodeCrlTbs(draft(ca, { crlNumber: -1n }))],
      ['base not below number', () => encodeCrlTbs(draft(ca, { deltaCrlIndicator: 42n }))],
      [
        'delta with Freshest CRL',
        () => encodeCrlTbs(draft(ca, { deltaCrlIndicator: 41n, freshestCrlUrls: [DELTA_URL] })),
      ],
      [
        'IDP both user and CA',
        () =>
          encodeCrlTbs(
            draft(ca, {
              issuingDistributionPoint: {
                url: CRL_URL,
                onlyContainsUserCerts: true,
                onlyContainsCACerts: true,
              },
            })
          ),
      ],
      [
        'bad IDP URL',
        () => encodeCrlTbs(draft(ca, { issuingDistributionPoint: { url: 'not a url' } })),
      ],
      ['bad issuer', () => encodeCrlTbs(draft(ca, { issuerDer: new Uint8Array([1, 2]) }))],
      ['empty AKI', () => encodeCrlTbs(draft(ca, { authorityKeyId: new Uint8Array(0) }))],
    ]
    for (const [label, fn] of cases) {
      let thrown: unknown
      try {
        fn()
      } catch (error) {
        thrown = error
      }
      assert.instanceOf(thrown, PkiError, label)
    }
    const tbs = encodeCrlTbs(draft(ca))
    await assert.rejects(() => signCrl(tbs, ca.key.signer, 'sha384'), /does not match the signer/)
    await assert.rejects(() => signCrl(new Uint8Array([0x30, 0x00]), ca.key.signer, ca.hash))
  })
})
