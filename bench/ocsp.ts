/*
 * bench:ocsp — OCSP GETs of certificates drawn uniformly at random from those stored, against
 * the real server (a child process: SQLite, jobs on, a P-256 CA with its delegated responder),
 * versus a bare node:http server (another child process) returning a constant buffer of the
 * same size, with the same load generator in the same run.
 *
 *   1. SMALL certificates (default 10,000) are bulk-loaded, the server's pre-signing job signs
 *      them (timed), then: baseline, OCSP, baseline.
 *   2. The store grows to LARGE (default 1,000,000): bulk load, pre-signing timed, then OCSP
 *      again and a last baseline.
 * Prints throughput and p99 ratios against the baseline (targets: ≥ 70% throughput, stretch
 * 85%; p99 ≤ 2×) and LARGE vs SMALL throughput (≥ 95%).
 *   BENCH_SMALL, BENCH_LARGE, BENCH_SECONDS, BENCH_CONNECTIONS override the sizes.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import Database from 'better-sqlite3'
import { issuerHashes, serialFromHex } from '../app/pki/index.js'
import { bulkLoadCertificates } from './lib/bulk_load.js'
import { makeP256Csrs } from './lib/csrs.js'
import { runLoad, type LoadResult } from './lib/load.js'
import { freePort, killAllServers, startServer } from './lib/server.js'
import { api } from './lib/api.js'

const SMALL = Number(process.env.BENCH_SMALL ?? 10_000)
const LARGE = Number(process.env.BENCH_LARGE ?? 1_000_000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const PATHS = 20_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

const t0 = Date.now()
const log = (msg: string) =>
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`)

/** DER length bytes + content, for the request below. */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length
  const len = n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n])
  return Buffer.concat([Buffer.from([tag]), len, content])
}

/** A plain RFC 5019 request (one SHA-1 CertID, no nonce), as clients send it. */
function requestDer(nameHash: Buffer, keyHash: Buffer, serialHex: string): Buffer {
  let serial = Buffer.from(serialFromHex(serialHex))
  if (serial[0] & 0x80) serial = Buffer.concat([Buffer.from([0]), serial])
  const alg = tlv(0x30, Buffer.from('06052b0e03021a0500', 'hex'))
  const certId = tlv(
    0x30,
    Buffer.concat([alg, tlv(0x04, nameHash), tlv(0x04, keyHash), tlv(0x02, serial)])
  )
  return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certId))))
}

/** Waits until the server's job has a response for every certificate of the CA. */
async function waitPresigned(dataDir: string, caId: number, expected: number): Promise<number> {
  const started = Date.now()
  const db = new Database(path.join(dataDir, 'pki.sqlite3'), { readonly: true })
  db.pragma('busy_timeout = 10000')
  try {
    let last = 0
    for (;;) {
      const row = db
        .prepare('SELECT count(*) AS n FROM ocsp_responses WHERE ca_id = ?')
        .get(caId) as { n: number }
      if (row.n >= expected) return (Date.now() - started) / 1000
      if (row.n - last >= 50_000 || (last === 0 && row.n > 0)) {
        log(`  … ${row.n.toLocaleString('en-US')} responses pre-signed`)
        last = row.n
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  } finally {
    db.close()
  }
}

/** A bare node:http server in its own process answering every request with `size` bytes. */
async function startBaseline(size: number) {
  const port = await freePort()
  const code = `
    const http = require('node:http')
    const body = Buffer.alloc(${size}, 0x30)
    http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/ocsp-response', 'content-length': String(body.length) })
      res.end(body)
    }).listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n'))`
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
    child.on('exit', (c) => reject(new Error(`baseline server exited (${c})`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

function describe(r: LoadResult) {
  return `${Math.round(r.reqPerSec).toLocaleString('en-US')} req/s, p50 ${r.latencyP50} ms, p99 ${r.latencyP99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`
}

async function main() {
  const server = await startServer({ keepDataDir: Boolean(process.env.BENCH_KEEP) })
  const boot = await api(server, 'POST', '/api/v1/bootstrap', undefined, {
    token: server.bootstrapToken,
    email: 'bench-ocsp@example.com',
  })
  const token: string = boot.apiToken
  const { ca } = await api(server, 'POST', '/api/v1/cas', token, {
    name: 'Bench OCSP CA',
    keyType: 'ecdsa-p256',
  })
  const { templates } = await api(server, 'GET', `/api/v1/cas/${ca.id}/templates`, token)
  const web = templates.find((t: any) => t.name === 'Web Server')
  const [csrPem] = await makeP256Csrs(1, 'ocsp-bench')
  const issued = await api(server, 'POST', `/api/v1/templates/${web.id}/issue`, token, {
    csr: csrPem,
  })
  const der = Buffer.from(
    issued.certificate.certificatePem.replace(/-----[^-]+-----|\s/g, ''),
    'base64'
  )
  const hashes = issuerHashes(ca.certificatePem, 'sha1')
  log(`server up (pid ${server.pid}), CA ${ca.id} created`)

  const serials: string[] = []
  const load = async (count: number) => {
    const started = Date.now()
    const result = bulkLoadCertificates({
      dataDir: server.dataDir,
      caId: ca.id,
      count,
      der,
      collectSerials: true,
    })
    for (const serial of result.serials ?? []) serials.push(serial)
    log(
      `${count.toLocaleString('en-US')} certificates bulk-loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`
    )
    const total = serials.length + 2 // + the issued leaf and the responder certificate
    const seconds = await waitPresigned(server.dataDir, ca.id, total)
    log(
      `pre-signed: ${total.toLocaleString('en-US')} responses stored after ${seconds.toFixed(1)} s (${Math.round(count / seconds).toLocaleString('en-US')}/s incl. the job's 5 s schedule)`
    )
    // every node's memory follows the feed; give it a moment to apply the last ranges
    await new Promise((resolve) => setTimeout(resolve, 2000))
    return seconds
  }
  const pathsOf = () => {
    const paths: string[] = []
    for (let i = 0; i < PATHS; i++) {
      const serial = serials[Math.floor(Math.random() * serials.length)]
      const req = requestDer(hashes.nameHash, hashes.keyHash, serial)
      paths.push(`/ocsp/${ca.id}/${encodeURIComponent(req.toString('base64'))}`)
    }
    return paths
  }

  await load(SMALL)
  const smallPaths = pathsOf()
  const sample = await fetch(server.url + smallPaths[0])
  const size = Buffer.from(await sample.arrayBuffer()).length
  if (sample.status !== 200) throw new Error(`OCSP GET answered ${sample.status}`)
  log(`one answer: ${size} bytes (${sample.headers.get('cache-control')})`)
  const baseline = await startBaseline(size)
  const run = async (label: string, url: string, paths: string[]) => {
    await runLoad({ url, path: paths[0], paths, connections: CONNECTIONS, durationSec: 2 })
    const r = await runLoad({
      url,
      path: paths[0],
      paths,
      connections: CONNECTIONS,
      durationSec: SECONDS,
    })
    log(`${label}: ${describe(r)}`)
    if (r.non2xx || r.errors)
      log(`  samples: ${JSON.stringify(r.statuses)} ${r.samples.join(' | ')}`)
    return r
  }
  // Alternate baseline and OCSP runs (the machine is shared): medians of ROUNDS each.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const phase = async (label: string, paths: string[]) => {
    const base: LoadResult[] = []
    const ocsp: LoadResult[] = []
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await run('baseline (bare node:http)', baseline.url, paths))
      ocsp.push(await run(label, server.url, paths))
    }
    return {
      baseRps: median(base.map((r) => r.reqPerSec)),
      baseP99: Math.max(median(base.map((r) => r.latencyP99)), 0.001),
      rps: median(ocsp.map((r) => r.reqPerSec)),
      p99: median(ocsp.map((r) => r.latencyP99)),
    }
  }
  const small = await phase(`OCSP, ${SMALL.toLocaleString('en-US')} stored`, smallPaths)
  const presignLarge = await load(LARGE - SMALL)
  const largePaths = pathsOf()
  const large = await phase(`OCSP, ${LARGE.toLocaleString('en-US')} stored`, largePaths)
  baseline.stop()

  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const tput = small.rps / small.baseRps
  const p99 = small.p99 / small.baseP99
  // each phase against its own baselines, so a busier machine later does not skew it
  const scale = large.rps / large.baseRps / tput
  const n = (x: number) => x.toLocaleString('en-US')
  log('')
  log(
    `throughput vs bare node:http (${n(SMALL)} stored): ${pct(tput)}  (target ≥ 70%, stretch 85%) ${tput >= 0.7 ? 'OK' : 'MISSED'}`
  )
  log(`p99 vs bare node:http: ${p99.toFixed(2)}×  (target ≤ 2×) ${p99 <= 2 ? 'OK' : 'MISSED'}`)
  log(
    `relative throughput with ${n(LARGE)} vs ${n(SMALL)} stored: ${pct(scale)}  (target ≥ 95%) ${scale >= 0.95 ? 'OK' : 'MISSED'}`
  )
  log(
    `throughput vs bare node:http (${n(LARGE)} stored): ${pct(large.rps / large.baseRps)}; p99 ${(large.p99 / large.baseP99).toFixed(2)}×`
  )
  log(`pre-signing ${n(LARGE - SMALL)} responses: ${presignLarge.toFixed(1)} s`)
  await server.stop()
}

main()
  .catch((error) => {
    process.stderr.write(`bench:ocsp failed: ${(error as Error).stack ?? error}\n`)
    process.exitCode = 1
  })
  .finally(() => killAllServers())
