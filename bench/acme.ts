/*
 * npm run bench:acme — ACME issuance against pebble, the reference ACME server, in the same run
 * (a report, never a timed test). Targets (issue 5):
 *   - server CPU time per issued certificate: at most a third of pebble's;
 *   - certificates per second at concurrency 8: at least twice pebble's.
 *
 * Both servers speak HTTPS with the same self-signed certificate (made here with openssl), and
 * require External Account Binding. pebble 2.4 (Debian) runs with PEBBLE_VA_NOSLEEP=1,
 * PEBBLE_VA_ALWAYS_VALID=1 and PEBBLE_WFE_NONCEREJECT=0, so its validation is as instant as our
 * pre-approved domain; it keeps everything in memory. Our server is the real one
 * (`node bin/start.js`, NODE_ENV=production, SQLite with synchronous=FULL as shipped) with the
 * ACME plugin enabled, a P-256 CA, a policy on the Web Server template pre-approving
 * `*.bench.test`, and an EAB — all made with the ace commands an operator would use — and its
 * per-IP and per-account rate limits lifted (plugin:settings), as for any load test.
 *
 * The client is the same for both: BENCH_WORKERS processes (default 4) × BENCH_CONCURRENCY/
 * BENCH_WORKERS flows each (total 8), with P-256 account keys and CSRs made before the timed
 * part. Each flow is the whole protocol: newAccount (EAB), newOrder, the authorization (answering
 * http-01 when it is pending — pebble's), finalize, polling, certificate download.
 * Server CPU is read from /proc/<pid>/stat (all threads); client CPU is the workers' own.
 *
 * Environment: BENCH_DURATION (s, default 15), BENCH_WARMUP (s, default 3), BENCH_CONCURRENCY
 * (default 8), BENCH_WORKERS (default 4), BENCH_ONLY=pebble,ours, BENCH_PEBBLE_ATTEMPTS (default 3:
 * pebble 2.4 sometimes deadlocks under this load — its flows then time out — and is restarted
 * for another run; the verdict says so when every attempt failed), BENCH_CPU_PROF=<dir> (our
 * server runs with --cpu-prof; the measured part is written to phases-<pid>.json, so
 * `bench/profile_summary.mjs <profile> --phase open-pki` gives milliseconds per certificate),
 * BENCH_LIMITS=counted (the rate limits set out of reach instead of off: their counting is
 * measured too), BENCH_NODE_FLAGS (extra node flags for our server, space-separated, e.g. --import=<preload>),
 * BENCH_WEB_CONCURRENCY (our server's WEB_CONCURRENCY: processes on the one port, default 1; CPU
 * counts all of them).
 * Exit code: 0 when the run completed (even with a FAIL); 1 when it could not run.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  freePort,
  killAllServers,
  procCpuSeconds,
  startServer,
  type BenchServer,
} from './lib/server.js'
import type { AcmeTarget } from './lib/acme_client.js'
import { makeTlsCertificate, type BenchTls } from './lib/tls.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 15)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const WORKERS = Math.min(Number(process.env.BENCH_WORKERS ?? 4), CONCURRENCY)
const ONLY = new Set((process.env.BENCH_ONLY ?? 'pebble,ours').split(',').map((s) => s.trim()))
/** Runs of pebble to try for one without failures (see main). */
const PEBBLE_ATTEMPTS = Number(process.env.BENCH_PEBBLE_ATTEMPTS ?? 3)
const CPU_TARGET = 1 / 3
const RATE_TARGET = 2
/** How often the server's CPU is read during a measurement (a stalled run is cut at a sample). */
const CPU_SAMPLE_MS = 250
/** A run that stalled still counts when it ran this long first (seconds). */
const MIN_WORKING_SECONDS = Math.max(5, DURATION / 3)
/** Our server's processes (its WEB_CONCURRENCY); pebble uses every core as it is. */
const WEB_CONCURRENCY = process.env.BENCH_WEB_CONCURRENCY ?? '1'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const t0 = Date.now()
const log = (msg: string) =>
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`)
const fmt = (n: number, digits = 1) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a'

/** CPU seconds of a server and its worker processes (WEB_CONCURRENCY), all threads. */
function cpuSeconds(pid: number): number {
  const seconds = procCpuSeconds(pid)
  if (seconds === undefined) throw new Error(`process ${pid} is gone`)
  return seconds
}

/* ------------------------------------------------------------------------------------------ */

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'open-pki-bench-acme-'))
const children = new Set<ChildProcess>()
function cleanUp() {
  for (const child of children) child.kill('SIGKILL')
  killAllServers()
  fs.rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanUp)
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    cleanUp()
    process.exit(130)
  })

interface Target {
  name: string
  pid: number
  acme: AcmeTarget
  stop: () => Promise<void>
}

async function waitForHttps(url: string, ca: string, timeoutMs = 20_000) {
  const https = await import('node:https')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = https.get(url, { ca, timeout: 1000 }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode === 200))
      })
      req.on('error', () => resolve(false))
      req.on('timeout', () => req.destroy())
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`)
}

async function startPebble(tls: BenchTls): Promise<Target> {
  const port = await freePort()
  const management = await freePort()
  const hmacKey = Buffer.from('pebble bench hmac key, 32 bytes+').toString('base64url')
  const config = path.join(work, 'pebble.json')
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: tls.certFile,
        privateKey: tls.keyFile,
        httpPort: await freePort(),
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: true,
        externalAccountMACKeys: { 'bench-kid': hmacKey },
      },
    })
  )
  const child = spawn('pebble', ['-config', config], {
    env: {
      ...process.env,
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_VA_ALWAYS_VALID: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_AUTHZREUSE: '0',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  children.add(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 20_000) stderr += d
  })
  const directoryUrl = `https://127.0.0.1:${port}/dir`
  try {
    await waitForHttps(directoryUrl, tls.ca)
  } catch (error) {
    throw new Error(`${(error as Error).message}\npebble said:\n${stderr.slice(-2000)}`)
  }
  return {
    name: 'pebble 2.4',
    pid: child.pid!,
    acme: { directoryUrl, tlsCa: tls.ca, eab: { kid: 'bench-kid', hmacKey } },
    async stop() {
      child.kill('SIGTERM')
      children.delete(child)
    },
  }
}

function ace(server: BenchServer, args: string[]): string {
  return execFileSync(process.execPath, ['ace', ...args], {
    cwd: ROOT,
    env: {
      ...Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !/^(DB_|PKI_|TLS_|APP_|PURGE_)/.test(k))
      ),
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATA_DIR: server.dataDir,
      APP_URL: server.url,
    },
    encoding: 'utf8',
  })
}

async function startOurs(tls: BenchTls): Promise<Target> {
  const profDir = process.env.BENCH_CPU_PROF
  const server = await startServer({
    tls,
    env: { WEB_CONCURRENCY },
    nodeFlags: [
      ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profDir)}`] : []),
      ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []),
    ],
  })
  ace(server, ['plugin:enable', 'acme'])
  // A load test from one address: the operator lifts the per-IP and per-account limits
  // (BENCH_LIMITS=counted: limits too high to reach, so every request is still counted).
  const limit = process.env.BENCH_LIMITS === 'counted' ? '1000000' : '0'
  ace(server, [
    'plugin:settings',
    'acme',
    '--set',
    `requestsPerIpPerMinute=${limit}`,
    '--set',
    `ordersPerAccountPerHour=${limit}`,
  ])
  ace(server, ['ca:create', '--name', 'Bench ACME CA', '--key-type', 'ecdsa-p256'])
  ace(server, [
    'acme:policy:create',
    '--ca',
    'Bench ACME CA',
    '--name',
    'bench',
    '--template',
    'Web Server',
    '--pre-approved',
    '*.bench.test',
  ])
  const eab = ace(server, ['acme:eab:create', '--policy', 'bench', '--uses', '1000000'])
  const kid = /^KID: (\S+)$/m.exec(eab)?.[1]
  const hmacKey = /^HMAC key: (\S+)$/m.exec(eab)?.[1]
  const directoryUrl = /^(https:\/\/\S+\/directory)$/m.exec(eab)?.[1]
  if (!kid || !hmacKey || !directoryUrl)
    throw new Error(`acme:eab:create printed no directory URL, KID or HMAC key:\n${eab}`)
  return {
    name: 'open-pki',
    pid: server.pid,
    acme: { directoryUrl, tlsCa: tls.ca, eab: { kid, hmacKey } },
    async stop() {
      // Writing a CPU profile on exit takes a while.
      await server.stop(profDir ? 15_000 : 5000)
    },
  }
}

/* ------------------------------------------------------------------------------------------ */

interface Worker {
  child: ChildProcess
  request: (msg: object) => Promise<any>
}

function startWorker(index: number): Worker {
  const child = fork(path.join(ROOT, 'bench/lib/acme_worker.ts'), [], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  let pending: { resolve: (v: any) => void; reject: (e: Error) => void } | undefined
  child.on('message', (msg: any) => {
    const p = pending
    pending = undefined
    if (msg?.type === 'error') p?.reject(new Error(`worker ${index}: ${msg.message}`))
    else p?.resolve(msg)
  })
  child.on('exit', (code) => pending?.reject(new Error(`worker ${index} exited (${code})`)))
  return {
    child,
    request(msg) {
      return new Promise((resolve, reject) => {
        pending = { resolve, reject }
        child.send(msg)
      })
    },
  }
}

interface Measured {
  name: string
  issued: number
  failed: number
  errors: string[]
  /** the measured time: the whole run, or up to the sample after the last certificate (stalled) */
  seconds: number
  /** seconds from the start to the last certificate, when flows then timed out */
  stalledAfter?: number
  /** the whole measurement (what the client's CPU is counted over) */
  phaseSeconds: number
  serverCpuSec: number
  clientCpuSec: number
  p50: number
  p99: number
}

const phases: Array<{ name: string; pid: number; fromUs: number; toUs: number; requests: number }> =
  []

async function measure(target: Target, workers: Worker[]): Promise<Measured> {
  const perWorker = (w: number) =>
    Math.floor(CONCURRENCY / WORKERS) + (w < CONCURRENCY % WORKERS ? 1 : 0)
  const phase = async (durationMs: number) =>
    Promise.all(
      workers.map((w, i) =>
        w.request({ type: 'run', target: target.acme, concurrency: perWorker(i), durationMs })
      )
    )
  await phase(WARMUP * 1000)
  const cpu0 = cpuSeconds(target.pid)
  const startedAt = Date.now()
  const from = process.hrtime.bigint()
  // The server's CPU every 250 ms: a run that stalls is measured up to its last certificate.
  const cpuSamples: Array<{ at: number; cpu: number }> = []
  const sampler = setInterval(() => {
    const cpu = procCpuSeconds(target.pid)
    if (cpu !== undefined) cpuSamples.push({ at: Date.now(), cpu })
  }, CPU_SAMPLE_MS)
  const results = await phase(DURATION * 1000).finally(() => clearInterval(sampler))
  const to = process.hrtime.bigint()
  const endedAt = Date.now()
  const cpuEnd = cpuSeconds(target.pid)
  cpuSamples.push({ at: endedAt, cpu: cpuEnd })
  const issued = results.reduce((n, r) => n + r.issued, 0)
  const failed = results.reduce((n, r) => n + r.errors.length, 0)
  let seconds = (endedAt - startedAt) / 1000
  let serverCpuSec = cpuEnd - cpu0
  let stalledAfter: number | undefined
  if (failed > 0 && issued > 0) {
    // Flows timed out: the server stopped answering at some point (pebble 2.4's lock-order
    // deadlock). Its own figures are those of the time before: up to the last certificate, with
    // the CPU of the first sample at or after it (a stalled server uses next to none).
    const last = Math.max(...results.flatMap((r) => r.doneAt as number[]))
    const sample = cpuSamples.find((s) => s.at >= last) ?? cpuSamples[cpuSamples.length - 1]
    stalledAfter = (last - startedAt) / 1000
    seconds = (sample.at - startedAt) / 1000
    serverCpuSec = sample.cpu - cpu0
  }
  // CLOCK_MONOTONIC in µs, the time base of V8's .cpuprofile (profile_summary.mjs --phase).
  phases.push({
    name: target.name,
    pid: target.pid,
    fromUs: Number(from / 1000n),
    toUs: Number(to / 1000n),
    requests: issued,
  })
  const latencies = results.flatMap((r) => r.latencies as number[]).sort((a, b) => a - b)
  const pick = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return {
    name: target.name,
    issued,
    failed,
    errors: results.flatMap((r) => (r.errors as string[]).filter(Boolean)).slice(0, 5),
    seconds,
    stalledAfter,
    phaseSeconds: (endedAt - startedAt) / 1000,
    serverCpuSec,
    clientCpuSec: results.reduce((n, r) => n + r.cpuSec, 0),
    p50: pick(0.5) ?? Number.NaN,
    p99: pick(0.99) ?? Number.NaN,
  }
}

function report(m: Measured) {
  const rate = m.issued / m.seconds
  const cpuPer = (m.serverCpuSec / m.issued) * 1000
  const stall =
    m.stalledAfter === undefined
      ? ''
      : `; it stopped answering after ${fmt(m.stalledAfter)} s, so these figures are of its first ${fmt(m.seconds)} s (the client's CPU: of all ${fmt(m.phaseSeconds)} s)`
  log(
    `${m.name}: ${fmt(rate)} certificates/s (${m.issued} in ${fmt(m.seconds)} s, ${m.failed} failed; flow p50 ${fmt(m.p50, 0)} ms, p99 ${fmt(m.p99, 0)} ms), server CPU ${fmt(cpuPer, 2)} ms per certificate (${fmt((m.serverCpuSec / m.seconds) * 100, 0)}% of a core), client CPU ${fmt((m.clientCpuSec / m.phaseSeconds) * 100, 0)}% of a core${stall}`
  )
  for (const e of m.errors) log(`  failure: ${e}`)
  return { rate, cpuPer }
}

/** A run whose figures are the server's own: no flow failed, or it worked long enough first. */
function usable(m: Measured): boolean {
  if (m.issued === 0) return false
  return m.failed === 0 || (m.stalledAfter ?? 0) >= MIN_WORKING_SECONDS
}

async function main() {
  log(
    `open-pki ACME benchmark — node ${process.version}, ${os.cpus().length} cores; concurrency ${CONCURRENCY} over ${WORKERS} client processes, ${DURATION} s after ${WARMUP} s warm-up`
  )
  const tls = makeTlsCertificate(work)
  const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(i))
  // Enough inputs for the fastest plausible run; flows cycle through them after that.
  const perWorkerInputs = Number(process.env.BENCH_INPUTS ?? 1500)
  await Promise.all(
    workers.map((w, i) =>
      w.request({ type: 'prepare', count: perWorkerInputs, prefix: `w${i}`, domain: 'bench.test' })
    )
  )
  log(`client: ${WORKERS} × ${perWorkerInputs} account keys and CSRs ready`)

  const results: Record<string, { rate: number; cpuPer: number; m: Measured }> = {}
  for (const which of ['pebble', 'ours'] as const) {
    if (!ONLY.has(which)) continue
    let target: Target
    for (let attempt = 1; ; attempt++) {
      target = which === 'pebble' ? await startPebble(tls) : await startOurs(tls)
      const processes = which === 'ours' ? `, WEB_CONCURRENCY=${WEB_CONCURRENCY}` : ''
      log(
        `${target.name}: up (pid ${target.pid}${processes}), directory ${target.acme.directoryUrl}`
      )
      let m: Measured
      try {
        m = await measure(target, workers)
        results[which] = { ...report(m), m }
      } finally {
        await target.stop()
      }
      // pebble 2.4 can deadlock under concurrent load: its memory store's lock and an
      // authorization's are taken in opposite orders (seen in a goroutine dump: NewOrder's
      // FindValidAuthorization, a finalize's AddCertificate). Its requests then time out. A run
      // is measured up to its last certificate (see measure); one that stalled within
      // MIN_WORKING_SECONDS is reported, and pebble restarted for another.
      if (which !== 'pebble' || usable(m) || attempt >= PEBBLE_ATTEMPTS) break
      log(
        `pebble 2.4: ${m.failed} flows failed ${m.stalledAfter === undefined ? 'and none finished' : `after ${fmt(m.stalledAfter)} s`} (it deadlocks under concurrent load); restarting it (attempt ${attempt + 1} of ${PEBBLE_ATTEMPTS})`
      )
    }
    const profDir = process.env.BENCH_CPU_PROF
    if (profDir && which === 'ours') {
      const dir = path.resolve(profDir)
      const mine = phases.filter((p) => p.pid === target.pid)
      fs.writeFileSync(path.join(dir, `phases-${target.pid}.json`), JSON.stringify(mine, null, 2))
      log(
        `server CPU profile in ${dir}; the measured part, per certificate: node bench/profile_summary.mjs ${dir}/CPU.*.${target.pid}.0.*.cpuprofile --phase '${target.name}'`
      )
    }
  }
  for (const w of workers) w.child.send({ type: 'exit' })

  const ours = results.ours
  const pebble = results.pebble
  if (ours && pebble) {
    const cpuRatio = ours.cpuPer / pebble.cpuPer
    const rateRatio = ours.rate / pebble.rate
    // A side that issued nothing, flows of ours that failed, or a pebble that stalled too soon:
    // no figure to compare, so no verdict either way.
    const comparable = ours.m.issued > 0 && ours.m.failed === 0 && usable(pebble.m)
    const verdict = (ok: boolean) => (comparable ? (ok ? 'PASS' : 'FAIL') : 'n/a')
    const rows = [
      ['measurement', 'open-pki', 'pebble (same run)', 'ratio', 'target', 'result'],
      [
        'server CPU per certificate',
        `${fmt(ours.cpuPer, 2)} ms`,
        `${fmt(pebble.cpuPer, 2)} ms`,
        `${fmt(cpuRatio, 2)}×`,
        `≤ ${fmt(CPU_TARGET, 2)}×`,
        verdict(cpuRatio <= CPU_TARGET),
      ],
      [
        `certificates/s at concurrency ${CONCURRENCY}`,
        fmt(ours.rate),
        fmt(pebble.rate),
        `${fmt(rateRatio, 2)}×`,
        `≥ ${RATE_TARGET}×`,
        verdict(rateRatio >= RATE_TARGET),
      ],
    ]
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
    process.stdout.write('\n')
    for (const [i, r] of rows.entries()) {
      process.stdout.write(
        r
          .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
          .join('  ') + '\n'
      )
      if (i === 0) process.stdout.write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n')
    }
    if (!usable(pebble.m)) {
      process.stdout.write(
        `\npebble stalled (flows timed out) within ${fmt(MIN_WORKING_SECONDS)} s in each of its ${PEBBLE_ATTEMPTS} attempts: its figures are not its own, so no verdict.\n`
      )
    } else if (pebble.m.stalledAfter !== undefined) {
      process.stdout.write(
        `\npebble deadlocked after ${fmt(pebble.m.stalledAfter)} s: its figures are those of the time before (up to ${fmt(pebble.m.seconds)} s, the first CPU reading after its last certificate).\n`
      )
    }
    process.stdout.write(
      `\n(client CPU: ${fmt((ours.m.clientCpuSec / ours.m.phaseSeconds) * 100, 0)}% of a core against open-pki, ${fmt((pebble.m.clientCpuSec / pebble.m.phaseSeconds) * 100, 0)}% against pebble; ${os.cpus().length} cores shared by servers and client)\n`
    )
  }
  const failed = Object.values(results).some((r) => r.m.issued === 0)
  process.exit(failed ? 1 : 0)
}

main().catch((error) => {
  process.stderr.write(`bench:acme could not run: ${error?.stack ?? error}\n`)
  cleanUp()
  process.exit(1)
})
