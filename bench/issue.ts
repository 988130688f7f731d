/*
 * npm run bench:issue — issuance benchmark (a report, never a timed test).
 *
 *   1. hsm/ SoftwareSigner.sign() vs a raw crypto.sign loop, same P-256 key   target ≥ 90 %
 *   2. POST /api/v1/templates/:id/issue (P-256 CA) vs GET /ping, same server   target ≥ 15 %
 *   3. the same issuance with an ML-DSA-65 CA, next to P-256's                 info
 *
 * The server is the real one (`node bin/start.js`) in a child process on a fresh DATA_DIR (SQLite,
 * synchronous=FULL, as shipped), NODE_ENV=production, LOG_LEVEL=warn. See docs/benchmarks.md.
 *
 * Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2),
 * BENCH_CONNECTIONS (default 8), BENCH_CSRS (default 50), BENCH_ONLY=ping,p256,mldsa (a subset),
 * BENCH_CPU_PROF=<dir> (server child runs with --cpu-prof, profile written there on stop),
 * BENCH_SERVER_FLAGS (extra node flags for the server child), BENCH_WEB_CONCURRENCY (the server's
 * WEB_CONCURRENCY: server processes on the one port; default 1).
 *
 * Exit code: 0 when the run completed (even with a FAIL: it is a report); 1 when it could not run
 * or any request failed (non-2xx, socket error, timeout).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runSignerBench } from './lib/signer_bench.js'
import { startServer, killAllServers, type BenchServer } from './lib/server.js'
import { runLoad, type LoadResult } from './lib/load.js'
import { makeP256Csrs } from './lib/csrs.js'
import { api } from './lib/api.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8)
const CSR_COUNT = Number(process.env.BENCH_CSRS ?? 50)
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF
const WEB_CONCURRENCY = process.env.BENCH_WEB_CONCURRENCY ?? '1'
/** Which load phases to run: ping, p256, mldsa (default all three). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'ping,p256,mldsa').split(',').map((s) => s.trim()))

const SIGNER_TARGET = 0.9
const ISSUE_TARGET = 0.15

const t0 = Date.now()
const log = (msg: string) =>
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`)
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a'
const pct = (r: number) => (Number.isFinite(r) ? `${(r * 100).toFixed(1)}%` : 'n/a')

interface Phase {
  name: string
  load: LoadResult
  warmup: LoadResult
  serverCpuSec?: number
  /** CPU used by every other process on the machine during the measurement */
  otherCpuSec?: number
}

const windows: { name: string; fromUs: number; toUs: number; requests: number }[] = []

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), to spot a noisy neighbour. */
function systemBusySeconds(): number | undefined {
  try {
    const f = fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    // user nice system idle iowait irq softirq steal ...
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / 100
  } catch {
    return undefined
  }
}

const failures: string[] = []
const noisy: string[] = []

async function measure(
  server: BenchServer,
  name: string,
  spec: Parameters<typeof runLoad>[0]
): Promise<Phase> {
  const warmup = await runLoad({ ...spec, durationSec: WARMUP })
  const cpu0 = server.cpuSeconds()
  const sys0 = systemBusySeconds()
  const from = process.hrtime.bigint()
  const load = await runLoad(spec)
  const to = process.hrtime.bigint()
  const cpu1 = server.cpuSeconds()
  const sys1 = systemBusySeconds()
  // CLOCK_MONOTONIC in µs: the time base of V8's .cpuprofile startTime/endTime (see profile_summary.mjs --phase)
  windows.push({
    name,
    fromUs: Number(from / 1000n),
    toUs: Number(to / 1000n),
    requests: load.total2xx + load.non2xx,
  })
  const phase: Phase = {
    name,
    load,
    warmup,
    serverCpuSec: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined,
  }
  if (sys0 !== undefined && sys1 !== undefined && phase.serverCpuSec !== undefined) {
    phase.otherCpuSec = Math.max(0, sys1 - sys0 - phase.serverCpuSec - load.clientCpuSec)
  }
  const bad =
    load.non2xx + load.errors + load.timeouts + warmup.non2xx + warmup.errors + warmup.timeouts
  const cpu =
    phase.serverCpuSec !== undefined
      ? `, server CPU ${pct(phase.serverCpuSec / load.durationSec)} of one core`
      : ''
  const other =
    phase.otherCpuSec !== undefined
      ? `, other processes ${pct(phase.otherCpuSec / load.durationSec)}`
      : ''
  log(
    `${name}: ${fmt(load.reqPerSec, 1)} req/s (${load.total2xx} × 2xx in ${load.durationSec.toFixed(1)} s, ` +
      `p50 ${load.latencyP50} ms, p99 ${load.latencyP99} ms${cpu}, client CPU ${pct(load.clientCpuSec / load.durationSec)}${other})`
  )
  if (phase.otherCpuSec !== undefined && phase.otherCpuSec / load.durationSec > 0.15) {
    noisy.push(
      `${name}: other processes used ${pct(phase.otherCpuSec / load.durationSec)} of a core`
    )
  }
  if (bad) {
    const msg =
      `${name}: ${load.non2xx + warmup.non2xx} non-2xx, ${load.errors + warmup.errors} socket errors, ` +
      `${load.timeouts + warmup.timeouts} timeouts (statuses ${JSON.stringify({ ...warmup.statuses, ...load.statuses })}); ` +
      `first answers: ${[...warmup.samples, ...load.samples].slice(0, 3).join(' | ') || '-'}`
    failures.push(msg)
    log(`!!! ERRORS — ${msg}`)
  }
  return phase
}

async function main() {
  const cpus = os.cpus()
  log(
    `open-pki issuance benchmark — node ${process.version}, ${os.availableParallelism()} cores (${cpus[0]?.model.trim() ?? '?'}), ${os.platform()} ${os.release()}`
  )
  log(
    `load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on this machine skews every number)`
  )
  log(
    `load: ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per measurement, ${CSR_COUNT} distinct CSRs`
  )

  // 1. Signer vs raw crypto.sign -------------------------------------------------------------
  const signer = await runSignerBench()
  log(
    `signer: SoftwareSigner.sign ${fmt(signer.signerOpsPerSec)} ops/s vs raw crypto.sign ${fmt(signer.rawOpsPerSec)} ops/s ` +
      `(ratio ${pct(signer.ratio)}: median of ${signer.rounds} paired rounds, ${signer.dataBytes}-byte data, ${signer.implementation})`
  )

  // 2. The server -----------------------------------------------------------------------------
  const csrsPromise = makeP256Csrs(CSR_COUNT)
  const nodeFlags: string[] = (process.env.BENCH_SERVER_FLAGS ?? '').split(/\s+/).filter(Boolean)
  if (CPU_PROF_DIR) {
    fs.mkdirSync(CPU_PROF_DIR, { recursive: true })
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF_DIR)}`)
  }
  const server = await startServer({ nodeFlags, env: { WEB_CONCURRENCY } })
  try {
    log(
      `server: pid ${server.pid} on ${server.url}, DATA_DIR ${server.dataDir}, WEB_CONCURRENCY=${WEB_CONCURRENCY}`
    )
    const boot = await api(server, 'POST', '/api/v1/bootstrap', undefined, {
      token: server.bootstrapToken,
      email: 'bench@example.com',
    })
    const token: string = boot.apiToken
    const auth = { 'authorization': `Bearer ${token}`, 'content-type': 'application/json' }

    async function caWithTemplate(name: string, keyType: string) {
      const { ca } = await api(server, 'POST', '/api/v1/cas', token, { name, keyType })
      const { templates } = await api(server, 'GET', `/api/v1/cas/${ca.id}/templates`, token)
      const tpl = templates.find((t: any) => t.name === 'Web Server')
      if (!tpl)
        throw new Error(
          `CA "${name}" has no "Web Server" template (found: ${templates.map((t: any) => t.name).join(', ')})`
        )
      return { caId: ca.id as number, templateId: tpl.id as number }
    }

    const p256 = await caWithTemplate('Bench P-256 CA', 'ecdsa-p256')
    const mldsa = !ONLY.has('mldsa')
      ? undefined
      : await caWithTemplate('Bench ML-DSA-65 CA', 'ml-dsa-65')
    const csrs = await csrsPromise
    const bodies = csrs.map((csr) => JSON.stringify({ csr }))

    // One issuance each before the load: a clear error now beats 10 s of 4xx.
    for (const [label, t] of [
      ['P-256', p256],
      ['ML-DSA-65', mldsa],
    ] as const) {
      if (!t) continue
      const { certificate } = await api(
        server,
        'POST',
        `/api/v1/templates/${t.templateId}/issue`,
        token,
        { csr: csrs[0] }
      )
      if (!certificate?.certificatePem?.includes('BEGIN CERTIFICATE'))
        throw new Error(`${label}: the issue answer has no certificate`)
    }
    log(`setup: admin bootstrapped, CA(s) created, ${csrs.length} CSRs ready, first issuance OK`)

    const ping = ONLY.has('ping')
      ? await measure(server, 'GET /ping', {
          url: server.url,
          path: '/ping',
          connections: CONNECTIONS,
          durationSec: DURATION,
        })
      : undefined
    const issueSpec = (templateId: number) => ({
      url: server.url,
      method: 'POST' as const,
      path: `/api/v1/templates/${templateId}/issue`,
      headers: auth,
      bodies,
      connections: CONNECTIONS,
      durationSec: DURATION,
    })
    const issueP256 = ONLY.has('p256')
      ? await measure(server, 'issue P-256', issueSpec(p256.templateId))
      : undefined
    const issueMldsa = mldsa
      ? await measure(server, 'issue ML-DSA-65', issueSpec(mldsa.templateId))
      : undefined

    const stopped = await server.stop(CPU_PROF_DIR ? 15_000 : 5000)
    if (stopped.forced) {
      log(
        `server did not exit within ${stopped.ms} ms of SIGTERM: killed (SIGKILL). Its last output:`
      )
      process.stdout.write(server.output().slice(-1500).replace(/^/gm, '    | ') + '\n')
    }
    if (CPU_PROF_DIR) {
      const dir = path.resolve(CPU_PROF_DIR)
      fs.writeFileSync(
        path.join(dir, `phases-${server.pid}.json`),
        JSON.stringify(windows, null, 2)
      )
      const mainProfile = fs
        .readdirSync(dir)
        .find((f) => f.includes(`.${server.pid}.0.`) && f.endsWith('.cpuprofile'))
      const shown = mainProfile ? path.join(dir, mainProfile) : undefined
      log(
        `server CPU profile: ${shown ?? `none in ${dir} (the server was killed)`}; summarise a phase with:`
      )
      log(
        `  node bench/profile_summary.mjs ${shown ?? '<file>'} --phase '${windows.at(-1)?.name ?? 'issue P-256'}' --detail`
      )
    }

    // Report -------------------------------------------------------------------------------------
    const pingRate = ping?.load.reqPerSec ?? Number.NaN
    const p256Rate = issueP256?.load.reqPerSec ?? Number.NaN
    const issueRatio = p256Rate / pingRate
    const rows: string[][] = [
      ['measurement', 'measured', 'baseline (same run)', 'ratio', 'target', 'result'],
      [
        'signer: SoftwareSigner.sign P-256',
        `${fmt(signer.signerOpsPerSec)} ops/s`,
        `raw crypto.sign ${fmt(signer.rawOpsPerSec)} ops/s`,
        pct(signer.ratio),
        `≥ ${pct(SIGNER_TARGET)}`,
        signer.ratio >= SIGNER_TARGET ? 'PASS' : 'FAIL',
      ],
      [
        'REST issue, P-256 CA',
        `${fmt(p256Rate, 1)} req/s`,
        `GET /ping ${fmt(pingRate, 0)} req/s`,
        pct(issueRatio),
        `≥ ${pct(ISSUE_TARGET)}`,
        Number.isFinite(issueRatio) ? (issueRatio >= ISSUE_TARGET ? 'PASS' : 'FAIL') : 'not run',
      ],
    ]
    if (issueMldsa) {
      rows.push([
        'REST issue, ML-DSA-65 CA',
        `${fmt(issueMldsa.load.reqPerSec, 1)} req/s`,
        `issue P-256 ${fmt(p256Rate, 1)} req/s`,
        pct(issueMldsa.load.reqPerSec / p256Rate),
        '—',
        'info',
      ])
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
    const line = (r: string[]) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')
    process.stdout.write(
      '\n' + line(rows[0]) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n'
    )
    for (const r of rows.slice(1)) process.stdout.write(line(r) + '\n')
    process.stdout.write(
      `\n(${CONNECTIONS} connections, ${DURATION} s each after ${WARMUP} s warm-up; SQLite synchronous=FULL on ${server.dataDir.startsWith(os.tmpdir()) ? os.tmpdir() : server.dataDir}; total ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`
    )
  } finally {
    await server.stop(1000).catch(() => {})
  }

  if (noisy.length) {
    process.stdout.write(
      `\nNOTE: the machine was busy with other work during the run; treat the numbers with care:\n${noisy.map((n) => `  - ${n}`).join('\n')}\n`
    )
  }
  if (failures.length) {
    process.stdout.write(
      `\n!!! THIS RUN HAD FAILED REQUESTS — the numbers above are not valid:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`
    )
    process.exitCode = 1
  }
}

main().catch((error) => {
  process.stderr.write(`\nbench:issue could not run: ${error?.stack ?? error}\n`)
  killAllServers()
  process.exitCode = 1
})
