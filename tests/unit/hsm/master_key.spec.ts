import { test } from '@japa/runner'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { MasterKeyRing, parseMasterKey } from '../../../hsm/master_key.js'
import { expectSignerError } from './_helpers.js'

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pki-mk-'))
}

function ring(key = crypto.randomBytes(32), previous: Buffer[] = []): MasterKeyRing {
  return new MasterKeyRing(key, previous)
}

test.group('hsm / master key: parsing', () => {
  test('accepts base64, base64url (with or without padding) and hex, with the same key id', ({
    assert,
  }) => {
    const key = crypto.randomBytes(32)
    const forms = [
      key.toString('base64'),
      key.toString('base64url'),
      key.toString('base64url') + '=',
      key.toString('hex'),
      key.toString('hex').toUpperCase(),
      `  ${key.toString('base64')}\n`,
    ]
    const ids = forms.map((f) => MasterKeyRing.keyIdOf(f))
    assert.lengthOf(new Set(ids), 1)
    assert.match(ids[0], /^[0-9a-f]{16}$/)
    assert.equal(ids[0], crypto.createHash('sha256').update(key).digest('hex').slice(0, 16))
    assert.deepEqual(parseMasterKey(forms[1], 'x'), key)
  })

  test('refuses malformed keys with a clear message that does not echo the value', () => {
    const secretish = crypto.randomBytes(16).toString('base64') // 16 bytes: too short
    for (const bad of [
      secretish,
      'not a key at all!',
      '',
      'ab'.repeat(31),
      crypto.randomBytes(33).toString('base64'),
    ]) {
      const err = expectSignerError(
        () => parseMasterKey(bad, 'PKI_MASTER_KEY'),
        'E_MASTER_KEY',
        /PKI_MASTER_KEY is not a valid master key.*32 random bytes/
      )
      if (bad.length > 4 && err.message.includes(bad))
        throw new Error('the error message leaks the key')
    }
  })
})

test.group('hsm / master key: encryption', () => {
  test('round trip, with and without additional data', ({ assert }) => {
    const r = ring()
    const plain = crypto.randomBytes(100)
    const blob = r.encrypt(plain)
    assert.match(blob, new RegExp(`^v1\\.${r.currentKeyId}\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]+$`))
    assert.deepEqual(r.decrypt(blob), plain)
    const bound = r.encrypt(plain, 'software:1')
    assert.deepEqual(r.decrypt(bound, 'software:1'), plain)
    assert.notEqual(r.encrypt(plain), blob, 'random IV')
    assert.deepEqual(r.decrypt(r.encrypt(new Uint8Array(0))), Buffer.alloc(0))
  })

  test('wrong additional data is refused', () => {
    const r = ring()
    const blob = r.encrypt(Buffer.from('secret'), 'software:1')
    expectSignerError(() => r.decrypt(blob, 'software:2'), 'E_MASTER_KEY', /cannot decrypt/)
    expectSignerError(() => r.decrypt(blob), 'E_MASTER_KEY', /cannot decrypt/)
  })

  test('a blob from another master key names the missing key id', () => {
    const a = ring()
    const b = ring()
    const blob = a.encrypt(Buffer.from('secret'))
    expectSignerError(
      () => b.decrypt(blob),
      'E_MASTER_KEY',
      new RegExp(`encrypted with master key ${a.currentKeyId}, which is not configured`)
    )
  })

  test('a tampered, re-IVed, truncated or foreign-format blob is refused', ({ assert }) => {
    const r = ring()
    const blob = r.encrypt(Buffer.from('some secret text'))
    const [v, id, iv, body] = blob.split('.')
    const flipped = Buffer.from(body, 'base64url')
    flipped[3] ^= 1
    expectSignerError(
      () => r.decrypt([v, id, iv, flipped.toString('base64url')].join('.')),
      'E_MASTER_KEY',
      /modified/
    )
    const otherIv = crypto.randomBytes(12).toString('base64url')
    expectSignerError(() => r.decrypt([v, id, otherIv, body].join('.')), 'E_MASTER_KEY')
    expectSignerError(() => r.decrypt([v, id, iv, body.slice(0, 10)].join('.')), 'E_MASTER_KEY')
    expectSignerError(() => r.decrypt('v2.' + blob.slice(3)), 'E_MASTER_KEY', /format/)
    expectSignerError(() => r.decrypt('garbage'), 'E_MASTER_KEY', /format/)
    assert.throws(() => r.needsRotation('garbage'))
  })
})

test.group('hsm / master key: rotation', () => {
  test('old key as previous key: decrypt, re-encrypt, then drop the old key', ({ assert }) => {
    const oldKey = crypto.randomBytes(32)
    const newKey = crypto.randomBytes(32)
    const before = ring(oldKey)
    const blob = before.encrypt(Buffer.from('ca private key'), 'software:ca')

    const during = ring(newKey, [oldKey])
    assert.deepEqual(during.keyIds, [during.currentKeyId, before.currentKeyId])
    assert.isTrue(during.needsRotation(blob))
    assert.equal(during.decrypt(blob, 'software:ca').toString(), 'ca private key')
    const rotated = during.reencrypt(blob, 'software:ca')
    assert.isFalse(during.needsRotation(rotated))
    assert.equal(during.reencrypt(rotated, 'software:ca'), rotated)

    const after = ring(newKey)
    assert.equal(after.decrypt(rotated, 'software:ca').toString(), 'ca private key')
    expectSignerError(() => after.decrypt(blob, 'software:ca'), 'E_MASTER_KEY', /not configured/)
  })

  test('load() takes previous keys in any accepted encoding', ({ assert }) => {
    const oldKey = crypto.randomBytes(32)
    const blob = ring(oldKey).encrypt(Buffer.from('x'))
    const { ring: r } = MasterKeyRing.load({
      envKey: MasterKeyRing.generateKey(),
      previousKeys: [oldKey.toString('hex'), ''],
    })
    assert.equal(r.decrypt(blob).toString(), 'x')
    expectSignerError(
      () => MasterKeyRing.load({ envKey: MasterKeyRing.generateKey(), previousKeys: ['nope'] }),
      'E_MASTER_KEY',
      /previous master key #1/
    )
  })
})

test.group('hsm / master key: loading', () => {
  test('creates the key file with mode 0600 in a 0700 folder, then reads it back', ({ assert }) => {
    const dir = tmpDir()
    try {
      const keyFile = path.join(dir, 'secrets', 'master.key')
      const first = MasterKeyRing.load({ keyFile, create: true })
      assert.isTrue(first.created)
      assert.equal(first.path, keyFile)
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600)
      assert.equal(fs.statSync(path.dirname(keyFile)).mode & 0o777, 0o700)
      assert.lengthOf(parseMasterKey(fs.readFileSync(keyFile, 'utf8'), 'file'), 32)

      const second = MasterKeyRing.load({ keyFile, create: true })
      assert.isFalse(second.created)
      assert.equal(second.ring.currentKeyId, first.ring.currentKeyId)
      assert.deepEqual(second.warnings, [])
      const blob = first.ring.encrypt(Buffer.from('persisted'))
      assert.equal(second.ring.decrypt(blob).toString(), 'persisted')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('warns about a key file readable by others, never printing the key', ({ assert }) => {
    const dir = tmpDir()
    try {
      const keyFile = path.join(dir, 'master.key')
      const key = MasterKeyRing.generateKey()
      fs.writeFileSync(keyFile, key, { mode: 0o644 })
      fs.chmodSync(keyFile, 0o644)
      const { warnings, created } = MasterKeyRing.load({ keyFile })
      assert.isFalse(created)
      assert.lengthOf(warnings, 1)
      assert.match(warnings[0], /chmod 600/)
      assert.notInclude(warnings[0], key)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('PKI_MASTER_KEY wins over the key file', ({ assert }) => {
    const dir = tmpDir()
    try {
      const keyFile = path.join(dir, 'master.key')
      fs.writeFileSync(keyFile, MasterKeyRing.generateKey(), { mode: 0o600 })
      const envKey = MasterKeyRing.generateKey()
      const res = MasterKeyRing.load({ envKey, keyFile, create: true })
      assert.equal(res.ring.currentKeyId, MasterKeyRing.keyIdOf(envKey))
      assert.isFalse(res.created)
      assert.isUndefined(res.path)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('no key and no permission to create one is a clear error; a malformed file too', () => {
    const dir = tmpDir()
    try {
      const keyFile = path.join(dir, 'missing.key')
      expectSignerError(() => MasterKeyRing.load({ keyFile }), 'E_MASTER_KEY', /does not exist/)
      expectSignerError(() => MasterKeyRing.load({}), 'E_MASTER_KEY', /no master key configured/)
      fs.writeFileSync(keyFile, 'short', { mode: 0o600 })
      expectSignerError(
        () => MasterKeyRing.load({ keyFile }),
        'E_MASTER_KEY',
        /master key file .* is not a valid master key/
      )
      expectSignerError(
        () => MasterKeyRing.load({ envKey: 'short' }),
        'E_MASTER_KEY',
        /PKI_MASTER_KEY is not a valid/
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

test.group('hsm / master key: canary', () => {
  test('detects a wrong master key at start', ({ assert }) => {
    const right = ring()
    const canary = right.makeCanary()
    assert.isTrue(right.checkCanary(canary))
    right.verifyCanary(canary)

    const wrong = ring()
    assert.isFalse(wrong.checkCanary(canary))
    expectSignerError(
      () => wrong.verifyCanary(canary),
      'E_MASTER_KEY',
      new RegExp(
        `set up with master key ${right.currentKeyId}, but the configured master key is ${wrong.currentKeyId}`
      )
    )
    assert.isFalse(right.checkCanary('garbage'))
    expectSignerError(() => right.verifyCanary('garbage'), 'E_MASTER_KEY', /malformed/)
  })
})
