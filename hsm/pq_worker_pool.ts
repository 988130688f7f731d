/*
 * A small pool of worker threads running @noble/post-quantum (pq_worker.js), so that ML-DSA
 * (milliseconds) and SLH-DSA (seconds) in pure JavaScript never block the event loop.
 *
 * - size min(2, cores), workers started lazily on first use;
 * - signatures and key jobs (milliseconds to seconds) go to the worker with the fewest long jobs
 *   (then the fewest jobs); CSR signature checks (a tenth of a millisecond) stay on one worker,
 *   the first that is running no post-quantum job and has fewer than VERIFY_QUEUE checks
 *   waiting, so that on a 2-core machine they keep one warm thread busy instead of waking two
 *   (measured: +7 to 14 % REST issuances/s with less CPU, docs/benchmarks.md); a check waits
 *   behind a long signature only when every worker is running one;
 * - a worker is ref'd only while it has jobs in flight, so an idle pool never keeps the process
 *   alive, and a pending signature is never dropped because the loop ran empty;
 * - a key's secret is posted to a worker once (on that worker's first job for the key) and cached
 *   there by a numeric key id; sign requests carry only the key id and the data;
 * - a worker that dies fails its jobs with E_SIGNER_UNAVAILABLE and is replaced on the next job.
 */
import os from 'node:os'
import { Worker } from 'node:worker_threads'
import { SignerError } from './types.js'
import type { PqKeyType } from './algorithms.js'
import type { ClassicalVerifyJob } from './keys.js'

export type PqKeyForm = 'seed' | 'expanded' | 'slh'

interface PendingJob {
  resolve: (value: WorkerReply) => void
  reject: (err: Error) => void
  /** a post-quantum sign / key job (milliseconds to seconds), not a classical check */
  long: boolean
}

interface WorkerReply {
  id: number
  ok: boolean
  result?: Uint8Array
  secretKey?: Uint8Array
  error?: string
  /** a verify job's answer */
  valid?: boolean
  /** a verify job whose public key could not be imported */
  badKey?: boolean
}

interface Slot {
  worker: Worker
  pending: Map<number, PendingJob>
  loaded: Set<number>
  dead: boolean
}

/** Checks waiting on one worker before the next check goes to another. */
const VERIFY_QUEUE = 16

/** How many of a worker's jobs are long (post-quantum) ones. */
function longJobs(slot: Slot): number {
  let n = 0
  for (const job of slot.pending.values()) if (job.long) n++
  return n
}

interface KeyMaterial {
  keyType: PqKeyType
  form: PqKeyForm
  bytes: Uint8Array
}

const WORKER_URL = new URL('./pq_worker.js', import.meta.url)

export class PqWorkerPool {
  readonly size: number
  #slots: Slot[] = []
  #keys = new Map<number, KeyMaterial>()
  #nextKeyId = 1
  #nextJobId = 1

  constructor(size = Math.max(1, Math.min(2, os.availableParallelism()))) {
    this.size = size
  }

  /** Registers key material; returns the id that sign() takes. Nothing is sent until needed. */
  registerKey(keyType: PqKeyType, form: PqKeyForm, bytes: Uint8Array): number {
    const keyId = this.#nextKeyId++
    this.#keys.set(keyId, { keyType, form, bytes: Uint8Array.from(bytes) })
    return keyId
  }

  /** Forgets a key here and in every worker that holds it. */
  unregisterKey(keyId: number): void {
    const material = this.#keys.get(keyId)
    if (!material) return
    material.bytes.fill(0)
    this.#keys.delete(keyId)
    for (const slot of this.#slots) {
      if (slot.loaded.delete(keyId) && !slot.dead) slot.worker.postMessage({ op: 'unload', keyId })
    }
  }

  async sign(keyId: number, data: Uint8Array): Promise<Uint8Array> {
    const material = this.#keys.get(keyId)
    if (!material)
      throw new SignerError('E_KEY_INVALID', 'post-quantum key is not loaded (signer was closed)')
    const slot = this.#pick()
    if (!slot.loaded.has(keyId)) {
      slot.worker.postMessage({
        op: 'load',
        keyId,
        keyType: material.keyType,
        form: material.form,
        bytes: material.bytes,
      })
      slot.loaded.add(keyId)
    }
    const reply = await this.#run(slot, (id) => ({ op: 'sign', id, keyId, data }))
    return this.#result(reply)
  }

  /** Public key of an ML-DSA seed / expanded key or SLH-DSA secret key, computed off-thread. */
  async publicKey(keyType: PqKeyType, form: PqKeyForm, bytes: Uint8Array): Promise<Uint8Array> {
    const reply = await this.#run(this.#pick(), (id) => ({
      op: 'publicKey',
      id,
      keyType,
      form,
      bytes,
    }))
    return this.#result(reply)
  }

  /** Deterministic key generation from `seed`; returns noble's secret key and public key. */
  async keygen(
    keyType: PqKeyType,
    seed: Uint8Array
  ): Promise<{ secretKey: Uint8Array; publicKey: Uint8Array }> {
    const reply = await this.#run(this.#pick(), (id) => ({ op: 'keygen', id, keyType, seed }))
    const publicKey = this.#result(reply)
    if (!(reply.secretKey instanceof Uint8Array)) {
      throw new SignerError('E_SIGNER_UNAVAILABLE', 'post-quantum worker returned no secret key')
    }
    return { secretKey: reply.secretKey, publicKey }
  }

  /**
   * Checks a classical signature (key import and verification) on a worker: true or false, or
   * 'bad-key' when the key could not be imported. Only the bytes of `data` and `signature` are
   * sent (views are copied, never their whole underlying buffers).
   */
  async verify(
    job: ClassicalVerifyJob,
    data: Uint8Array,
    signature: Uint8Array
  ): Promise<boolean | 'bad-key'> {
    const reply = await this.#run(this.#pickForCheck(), (id) => ({
      op: 'verify',
      id,
      key: job.key,
      hash: job.hash,
      options: job.options,
      data: Uint8Array.prototype.slice.call(data),
      signature: Uint8Array.prototype.slice.call(signature),
    }))
    if (!reply.ok)
      throw new SignerError('E_SIGNER_UNAVAILABLE', `crypto worker failed: ${reply.error ?? '?'}`)
    return reply.badKey ? 'bad-key' : reply.valid === true
  }

  /** Terminates every worker; pending jobs fail. The pool can be used again afterwards. */
  async close(): Promise<void> {
    const slots = this.#slots
    this.#slots = []
    await Promise.all(
      slots.map(async (slot) => {
        slot.dead = true
        this.#failAll(
          slot,
          new SignerError('E_SIGNER_UNAVAILABLE', 'post-quantum worker pool was shut down')
        )
        await slot.worker.terminate()
      })
    )
  }

  get workerCount(): number {
    return this.#slots.length
  }

  #result(reply: WorkerReply): Uint8Array {
    if (!reply.ok || !(reply.result instanceof Uint8Array)) {
      throw new SignerError(
        'E_SIGNER_UNAVAILABLE',
        `post-quantum worker failed: ${reply.error ?? 'no result'}`
      )
    }
    const r = reply.result
    return Buffer.from(r.buffer, r.byteOffset, r.byteLength)
  }

  #pick(): Slot {
    if (this.#slots.length < this.size) {
      const idle = this.#slots.find((s) => s.pending.size === 0)
      if (idle) return idle
      return this.#spawn()
    }
    // Long jobs first: a queue of short checks is not worth a seconds-long signature's wait.
    const load = (slot: Slot) => longJobs(slot) * 1000 + slot.pending.size
    let best = this.#slots[0]
    for (const slot of this.#slots) if (load(slot) < load(best)) best = slot
    return best
  }

  /** One warm worker for the short checks while it is free of long jobs and not backed up. */
  #pickForCheck(): Slot {
    for (const slot of this.#slots) {
      if (slot.pending.size < VERIFY_QUEUE && longJobs(slot) === 0) return slot
    }
    return this.#pick()
  }

  #spawn(): Slot {
    let worker: Worker
    try {
      // No execArgv: the worker is plain JavaScript and needs no TypeScript loader.
      worker = new Worker(WORKER_URL, { execArgv: [], name: 'pki-pq-signer' })
    } catch (err) {
      throw new SignerError(
        'E_SIGNER_UNAVAILABLE',
        `cannot start the post-quantum signing worker (${WORKER_URL.pathname}): ${(err as Error).message}`
      )
    }
    worker.unref()
    const slot: Slot = { worker, pending: new Map(), loaded: new Set(), dead: false }
    worker.on('message', (reply: WorkerReply) => {
      const job = slot.pending.get(reply.id)
      if (!job) return
      slot.pending.delete(reply.id)
      if (slot.pending.size === 0) worker.unref()
      job.resolve(reply)
    })
    const onDeath = (reason: string) => {
      if (slot.dead) return
      slot.dead = true
      this.#slots = this.#slots.filter((s) => s !== slot)
      this.#failAll(
        slot,
        new SignerError('E_SIGNER_UNAVAILABLE', `post-quantum signing worker stopped: ${reason}`)
      )
    }
    worker.on('error', (err) => onDeath(err.message))
    worker.on('exit', (code) => onDeath(`exit code ${code}`))
    this.#slots.push(slot)
    return slot
  }

  #failAll(slot: Slot, err: Error): void {
    const jobs = [...slot.pending.values()]
    slot.pending.clear()
    slot.loaded.clear()
    for (const job of jobs) job.reject(err)
  }

  #run(slot: Slot, build: (id: number) => Record<string, unknown>): Promise<WorkerReply> {
    const id = this.#nextJobId++
    const message = build(id)
    const long = message.op !== 'verify'
    return new Promise<WorkerReply>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, long })
      if (slot.pending.size === 1) slot.worker.ref()
      slot.worker.postMessage(message)
    })
  }
}

let shared: PqWorkerPool | undefined

/** The process-wide pool (created lazily; no worker starts until the first job). */
export function getPqWorkerPool(): PqWorkerPool {
  shared ??= new PqWorkerPool()
  return shared
}

/** Stops the process-wide pool's workers. Registered keys survive; workers restart on demand. */
export async function shutdownPqWorkerPool(): Promise<void> {
  if (shared) await shared.close()
}
