/*
 * How the worker pool places jobs: short signature checks on one warm worker, never behind a
 * long post-quantum job. Keys are made here with node:crypto and @noble/post-quantum.
 */
import { test } from '@japa/runner'
import crypto from 'node:crypto'
import { slh_dsa_sha2_128s } from '@noble/post-quantum/slh-dsa.js'
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js'
import { PqWorkerPool } from '../../../hsm/pq_worker_pool.js'
import type { ClassicalVerifyJob } from '../../../hsm/keys.js'

const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
const job: ClassicalVerifyJob = {
  key: { key: ec.publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' },
  hash: 'sha256',
  options: { dsaEncoding: 'der' },
}
const message = (i: number) => Buffer.from(`check ${i}`)
const signature = (i: number) => crypto.sign('sha256', message(i), ec.privateKey)

test.group('hsm / worker pool: where jobs run', (group) => {
  let pool: PqWorkerPool
  group.each.setup(() => {
    pool = new PqWorkerPool(2)
    return () => pool.close()
  })

  test('concurrent checks share one worker and each gets its own verdict', async ({ assert }) => {
    const verdicts = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        // every third one is checked against the wrong message
        pool.verify(job, message(i % 3 === 0 ? i + 1 : i), signature(i))
      )
    )
    assert.deepEqual(
      verdicts,
      Array.from({ length: 12 }, (_, i) => i % 3 !== 0)
    )
    assert.equal(pool.workerCount, 1)
  })

  test('a deep queue of checks spreads to the second worker', async ({ assert }) => {
    const verdicts = await Promise.all(
      Array.from({ length: 40 }, (_, i) => pool.verify(job, message(i), signature(i)))
    )
    assert.isTrue(verdicts.every((v) => v === true))
    assert.equal(pool.workerCount, 2)
  })

  test('a check does not wait behind a seconds-long SLH-DSA signature', async ({ assert }) => {
    const { secretKey, publicKey } = slh_dsa_sha2_128s.keygen()
    const keyId = pool.registerKey('slh-dsa-sha2-128s', 'slh', secretKey)
    const order: string[] = []
    const signing = pool.sign(keyId, message(0)).then((sig) => {
      order.push('signature')
      return sig
    })
    const checked = pool.verify(job, message(1), signature(1)).then((valid) => {
      order.push('check')
      return valid
    })
    assert.isTrue(await checked)
    assert.isTrue(slh_dsa_sha2_128s.verify(await signing, message(0), publicKey))
    assert.deepEqual(order, ['check', 'signature'])
    assert.equal(pool.workerCount, 2)
  }).timeout(60000)

  test('a signature goes to the worker without a long job, even behind a queue of checks', async ({
    assert,
  }) => {
    const slh = slh_dsa_sha2_128s.keygen()
    const seed = crypto.randomBytes(32)
    const ml = ml_dsa44.keygen(seed)
    const slhKey = pool.registerKey('slh-dsa-sha2-128s', 'slh', slh.secretKey)
    const mlKey = pool.registerKey('ml-dsa-44', 'seed', seed)
    const order: string[] = []
    // worker 1: a seconds-long SLH-DSA signature; worker 2: ten checks
    const slow = pool.sign(slhKey, message(0)).then((sig) => (order.push('SLH-DSA'), sig))
    const checks = Promise.all(
      Array.from({ length: 10 }, (_, i) => pool.verify(job, message(i), signature(i)))
    )
    const fast = pool.sign(mlKey, message(1)).then((sig) => (order.push('ML-DSA'), sig))
    assert.isTrue((await checks).every((v) => v === true))
    assert.isTrue(ml_dsa44.verify(await fast, message(1), ml.publicKey))
    assert.isTrue(slh_dsa_sha2_128s.verify(await slow, message(0), slh.publicKey))
    assert.deepEqual(order, ['ML-DSA', 'SLH-DSA'])
  }).timeout(60000)
})
