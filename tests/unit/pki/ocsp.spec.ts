import { test } from '@japa/runner'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { HashName, KeyType } from '../../../hsm/types.js'
import {
  basicConstraints,
  decodeOcspGetPath,
  encodeBasicResponseTbs,
  encodeSingleResponse,
  extendedKeyUsage,
  issuerHashes,
  keyUsage,
  nameToDer,
  newSerial,
  ocspErrorResponse,
  ocspNoCheck,
  ocspResponderKeyHash,
  parseOcspRequest,
  PkiError,
  serialHex,
  signatureAlgorithm,
  signCertificate,
  signOcspResponse,
  subjectKeyIdentifier,
  toPem,
  unsupportedOcspHash,
  type OcspErrorStatus,
  type ParsedOcspRequest,
} from '../../../app/pki/index.js'
import { run, toolPath, withTempDir, type OpensslBinary } from '../../helpers/external.js'
import { makeRoot, testKey, type TestCa } from './_support.js'

const MINUTE = 60_000
const pem = (der: Uint8Array) => toPem(der, 'CERTIFICATE')

/** A delegated OCSP responder certificate issued by `ca` (EKU OCSPSigning, ocsp-nocheck). */
async function responderCert(ca: TestCa, keyType: KeyType) {
  const key = testKey(keyType, true)
  const now = Date.now()
  const der = await signCertificate(
    {
      serial: newSerial(),
      issuerDer: ca.subjectDer,
      subjectDer: nameToDer({ organization: 'Open PKI Test', commonName: 'OCSP Responder' }),
      notBefore: new Date(now - MINUTE),
      notAfter: new Date(now + 7 * 86_400_000),
      spki: key.signer.publicKeySpki,
      extensions: [
        basicConstraints({ ca: false }),
        keyUsage(['digitalSignature']),
        extendedKeyUsage(['OCSPSigning']),
        ocspNoCheck(),
        subjectKeyIdentifier(key.signer.publicKeySpki),
        ca.aki,
      ],
      signatureAlgorithm: signatureAlgorithm(ca.key.signer.keyType, ca.hash),
    },
    ca.key.signer,
    ca.hash
  )
  return { key, der }
}

/** The PkiError code `fn` throws ('none' when it returns, 'other' for any other error). */
function errorCode(fn: () => unknown): string {
  try {
    fn()
    return 'none'
  } catch (error) {
    return PkiError.is(error) ? error.code : 'other'
  }
}

function serialArgs(serials: string[]): string[] {
  return serials.flatMap((s) => ['-serial', `0x${s}`])
}

/** `openssl ocsp -reqout`: a request for `serials` of `ca`. */
async function opensslRequest(
  dir: string,
  options: { serials: string[]; nonce?: boolean; digest?: string; binary?: OpensslBinary }
): Promise<Buffer> {
  const args = ['ocsp', '-issuer', join(dir, 'ca.pem'), ...serialArgs(options.serials)]
  if (options.digest) args.splice(1, 0, `-${options.digest}`)
  args.push('-reqout', join(dir, 'req.der'), options.nonce ? '-nonce' : '-no_nonce')
  const result = await run(toolPath(options.binary ?? 'openssl'), args)
  if (result.code !== 0) throw new Error(`openssl ocsp -reqout failed: ${result.stderr}`)
  return readFile(join(dir, 'req.der'))
}

/** `openssl ocsp -respin` verifying against the CA, with the request (nonce check) and serials. */
async function opensslCheck(
  dir: string,
  response: Uint8Array,
  options: { serials?: string[]; reqin?: boolean; digest?: string; binary?: OpensslBinary }
) {
  await writeFile(join(dir, 'resp.der'), response)
  const args = ['ocsp', '-respin', join(dir, 'resp.der'), '-issuer', join(dir, 'ca.pem')]
  if (options.digest) args.push(`-${options.digest}`)
  // -serial builds a new request (with its own nonce): the nonce is checked with -reqin alone
  if (options.reqin) args.push('-reqin', join(dir, 'req.der'))
  else args.push(...serialArgs(options.serials ?? []), '-no_nonce')
  args.push('-CAfile', join(dir, 'ca.pem'), '-resp_text')
  const result = await run(toolPath(options.binary ?? 'openssl'), args)
  return { ...result, output: `${result.stdout}${result.stderr}` }
}

function statusLine(output: string, serial: string): string {
  const line = output.split('\n').find((l) => l.startsWith(`0x${serial}:`))
  return line?.split(':')[1]?.trim() ?? ''
}

const CASES: { ca: KeyType; responder: KeyType; binary: OpensslBinary }[] = [
  { ca: 'ecdsa-p256', responder: 'ecdsa-p256', binary: 'openssl' },
  { ca: 'rsa-2048', responder: 'rsa-2048', binary: 'openssl' },
  { ca: 'ed25519', responder: 'ed25519', binary: 'openssl' },
  { ca: 'ml-dsa-65', responder: 'ml-dsa-65', binary: 'openssl35' },
]

test.group('ocsp: requests by openssl, responses verified by openssl', () => {
  for (const c of CASES) {
    test(`${c.ca} CA, delegated ${c.responder} responder: good / revoked / unknown, nonce echoed`, async ({
      assert,
    }) => {
      const ca = await makeRoot(c.ca)
      const responder = await responderCert(ca, c.responder)
      const serials = [serialHex(newSerial()), serialHex(newSerial()), serialHex(newSerial())]
      await withTempDir(async (dir) => {
        await writeFile(join(dir, 'ca.pem'), pem(ca.der))
        const reqDer = await opensslRequest(dir, { serials, nonce: true, binary: c.binary })
        const request = parseOcspRequest(reqDer)
        assert.deepEqual(
          request.requests.map((r) => r.serial),
          serials
        )
        assert.isFalse(request.signed)
        assert.isDefined(request.nonce)
        const sha1 = issuerHashes(ca.der, 'sha1')
        for (const r of request.requests) {
          assert.equal(r.hashAlgorithm, 'sha1')
          assert.isTrue(r.hashSupported)
          assert.equal(Buffer.from(r.issuerNameHash).toString('hex'), sha1.nameHash.toString('hex'))
          assert.equal(Buffer.from(r.issuerKeyHash).toString('hex'), sha1.keyHash.toString('hex'))
        }

        const now = Date.now()
        const thisUpdate = new Date(now - MINUTE)
        const nextUpdate = new Date(now + 60 * MINUTE)
        const revokedAt = new Date(Math.floor((now - 3_600_000) / 1000) * 1000)
        const statuses = [
          { good: true as const },
          { revoked: { at: revokedAt, reason: 'keyCompromise' as const } },
          { unknown: true as const },
        ]
        const singles = request.requests.map((r, i) =>
          encodeSingleResponse({ certId: r.certIdDer, status: statuses[i], thisUpdate, nextUpdate })
        )
        const tbs = encodeBasicResponseTbs({
          responderKeyHash: ocspResponderKeyHash(responder.key.signer.publicKeySpki),
          producedAt: new Date(now),
          responses: singles,
          nonce: request.nonce,
        })
        const hash: HashName = 'sha256'
        const response = await signOcspResponse(tbs, responder.key.signer, hash, [responder.der])
        const nonceCheck = await opensslCheck(dir, response, { reqin: true, binary: c.binary })
        assert.equal(nonceCheck.code, 0, nonceCheck.output)
        assert.include(nonceCheck.output, 'Response verify OK')
        assert.notInclude(nonceCheck.output, 'WARNING: no nonce')
        assert.notInclude(nonceCheck.output, 'Nonce Verify error')
        assert.include(nonceCheck.output, 'OCSP Nonce')
        const check = await opensslCheck(dir, response, { serials, binary: c.binary })
        assert.equal(check.code, 0, check.output)
        assert.include(check.output, 'Response verify OK')
        const keyHash = ocspResponderKeyHash(responder.key.signer.publicKeySpki)
        assert.include(check.output, `Responder Id: ${keyHash.toString('hex').toUpperCase()}`)
        assert.equal(statusLine(check.output, serials[0]), 'good')
        assert.equal(statusLine(check.output, serials[1]), 'revoked')
        assert.equal(statusLine(check.output, serials[2]), 'unknown')
        assert.include(check.output, 'Reason: keyCompromise')
        const month = revokedAt.toUTCString().slice(8, 11)
        const time = revokedAt.toISOString().slice(11, 19)
        assert.match(check.output, new RegExp(`Revocation Time: ${month} +\\d+ ${time} \\d{4} GMT`))

        // a response without the request's nonce: openssl only warns
        const noNonce = await signOcspResponse(
          encodeBasicResponseTbs({
            responderKeyHash: ocspResponderKeyHash(responder.key.signer.publicKeySpki),
            producedAt: new Date(now),
            responses: singles,
          }),
          responder.key.signer,
          hash,
          [responder.der]
        )
        const warned = await opensslCheck(dir, noNonce, { reqin: true, binary: c.binary })
        assert.include(warned.output, 'WARNING: no nonce in response')
        assert.include(warned.output, 'Response verify OK')
      })
    }).timeout(60_000)
  }

  test('several serials, SHA-256 CertIDs, no nonce; pre-built CertIDs match openssl ones', async ({
    assert,
  }) => {
    const ca = await makeRoot('ecdsa-p256')
    const responder = await responderCert(ca, 'ecdsa-p256')
    const serials = [serialHex(newSerial()), '01', '7f', '0100']
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), pem(ca.der))
      for (const hash of ['sha256', 'sha384', 'sha512', 'sha1'] as const) {
        const request = parseOcspRequest(
          await opensslRequest(dir, { serials, digest: hash, nonce: false })
        )
        assert.isUndefined(request.nonce)
        assert.lengthOf(request.requests, serials.length)
        const expected = issuerHashes(ca.der, hash)
        for (const [i, r] of request.requests.entries()) {
          assert.equal(r.hashAlgorithm, hash)
          assert.equal(r.serial, serials[i])
          assert.deepEqual(Buffer.from(r.issuerNameHash), expected.nameHash)
          assert.deepEqual(Buffer.from(r.issuerKeyHash), expected.keyHash)
        }
        // pre-signed style: CertIDs built from our own hashes, not echoed
        const now = Date.now()
        const singles = serials.map((serial, i) =>
          encodeSingleResponse({
            certId: {
              hash,
              issuerNameHash: expected.nameHash,
              issuerKeyHash: expected.keyHash,
              serial,
            },
            status:
              i % 2 === 0
                ? { good: true }
                : { revoked: { at: new Date(now - 5000), reason: 'certificateHold' } },
            thisUpdate: new Date(now - MINUTE),
            nextUpdate: new Date(now + MINUTE),
          })
        )
        const tbs = encodeBasicResponseTbs({
          responderKeyHash: ocspResponderKeyHash(responder.key.signer.publicKeySpki),
          producedAt: new Date(now),
          responses: singles,
        })
        const response = await signOcspResponse(tbs, responder.key.signer, 'sha256', [
          responder.der,
        ])
        const check = await opensslCheck(dir, response, { serials, digest: hash })
        assert.equal(check.code, 0, check.output)
        assert.include(check.output, 'Response verify OK')
        assert.equal(statusLine(check.output, serials[0]), 'good')
        assert.equal(statusLine(check.output, serials[1]), 'revoked')
        assert.equal(statusLine(check.output, serials[2]), 'good')
        assert.include(check.output, 'Reason: certificateHold')
      }
    })
  }).timeout(60_000)

  test('signed by the CA key itself (no certs), revoked with reason unspecified', async ({
    assert,
  }) => {
    const ca = await makeRoot('rsa-2048')
    const serial = serialHex(newSerial())
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), pem(ca.der))
      const request = parseOcspRequest(await opensslRequest(dir, { serials: [serial] }))
      const now = Date.now()
      const tbs = encodeBasicResponseTbs({
        responderKeyHash: ocspResponderKeyHash(ca.key.signer.publicKeySpki),
        producedAt: new Date(now),
        responses: [
          encodeSingleResponse({
            certId: request.requests[0].certIdDer,
            status: { revoked: { at: new Date(now - 1000), reason: 'unspecified' } },
            thisUpdate: new Date(now - MINUTE),
          }),
        ],
      })
      const response = await signOcspResponse(tbs, ca.key.signer, 'sha384')
      const check = await opensslCheck(dir, response, { serials: [serial] })
      assert.equal(check.code, 0, check.output)
      assert.include(check.output, 'Response verify OK')
      assert.equal(statusLine(check.output, serial), 'revoked')
      assert.notInclude(check.output, 'Reason:')
      assert.include(check.output, 'sha384WithRSAEncryption')
    })
  }).timeout(60_000)

  test('unsigned error responses are read by openssl', async ({ assert }) => {
    const expected: Record<OcspErrorStatus, string> = {
      malformedRequest: 'malformedrequest (1)',
      internalError: 'internalerror (2)',
      tryLater: 'trylater (3)',
      sigRequired: 'sigrequired (5)',
      unauthorized: 'unauthorized (6)',
    }
    await withTempDir(async (dir) => {
      for (const [status, text] of Object.entries(expected)) {
        await writeFile(join(dir, 'err.der'), ocspErrorResponse(status as OcspErrorStatus))
        const result = await run(toolPath('openssl'), [
          'ocsp',
          '-respin',
          join(dir, 'err.der'),
          '-resp_text',
        ])
        const output = `${result.stdout}${result.stderr}`
        assert.include(output, `Responder Error: ${text}`, output)
      }
    })
  }).timeout(30_000)
})

test.group('ocsp: signed requests', () => {
  test('a request signed by openssl: requestorName and the signature flag', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const requestor = await responderCert(ca, 'ecdsa-p256')
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), pem(ca.der))
      await writeFile(join(dir, 'signer.pem'), pem(requestor.der))
      await writeFile(
        join(dir, 'signer.key'),
        requestor.key.privateKey!.export({ type: 'pkcs8', format: 'pem' })
      )
      const result = await run(toolPath('openssl'), [
        'ocsp',
        '-issuer',
        join(dir, 'ca.pem'),
        '-serial',
        '0x42',
        '-signer',
        join(dir, 'signer.pem'),
        '-signkey',
        join(dir, 'signer.key'),
        '-reqout',
        join(dir, 'req.der'),
      ])
      assert.equal(result.code, 0, result.stderr)
      const request = parseOcspRequest(await readFile(join(dir, 'req.der')))
      assert.isTrue(request.signed)
      assert.isDefined(request.requestorName)
      assert.equal(request.requestorName![0], 0xa4) // directoryName
      assert.lengthOf(request.nonce!, 16)
      assert.equal(request.requests[0].serial, '42')
    })
  }).timeout(30_000)
})

test.group('ocsp: bad requests', () => {
  async function sampleRequest(nonce: boolean, digest?: string): Promise<Buffer> {
    const ca = await makeRoot('ecdsa-p256')
    return withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), pem(ca.der))
      return opensslRequest(dir, { serials: ['1234', '5678'], nonce, digest })
    })
  }

  function assertMalformed(assert: any, input: Uint8Array) {
    try {
      parseOcspRequest(input)
      assert.fail('expected E_INVALID_OCSP_REQUEST')
    } catch (error) {
      assert.isTrue(PkiError.is(error, 'E_INVALID_OCSP_REQUEST'), String(error))
      assert.equal((error as PkiError).status, 400)
    }
  }

  test('garbage, truncated, trailing bytes and empty input are refused', async ({ assert }) => {
    const req = await sampleRequest(true)
    assertMalformed(assert, new Uint8Array(0))
    assertMalformed(assert, Buffer.from('not an ocsp request at all'))
    for (let i = 0; i < 200; i++) assertMalformed(assert, randomBytes(1 + (i % 300)))
    for (let cut = 1; cut < req.length; cut++) assertMalformed(assert, req.subarray(0, cut))
    assertMalformed(assert, Buffer.concat([req, Buffer.from([0])]))
    // a certificate is not a request
    const ca = await makeRoot('ecdsa-p256')
    assertMalformed(assert, ca.der)
    // an empty requestList
    assertMalformed(assert, Buffer.from('3004300230000000', 'hex').subarray(0, 6))
    // flipping bytes never crashes: either parses or gives the typed error
    for (let i = 0; i < req.length; i++) {
      const copy = Buffer.from(req)
      copy[i] ^= 0xff
      try {
        parseOcspRequest(copy)
      } catch (error) {
        assert.isTrue(PkiError.is(error, 'E_INVALID_OCSP_REQUEST'), String(error))
      }
    }
  }).timeout(30_000)

  test('a nonce longer than 128 octets is refused', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), pem(ca.der))
      const ok = await run(toolPath('openssl'), [
        'ocsp',
        '-issuer',
        join(dir, 'ca.pem'),
        '-serial',
        '0x01',
        '-reqout',
        join(dir, 'req.der'),
        '-nonce',
      ])
      assert.equal(ok.code, 0, ok.stderr)
      const parsed: ParsedOcspRequest = parseOcspRequest(await readFile(join(dir, 'req.der')))
      assert.lengthOf(parsed.nonce!, 16)
    })
    // hand-made: Nonce of 129 octets
    const certId = Buffer.from(
      '303a300906052b0e03021a05000414' + '00'.repeat(20) + '0414' + '11'.repeat(20) + '020101',
      'hex'
    )
    const request = (nonce: Buffer) => {
      const inner = Buffer.concat([Buffer.from([0x04, 0x81, nonce.length]), nonce])
      const value = Buffer.concat([Buffer.from([0x04, 0x81, inner.length]), inner])
      const ext = Buffer.concat([
        Buffer.from([0x30, 0x81, 11 + value.length]),
        Buffer.from('06092b0601050507300102', 'hex'),
        value,
      ])
      const exts = Buffer.concat([Buffer.from([0x30, 0x81, ext.length]), ext])
      const a2 = Buffer.concat([Buffer.from([0xa2, 0x81, exts.length]), exts])
      const reqList = Buffer.concat([
        Buffer.from([0x30, certId.length + 2, 0x30, certId.length]),
        certId,
      ])
      const tbsBody = Buffer.concat([reqList, a2])
      const tbs = Buffer.concat([Buffer.from([0x30, 0x82, 0, tbsBody.length]), tbsBody])
      return Buffer.concat([Buffer.from([0x30, 0x82, 0, tbs.length]), tbs])
    }
    assert.lengthOf(parseOcspRequest(request(Buffer.alloc(128, 7))).nonce!, 128)
    assertMalformed(assert, request(Buffer.alloc(129, 7)))
  })

  test('an unsupported CertID hash is reported, not refused', async ({ assert }) => {
    const request = parseOcspRequest(await sampleRequest(false, 'sha224'))
    assert.lengthOf(request.requests, 2)
    assert.isFalse(request.requests[0].hashSupported)
    assert.equal(request.requests[0].hashAlgorithm, '2.16.840.1.101.3.4.2.4')
    assert.equal(unsupportedOcspHash(request), '2.16.840.1.101.3.4.2.4')
    const fine = parseOcspRequest(await sampleRequest(false))
    assert.isUndefined(unsupportedOcspHash(fine))
  }).timeout(30_000)
})

test.group('ocsp: GET path', () => {
  test('standard base64, percent-encoded, "+" as space, doubled slashes', async ({ assert }) => {
    const ca = await makeRoot('ecdsa-p256')
    const req = await withTempDir(async (dir) => {
      await writeFile(join(dir, 'ca.pem'), pem(ca.der))
      return opensslRequest(dir, { serials: ['0a0b0c'], nonce: false })
    })
    const b64 = req.toString('base64')
    for (const path of [
      b64,
      `/${b64}`,
      `//${b64}`,
      encodeURIComponent(b64),
      `/${encodeURIComponent(b64)}`,
      b64.replace(/=+$/, ''),
    ]) {
      const der = decodeOcspGetPath(path)
      assert.deepEqual(Buffer.from(der), req, path)
      assert.equal(parseOcspRequest(der).requests[0].serial, '0a0b0c')
    }
    // bytes whose base64 has '+' and '/' in it
    const bytes = Buffer.from('MPv+/w+/ab8=', 'base64')
    const text = bytes.toString('base64')
    assert.match(text, /\+/)
    assert.match(text, /\//)
    for (const path of [
      text,
      encodeURIComponent(text),
      text.replace(/\+/g, ' '),
      text.replace(/\+/g, '%2B').replace(/\//g, '%2F'),
      text.replace(/\+/g, '%2b').replace(/\//g, '%2f').replace(/=/g, '%3D'),
      `//${text}`,
      bytes.toString('base64url'),
    ]) {
      assert.deepEqual(Buffer.from(decodeOcspGetPath(path)), bytes, path)
    }
  }).timeout(30_000)

  test('garbage in the GET path is refused with the typed error', ({ assert }) => {
    for (const path of ['', '/', '//', '%', '%zz', 'abc$def', 'A', 'MFQw!', '====']) {
      assert.equal(
        errorCode(() => decodeOcspGetPath(path)),
        'E_INVALID_OCSP_REQUEST',
        path
      )
    }
  })
})

test.group('ocsp: encoders refuse bad input', () => {
  test('bad certId, dates and empty responses', ({ assert }) => {
    const bad = (fn: () => unknown) => assert.equal(errorCode(fn), 'E_INVALID_DRAFT')
    const now = new Date()
    bad(() =>
      encodeSingleResponse({
        certId: new Uint8Array([1, 2]),
        status: { good: true },
        thisUpdate: now,
      })
    )
    bad(() =>
      encodeSingleResponse({
        certId: new Uint8Array([0x30, 0]),
        status: { good: true },
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() - 1000),
      })
    )
    bad(() =>
      encodeSingleResponse({
        certId: new Uint8Array([0x30, 0]),
        status: { good: true },
        thisUpdate: new Date(Number.NaN),
      })
    )
    bad(() =>
      encodeBasicResponseTbs({
        responderKeyHash: new Uint8Array(20),
        producedAt: now,
        responses: [],
      })
    )
    assert.equal(Buffer.from(ocspErrorResponse('malformedRequest')).toString('hex'), '30030a0101')
  })
})
