/*
 * The real server as a child process (`node bin/start.js`) on a fresh DATA_DIR and a free port,
 * killed whatever happens to the bench (normal end, error, Ctrl-C, SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const ROOT = new URL('../../', import.meta.url).pathname

export interface BenchServer {
  url: string
  port: number
  pid: number
  dataDir: string
  /** The one-time bootstrap token the server printed. */
  bootstrapToken: string
  /** Everything the server wrote (stdout + stderr), for error reports. */
  output(): string
  /** CPU seconds (user + system, all threads) the server process used so far (Linux /proc). */
  cpuSeconds(): number | undefined
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<{ forced: boolean; ms: number }>
}

const live = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let hooked = false

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
  live.clear()
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true })
    } catch {}
  }
  tempDirs.clear()
}

function installExitHooks() {
  if (hooked) return
  hooked = true
  process.on('exit', killAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping the server child\n`)
      killAll()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

const CLK_TCK = 100 // USER_HZ on Linux

function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields[1] = ppid, fields[11] = utime, fields[12] = stime (counted from state = field 3)
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/**
 * CPU seconds used so far by a process and its live descendants (the server's worker processes
 * with WEB_CONCURRENCY), all threads included.
 */
export function procCpuSeconds(pid: number): number | undefined {
  const own = statFields(pid)
  if (!own) return undefined
  const children = new Map<number, number[]>()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(Number(entry))
    if (!fields) continue
    const ppid = Number(fields[1])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
  }
  let total = 0
  const queue = [pid]
  while (queue.length) {
    const next = queue.pop()!
    const fields = next === pid ? own : statFields(next)
    if (fields) total += (Number(fields[11]) + Number(fields[12])) / CLK_TCK
    queue.push(...(children.get(next) ?? []))
  }
  return total
}

export interface StartOptions {
  /** extra node flags for the server child, e.g. ['--cpu-prof', '--cpu-prof-dir=...'] */
  nodeFlags?: string[]
  startTimeoutMs?: number
  /** keep the DATA_DIR after stop (for inspection) */
  keepDataDir?: boolean
  /** parent folder of the DATA_DIR (default: the OS temp folder) */
  tempParent?: string
  /** more environment for the server child (after the clean-up, so PKI_* may be set here) */
  env?: Record<string, string>
  /** serve HTTPS with this certificate and key (APP_URL becomes https://127.0.0.1:<port>) */
  tls?: { certFile: string; keyFile: string; ca: string }
}

/** GET <url>/ping; true on a 2xx (HTTPS trusts only `ca`). */
function ping(url: string, ca?: string): Promise<boolean> {
  if (!url.startsWith('https:')) {
    return fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) }).then(
      async (res) => {
        await res.arrayBuffer()
        return res.ok
      },
      () => false
    )
  }
  return new Promise((resolve) => {
    const req = https.get(`${url}/ping`, { ca, timeout: 1000 }, (res) => {
      res.resume()
      res.on('end', () => resolve((res.statusCode ?? 0) < 300))
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
  })
}

export async function startServer(opts: StartOptions = {}): Promise<BenchServer> {
  installExitHooks()
  const port = await freePort()
  const dataDir = fs.mkdtempSync(path.join(opts.tempParent ?? os.tmpdir(), 'open-pki-bench-'))
  if (!opts.keepDataDir) tempDirs.add(dataDir)

  // A clean environment for the child: nothing from the caller's DB / master-key settings.
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) {
    if (/^(DB_|PKI_|TLS_|APP_|PURGE_)/.test(k)) delete env[k]
  }
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`
  Object.assign(env, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    ...(opts.tls
      ? { TLS_CERT_FILE: opts.tls.certFile, TLS_KEY_FILE: opts.tls.keyFile, APP_URL: url }
      : {}),
    ...opts.env,
  })

  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), 'bin/start.js'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  let out = ''
  let exited: { code: number | null; signal: string | null } | undefined
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal }
      live.delete(child)
      resolve()
    })
  })
  // BENCH_SERVER_OUTPUT=<file>: everything the server writes is also appended there (e.g. with
  // BENCH_SERVER_FLAGS=--trace-gc).
  const copy = process.env.BENCH_SERVER_OUTPUT
  const keep = (d: string) => {
    out += d
    if (copy) fs.appendFileSync(copy, d)
  }
  child.stdout!.setEncoding('utf8').on('data', keep)
  child.stderr!.setEncoding('utf8').on('data', keep)

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000)
  let token: string | undefined
  let up = false
  while (Date.now() < deadline && !exited) {
    token ??=
      /bootstrap[^\n]*\n\s*\S*[?&]token=([A-Za-z0-9_-]+)/.exec(out)?.[1] ??
      /"token":"([A-Za-z0-9_-]+)"/.exec(out)?.[1]
    if (!up) up = await ping(url, opts.tls?.ca)
    if (up && token) break
    await new Promise((r) => setTimeout(r, 100))
  }
  if (!up || !token) {
    const why = exited
      ? `exited (code ${exited.code}, signal ${exited.signal})`
      : !up
        ? `did not answer GET /ping within ${opts.startTimeoutMs ?? 30_000} ms`
        : 'did not print a bootstrap token'
    child.kill('SIGKILL')
    throw new Error(`the server child ${why}. Its output:\n${out.slice(-4000)}`)
  }

  return {
    url,
    port,
    pid: child.pid!,
    dataDir,
    bootstrapToken: token,
    output: () => out,
    cpuSeconds: () => procCpuSeconds(child.pid!),
    async stop(graceMs = 5000) {
      let forced = false
      const start = Date.now()
      if (!exited) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => {
          forced = true
          child.kill('SIGKILL')
        }, graceMs)
        await exitPromise
        clearTimeout(timer)
      }
      if (!opts.keepDataDir) {
        fs.rmSync(dataDir, { recursive: true, force: true })
        tempDirs.delete(dataDir)
      }
      return { forced, ms: Date.now() - start }
    },
  }
}

/** Stops every child still running (used on fatal errors). */
export function killAllServers() {
  killAll()
}
