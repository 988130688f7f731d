/*
 * Service URLs through the plugin contract: a plugin's URLs go into the AIA and CDP extensions
 * of certificates whose template includes OCSP and CRL, computed per certificate (a CRL shard
 * fixed by the serial), are listed with the CA's service URLs, and stop when it is disabled.
 * The plugin is a fixture (tests/fixtures/plugins/sharded-urls) loaded by a spawned node that
 * shares the test database; the certificates are read by OpenSSL.
 */
import { test } from '@japa/runner'
import { adminToken, createCa, opensslCsr, unique, webServerTemplate } from '#tests/helpers/api'
import { opensslText } from '#tests/helpers/external'
import { describeAce, freePort, runAce, startServer } from '#tests/helpers/processes'

const FIXTURE = './tests/fixtures/plugins/sharded-urls'

/** The fixture's documented rule: the serial's last byte modulo 4. */
const shardOf = (serial: string) => Number.parseInt(serial.slice(-2), 16) % 4

test.group('Plugin service URLs', () => {
  test('embedded per certificate in AIA and CDP, listed for the CA, gone when disabled', async ({
    client,
    assert,
  }) => {
    const env = { PKI_PLUGINS: FIXTURE }
    const server = await startServer({ port: await freePort(), env })
    try {
      const on = await runAce(['plugin:enable', 'sharded-urls'], { env })
      assert.equal(on.code, 0, describeAce(on))

      const ca = await createCa(client, { name: unique('Sharded'), keyType: 'ecdsa-p256' })
      const template = await webServerTemplate(client, ca.id)
      assert.isTrue(template.options.includeCrl && template.options.includeOcsp)
      const token = await adminToken()
      const issue = async () => {
        const { csrPem } = await opensslCsr({ subject: '/CN=shard.example.com' })
        const response = await fetch(`${server.url}/api/v1/templates/${template.id}/issue`, {
          method: 'POST',
          headers: { 'authorization': `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ csr: csrPem }),
        })
        const body = (await response.json()) as any
        assert.equal(response.status, 201, JSON.stringify(body))
        return body.certificate as { serial: string; certificatePem: string }
      }

      // Several certificates, so more than one shard is (very likely) used.
      const shards = new Set<number>()
      for (let i = 0; i < 4; i++) {
        const cert = await issue()
        const text = await opensslText(cert.certificatePem, 'x509')
        const shard = shardOf(cert.serial.toLowerCase())
        shards.add(shard)
        assert.include(text, `OCSP - URI:${server.url}/sharded-urls/ocsp/${ca.id}`)
        assert.include(text, `URI:${server.url}/sharded-urls/crl/${ca.id}/${shard}.crl`)
        for (let other = 0; other < 4; other++) {
          if (other !== shard) assert.notInclude(text, `/sharded-urls/crl/${ca.id}/${other}.crl`)
        }
      }

      // "Show CA Service URLs" lists them (every shard, since no certificate is being issued).
      const listed = await fetch(`${server.url}/api/v1/cas/${ca.id}/service-urls`, {
        headers: { authorization: `Bearer ${token}` },
      })
      const urls = JSON.stringify(await listed.json())
      assert.include(urls, `/sharded-urls/ocsp/${ca.id}`)
      for (let i = 0; i < 4; i++) assert.include(urls, `/sharded-urls/crl/${ca.id}/${i}.crl`)

      const off = await runAce(['plugin:disable', 'sharded-urls'], { env })
      assert.equal(off.code, 0, describeAce(off))
      const after = await opensslText((await issue()).certificatePem, 'x509')
      assert.notInclude(after, '/sharded-urls/')
      assert.isAtLeast(shards.size, 1)
    } finally {
      await server.stop()
    }
  }).timeout(120_000)
})
