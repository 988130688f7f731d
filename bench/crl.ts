/*
 * npm run bench:crl — a full CRL of 1,000,000 revoked certificates generated from the database
 * by the CRL plugin, next to `openssl ca -gencrl` on the same entries, in the same run (a
 * report, never a timed test). Targets (issue 4):
 *   - our time(1M) ≤ ¼ of OpenSSL's time on the same 1M entries;
 *   - the generating process's peak memory growth over its idle baseline ≤ ⅙ of OpenSSL's peak;
 *   - time(1M) / time(100k) ≤ 11, and memory growth flat between 100k and 1M.
 *
 * One real server (`node bin/start.js`, NODE_ENV=production, SQLite as shipped) with two P-256
 * CAs. The OCSP and ACME plugins are disabled on it (their background work on a million
 * certificates is not what is measured). Each CA gets its certificates by bulk load (every row
 * revoked, none expired), then one certificate is issued and revoked through the REST API: the
 * revocation hook marks the CA's CRL stale and the plugin's refresh job (every 2 s) builds the
 * new CRL. Two builds are measured: one that reads every revoked certificate from the database
 * (the rows were written behind the plugin's back, so the bench sets the plugin's `rescan` flag,
 * as its start does; BENCH_SCANS times), then — BENCH_APPENDS times — the next full CRL after one more
 * revocation, which the plugin builds on the previous one (its entry chunk rows reused, the new
 * entry appended, all re-signed). Our time is the build time the plugin records (read, encode,
 * write chunk rows, stream them through the incremental signer, store, switch); the memory is
 * the server's RSS sampled every 20 ms from the trigger until the new CRL is switched in, minus
 * its idle RSS just before. The CRL is then downloaded and checked by `openssl crl -verify`
 * (and its entries counted). OpenSSL gets an index.txt with the same entries (written from the
 * database) and a P-256 CA of its own; `/usr/bin/time -v` gives its wall time and peak RSS.
 *
 * Environment: BENCH_SMALL (default 100000), BENCH_LARGE (default 1000000), BENCH_SCANS and
 * BENCH_APPENDS (builds of each kind timed per size: 3 and 5; medians compared), BENCH_NODE_FLAGS
 * (extra node flags for the server).
 * Exit code: 0 when the run completed (even with a FAIL); 1 when it could not run.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { bulkLoadCertificates } from './lib/bulk_load.js'
import { makeP256Csrs } from './lib/csrs.js'
import { killAllServers, startServer, type BenchServer } from './lib/server.js'
import { api } from './lib/api.js'
import { selfSignedP256Args } from './lib/tls.js'

const SMALL = Number(process.env.BENCH_SMALL ?? 100_000)
const LARGE = Number(process.env.BENCH_LARGE ?? 1_000_000)
/** Builds timed per size and kind (their medians are compared). */
const SCANS = Number(process.env.BENCH_SCANS ?? 3)
const APPENDS = Number(process.env.BENCH_APPENDS ?? 5)
const MiB = 1024 * 1024
const ROOT = new URL('../', import.meta.url).pathname

const t0 = Date.now()
const log = (msg: string) =>
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const fmt = (n: number) => n.toLocaleString('en-US')

/** Runs a command, collecting output; rejects on a non-zero exit. */
export function sh(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}
) {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${cmd} ${args.join(' ')} → ${code}\n${stderr.slice(-2000)}`))
    )
  })
}

/** `node ace <args>` against a bench server's DATA_DIR (its database and master key). */
export function aceOn(server: BenchServer, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) if (/^(DB_|PKI_|TLS_|APP_|PURGE_)/.test(k)) delete env[k]
  Object.assign(env, { NODE_ENV: 'production', LOG_LEVEL: 'warn', DATA_DIR: server.dataDir })
  return sh(process.execPath, ['ace', ...args], { env })
}

/** A bench server with an API token and the OCSP and ACME plugins disabled. */
export async function crlServer(): Promise<{ server: BenchServer; token: string }> {
  const server = await startServer({
    keepDataDir: Boolean(process.env.BENCH_KEEP),
    // e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server
    nodeFlags: process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean),
  })
  const boot = await api(server, 'POST', '/api/v1/bootstrap', undefined, {
    token: server.bootstrapToken,
    email: 'bench-crl@example.com',
  })
  for (const id of ['ocsp', 'acme']) {
    await aceOn(server, ['plugin:disable', id]).catch((e) =>
      log(`plugin:disable ${id}: ${e.message.split('\n')[0]}`)
    )
  }
  return { server, token: boot.apiToken as string }
}

export interface BenchCa {
  id: number
  name: string
  templateId: number
}

export async function createBenchCa(
  server: BenchServer,
  token: string,
  name: string
): Promise<BenchCa> {
  const { ca } = await api(server, 'POST', '/api/v1/cas', token, { name, keyType: 'ecdsa-p256' })
  const { templates } = await api(server, 'GET', `/api/v1/cas/${ca.id}/templates`, token)
  const web = templates.find((t: any) => t.name === 'Web Server')
  return { id: ca.id, name, templateId: web.id }
}

export async function issue(server: BenchServer, token: string, ca: BenchCa, csr: string) {
  const { certificate } = await api(
    server,
    'POST',
    `/api/v1/templates/${ca.templateId}/issue`,
    token,
    { csr }
  )
  return certificate as { id: number; serial: string; certificatePem: string }
}

export function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
}

export function openDb(server: BenchServer) {
  const db = new Database(path.join(server.dataDir, 'pki.sqlite3'), { readonly: true })
  db.pragma('busy_timeout = 10000')
  return db
}

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

interface Generation {
  count: number
  mode: 'scan' | 'append'
  entries: number
  ms: number
  wallMs: number
  baseline: number
  peak: number
  growth: number
  crlNumber: number
  size: number
  verified: boolean
  counted: number
}

async function generateOnce(
  server: BenchServer,
  token: string,
  ca: BenchCa,
  csr: string,
  count: number,
  dir: string,
  rescan: boolean
): Promise<Generation> {
  const db = openDb(server)
  const state = () =>
    db.prepare('SELECT full_number, full_build_ms FROM crl_state WHERE ca_id = ?').get(ca.id) as
      { full_number: number; full_build_ms: number } | undefined
  const cert = await issue(server, token, ca, csr)
  // Idle baseline: the median RSS over a second with nothing to do.
  const idle: number[] = []
  for (let i = 0; i < 20; i++) {
    idle.push(rssBytes(server.pid))
    await sleep(50)
  }
  idle.sort((a, b) => a - b)
  const baseline = idle[Math.floor(idle.length / 2)]
  const before = Number(state()?.full_number ?? 0)
  if (rescan) {
    // Rows written behind the kernel's back fired no revocation hook: ask for a full read of the
    // certificates, as the plugin does when it starts.
    const rw = new Database(path.join(server.dataDir, 'pki.sqlite3'))
    rw.pragma('busy_timeout = 10000')
    rw.prepare('UPDATE crl_state SET rescan = 1 WHERE ca_id = ?').run(ca.id)
    rw.close()
  }

  let peak = baseline
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssBytes(server.pid))
      await sleep(20)
    }
  })()
  const started = Date.now()
  await api(server, 'POST', `/api/v1/certificates/${cert.id}/revoke`, token, {
    reason: 'keyCompromise',
  })
  let after = state()
  while (Number(after?.full_number ?? 0) <= before) {
    if (Date.now() - started > 600_000) throw new Error(`no new CRL for CA ${ca.id} within 10 min`)
    await sleep(50)
    after = state()
  }
  const wallMs = Date.now() - started
  sampling = false
  await sampler
  await sleep(1500) // every node serves a new CRL within a second of it being stored
  const crlNumber = Number(after!.full_number)
  const list = db
    .prepare(
      "SELECT entries, size FROM crl_lists WHERE ca_id = ? AND number = ? AND scope = 'full'"
    )
    .get(ca.id, crlNumber) as { entries: number; size: number }
  db.close()

  // Download it and let OpenSSL check it.
  const file = path.join(dir, `ours-${count}-${crlNumber}.der`)
  const res = await fetch(`${server.url}/crl/${ca.id}.crl`)
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()))
  const caPem = path.join(dir, `ca-${ca.id}.pem`)
  const caRes = await fetch(`${server.url}/pki/ca/${ca.id}.crt`)
  fs.writeFileSync(
    caPem,
    `-----BEGIN CERTIFICATE-----\n${Buffer.from(await caRes.arrayBuffer())
      .toString('base64')
      .replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`
  )
  const verify = await sh('openssl', [
    'crl',
    '-inform',
    'DER',
    '-in',
    file,
    '-CAfile',
    caPem,
    '-noout',
    '-verify',
  ])
  const verified = /verify OK/.test(verify.stdout + verify.stderr)
  const counted = Number(
    (
      await sh('sh', [
        '-c',
        `openssl crl -inform DER -in '${file}' -noout -text | grep -c 'Serial Number:'`,
      ])
    ).stdout.trim()
  )
  fs.rmSync(file)
  return {
    count,
    mode: rescan ? 'scan' : 'append',
    entries: Number(list.entries),
    ms: Number(after!.full_build_ms),
    wallMs,
    baseline,
    peak,
    growth: peak - baseline,
    crlNumber,
    size: Number(list.size),
    verified,
    counted,
  }
}

/** OpenSSL's index wants an even number of upper-case hex digits. */
function evenHex(serial: string): string {
  const hex = serial.replace(/:/g, '').toUpperCase()
  return hex.length % 2 === 1 ? `0${hex}` : hex
}

/** index.txt for `openssl ca` with the CA's revoked certificates, as the database has them. */
function writeIndex(server: BenchServer, caId: number, file: string): number {
  const db = openDb(server)
  const out = fs.openSync(file, 'w')
  const utc = (ms: number) => {
    const iso = new Date(ms).toISOString()
    const y = Number(iso.slice(0, 4))
    const body = iso.slice(2, 19).replace(/[-T:]/g, '')
    return y < 2050 ? `${body}Z` : `${iso.slice(0, 4)}${body.slice(2)}Z`
  }
  let n = 0
  let buf = ''
  const rows = db
    .prepare(
      "SELECT serial, not_after, revoked_at, revocation_reason, status FROM certificates WHERE ca_id = ? AND status IN ('revoked','hold') ORDER BY id"
    )
    .iterate(caId) as Iterable<any>
  for (const r of rows) {
    const reason = r.status === 'hold' ? 'certificateHold' : r.revocation_reason
    const revoked =
      utc(Number(r.revoked_at)) + (reason && reason !== 'unspecified' ? `,${reason}` : '')
    buf += `R\t${utc(Number(r.not_after))}\t${revoked}\t${evenHex(String(r.serial))}\tunknown\t/CN=bench-${n}\n`
    n++
    if (buf.length > 1 << 20) {
      fs.writeSync(out, buf)
      buf = ''
    }
  }
  fs.writeSync(out, buf)
  fs.closeSync(out)
  db.close()
  return n
}

interface OpensslRun {
  entries: number
  ms: number
  peak: number
  counted: number
}

async function opensslGencrl(server: BenchServer, caId: number, dir: string): Promise<OpensslRun> {
  const work = path.join(dir, `openssl-${caId}`)
  fs.mkdirSync(work, { recursive: true })
  const entries = writeIndex(server, caId, path.join(work, 'index.txt'))
  fs.writeFileSync(path.join(work, 'crlnumber'), '01\n')
  fs.writeFileSync(path.join(work, 'index.txt.attr'), 'unique_subject = no\n')
  await sh(
    'openssl',
    selfSignedP256Args({
      keyFile: path.join(work, 'ca.key'),
      certFile: path.join(work, 'ca.pem'),
      subject: '/CN=Bench OpenSSL CA',
      days: 3650,
      extensions: ['keyUsage=critical,keyCertSign,cRLSign'],
    })
  )
  fs.writeFileSync(
    path.join(work, 'ca.cnf'),
    `[ ca ]
default_ca = bench
[ bench ]
dir = ${work}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 30
unique_subject = no
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
`
  )
  const out = path.join(work, 'crl.pem')
  const timed = await sh('/usr/bin/time', [
    '-v',
    'openssl',
    'ca',
    '-gencrl',
    '-config',
    path.join(work, 'ca.cnf'),
    '-out',
    out,
  ])
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(
    timed.stderr
  )
  if (!wall) throw new Error(`no wall time from /usr/bin/time:\n${timed.stderr}`)
  const ms = ((Number(wall[1] ?? 0) * 60 + Number(wall[2])) * 60 + Number(wall[3])) * 1000
  const peak = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(timed.stderr)![1]) * 1024
  const counted = Number(
    (
      await sh('sh', ['-c', `openssl crl -in '${out}' -noout -text | grep -c 'Serial Number:'`])
    ).stdout.trim()
  )
  fs.rmSync(work, { recursive: true, force: true })
  return { entries, ms, peak, counted }
}

/** The median build time of the runs, and the largest memory growth among them. */
function medianRun(runs: Generation[]): Generation {
  const middle = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]
  const ms = middle(runs.map((r) => r.ms))
  const mid = runs.find((r) => r.ms === ms)!
  return {
    ...mid,
    growth: Math.max(...runs.map((r) => r.growth)),
    verified: runs.every((r) => r.verified),
    counted: runs.every((r) => r.counted === r.entries) ? mid.counted : -1,
  }
}

function verdict(ok: boolean) {
  return ok ? 'PASS' : 'FAIL'
}

async function main() {
  log(
    `open-pki CRL benchmark — node ${process.version}, ${os.availableParallelism()} cores, ${os.platform()} ${os.release()}`
  )
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'open-pki-bench-crl-'))
  const { server, token } = await crlServer()
  log(`server up (pid ${server.pid}); OCSP and ACME plugins disabled`)
  const csrs = await makeP256Csrs(4)
  const results: Generation[] = []
  const openssl: Record<number, OpensslRun> = {}
  try {
    for (const count of [SMALL, LARGE]) {
      const ca = await createBenchCa(server, token, `Bench CRL ${count}`)
      const sample = await issue(server, token, ca, csrs[0])
      // the CA's first (empty) CRL, so the next one is a rebuild
      await fetch(`${server.url}/crl/${ca.id}.crl`).then((r) => r.arrayBuffer())
      const loaded = Date.now()
      bulkLoadCertificates({
        dataDir: server.dataDir,
        caId: ca.id,
        count,
        der: derOf(sample.certificatePem),
        templateIds: [ca.templateId],
        revokedPercent: 100,
        holdPercent: 0,
        spreadDays: 300,
        validityDays: 397,
      })
      log(
        `CA ${ca.id}: ${fmt(count)} revoked certificates loaded in ${((Date.now() - loaded) / 1000).toFixed(1)} s`
      )
      // The load's WAL is folded into the database file, as it is once a server has run a while.
      const wal = path.join(server.dataDir, 'pki.sqlite3-wal')
      const walBytes = fs.existsSync(wal) ? fs.statSync(wal).size : 0
      const rw = new Database(path.join(server.dataDir, 'pki.sqlite3'))
      rw.pragma('busy_timeout = 30000')
      const checkpoint = rw.pragma('wal_checkpoint(TRUNCATE)')
      rw.close()
      log(`WAL of ${(walBytes / MiB).toFixed(0)} MiB checkpointed: ${JSON.stringify(checkpoint)}`)
      // SCANS reads of the certificates, then APPENDS builds after one more revocation each
      const modes = [
        ...Array.from({ length: SCANS }, () => true),
        ...Array.from({ length: APPENDS }, () => false),
      ]
      for (const rescan of modes) {
        await sleep(rescan ? 3000 : 1000) // let the server settle (jobs, GC) before the baseline
        const gen = await generateOnce(server, token, ca, csrs[rescan ? 1 : 2], count, dir, rescan)
        results.push(gen)
        log(
          `ours  ${fmt(count).padStart(9)} ${gen.mode === 'scan' ? 'read from the certificates' : 'after one more revocation'}: ` +
            `${fmt(gen.entries)} entries, ${(gen.size / MiB).toFixed(1)} MiB, ` +
            `built in ${(gen.ms / 1000).toFixed(2)} s (trigger → switched ${(gen.wallMs / 1000).toFixed(2)} s), ` +
            `RSS ${(gen.baseline / MiB).toFixed(0)} → peak ${(gen.peak / MiB).toFixed(0)} MiB (growth ${(gen.growth / MiB).toFixed(1)} MiB), ` +
            `openssl crl -verify: ${gen.verified ? 'OK' : 'FAILED'}, ${fmt(gen.counted)} entries counted`
        )
      }
      const o = await opensslGencrl(server, ca.id, dir)
      openssl[count] = o
      log(
        `openssl ca -gencrl ${fmt(o.entries).padStart(9)}: ${(o.ms / 1000).toFixed(2)} s, peak RSS ${(o.peak / MiB).toFixed(1)} MiB, ${fmt(o.counted)} entries counted`
      )
    }
  } finally {
    await server.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }

  console.log('')
  console.log(`CRL generation, ${fmt(LARGE)} vs ${fmt(SMALL)} revoked entries (P-256, SQLite)`)
  const o = openssl[LARGE]
  console.log(
    `  openssl ca -gencrl ${fmt(LARGE)}: ${(o.ms / 1000).toFixed(2)} s, peak ${(o.peak / MiB).toFixed(1)} MiB` +
      `  (${fmt(SMALL)}: ${(openssl[SMALL].ms / 1000).toFixed(2)} s, ${(openssl[SMALL].peak / MiB).toFixed(1)} MiB)`
  )
  for (const mode of ['scan', 'append'] as const) {
    const small = medianRun(results.filter((r) => r.mode === mode && r.count === SMALL))
    const large = medianRun(results.filter((r) => r.mode === mode && r.count === LARGE))
    const timeVsOpenssl = large.ms / o.ms
    const memVsOpenssl = large.growth / o.peak
    const scale = large.ms / small.ms
    const memFlat = large.growth <= 1.5 * Math.max(small.growth, 16 * MiB)
    const correct =
      large.verified &&
      small.verified &&
      large.counted === large.entries &&
      small.counted === small.entries
    console.log(
      mode === 'scan'
        ? `  A new full CRL read from the certificates (every revoked row of the CA, page by page; median of ${SCANS}):`
        : `  A new full CRL after one more revocation (the previous CRL's entry chunks + the new entry, re-signed; median of ${APPENDS}):`
    )
    console.log(
      `    ours ${fmt(LARGE)}: ${(large.ms / 1000).toFixed(2)} s, memory growth ${(large.growth / MiB).toFixed(1)} MiB`
    )
    console.log(
      `    ours ${fmt(SMALL)}: ${(small.ms / 1000).toFixed(2)} s, memory growth ${(small.growth / MiB).toFixed(1)} MiB`
    )
    console.log(
      `    time ours/openssl (1M):         ${timeVsOpenssl.toFixed(3)}  target ≤ 0.25  ${verdict(timeVsOpenssl <= 0.25)}`
    )
    console.log(
      `    memory growth / openssl peak:   ${memVsOpenssl.toFixed(3)}  target ≤ 0.167 ${verdict(memVsOpenssl <= 1 / 6)}`
    )
    console.log(
      `    time(1M)/time(100k):            ${scale.toFixed(2)}  target ≤ 11    ${verdict(scale <= 11)}`
    )
    console.log(
      `    memory growth 1M vs 100k:       ${(large.growth / MiB).toFixed(1)} vs ${(small.growth / MiB).toFixed(1)} MiB, flat (≤ 1.5 × max(100k, 16 MiB)) ${verdict(memFlat)}`
    )
    console.log(`    verified by openssl, complete:  ${verdict(correct)}`)
  }
}

// Run only as `npm run bench:crl` (bench/revoke.ts imports the helpers above).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main()
    .then(() => process.exit(0))
    .catch((error) => {
      console.error(error)
      killAllServers()
      process.exit(1)
    })
}
