/*
 * The ACME ace commands as an operator runs them (separate processes on the same database):
 * acme:policy:create, then acme:eab:create printing the directory URL, "KID: …" and
 * "HMAC key: …", whose credentials register an account.
 */
import { test } from '@japa/runner'
import { createCa, unique } from '#tests/helpers/api'
import { describeAce, runAce } from '#tests/helpers/processes'
import { AcmeTestClient } from '../../plugins/acme/tests/client.js'
import { directoryUrl, enableAcme, disableAcme } from './acme_fixtures.js'

test.group('ACME commands', (group) => {
  group.teardown(disableAcme)
  test('acme:policy:create and acme:eab:create; their credentials register', async ({
    client,
    assert,
  }) => {
    await enableAcme()
    const ca = await createCa(client, { name: unique('ACME CLI'), keyType: 'ecdsa-p256' })
    const name = unique('cli-policy')
    const created = await runAce([
      'acme:policy:create',
      '--ca',
      ca.name,
      '--name',
      name,
      '--template',
      'Web Server',
      '--pre-approved',
      '*.cli.test, 192.0.2.7',
    ])
    assert.equal(created.code, 0, describeAce(created))
    assert.include(created.stdout, `Policy "${name}" created`)

    const duplicate = await runAce([
      'acme:policy:create',
      '--ca',
      ca.name,
      '--name',
      name,
      '--template',
      'Web Server',
    ])
    assert.equal(duplicate.code, 1, describeAce(duplicate))
    assert.include(duplicate.stdout + duplicate.stderr, 'already exists')
    const noCa = await runAce([
      'acme:policy:create',
      '--ca',
      'nope',
      '--name',
      'x',
      '--template',
      'y',
    ])
    assert.equal(noCa.code, 1)
    assert.include(noCa.stdout + noCa.stderr, 'No CA is named "nope"')

    const eab = await runAce([
      'acme:eab:create',
      '--policy',
      name,
      '--uses',
      '2',
      '--expires-days',
      '3',
    ])
    assert.equal(eab.code, 0, describeAce(eab))
    const lines = eab.stdout.trim().split('\n')
    assert.equal(lines[0], directoryUrl())
    const kid = /^KID: (\S+)$/.exec(lines[1])![1]
    const hmacKey = /^HMAC key: ([A-Za-z0-9_-]+)$/.exec(lines[2])![1]
    assert.isAtLeast(Buffer.from(hmacKey, 'base64url').length, 32)

    for (let i = 0; i < 2; i++) {
      const acme = await new AcmeTestClient(directoryUrl()).init()
      const res = await acme.register({ kid, hmacKey })
      assert.equal(res.status, 201, res.text)
      const order = await acme.newOrder([{ type: 'dns', value: 'www.cli.test' }])
      assert.equal(order.body.status, 'ready')
    }
    const third = await new AcmeTestClient(directoryUrl()).init()
    assert.equal((await third.register({ kid, hmacKey })).status, 403)

    const noPolicy = await runAce(['acme:eab:create', '--policy', 'missing'])
    assert.equal(noPolicy.code, 1)
    assert.include(noPolicy.stdout + noPolicy.stderr, 'No ACME policy is named "missing"')
  })
})
