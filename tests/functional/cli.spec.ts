/*
 * The ace commands, run as real child processes (`node ace ...` from the repository root) on the
 * same database and master key as the in-process test server. Every certificate they print is
 * checked with OpenSSL; every change they make is checked through the running server's API.
 * Each `node ace` start costs a few seconds (TypeScript loading), so checks are grouped.
 */
import { test } from '@japa/runner'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import {
  adminToken,
  createCa,
  createTemplate,
  issueCertificate,
  opensslCsr,
  unique,
} from '#tests/helpers/api'
import {
  opensslReqVerify,
  opensslText,
  opensslVerify,
  run,
  toolPath,
  withTempDir,
} from '#tests/helpers/external'
import { describeAce, mapLimit, runAce, type AceResult } from '#tests/helpers/processes'

const PEM_CERT = /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----$/
const PEM_CSR =
  /^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----$/
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')
const DAY = 86_400_000

/** The serial as `openssl x509 -serial` prints it (upper-case hex, no colons). */
async function opensslSerial(pem: string) {
  const result = await run(toolPath('openssl'), ['x509', '-noout', '-serial'], { input: pem })
  if (result.code !== 0) throw new Error(`openssl x509 -serial failed: ${result.stderr}`)
  const match = /^serial=([0-9A-F]+)\s*$/m.exec(result.stdout)
  if (!match) throw new Error(`unexpected openssl output: ${result.stdout}`)
  return match[1]
}

/** notBefore / notAfter as OpenSSL reads them. */
async function opensslDates(pem: string) {
  const result = await run(toolPath('openssl'), ['x509', '-noout', '-startdate', '-enddate'], {
    input: pem,
  })
  const start = /notBefore=(.+)/.exec(result.stdout)?.[1]
  const end = /notAfter=(.+)/.exec(result.stdout)?.[1]
  if (result.code !== 0 || !start || !end)
    throw new Error(`openssl x509 -dates failed: ${result.stderr}${result.stdout}`)
  return { notBefore: new Date(start).getTime(), notAfter: new Date(end).getTime() }
}

/*
 * Independent commands run side by side on SQLite. On PostgreSQL they run one at a time: every
 * `node ace` start runs the migrator, whose advisory lock makes a second process starting at the
 * same moment fail (see the report on concurrent node starts).
 */
const aceParallel = () => (db.primaryConnectionName === 'pg' ? 1 : 3)
const aceAll = (commands: string[][]) => mapLimit(commands, aceParallel(), (args) => runAce(args))

const colons = (hex: string) => hex.match(/../g)!.join(':')

async function certificateCount(caId: number) {
  const row = await db.from('certificates').where('ca_id', caId).count('* as n').first()
  return Number(row.n)
}

/** Asserts a command failed cleanly: non-zero exit, nothing on stdout, one line on stderr containing `message`. */
function assertRefused(assert: any, result: AceResult, message: string | RegExp, label: string) {
  const detail = `${label}: ${describeAce(result)}`
  assert.notEqual(result.code, 0, detail)
  assert.equal(result.stdout.trim(), '', `nothing on stdout — ${detail}`)
  const stderr = result.stderr.replace(ANSI, '').trim()
  assert.notEqual(stderr, '', `a message on stderr — ${detail}`)
  assert.notInclude(stderr, '\n', `a one-line message — ${detail}`)
  assert.notMatch(stderr, /\bat .+:\d+/, `no stack trace — ${detail}`)
  if (typeof message === 'string') assert.include(stderr, message, detail)
  else assert.match(stderr, message, detail)
}

test.group('ace commands: certificate authorities', () => {
  test('ca:create prints a strict-valid self-signed certificate and nothing else; the server and ca:list/template:list see the CA', async ({
    client,
    assert,
  }) => {
    const name = unique('CLI Root')
    const created = await runAce([
      'ca:create',
      '--name',
      name,
      '--key-type',
      'ecdsa-p384',
      '--validity-days',
      '400',
    ])
    assert.equal(created.code, 0, describeAce(created))
    // stdout is exactly one PEM certificate
    assert.match(created.stdout.trim(), PEM_CERT, describeAce(created))
    assert.lengthOf(created.stdout.match(/BEGIN CERTIFICATE/g) ?? [], 1)
    const pem = created.stdout

    const verdict = await opensslVerify({ roots: [pem], cert: pem })
    assert.isTrue(verdict.ok, verdict.output)
    const text = await opensslText(pem, 'x509')
    assert.include(text, `CN = ${name}`)
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/)
    assert.match(text, /ASN1 OID: secp384r1/)
    const { notBefore, notAfter } = await opensslDates(pem)
    assert.approximately(notAfter - notBefore, 400 * DAY, 5 * 60_000)

    // The running server lists it on its next request, with the same certificate.
    const listed = await client.get('/api/v1/cas').bearerToken(await adminToken())
    listed.assertStatus(200)
    const ca = listed.body().cas.find((c: any) => c.name === name)
    assert.exists(ca, `the server does not list "${name}"`)
    assert.equal(ca.status, 'active')
    assert.equal(ca.keyType, 'ecdsa-p384')
    assert.equal(ca.certificatePem.trim(), pem.trim())

    // The list commands see it too (and its starter template).
    const [caList, templateList] = await aceAll([['ca:list'], ['template:list', '--ca', name]])
    assert.equal(caList.code, 0, describeAce(caList))
    const line = caList.stdout.split('\n').find((l) => l.startsWith(`${name}\t`))
    assert.exists(line, describeAce(caList))
    assert.match(line!, /\tactive\tecdsa-p384\t/)
    assert.equal(templateList.code, 0, describeAce(templateList))
    assert.match(
      templateList.stdout,
      /^Web Server\tenabled\t\d+d\tweb-server$/m,
      describeAce(templateList)
    )
  }).timeout(120000)

  test('--csr-only prints a CSR; signed by another CA through cert:issue and imported with ca:import-cert, the intermediate issues', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const root = await createCa(client, { name: unique('CLI Chain Root'), keyType: 'ecdsa-p256' })
    const subCaTemplate = await createTemplate(client, root.id, {
      name: 'Sub CA',
      starter: 'certificate-authority',
    })
    subCaTemplate.assertStatus(201)

    const name = unique('CLI Issuing')
    const created = await runAce([
      'ca:create',
      '--name',
      name,
      '--key-type',
      'ecdsa-p256',
      '--csr-only',
    ])
    assert.equal(created.code, 0, describeAce(created))
    assert.match(created.stdout.trim(), PEM_CSR, describeAce(created))
    assert.isTrue(await opensslReqVerify(created.stdout), 'openssl req -verify refused the CSR')
    assert.include(await opensslText(created.stdout, 'req'), `CN = ${name}`)

    const pending = (await client.get('/api/v1/cas').bearerToken(token))
      .body()
      .cas.find((c: any) => c.name === name)
    assert.equal(pending?.status, 'pending')

    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'inter.csr'), created.stdout)
      const signed = await runAce([
        'cert:issue',
        '--ca',
        root.name,
        '--template',
        'Sub CA',
        '--csr',
        join(dir, 'inter.csr'),
      ])
      assert.equal(signed.code, 0, describeAce(signed))
      assert.match(signed.stdout.trim(), PEM_CERT, describeAce(signed))
      const interPem = signed.stdout
      const interOk = await opensslVerify({ roots: [root.certificatePem!], cert: interPem })
      assert.isTrue(interOk.ok, interOk.output)
      assert.match(await opensslText(interPem, 'x509'), /CA:TRUE, pathlen:0/)

      await writeFile(join(dir, 'inter.pem'), interPem)
      const imported = await runAce([
        'ca:import-cert',
        '--ca',
        name,
        '--cert',
        join(dir, 'inter.pem'),
      ])
      assert.equal(imported.code, 0, describeAce(imported))
      assert.include(imported.stdout, 'is active')

      const active = (await client.get('/api/v1/cas').bearerToken(token))
        .body()
        .cas.find((c: any) => c.name === name)
      assert.equal(active.status, 'active')
      // it issues, and OpenSSL accepts the chain
      const templates = (
        await client.get(`/api/v1/cas/${active.id}/templates`).bearerToken(token)
      ).body().templates
      const web = templates.find((t: any) => t.name === 'Web Server')
      const { csrPem } = await opensslCsr({ subject: '/CN=leaf.cli.example.com' })
      const leaf = await issueCertificate(client, web.id, { csr: csrPem })
      leaf.assertStatus(201)
      const verdict = await opensslVerify({
        roots: [root.certificatePem!],
        untrusted: [interPem],
        cert: leaf.body().certificate.certificatePem,
        purpose: 'sslserver',
      })
      assert.isTrue(verdict.ok, verdict.output)
    })
  }).timeout(120000)
})

test.group('ace commands: issue, revoke, unrevoke', () => {
  test('cert:issue signs an OpenSSL CSR (sslserver); --days 10; serials in any hex form; revoke, hold, unrevoke seen by the API', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('CLI Issuing Root'), keyType: 'ecdsa-p256' })
    const { csrPem } = await opensslCsr({
      subject: '/CN=www.cli.example.com',
      sans: ['DNS:www.cli.example.com'],
    })

    await withTempDir(async (dir) => {
      const csrFile = join(dir, 'site.csr')
      await writeFile(csrFile, csrPem)
      const [first, short] = await aceAll([
        ['cert:issue', '--ca', ca.name, '--template', 'Web Server', '--csr', csrFile],
        [
          'cert:issue',
          '--ca',
          ca.name,
          '--template',
          'Web Server',
          '--csr',
          csrFile,
          '--days',
          '10',
        ],
      ])
      for (const r of [first, short]) {
        assert.equal(r.code, 0, describeAce(r))
        assert.match(r.stdout.trim(), PEM_CERT, describeAce(r))
        const verdict = await opensslVerify({
          roots: [ca.certificatePem!],
          cert: r.stdout,
          purpose: 'sslserver',
        })
        assert.isTrue(verdict.ok, verdict.output)
      }
      assert.include(await opensslText(first.stdout, 'x509'), 'DNS:www.cli.example.com')
      const shortDates = await opensslDates(short.stdout)
      assert.approximately(shortDates.notAfter - shortDates.notBefore, 10 * DAY, 5 * 60_000)
      const firstDates = await opensslDates(first.stdout)
      assert.isAbove(firstDates.notAfter - firstDates.notBefore, 30 * DAY)

      const serialA = await opensslSerial(first.stdout) // e.g. 4473EA99F05E8C08AA4E5D5759098AFF
      const serialB = await opensslSerial(short.stdout)
      const bySerial = async (hex: string) => {
        const response = await client
          .get(`/api/v1/cas/${ca.id}/certificates/${hex.toLowerCase()}`)
          .bearerToken(token)
        response.assertStatus(200)
        return response.body().certificate
      }
      assert.equal((await bySerial(serialA)).status, 'valid')

      // A: upper-case hex, RFC 5280 reason spelling
      const revokeA = await runAce([
        'cert:revoke',
        '--ca',
        ca.name,
        '--serial',
        serialA,
        '--reason',
        'keyCompromise',
      ])
      assert.equal(revokeA.code, 0, describeAce(revokeA))
      assert.include(revokeA.stdout, 'revoked (keyCompromise)')
      const afterA = await bySerial(serialA)
      assert.equal(afterA.status, 'revoked')
      assert.equal(afterA.revocationReason, 'keyCompromise')
      assert.isNotNull(afterA.revokedAt)

      // B: lower case with colons and a leading 00 → certificateHold; then a bad reason (B untouched)
      const [holdB, badReason] = await aceAll([
        [
          'cert:revoke',
          '--ca',
          ca.name,
          '--serial',
          `00:${colons(serialB.toLowerCase())}`,
          '--reason',
          'certificateHold',
        ],
        // A second revocation of A (lower case with colons) is refused and changes nothing
        [
          'cert:revoke',
          '--ca',
          ca.name,
          '--serial',
          colons(serialA.toLowerCase()),
          '--reason',
          'keyCompromise',
        ],
      ])
      assert.equal(holdB.code, 0, describeAce(holdB))
      assert.include(holdB.stdout, 'on hold')
      assertRefused(assert, badReason, 'already revoked (keyCompromise)', 'second revocation')
      const holdState = await bySerial(serialB)
      assert.equal(holdState.status, 'hold')
      assert.equal(holdState.revocationReason, 'certificateHold')

      const [wrongReason, unrevokeB] = await aceAll([
        ['cert:revoke', '--ca', ca.name, '--serial', serialA, '--reason', 'compromised'],
        // lower case, leading 00, no colons
        ['cert:unrevoke', '--ca', ca.name, '--serial', `00${serialB.toLowerCase()}`],
      ])
      assertRefused(assert, wrongReason, '"compromised" is not a revocation reason', 'bad reason')
      assert.include(wrongReason.stderr, 'keyCompromise')
      assert.equal(unrevokeB.code, 0, describeAce(unrevokeB))
      assert.include(unrevokeB.stdout, 'valid again')
      const released = await bySerial(serialB)
      assert.equal(released.status, 'valid')
      assert.isNull(released.revocationReason)
      assert.isNull(released.revokedAt)

      // Unrevoking a certificate that is not on hold: the valid B and the permanently revoked A
      const [unrevokeValid, unrevokeRevoked] = await aceAll([
        ['cert:unrevoke', '--ca', ca.name, '--serial', serialB],
        ['cert:unrevoke', '--ca', ca.name, '--serial', serialA],
      ])
      assertRefused(
        assert,
        unrevokeValid,
        'is not revoked; only certificates on hold can be unrevoked',
        'unrevoke of a valid certificate'
      )
      assertRefused(
        assert,
        unrevokeRevoked,
        'only certificates on hold (certificateHold) can be unrevoked',
        'unrevoke of a revoked certificate'
      )
      const finalA = await bySerial(serialA)
      assert.equal(finalA.status, 'revoked')
      assert.equal(finalA.revocationReason, 'keyCompromise')
      assert.equal((await bySerial(serialB)).status, 'valid')
      assert.equal(await certificateCount(ca.id), 2)
    })
  }).timeout(180000)

  test('bad input is refused with a one-line message on stderr, a non-zero exit, and nothing written', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CLI Bad Input'), keyType: 'ecdsa-p256' })
    const { csrPem } = await opensslCsr({ subject: '/CN=bad.cli.example.com' })
    const badCaName = unique('CLI Never Created')
    const casBefore = Number((await db.from('cas').count('* as n').first()).n)

    await withTempDir(async (dir) => {
      const csrFile = join(dir, 'good.csr')
      const garbageFile = join(dir, 'garbage.csr')
      const missingFile = join(dir, 'missing.csr')
      await writeFile(csrFile, csrPem)
      await writeFile(garbageFile, 'this is not a certificate signing request\n')
      const missingCa = `No Such CA ${randomUUID().slice(0, 8)}`
      const cases: Array<[string, string[], string | RegExp]> = [
        [
          'unknown CA',
          ['cert:issue', '--ca', missingCa, '--template', 'Web Server', '--csr', csrFile],
          `No CA "${missingCa}" exists`,
        ],
        [
          'unknown template',
          ['cert:issue', '--ca', ca.name, '--template', 'No Such Template', '--csr', csrFile],
          'No template "No Such Template" exists',
        ],
        [
          'missing CSR file',
          ['cert:issue', '--ca', ca.name, '--template', 'Web Server', '--csr', missingFile],
          `Cannot read the CSR file "${missingFile}": no such file`,
        ],
        [
          'garbage CSR file',
          ['cert:issue', '--ca', ca.name, '--template', 'Web Server', '--csr', garbageFile],
          /certificate signing request/i,
        ],
        [
          'unknown key type',
          ['ca:create', '--name', badCaName, '--key-type', 'rsa-1024'],
          'Key type "rsa-1024" is not supported',
        ],
        [
          'unknown serial',
          ['cert:revoke', '--ca', ca.name, '--serial', 'ABCDEF0123', '--reason', 'keyCompromise'],
          'No certificate "ABCDEF0123" exists',
        ],
        [
          'serial not in hex',
          ['cert:revoke', '--ca', ca.name, '--serial', 'xyz', '--reason', 'keyCompromise'],
          'is not a serial number in hex',
        ],
      ]
      const results = await aceAll(cases.map(([, args]) => args))
      cases.forEach(([label, , message], i) => assertRefused(assert, results[i], message, label))
    })

    // Nothing written: no certificate for the CA, no CA named after the refused creation.
    assert.equal(await certificateCount(ca.id), 0)
    assert.notExists(await db.from('cas').where('name', badCaName).first())
    assert.equal(Number((await db.from('cas').count('* as n').first()).n), casBefore)
  }).timeout(180000)
})

test.group('ace commands: users and tokens', () => {
  test('user:create --admin then token:create gives a token the REST API accepts as an administrator', async ({
    client,
    assert,
  }) => {
    const email = `cli-admin-${randomUUID().slice(0, 8)}@test.example`
    const created = await runAce(['user:create', '--email', email, '--admin'])
    assert.equal(created.code, 0, describeAce(created))
    assert.include(created.stdout, `Created user ${email} (administrator)`)

    const [issued, unknownUser] = await aceAll([
      ['token:create', '--user', email],
      ['token:create', '--user', `nobody-${randomUUID().slice(0, 8)}@test.example`],
    ])
    assert.equal(issued.code, 0, describeAce(issued))
    const token = issued.stdout.trim()
    assert.notInclude(token, '\n', 'token:create prints the token alone')
    assert.match(token, /^\S{20,}$/)
    assertRefused(assert, unknownUser, 'Create one with user:create', 'token for an unknown user')

    const me = await client.get('/api/v1/me').bearerToken(token)
    me.assertStatus(200)
    assert.isTrue(me.body().isAdmin)
    assert.equal(me.body().email, email)
    const cas = await client.get('/api/v1/cas').bearerToken(token)
    cas.assertStatus(200)
    // the token is not stored in clear
    const raw = await db.from('api_tokens').select('*')
    for (const row of raw) assert.notInclude(JSON.stringify(row), token)
  }).timeout(120000)
})
