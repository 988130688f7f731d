/*
 * The ACME plugin against clients we did not write, each run to a certificate that
 * `openssl verify` accepts against the CA:
 *  - lego (Debian 4.9): EAB; http-01; dns-01 (exec provider → pebble-challtestsrv) incl. a
 *    wildcard; tls-alpn-01; a pre-approved domain with a solver that cannot answer anything;
 *  - certbot (Debian 2.1): EAB register; certonly --standalone http-01; dns-01 through manual
 *    hooks against pebble-challtestsrv; renew; revoke (then OCSP says revoked, when the OCSP
 *    plugin is installed);
 *  - acme.sh (Debian 13's 3.1, with socat): EAB, standalone http-01.
 * Validators resolve names through pebble-challtestsrv (A → 127.0.0.1, TXT as set) and connect
 * to the ports the clients listen on (install settings). A missing tool fails the test.
 */
import { test } from '@japa/runner'
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { pluginHost } from '#plugins/host'
import { systemActor } from '#services/actor'
import { opensslVerify, repoRoot, run, toolPath } from '#tests/helpers/external'
import { acmeWorld, directoryUrl, extraPort, disableAcme } from '../functional/acme_fixtures.js'

const DNS_PORT = extraPort(2)
const HTTP_PORT = extraPort(3)
const TLS_PORT = extraPort(4)
const MANAGEMENT_PORT = extraPort(5)

/** An ACME client or test server: PATH (Debian packages) or the project's .tools. */
function tool(name: 'lego' | 'certbot' | 'pebble-challtestsrv' | 'acme.sh'): string {
  const candidates = (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name))
  if (name === 'acme.sh') {
    candidates.unshift(
      ...(process.env.ACME_SH ? [process.env.ACME_SH] : []),
      join(repoRoot, '.tools', 'bin', 'acme.sh')
    )
  }
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  const how =
    name === 'acme.sh'
      ? 'Debian 13 package acme.sh as .tools/bin/acme.sh: run scripts/install-test-tools.sh; or ACME_SH=/path/to/acme.sh'
      : `apt-get install ${name === 'pebble-challtestsrv' ? 'pebble' : name}`
  throw new Error(`${name} is not installed (${how}); the ACME interop tests need it.`)
}

let challtest: ChildProcess | undefined

async function startChalltest() {
  const child = spawn(
    tool('pebble-challtestsrv'),
    [
      '-dns01',
      `127.0.0.1:${DNS_PORT}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${MANAGEMENT_PORT}`,
      '-defaultIPv6',
      '',
    ],
    { stdio: 'ignore' }
  )
  challtest = child
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`http://127.0.0.1:${MANAGEMENT_PORT}/clear-txt`, {
        method: 'POST',
        body: JSON.stringify({ host: 'x.' }),
      })
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error('pebble-challtestsrv did not start')
}

/** A scratch folder with the DNS hook scripts the clients call. */
async function workdir() {
  const dir = await mkdtemp(join(tmpdir(), 'acme-interop-'))
  const setTxt = join(dir, 'txt.mjs')
  await writeFile(
    setTxt,
    `const [, , action, host, value] = process.argv
const fqdn = host.endsWith('.') ? host : host + '.'
await fetch('http://127.0.0.1:${MANAGEMENT_PORT}/' + (action === 'present' ? 'set-txt' : 'clear-txt'), {
  method: 'POST', body: JSON.stringify({ host: fqdn, value }) })
`
  )
  // lego's exec provider: <present|cleanup> <fqdn> <value>
  await writeFile(join(dir, 'lego-dns.sh'), `#!/bin/sh\nexec ${process.execPath} ${setTxt} "$@"\n`)
  // certbot's manual hooks: CERTBOT_DOMAIN, CERTBOT_VALIDATION
  await writeFile(
    join(dir, 'certbot-auth.sh'),
    `#!/bin/sh\nexec ${process.execPath} ${setTxt} present "_acme-challenge.$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION"\n`
  )
  await writeFile(
    join(dir, 'certbot-cleanup.sh'),
    `#!/bin/sh\nexec ${process.execPath} ${setTxt} cleanup "_acme-challenge.$CERTBOT_DOMAIN"\n`
  )
  await writeFile(join(dir, 'fail.sh'), '#!/bin/sh\necho "no challenge expected" >&2\nexit 1\n')
  for (const f of ['lego-dns.sh', 'certbot-auth.sh', 'certbot-cleanup.sh', 'fail.sh'])
    await chmod(join(dir, f), 0o755)
  return dir
}

async function verify(caPem: string, certPem: string, names: string[], assert: any) {
  const result = await opensslVerify({ roots: [caPem], cert: certPem })
  assert.isTrue(result.ok, result.output)
  const text = await run(toolPath('openssl'), ['x509', '-noout', '-ext', 'subjectAltName'], {
    input: certPem,
  })
  for (const name of names) assert.include(text.stdout, `DNS:${name}`)
}

function firstPem(text: string) {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)![0]
}

const show = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`

test.group('ACME interop', (group) => {
  group.teardown(disableAcme)
  group.setup(async () => {
    await startChalltest()
    return () => {
      challtest?.kill('SIGTERM')
    }
  })

  test('lego: EAB, http-01, dns-01 (wildcard too), tls-alpn-01, a pre-approved domain', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { preApproved: '*.pre.test', uses: 1 })
    await pluginHost.saveSettings(
      'acme',
      'template',
      world.template.id,
      { allowWildcards: true },
      systemActor
    )
    const eab = await world.eab()
    const dir = await workdir()
    try {
      const lego = (args: string[], env: Record<string, string> = {}) =>
        run(
          tool('lego'),
          [
            '--server',
            directoryUrl(),
            '--eab',
            '--kid',
            eab.kid,
            '--hmac',
            eab.hmacKey,
            '--email',
            'lego@example.com',
            '--accept-tos',
            '--path',
            dir,
            ...args,
            'run',
          ],
          { env, timeoutMs: 120_000 }
        )
      const cert = async (name: string) =>
        readFile(join(dir, 'certificates', `${name.replace('*', '_')}.crt`), 'utf8')

      const http = await lego([
        '--domains',
        'lego-http.test',
        '--http',
        '--http.port',
        `127.0.0.1:${HTTP_PORT}`,
      ])
      assert.equal(http.code, 0, show(http))
      await verify(
        world.ca.certificatePem!,
        await cert('lego-http.test'),
        ['lego-http.test'],
        assert
      )

      // The exec provider solves names one after another, 60 s apart unless told otherwise.
      const dnsEnv = { EXEC_PATH: join(dir, 'lego-dns.sh'), EXEC_SEQUENCE_INTERVAL: '1' }
      const dnsArgs = [
        '--dns',
        'exec',
        '--dns.resolvers',
        `127.0.0.1:${DNS_PORT}`,
        '--dns.disable-cp',
      ]
      const dns = await lego(
        ['--domains', 'lego-dns.test', '--domains', '*.lego-dns.test', ...dnsArgs],
        dnsEnv
      )
      assert.equal(dns.code, 0, show(dns))
      await verify(
        world.ca.certificatePem!,
        await cert('lego-dns.test'),
        ['lego-dns.test', '*.lego-dns.test'],
        assert
      )

      const tls = await lego([
        '--domains',
        'lego-tls.test',
        '--tls',
        '--tls.port',
        `127.0.0.1:${TLS_PORT}`,
      ])
      assert.equal(tls.code, 0, show(tls))
      await verify(world.ca.certificatePem!, await cert('lego-tls.test'), ['lego-tls.test'], assert)

      // Pre-approved: a DNS solver that fails if called; lego skips the valid authorizations.
      const pre = await lego(
        ['--domains', 'a.pre.test', '--domains', 'pre.test', '--dns', 'exec', '--dns.disable-cp'],
        {
          EXEC_PATH: join(dir, 'fail.sh'),
        }
      )
      assert.equal(pre.code, 0, show(pre))
      assert.include(pre.stdout + pre.stderr, 'authorization already valid')
      await verify(
        world.ca.certificatePem!,
        await cert('a.pre.test'),
        ['a.pre.test', 'pre.test'],
        assert
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('certbot: EAB register, standalone http-01, dns-01 manual hooks, renew, revoke', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const eab = await world.eab()
    const dir = await workdir()
    try {
      const certbot = (args: string[]) =>
        run(
          tool('certbot'),
          [
            ...args,
            '--server',
            directoryUrl(),
            '--config-dir',
            join(dir, 'config'),
            '--work-dir',
            join(dir, 'work'),
            '--logs-dir',
            join(dir, 'logs'),
            '--non-interactive',
          ],
          { env: { REQUESTS_CA_BUNDLE: '' }, timeoutMs: 120_000 }
        )
      const register = await certbot([
        'register',
        '--agree-tos',
        '--email',
        'certbot@example.com',
        '--eab-kid',
        eab.kid,
        '--eab-hmac-key',
        eab.hmacKey,
      ])
      assert.equal(register.code, 0, show(register))

      const http = await certbot([
        'certonly',
        '--standalone',
        '--preferred-challenges',
        'http',
        '--http-01-address',
        '127.0.0.1',
        '--http-01-port',
        String(HTTP_PORT),
        '-d',
        'certbot-http.test',
      ])
      assert.equal(http.code, 0, show(http))
      const live = (name: string, file: string) =>
        readFile(join(dir, 'config', 'live', name, file), 'utf8')
      const first = await live('certbot-http.test', 'cert.pem')
      await verify(world.ca.certificatePem!, first, ['certbot-http.test'], assert)
      // fullchain.pem = leaf + the CA
      assert.include(
        await live('certbot-http.test', 'fullchain.pem'),
        world.ca.certificatePem!.trim().split('\n')[1]
      )

      const dns = await certbot([
        'certonly',
        '--manual',
        '--preferred-challenges',
        'dns',
        '--manual-auth-hook',
        join(dir, 'certbot-auth.sh'),
        '--manual-cleanup-hook',
        join(dir, 'certbot-cleanup.sh'),
        '-d',
        'certbot-dns.test',
      ])
      assert.equal(dns.code, 0, show(dns))
      await verify(
        world.ca.certificatePem!,
        await live('certbot-dns.test', 'cert.pem'),
        ['certbot-dns.test'],
        assert
      )

      const renew = await certbot([
        'renew',
        '--no-random-sleep-on-renew',
        '--cert-name',
        'certbot-http.test',
        '--force-renewal',
      ])
      assert.equal(renew.code, 0, show(renew))
      const renewed = await live('certbot-http.test', 'cert.pem')
      assert.notEqual(renewed, first)
      await verify(world.ca.certificatePem!, renewed, ['certbot-http.test'], assert)
      const archive = await readdir(join(dir, 'config', 'archive', 'certbot-http.test'))
      assert.includeMembers(archive, ['cert1.pem', 'cert2.pem'])

      const revoke = await certbot([
        'revoke',
        '--cert-path',
        join(dir, 'config', 'live', 'certbot-http.test', 'cert.pem'),
        '--reason',
        'keycompromise',
        '--no-delete-after-revoke',
      ])
      assert.equal(revoke.code, 0, show(revoke))
      const serial = (
        await run(toolPath('openssl'), ['x509', '-noout', '-serial'], { input: renewed })
      ).stdout
        .trim()
        .replace(/^serial=/, '')
        .toLowerCase()
      const stored = await world.runtime.findCertificate({ caId: world.ca.id, serial })
      assert.equal(stored?.status, 'revoked')
      assert.equal(stored?.revocationReason, 'keyCompromise')

      // With the OCSP plugin installed (and enabled), its responder says revoked.
      if (pluginHost.get('ocsp')) {
        await pluginHost.setEnabled('ocsp', true, systemActor)
        await pluginHost.runJob('ocsp', 'presign')
        const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'renewed.pem') }
        await writeFile(files.ca, world.ca.certificatePem!)
        await writeFile(files.cert, renewed)
        const aia = await run(toolPath('openssl'), [
          'x509',
          '-noout',
          '-ocsp_uri',
          '-in',
          files.cert,
        ])
        const url = aia.stdout.trim()
        assert.match(url, /^http:\/\//)
        const ocsp = await run(
          toolPath('openssl'),
          [
            'ocsp',
            '-url',
            url,
            '-issuer',
            files.ca,
            '-cert',
            files.cert,
            '-CAfile',
            files.ca,
            '-no_nonce',
          ],
          { timeoutMs: 60_000 }
        )
        assert.include(ocsp.stdout + ocsp.stderr, 'Response verify OK', show(ocsp))
        assert.match(ocsp.stdout, /renewed\.pem: revoked/)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('acme.sh: EAB registration, standalone http-01', async ({ client, assert }) => {
    const world = await acmeWorld(client)
    const eab = await world.eab()
    const dir = await workdir()
    try {
      const acmeSh = (args: string[]) =>
        run(
          tool('acme.sh'),
          ['--home', dir, '--config-home', join(dir, 'cfg'), '--server', directoryUrl(), ...args],
          { timeoutMs: 120_000 }
        )
      const reg = await acmeSh([
        '--register-account',
        '--eab-kid',
        eab.kid,
        '--eab-hmac-key',
        eab.hmacKey,
        '-m',
        'acmesh@example.com',
      ])
      assert.equal(reg.code, 0, show(reg))
      const issue = await acmeSh([
        '--issue',
        '--standalone',
        '--httpport',
        String(HTTP_PORT),
        '-d',
        'acmesh.test',
      ])
      assert.equal(issue.code, 0, show(issue))
      const cert = await readFile(join(dir, 'cfg', 'acmesh.test_ecc', 'acmesh.test.cer'), 'utf8')
      await verify(world.ca.certificatePem!, firstPem(cert), ['acmesh.test'], assert)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
