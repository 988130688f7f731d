/*
 * Signer throughput vs. the raw node:crypto loop, same P-256 key, same data, in this process.
 *
 *   candidate: `await signer.sign(data, 'sha256')` — the hsm/ SoftwareSigner as the kernel uses it
 *              (SoftwareBackend + MasterKeyRing, createKey → load)
 *   baseline:  `crypto.sign('sha256', data, keyObject)` — the same PKCS#8, imported once
 *
 * Rounds alternate candidate/baseline (so drift hits both alike); each round runs for a fixed
 * time; reported: the median rate of each side and the median of the per-pair ratios.
 */
import crypto from 'node:crypto'
import { SoftwareBackend } from '../../hsm/backends.js'
import { MasterKeyRing } from '../../hsm/master_key.js'

export interface SignerBenchResult {
  signerOpsPerSec: number
  rawOpsPerSec: number
  ratio: number
  rounds: number
  dataBytes: number
  implementation: string
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function timedAsync(ms: number, fn: () => Promise<unknown>): Promise<number> {
  let n = 0
  const start = process.hrtime.bigint()
  const end = start + BigInt(ms) * 1_000_000n
  let now = start
  while (now < end) {
    // check the clock every 64 operations: cheap compared with a signature
    for (let i = 0; i < 64; i++) await fn()
    n += 64
    now = process.hrtime.bigint()
  }
  return n / (Number(now - start) / 1e9)
}

function timedSync(ms: number, fn: () => unknown): number {
  let n = 0
  const start = process.hrtime.bigint()
  const end = start + BigInt(ms) * 1_000_000n
  let now = start
  while (now < end) {
    for (let i = 0; i < 64; i++) fn()
    n += 64
    now = process.hrtime.bigint()
  }
  return n / (Number(now - start) / 1e9)
}

export async function runSignerBench(
  opts: { rounds?: number; roundMs?: number; warmupMs?: number } = {}
): Promise<SignerBenchResult> {
  const rounds = opts.rounds ?? 201
  const roundMs = opts.roundMs ?? 10
  const warmupMs = opts.warmupMs ?? 400

  const ring = new MasterKeyRing(crypto.randomBytes(32))
  const backend = new SoftwareBackend(ring)
  const created = await backend.createKey('ecdsa-p256')
  const signer = await backend.load(created.keyRef, created.encrypted)

  const pkcs8 = ring.decrypt(created.encrypted, created.keyRef)
  const keyObject = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  pkcs8.fill(0)

  // ~300 bytes, shaped like a TBSCertificate (SEQUENCE header, then content)
  const data = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x28]), crypto.randomBytes(296)])

  // Same key on both sides: the raw signature must verify under the signer's public key.
  const pub = crypto.createPublicKey({
    key: Buffer.from(signer.publicKeySpki),
    format: 'der',
    type: 'spki',
  })
  const check = await signer.sign(data, 'sha256')
  if (
    !crypto.verify('sha256', data, pub, check) ||
    !crypto.verify('sha256', data, pub, crypto.sign('sha256', data, keyObject))
  ) {
    throw new Error('signer bench: the signer and the raw key object do not hold the same key')
  }

  const candidate = () => signer.sign(data, 'sha256')
  const baseline = () => crypto.sign('sha256', data, keyObject)

  await timedAsync(warmupMs, candidate)
  timedSync(warmupMs, baseline)

  // Short rounds, alternating order: neighbouring rounds see the same machine, so the ratio of each
  // (candidate, baseline) pair is robust to load that comes and goes; report the median pair ratio.
  const a: number[] = []
  const b: number[] = []
  const ratios: number[] = []
  for (let r = 0; r < rounds; r++) {
    let x: number
    let y: number
    if (r % 2 === 0) {
      x = await timedAsync(roundMs, candidate)
      y = timedSync(roundMs, baseline)
    } else {
      y = timedSync(roundMs, baseline)
      x = await timedAsync(roundMs, candidate)
    }
    a.push(x)
    b.push(y)
    ratios.push(x / y)
  }
  await backend.close()
  const signerOpsPerSec = median(a)
  const rawOpsPerSec = median(b)
  return {
    signerOpsPerSec,
    rawOpsPerSec,
    ratio: median(ratios),
    rounds,
    dataBytes: data.length,
    implementation: (signer as any).implementation ?? 'unknown',
  }
}
