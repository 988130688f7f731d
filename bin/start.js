/*
 * `npm start`: runs the HTTP server from the TypeScript sources (no build step needed).
 *
 * WEB_CONCURRENCY=N (or "auto": one per CPU core) runs N server processes on the same port
 * (node:cluster): each is a full node of the install — the same thing as N machines sharing one
 * database — so every core serves requests. The first worker starts alone (it runs the
 * migrations and prints the bootstrap token); the others follow once it listens. A worker that
 * dies is restarted (after a pause if it keeps dying); SIGTERM or SIGINT stops them all.
 * Unset or 1: one process, no cluster.
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { parseEnv } from 'node:util'

function workerCount() {
  // The primary decides before the application (which reads .env) loads: WEB_CONCURRENCY from
  // .env counts too. A variable of the environment wins, as everywhere else.
  // Only this value is taken here: the application reads the .env files itself, with its own
  // precedence (.env.local over .env...), which loading all of .env here would change.
  if (process.env.WEB_CONCURRENCY === undefined) {
    try {
      const fromFile = parseEnv(readFileSync(new URL('../.env', import.meta.url), 'utf8'))
      if (fromFile.WEB_CONCURRENCY !== undefined) {
        process.env.WEB_CONCURRENCY = fromFile.WEB_CONCURRENCY
      }
    } catch {
      // no .env
    }
  }
  const raw = String(process.env.WEB_CONCURRENCY ?? '').trim()
  if (raw === '' || raw === '1') return 1
  if (raw === 'auto') return Math.max(1, os.availableParallelism())
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    process.stderr.write(
      `Cannot start: WEB_CONCURRENCY must be a whole number from 1 to 64, or "auto" (it is "${raw}").\n`
    )
    process.exit(1)
  }
  return n
}

const count = cluster.isPrimary ? workerCount() : 1

if (cluster.isPrimary && count > 1) {
  const say = (message) => process.stderr.write(`[cluster] ${message}\n`)
  let stopping = false
  let restarts = 0

  const fork = (first) => {
    // Only the first worker announces the install (bootstrap token): one token, one message.
    const worker = cluster.fork(first ? {} : { PKI_ANNOUNCE: '0' })
    worker.once('exit', (code, signal) => {
      if (stopping) return
      if (first && !worker.listened) {
        say(`the first worker exited before listening (code ${code}, signal ${signal}); stopping`)
        process.exit(code || 1)
      }
      restarts++
      const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts, 6))
      say(
        `worker ${worker.process.pid} exited (code ${code}, signal ${signal}); restarting in ${delay} ms`
      )
      // Not unref'd: with every worker gone this timer is what keeps the primary alive.
      setTimeout(() => stopping || fork(false), delay)
    })
    worker.once('listening', () => {
      worker.listened = true
      say(`worker ${worker.process.pid} listening`)
      if (first) for (let i = 1; i < count; i++) fork(false)
    })
    return worker
  }

  const stop = (signal) => {
    if (stopping) return
    stopping = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal)
    const deadline = setTimeout(() => process.exit(0), 12_000)
    deadline.unref()
    const check = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        clearInterval(check)
        process.exit(0)
      }
    }, 100)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGTERM'))

  say(`starting ${count} server processes (WEB_CONCURRENCY=${process.env.WEB_CONCURRENCY})`)
  fork(true)
} else {
  await import('ts-node-maintained/register/esm')
  await import('./server.js')
}
