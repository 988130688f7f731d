import { test } from '@japa/runner'
import crypto from 'node:crypto'
import {
  SignerRegistry,
  SoftwareBackend,
  keyRefScheme,
  type SignerBackend,
} from '../../../hsm/backends.js'
import { verifySignature } from '../../../hsm/keys.js'
import { MasterKeyRing } from '../../../hsm/master_key.js'
import { SoftwareSigner } from '../../../hsm/software_signer.js'
import type { Signer } from '../../../hsm/types.js'
import { expectSignerError, expectSignerRejection, openssl } from './_helpers.js'

const data = Buffer.from('data to sign')
const newRing = () => new MasterKeyRing(crypto.randomBytes(32))

test.group('hsm / backends: software backend', (group) => {
  group.teardown(() => SoftwareSigner.close())

  test('createKey returns a software:<uuid> reference, an encrypted blob bound to it, and the SPKI', async ({
    assert,
  }) => {
    const ring = newRing()
    const backend = new SoftwareBackend(ring)
    for (const keyType of ['ecdsa-p256', 'ml-dsa-44', 'ed25519'] as const) {
      const created = await backend.createKey(keyType)
      assert.match(
        created.keyRef,
        /^software:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
      )
      assert.equal(created.keyType, keyType)
      assert.match(created.encrypted, new RegExp(`^v1\\.${ring.currentKeyId}\\.`))
      // the blob only opens with its own key reference as additional data
      assert.isAbove(ring.decrypt(created.encrypted, created.keyRef).length, 0)
      expectSignerError(() => ring.decrypt(created.encrypted), 'E_MASTER_KEY')

      const signer = await backend.load(created.keyRef, created.encrypted)
      assert.equal(signer.keyType, keyType)
      assert.equal(signer.keyRef, created.keyRef)
      assert.deepEqual(Buffer.from(signer.publicKeySpki), Buffer.from(created.spki))
      assert.isTrue(
        verifySignature(created.spki, data, await signer.sign(data, 'sha384'), 'sha384')
      )
      assert.strictEqual(
        await backend.load(created.keyRef, created.encrypted),
        signer,
        'cached per key reference'
      )
    }
  }).timeout(60000)

  test('importKey takes a PEM key (with password) and keeps its type', async ({ assert }) => {
    const pem = await openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-384',
      '-aes-256-cbc',
      '-pass',
      'pass:pw',
    ])
    const backend = new SoftwareBackend(newRing())
    const created = await backend.importKey(pem, 'pw')
    assert.equal(created.keyType, 'ecdsa-p384')
    const signer = await backend.load(created.keyRef, created.encrypted)
    assert.isTrue(verifySignature(created.spki, data, await signer.sign(data, 'sha384'), 'sha384'))
    await expectSignerRejection(
      () => backend.importKey(pem, 'wrong'),
      'E_KEY_INVALID',
      /wrong password/
    )
  }).timeout(30000)

  test('refuses a blob of another key, a wrong master key, missing material and foreign references', async () => {
    const ring = newRing()
    const backend = new SoftwareBackend(ring)
    const a = await backend.createKey('ecdsa-p256')
    const b = await backend.createKey('ecdsa-p256')
    await expectSignerRejection(
      () => new SoftwareBackend(ring).load(a.keyRef, b.encrypted),
      'E_MASTER_KEY',
      /cannot decrypt/
    )
    await expectSignerRejection(
      () => new SoftwareBackend(newRing()).load(a.keyRef, a.encrypted),
      'E_MASTER_KEY',
      /not configured/
    )
    await expectSignerRejection(
      () => backend.load('software:nothing'),
      'E_KEY_INVALID',
      /no key material/
    )
    await expectSignerRejection(
      () => backend.load('pkcs11:token=x', a.encrypted),
      'E_KEY_INVALID',
      /not a software key/
    )
    // a failed load is not cached: the right material works afterwards
    const fresh = new SoftwareBackend(ring)
    await expectSignerRejection(() => fresh.load(a.keyRef, b.encrypted), 'E_MASTER_KEY')
    await fresh.load(a.keyRef, a.encrypted)
  }).timeout(30000)

  test('master key rotation: re-encrypt under the new key, then load without the old one', async ({
    assert,
  }) => {
    const oldKey = crypto.randomBytes(32)
    const newKey = crypto.randomBytes(32)
    const created = await new SoftwareBackend(new MasterKeyRing(oldKey)).createKey('ed25519')
    const rotating = new SoftwareBackend(new MasterKeyRing(newKey, [oldKey]))
    const rotated = rotating.reencrypt(created.keyRef, created.encrypted)
    assert.notEqual(rotated, created.encrypted)
    const after = new SoftwareBackend(new MasterKeyRing(newKey))
    const signer = await after.load(created.keyRef, rotated)
    assert.isTrue(verifySignature(created.spki, data, await signer.sign(data, 'sha256')))
  })

  test('evict() drops the cached signer', async ({ assert }) => {
    const backend = new SoftwareBackend(newRing())
    const created = await backend.createKey('ml-dsa-44')
    const first = await backend.load(created.keyRef, created.encrypted)
    backend.evict(created.keyRef)
    const second = await backend.load(created.keyRef, created.encrypted)
    assert.notStrictEqual(first, second)
    assert.isTrue(verifySignature(created.spki, data, await second.sign(data, 'sha256')))
    await backend.close()
  }).timeout(30000)
})

test.group('hsm / backends: registry', () => {
  test('routes by scheme; an uninstalled backend is a clear E_SIGNER_UNAVAILABLE', async ({
    assert,
  }) => {
    const registry = new SignerRegistry().register(new SoftwareBackend(newRing()))
    assert.deepEqual(registry.ids, ['software'])
    await expectSignerRejection(
      () => registry.load('pkcs11:token=ca;object=root'),
      'E_SIGNER_UNAVAILABLE',
      /^signer backend "pkcs11" is not available in this install$/
    )
    expectSignerError(
      () => registry.backendFor('agent:device-7'),
      'E_SIGNER_UNAVAILABLE',
      /"agent"/
    )
    expectSignerError(
      () => registry.backendFor('no-scheme'),
      'E_KEY_INVALID',
      /malformed key reference/
    )
    assert.equal(keyRefScheme('PKCS11:token=x'), 'pkcs11')

    const fake: SignerBackend = {
      id: 'pkcs11',
      async load(keyRef: string): Promise<Signer> {
        return {
          keyRef,
          keyType: 'ecdsa-p256',
          publicKeySpki: new Uint8Array(),
          sign: async () => new Uint8Array([1]),
        }
      },
    }
    registry.register(fake)
    assert.equal((await registry.load('pkcs11:token=ca')).keyRef, 'pkcs11:token=ca')
    await registry.close()
  })
})
