/*
 * The ACME plugin's DNS resolver setting (parsed before node's Resolver sees it: port 0 aborts
 * the process inside it, a host name is refused by it) and its EAB credentials (never starting
 * with "-", which certbot's argument parser takes for a flag).
 */
import { test } from '@japa/runner'
import { parseResolvers } from '../../../plugins/acme/validation.js'
import { newEabCredentials } from '../../../plugins/acme/keys.js'
import { installSettings } from '../../../plugins/acme/settings.js'

test.group('ACME: DNS resolver setting', () => {
  test('addresses with optional ports are taken as node expects them', ({ assert }) => {
    assert.deepEqual(parseResolvers(''), { servers: [] })
    assert.deepEqual(
      parseResolvers(' 192.0.2.53, 192.0.2.54:5353 ,2001:db8::53,[2001:db8::54]:53, [::1]'),
      { servers: ['192.0.2.53', '192.0.2.54:5353', '2001:db8::53', '[2001:db8::54]:53', '::1'] }
    )
  })

  test('names, port 0, ports out of range and garbage are refused with the entry named', ({
    assert,
  }) => {
    for (const [value, hint] of [
      ['1.1.1.1:0', 'port must be from 1 to 65535'],
      ['1.1.1.1:00', 'port must be from 1 to 65535'],
      ['1.1.1.1:99999', 'port must be from 1 to 65535'],
      ['[::1]:0', 'port must be from 1 to 65535'],
      ['dns.corp.example', 'not an IP address'],
      ['localhost:53', 'not an IP address'],
      ['1.1.1', 'not an IP address'],
      ['[1.1.1.1]:53', 'not an IP address'],
      ['-', 'not an IP address'],
    ]) {
      const parsed = parseResolvers(value)
      assert.property(parsed, 'problem', value)
      assert.include((parsed as { problem: string }).problem, hint, value)
    }
  })

  test('the install settings check refuses what the resolver would abort or reject on', async ({
    assert,
  }) => {
    const check = installSettings.check!
    const ctx = { scope: 'install' as const, scopeId: 0, ca: null }
    assert.isUndefined(await check({ dnsResolver: '127.0.0.1:5353' }, ctx))
    const refused = await check({ dnsResolver: '1.1.1.1:0' }, ctx)
    assert.property(refused, 'dnsResolver')
  })
})

test.group('ACME: EAB credentials', () => {
  test('no KID or HMAC key starts with "-" (certbot would read it as a flag)', ({ assert }) => {
    // About 3 % of random base64url texts start with "-": 4,000 draws would show some.
    for (let i = 0; i < 2000; i++) {
      const { kid, hmacKey } = newEabCredentials()
      assert.isFalse(kid.startsWith('-'), kid)
      assert.isFalse(hmacKey.startsWith('-'), hmacKey)
      assert.match(kid, /^[A-Za-z0-9_-]{24}$/)
      assert.match(hmacKey, /^[A-Za-z0-9_-]{43}$/)
    }
  })
})
