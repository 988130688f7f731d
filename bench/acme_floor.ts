/*
 * npm run bench:acme-floor — the least CPU a Node.js HTTPS server can spend on one ACME
 * certificate's requests, as a reference for bench:acme's targets (issue 5). A report: it never
 * fails on speed.
 *
 * The server child does only what every ACME POST needs: read the body, parse the JWS, import the
 * account's JWK, verify its ES256 signature, and answer a small JSON object with a fresh
 * Replay-Nonce. No database, no issuance, no order state. One "flow" is five such POSTs, as many
 * as bench:acme's flow against this project's server (newAccount, newOrder, authorization,
 * finalize, certificate). Two variants: the JWK imported for every request, and imported once
 * (a server that caches account keys). The client is one process with 8 concurrent flows over
 * keep-alive HTTPS connections, sending one pre-signed JWS.
 *
 * Environment: BENCH_DURATION (s per variant, default 10), BENCH_WARMUP (s, default 2).
 */
import { fork, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { es256Jws } from './lib/acme_client.js'
import { makeTlsCertificate, type BenchTls } from './lib/tls.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const CONCURRENCY = 8
const POSTS_PER_FLOW = 5

type ToServer = { cpu: 'start' | 'stop' }
type FromServer = { port: number } | { cpuMs: number }

function serve(certFile: string, keyFile: string, importEveryTime: boolean) {
  let cachedKey: crypto.KeyObject | undefined
  const server = https.createServer(
    { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
    (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const jws = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'))
        const key =
          importEveryTime || !cachedKey
            ? crypto.createPublicKey({ key: header.jwk, format: 'jwk' })
            : cachedKey
        cachedKey = key
        const ok = crypto.verify(
          'sha256',
          Buffer.from(`${jws.protected}.${jws.payload}`),
          { key, dsaEncoding: 'ieee-p1363' },
          Buffer.from(jws.signature, 'base64url')
        )
        res.writeHead(ok ? 200 : 400, {
          'content-type': 'application/json',
          'replay-nonce': crypto.randomBytes(16).toString('base64url'),
          'cache-control': 'no-store',
        })
        res.end(JSON.stringify({ status: ok ? 'valid' : 'invalid', expires: new Date() }))
      })
    }
  )
  server.keepAliveTimeout = 60_000
  let started = process.cpuUsage()
  process.on('message', (msg: ToServer) => {
    if (msg.cpu === 'start') started = process.cpuUsage()
    else {
      const used = process.cpuUsage(started)
      process.send!({ cpuMs: (used.user + used.system) / 1000 } satisfies FromServer)
    }
  })
  server.listen(0, '127.0.0.1', () => {
    const address = server.address() as { port: number }
    process.send!({ port: address.port } satisfies FromServer)
  })
}

function nextMessage(child: ChildProcess): Promise<FromServer> {
  return new Promise((resolve, reject) => {
    child.once('message', (msg) => resolve(msg as FromServer))
    child.once('exit', (code) => reject(new Error(`the server child exited (${code})`)))
  })
}

async function measure(tls: BenchTls, importEveryTime: boolean) {
  const child = fork(fileURLToPath(import.meta.url), [
    'server',
    tls.certFile,
    tls.keyFile,
    importEveryTime ? '1' : '0',
  ])
  try {
    const { port } = (await nextMessage(child)) as { port: number }
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    // about the size of a finalize payload (a P-256 CSR)
    const body = es256Jws(
      { alg: 'ES256', nonce: 'n'.repeat(22), url: 'https://x/', jwk },
      { csr: 'A'.repeat(400) },
      privateKey
    )
    const agent = new https.Agent({
      keepAlive: true,
      maxSockets: CONCURRENCY,
      ca: tls.ca,
    })
    const post = () =>
      new Promise<void>((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port,
            path: '/acme/x',
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/jose+json',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            res.resume()
            res.on('end', () =>
              res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))
            )
          }
        )
        req.on('error', reject)
        req.end(body)
      })
    const run = async (seconds: number) => {
      let flows = 0
      const end = Date.now() + seconds * 1000
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (Date.now() < end) {
            for (let i = 0; i < POSTS_PER_FLOW; i++) await post()
            flows++
          }
        })
      )
      return flows
    }
    await run(WARMUP)
    child.send({ cpu: 'start' } satisfies ToServer)
    const clientCpu = process.cpuUsage()
    const t0 = performance.now()
    const flows = await run(DURATION)
    const seconds = (performance.now() - t0) / 1000
    const client = process.cpuUsage(clientCpu)
    child.send({ cpu: 'stop' } satisfies ToServer)
    const { cpuMs } = (await nextMessage(child)) as { cpuMs: number }
    agent.destroy()
    return {
      rate: flows / seconds,
      serverMsPerFlow: cpuMs / flows,
      clientMsPerFlow: (client.user + client.system) / 1000 / flows,
    }
  } finally {
    child.kill()
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'open-pki-acme-floor-'))
  try {
    const tls = makeTlsCertificate(dir)
    console.log(
      `ACME floor: a bare node:https server (${process.version}, ${os.cpus().length} cores), ` +
        `${POSTS_PER_FLOW} JWS POSTs per flow, ${CONCURRENCY} concurrent flows, ${DURATION} s each`
    )
    for (const importEveryTime of [true, false]) {
      const m = await measure(tls, importEveryTime)
      console.log(
        `  JWK imported ${importEveryTime ? 'for every request' : 'once (cached)    '}: ` +
          `${m.rate.toFixed(0)} flows/s, server CPU ${m.serverMsPerFlow.toFixed(3)} ms per flow, ` +
          `client CPU ${m.clientMsPerFlow.toFixed(3)} ms per flow`
      )
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'server') {
  serve(process.argv[3], process.argv[4], process.argv[5] === '1')
} else {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
