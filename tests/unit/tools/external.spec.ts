/*
 * Proves the external-tool helpers (tests/helpers/external.ts) against the real tools installed by
 * scripts/install-test-tools.sh. Run alone with:
 *   node --import=ts-node-maintained/register/esm scripts/japa_unit.ts --files tests/unit/tools/
 */
import { test } from '@japa/runner'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  openssl35Verify,
  opensslReqVerify,
  opensslText,
  opensslVerify,
  run,
  toolPath,
  withTempDir,
  zlint,
  ZLINT_ML_DSA_EXCLUDE_NAMES,
  type OpensslBinary,
} from '../../helpers/external.js'

/** Self-signed certificate (and its key) made with `openssl req -x509` in dir. */
async function selfSigned(
  dir: string,
  name: string,
  options: {
    keyArgs?: string[]
    binary?: OpensslBinary
    subject?: string
    extraArgs?: string[]
  } = {}
): Promise<{ cert: string; keyFile: string; certFile: string }> {
  const keyFile = join(dir, `${name}.key`)
  const certFile = join(dir, `${name}.pem`)
  const binary = options.binary ?? 'openssl'
  const r = await run(toolPath(binary), [
    'req',
    '-x509',
    ...(options.keyArgs ?? ['-newkey', 'rsa:2048']),
    '-nodes',
    '-subj',
    options.subject ?? '/CN=x',
    '-days',
    '2',
    ...(options.extraArgs ?? []),
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ])
  if (r.code !== 0) throw new Error(`${binary} req -x509 failed: ${r.stderr}`)
  return { cert: await readFile(certFile, 'utf8'), keyFile, certFile }
}

/** Asserts a run succeeded, showing stderr otherwise. */
function mustSucceed(r: { code: number; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr}`)
}

test.group('external tools: helpers', () => {
  test('toolPath finds openssl, openssl35 and zlint', ({ assert }) => {
    assert.equal(toolPath('openssl'), '/usr/bin/openssl')
    assert.match(toolPath('openssl35'), /\/\.tools\/bin\/openssl35$/)
    assert.match(toolPath('zlint'), /\/\.tools\/bin\/zlint$/)
  })

  test('run resolves on non-zero exits, feeds stdin and rejects only when it cannot start', async ({
    assert,
  }) => {
    const fail = await run('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3'])
    assert.deepEqual(fail, { code: 3, stdout: 'out\n', stderr: 'err\n' })
    const cat = await run('/bin/cat', [], { input: 'hello' })
    assert.equal(cat.stdout, 'hello')
    const env = await run('/bin/sh', ['-c', 'echo "$FOO"'], { env: { FOO: 'bar' } })
    assert.equal(env.stdout, 'bar\n')
    await assert.rejects(() => run('/nonexistent/binary', []), /cannot run/)
  })

  test('withTempDir removes its directory afterwards, also on errors', async ({ assert }) => {
    let seen = ''
    const value = await withTempDir(async (dir) => {
      seen = dir
      await writeFile(join(dir, 'f'), 'x')
      return 42
    })
    assert.equal(value, 42)
    assert.isFalse(existsSync(seen))
    await assert.rejects(
      () =>
        withTempDir((dir) => {
          seen = dir
          throw new Error('boom')
        }),
      /boom/
    )
    assert.isFalse(existsSync(seen))
  })
})

test.group('external tools: OpenSSL 3.0', () => {
  test('opensslVerify accepts a self-signed RSA certificate with its own root only', async ({
    assert,
  }) => {
    await withTempDir(async (dir) => {
      const a = await selfSigned(dir, 'a')
      const b = await selfSigned(dir, 'b')
      const ok = await opensslVerify({ roots: [a.cert], cert: a.cert })
      assert.isTrue(ok.ok, ok.output)
      assert.include(ok.output, ': OK')
      const other = await opensslVerify({ roots: [b.cert], cert: a.cert })
      assert.isFalse(other.ok, other.output)
      assert.notInclude(other.output, ': OK')
      const both = await opensslVerify({ roots: [b.cert, a.cert], cert: a.cert, purpose: 'any' })
      assert.isTrue(both.ok, both.output)
    })
  }).timeout(60000)

  test('opensslVerify checks chains and CRLs', async ({ assert }) => {
    await withTempDir(async (dir) => {
      const ca = await selfSigned(dir, 'ca', {
        keyArgs: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
        subject: '/CN=Test CA',
        extraArgs: ['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      })
      const openssl = toolPath('openssl')
      const cnf = join(dir, 'ca.cnf')
      await writeFile(
        cnf,
        [
          '[ca]',
          'default_ca = CA_default',
          '[CA_default]',
          `database = ${join(dir, 'index.txt')}`,
          `crlnumber = ${join(dir, 'crlnumber')}`,
          'default_md = sha256',
          'default_crl_days = 1',
          '[leaf]',
          'basicConstraints = critical, CA:FALSE',
          'keyUsage = critical, digitalSignature',
          'extendedKeyUsage = serverAuth',
          'subjectAltName = DNS:leaf.example.test',
          'subjectKeyIdentifier = hash',
          'authorityKeyIdentifier = keyid',
          '',
        ].join('\n')
      )
      await writeFile(join(dir, 'index.txt'), '')
      await writeFile(join(dir, 'crlnumber'), '01\n')
      const csr = join(dir, 'leaf.csr')
      mustSucceed(
        await run(openssl, [
          'req',
          '-new',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-subj',
          '/CN=leaf.example.test',
          '-keyout',
          join(dir, 'leaf.key'),
          '-out',
          csr,
        ]),
        'leaf CSR'
      )
      assert.isTrue(await opensslReqVerify(await readFile(csr, 'utf8')))
      const leafFile = join(dir, 'leaf.pem')
      mustSucceed(
        await run(openssl, [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          ca.certFile,
          '-CAkey',
          ca.keyFile,
          '-days',
          '1',
          '-extfile',
          cnf,
          '-extensions',
          'leaf',
          '-out',
          leafFile,
        ]),
        'leaf certificate'
      )
      const leaf = await readFile(leafFile, 'utf8')
      const caArgs = ['-config', cnf, '-keyfile', ca.keyFile, '-cert', ca.certFile]
      const gencrl = async (name: string) => {
        const out = join(dir, name)
        mustSucceed(
          await run(openssl, ['ca', ...caArgs, '-gencrl', '-out', out]),
          'openssl ca -gencrl'
        )
        return readFile(out, 'utf8')
      }

      const chain = await opensslVerify({ roots: [ca.cert], cert: leaf, purpose: 'sslserver' })
      assert.isTrue(chain.ok, chain.output)
      // -x509_strict (the default) rejects a CA certificate without key usage.
      const loose = await selfSigned(dir, 'loose', { subject: '/CN=Loose CA' })
      const looseLeafFile = join(dir, 'loose-leaf.pem')
      mustSucceed(
        await run(openssl, [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          loose.certFile,
          '-CAkey',
          loose.keyFile,
          '-days',
          '1',
          '-extfile',
          cnf,
          '-extensions',
          'leaf',
          '-out',
          looseLeafFile,
        ]),
        'leaf of the CA without key usage'
      )
      const looseLeaf = await readFile(looseLeafFile, 'utf8')
      const strict = await opensslVerify({ roots: [loose.cert], cert: looseLeaf })
      assert.isFalse(strict.ok, strict.output)
      assert.include(strict.output, 'key usage')
      const lax = await opensslVerify({ roots: [loose.cert], cert: looseLeaf, strict: false })
      assert.isTrue(lax.ok, lax.output)
      const wrongPurpose = await opensslVerify({
        roots: [ca.cert],
        cert: leaf,
        purpose: 'smimesign',
      })
      assert.isFalse(wrongPurpose.ok, wrongPurpose.output)
      const later = await opensslVerify({
        roots: [ca.cert],
        cert: leaf,
        atTime: new Date(Date.now() + 10 * 86400_000),
      })
      assert.isFalse(later.ok, later.output)
      assert.include(later.output, 'expired')

      const emptyCrl = await gencrl('empty.crl')
      assert.include(await opensslText(emptyCrl, 'crl'), 'No Revoked Certificates')
      const good = await opensslVerify({ roots: [ca.cert], cert: leaf, crls: [emptyCrl] })
      assert.isTrue(good.ok, good.output)
      const noCrl = await opensslVerify({
        roots: [ca.cert],
        cert: leaf,
        crls: [],
        crlCheck: 'leaf',
      })
      assert.isFalse(noCrl.ok, noCrl.output)
      assert.include(noCrl.output, 'unable to get certificate CRL')

      mustSucceed(await run(openssl, ['ca', ...caArgs, '-revoke', leafFile]), 'openssl ca -revoke')
      const crl = await gencrl('revoked.crl')
      const revoked = await opensslVerify({
        roots: [ca.cert],
        cert: leaf,
        crls: [crl],
        crlCheck: 'all',
      })
      assert.isFalse(revoked.ok, revoked.output)
      assert.include(revoked.output, 'revoked')
    })
  }).timeout(60000)

  test('opensslText and opensslReqVerify read certificates and CSRs', async ({ assert }) => {
    await withTempDir(async (dir) => {
      const a = await selfSigned(dir, 'a')
      const text = await opensslText(a.cert, 'x509')
      assert.match(text, /Subject: CN\s?=\s?x/)
      assert.include(text, 'rsaEncryption')
      await assert.rejects(() => opensslText('not a certificate', 'x509'), /failed/)

      const csrFile = join(dir, 'r.csr')
      mustSucceed(
        await run(toolPath('openssl'), [
          'req',
          '-new',
          '-key',
          a.keyFile,
          '-subj',
          '/CN=req',
          '-out',
          csrFile,
        ]),
        'CSR'
      )
      const csr = await readFile(csrFile, 'utf8')
      assert.include(await opensslText(csr, 'req'), 'Certificate Request')
      assert.isTrue(await opensslReqVerify(csr))
      assert.isTrue(await opensslReqVerify(csr, 'openssl35'))
      // Flip one bit of the signature: OpenSSL 3.0 exits 0 on a bad self-signature, we must not.
      const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64')
      der[der.length - 5] ^= 1
      const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`
      assert.isFalse(await opensslReqVerify(bad))
      assert.isFalse(await opensslReqVerify(bad, 'openssl35'))
    })
  }).timeout(60000)
})

test.group('external tools: zlint', () => {
  test('zlint lints a generated certificate', async ({ assert }) => {
    await withTempDir(async (dir) => {
      const a = await selfSigned(dir, 'a')
      const report = await zlint(a.cert)
      assert.isAbove(report.findings.length, 100)
      const names = report.findings.map((f) => f.lint)
      assert.includeMembers(names, [
        'e_basic_constraints_not_critical',
        'e_ca_country_name_missing',
      ])
      const bc = report.findings.find((f) => f.lint === 'e_basic_constraints_not_critical')
      assert.equal(bc?.result, 'pass')
      // A root with only CN=x lacks C and O, which the CA/B Forum requires.
      assert.includeMembers(report.errors, [
        'e_ca_country_name_missing',
        'e_ca_organization_name_missing',
      ])

      const fewer = await zlint(a.cert, {
        excludeNames: ['e_ca_country_name_missing'],
        excludeSources: ['Mozilla'],
      })
      assert.notInclude(fewer.errors, 'e_ca_country_name_missing')
      assert.isBelow(fewer.findings.length, report.findings.length)
      await assert.rejects(() => zlint('not a certificate'), /zlint failed/)
    })
  }).timeout(60000)
})

test.group('external tools: OpenSSL 3.5', () => {
  test('openssl35 is OpenSSL 3.5', async ({ assert }) => {
    const r = await run(toolPath('openssl35'), ['version'])
    assert.equal(r.code, 0, r.stderr)
    assert.include(r.stdout, '3.5')
  })

  test('openssl35 makes and verifies an ML-DSA-65 self-signed certificate', async ({ assert }) => {
    await withTempDir(async (dir) => {
      const pq = await selfSigned(dir, 'pq', {
        keyArgs: ['-newkey', 'ml-dsa-65'],
        binary: 'openssl35',
        subject: '/CN=ML-DSA test',
      })
      assert.include(await opensslText(pq.cert, 'x509', 'openssl35'), 'ML-DSA-65')
      const ok = await openssl35Verify({ roots: [pq.cert], cert: pq.cert })
      assert.isTrue(ok.ok, ok.output)
      const rsa = await selfSigned(dir, 'rsa')
      const other = await openssl35Verify({ roots: [rsa.cert], cert: pq.cert })
      assert.isFalse(other.ok, other.output)
      // OpenSSL 3.0 does not know ML-DSA.
      const old = await opensslVerify({ roots: [pq.cert], cert: pq.cert })
      assert.isFalse(old.ok, old.output)

      const all = await zlint(pq.cert)
      assert.includeMembers(all.errors, ['e_signature_algorithm_not_supported'])
      const linted = await zlint(pq.cert, { excludeNames: [...ZLINT_ML_DSA_EXCLUDE_NAMES] })
      for (const name of ZLINT_ML_DSA_EXCLUDE_NAMES) assert.notInclude(linted.errors, name)
    })
  }).timeout(60000)
})
