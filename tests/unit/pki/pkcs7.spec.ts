import { test } from '@japa/runner'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AsnParser } from '@peculiar/asn1-schema'
import { ContentInfo, SignedData } from '@peculiar/asn1-cms'
import {
  certificatesFromInput,
  certsFromPkcs7,
  certsOnlyPkcs7,
  fromPem,
  PkiError,
  toPem,
} from '../../../app/pki/index.js'
import { run, toolPath, withTempDir } from '../../helpers/external.js'
import { makeRoot } from './_support.js'
import { writeFile } from 'node:fs/promises'

test.group('pkcs7', () => {
  test('certs-only SignedData: openssl pkcs7 -print_certs lists the chain in order', async ({
    assert,
  }) => {
    const a = await makeRoot('ecdsa-p256', { commonName: 'First CA' })
    const b = await makeRoot('rsa-2048', { commonName: 'Second CA' })
    const p7 = certsOnlyPkcs7([a.der, b.der])
    await withTempDir(async (dir) => {
      const file = join(dir, 'chain.p7b')
      await writeFile(file, p7)
      const printed = await run(toolPath('openssl'), [
        'pkcs7',
        '-print_certs',
        '-inform',
        'DER',
        '-in',
        file,
      ])
      assert.equal(printed.code, 0, printed.stderr)
      const subjects = [...printed.stdout.matchAll(/^subject=(.*)$/gm)].map((m) => m[1])
      assert.deepEqual(subjects, ['CN = First CA', 'CN = Second CA'])
      // the certificates come back byte for byte
      const pems = printed.stdout
        .split(/(?=-----BEGIN CERTIFICATE-----)/)
        .filter((p) => p.includes('BEGIN'))
      assert.deepEqual(
        pems.map((p) => Buffer.from(fromPem(p))),
        [Buffer.from(a.der), Buffer.from(b.der)]
      )

      const parsed = await run(toolPath('openssl'), ['asn1parse', '-inform', 'DER', '-in', file])
      assert.equal(parsed.code, 0)
      assert.match(parsed.stdout, /OBJECT\s+:pkcs7-signedData/)
      assert.match(parsed.stdout, /OBJECT\s+:pkcs7-data/)
    })
    // and the CMS schema of asn1-cms reads it: version 1, no digest algorithms, no signers
    const info = AsnParser.parse(p7, ContentInfo)
    const signed = AsnParser.parse(info.content, SignedData)
    assert.equal(signed.version, 1)
    assert.lengthOf(signed.digestAlgorithms, 0)
    assert.lengthOf(signed.signerInfos, 0)
    assert.lengthOf(signed.certificates!, 2)
  })

  test('certsFromPkcs7 reads ours and openssl crl2pkcs7 output (PEM and DER)', async ({
    assert,
  }) => {
    const a = await makeRoot('ed25519', { commonName: 'A' })
    const b = await makeRoot('ecdsa-p384', { commonName: 'B' })
    assert.deepEqual(
      certsFromPkcs7(certsOnlyPkcs7([a.der, b.der])),
      [a.der, b.der].map((d) => new Uint8Array(d))
    )
    assert.deepEqual(certsFromPkcs7(certsOnlyPkcs7([])), [])
    await withTempDir(async (dir) => {
      const certs = join(dir, 'certs.pem')
      await writeFile(certs, toPem(a.der, 'CERTIFICATE') + toPem(b.der, 'CERTIFICATE'))
      const made = await run(toolPath('openssl'), [
        'crl2pkcs7',
        '-nocrl',
        '-certfile',
        certs,
        '-out',
        join(dir, 'out.p7b'),
      ])
      assert.equal(made.code, 0, made.stderr)
      const pem = (await readFile(join(dir, 'out.p7b'))).toString()
      const fromOpenssl = certsFromPkcs7(pem)
      assert.sameDeepMembers(
        fromOpenssl.map((c) => Buffer.from(c).toString('hex')),
        [a.der, b.der].map((c) => Buffer.from(c).toString('hex'))
      )
      assert.lengthOf(certificatesFromInput(pem), 2)
      assert.lengthOf(certificatesFromInput(fromPem(pem)), 2)
    })
  })

  test('non-DER input and non-PKCS#7 bundles are E_INVALID_CERTIFICATE', async ({ assert }) => {
    const a = await makeRoot('ecdsa-p256')
    for (const fn of [
      () => certsOnlyPkcs7([a.der, new TextEncoder().encode(toPem(a.der, 'CERTIFICATE'))]),
      () => certsFromPkcs7(a.der),
      () => certsFromPkcs7(new Uint8Array([0x30, 0x80, 0x01])),
      () => certsFromPkcs7('nothing'),
    ]) {
      try {
        fn()
        assert.fail('accepted')
      } catch (error) {
        assert.instanceOf(error, PkiError)
        assert.equal((error as PkiError).code, 'E_INVALID_CERTIFICATE')
      }
    }
  })
})
