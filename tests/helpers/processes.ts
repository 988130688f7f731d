/*
 * Helpers that run this project as separate processes, the way an operator does: extra server
 * nodes (`node bin/start.js`) and ace commands (`node ace ...`), with the test run's environment
 * (same database, data folder and master key) unless told otherwise.
 *
 * Environment overrides: a value of `undefined` removes the variable from the child's
 * environment (e.g. `{ PKI_MASTER_KEY_FILE: undefined }` to fall back to DATA_DIR/master.key).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { repoRoot } from './external.js'

export type EnvOverrides = Record<string, string | undefined>

/** process.env with the overrides applied (undefined deletes). */
export function childEnv(overrides: EnvOverrides = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // Spawned servers keep sessions in cookies, as in production (several nodes share them).
  delete env.SESSION_DRIVER
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Last `max` characters of a process's output, for error messages. */
function tail(text: string, max = 4000) {
  return text.length > max ? `…${text.slice(-max)}` : text
}

/** Collapses runs of whitespace: some framework errors are printed one word per line. */
export function flat(text: string) {
  return text.replace(/\s+/g, ' ').trim()
}

export interface AceResult {
  /** Exit code; 128 + signal number when killed (e.g. 137 after the timeout). */
  code: number
  stdout: string
  stderr: string
  /** Wall time of the command, milliseconds. */
  ms: number
}

export interface AceOptions {
  env?: EnvOverrides
  /** Written to the command's standard input. */
  input?: string
  /** Kill the command after this many milliseconds (default 90 s). */
  timeoutMs?: number
}

/**
 * Runs `node ace <args>` from the repository root and collects its output. Never rejects on a
 * non-zero exit; rejects only when node cannot be started.
 */
export function runAce(args: readonly string[], options: AceOptions = {}): Promise<AceResult> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['ace', ...args], {
      cwd: repoRoot,
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000)
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk))
    child.stdin!.on('error', () => {})
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(new Error(`cannot run node ace ${args.join(' ')}: ${error.message}`, { cause: error }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code: code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      })
    })
    child.stdin!.end(options.input ?? '')
  })
}

/** Describes an ace result for assertion messages. */
export function describeAce(result: AceResult) {
  return `exit ${result.code}\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`
}

export interface ServerProcess {
  /** http://127.0.0.1:<port> */
  url: string
  port: number
  child: ChildProcess
  /** Everything the process wrote so far (stdout and stderr interleaved). */
  output(): string
  /** Resolves with the exit code (128 + signal when killed) once the process has exited. */
  exited: Promise<number>
  /** True once the process has exited. */
  hasExited(): boolean
  /** SIGTERM, wait for the exit (SIGKILL after `graceMs`); resolves with the exit code. */
  stop(graceMs?: number): Promise<number>
}

export interface SpawnServerOptions {
  port: number
  env?: EnvOverrides
}

/**
 * Starts `node bin/start.js` on 127.0.0.1:<port> with the current environment (same DB_*,
 * DATA_DIR, PKI_MASTER_KEY_FILE) plus the overrides. Does not wait for it to be ready.
 */
export function spawnServer(options: SpawnServerOptions): ServerProcess {
  const child = spawn(process.execPath, ['bin/start.js'], {
    cwd: repoRoot,
    env: childEnv({ HOST: '127.0.0.1', ...options.env, PORT: String(options.port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  let exitCode: number | undefined
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 128)
      resolve(exitCode)
    })
    child.on('error', (error) => {
      output += `\n[spawn error] ${error.message}\n`
      exitCode = 127
      resolve(exitCode)
    })
  })
  const server: ServerProcess = {
    url: `http://127.0.0.1:${options.port}`,
    port: options.port,
    child,
    output: () => output,
    exited,
    hasExited: () => exitCode !== undefined,
    async stop(graceMs = 15_000) {
      if (exitCode !== undefined) return exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
  }
  return server
}

/** GET <url>/health; the status code, or 0 when nothing answered. */
export async function healthStatus(url: string, timeoutMs = 2000): Promise<number> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    await response.arrayBuffer()
    return response.status
  } catch {
    return 0
  }
}

/**
 * Polls GET /health until it answers 200. Rejects (with the process's output) when the process
 * exits first or the timeout passes.
 */
export async function waitHealthy(server: ServerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.hasExited()) {
      throw new Error(
        `server on port ${server.port} exited (code ${await server.exited}) before answering /health:\n${tail(server.output())}`
      )
    }
    if ((await healthStatus(server.url)) === 200) return
    await sleep(250)
  }
  throw new Error(
    `server on port ${server.port} did not answer GET /health with 200 within ${timeoutMs} ms:\n${tail(server.output())}`
  )
}

export interface StartServerOptions extends SpawnServerOptions {
  /** How long to wait for GET /health (default 60 s). */
  timeoutMs?: number
}

/**
 * Starts an extra server process and waits until GET /health answers 200. Returns its URL and
 * stop(). When it does not come up, the process is stopped and the error carries its output.
 * Always call stop() in a finally block or a teardown.
 */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const server = spawnServer(options)
  try {
    await waitHealthy(server, options.timeoutMs)
  } catch (error) {
    await server.stop(5000)
    throw error
  }
  return server
}

/** Runs `fn` for every item with at most `concurrency` calls in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index], index)
    }
  })
  await Promise.all(workers)
  return results
}
