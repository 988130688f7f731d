/*
 * One load-generating process of the ACME benchmark (forked by bench/acme.ts). It prepares its
 * inputs first (P-256 account keys and CSRs, untimed), then runs `concurrency` ACME flows in a
 * loop until the deadline and reports how many certificates it got (and when each arrived), the
 * failures, and the CPU time it used itself (so a saturated client shows).
 */
import crypto, { type KeyObject } from 'node:crypto'
import { AcmeClient, type AcmeTarget } from './acme_client.js'
import { makeP256Csrs } from './csrs.js'

interface Prepared {
  keys: KeyObject[]
  csrs: Array<{ der: Buffer; name: string }>
}

let prepared: Prepared | undefined

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
}

async function prepare(msg: { count: number; prefix: string; domain: string }) {
  const pems = await makeP256Csrs(msg.count, msg.prefix, msg.domain)
  prepared = {
    keys: pems.map(() => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
    csrs: pems.map((pem, i) => ({ der: pemToDer(pem), name: `${msg.prefix}-${i}.${msg.domain}` })),
  }
}

async function run(msg: { target: AcmeTarget; concurrency: number; durationMs: number }) {
  const inputs = prepared!
  const client = new AcmeClient(msg.target)
  await client.directory()
  const cpu0 = process.cpuUsage()
  const deadline = Date.now() + msg.durationMs
  let next = 0
  let issued = 0
  const errors: string[] = []
  const latencies: number[] = []
  /** When each certificate arrived (epoch ms): bench/acme.ts finds a server's stall by them. */
  const doneAt: number[] = []
  async function loop() {
    while (Date.now() < deadline) {
      const i = next++ % inputs.csrs.length
      const started = performance.now()
      try {
        await client.issue({
          accountKey: inputs.keys[i],
          csrDer: inputs.csrs[i].der,
          names: [inputs.csrs[i].name],
        })
        issued++
        latencies.push(performance.now() - started)
        doneAt.push(Date.now())
      } catch (error: any) {
        if (errors.length < 5) errors.push(String(error?.message ?? error))
        else errors.push('')
      }
    }
  }
  await Promise.all(Array.from({ length: msg.concurrency }, loop))
  const cpu = process.cpuUsage(cpu0)
  client.close()
  return { issued, errors, latencies, doneAt, cpuSec: (cpu.user + cpu.system) / 1e6 }
}

process.on('message', (msg: any) => {
  const reply = (value: unknown) => process.send!(value)
  if (msg?.type === 'prepare') {
    prepare(msg).then(
      () => reply({ type: 'ready' }),
      (error) => reply({ type: 'error', message: String(error?.stack ?? error) })
    )
  } else if (msg?.type === 'run') {
    run(msg).then(
      (result) => reply({ type: 'done', ...result }),
      (error) => reply({ type: 'error', message: String(error?.stack ?? error) })
    )
  } else if (msg?.type === 'exit') {
    process.exit(0)
  }
})
