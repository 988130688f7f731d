/*
 * npm run bench:ui — Issued Certificates page time with 100,000 certificates next to the same
 * page with 1,000 (a report, never a timed test). Target: at most 1.5 times slower.
 *
 * Two real servers (`node bin/start.js`, NODE_ENV=production, SQLite as shipped) run side by
 * side on fresh DATA_DIRs. Each gets an administrator (the bootstrap token, then a local
 * argon2id password written to its row), a P-256 CA with two templates, one certificate issued through the REST
 * API (its DER is reused, so rows have a real certificate's size) and then its bulk load
 * written directly with SQL: certificates rows plus their certificate_names rows, as the
 * certificate store writes them. The admin logs in through /login (session cookie, CSRF) and
 * GETs the full page (layout included) for each query, the two installs alternating, and the
 * median of each is compared.
 *
 * Environment: BENCH_SMALL (default 1000), BENCH_LARGE (default 100000), BENCH_ROUNDS
 * (default 40 timed requests per query and install, after 5 untimed ones).
 * Exit code: 0 when the run completed (even with a FAIL); 1 when it could not run.
 */
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import argon2 from 'argon2'
import { startServer, killAllServers, type BenchServer } from './lib/server.js'
import { makeP256Csrs } from './lib/csrs.js'
import { bulkLoadCertificates } from './lib/bulk_load.js'
import { api } from './lib/api.js'

const SMALL = Number(process.env.BENCH_SMALL ?? 1000)
const LARGE = Number(process.env.BENCH_LARGE ?? 100_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40)
const WARM = 5
const TARGET = 1.5

const t0 = Date.now()
const log = (msg: string) =>
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`)

interface Install {
  label: string
  count: number
  server: BenchServer
  caId: number
  templates: number[]
  cookie: string
  /** A serial in the middle of the load, for the serial search. */
  sampleSerial?: string
}

/** Gives the bootstrapped administrator a local password (argon2id, as the app stores them). */
async function setPassword(server: BenchServer, email: string, password: string) {
  const hash = await argon2.hash(password, { type: argon2.argon2id })
  const db = new Database(path.join(server.dataDir, 'pki.sqlite3'))
  db.pragma('busy_timeout = 10000')
  const changed = db.prepare('UPDATE users SET password = ? WHERE email = ?').run(hash, email)
  db.close()
  if (changed.changes !== 1) throw new Error(`no user ${email} to give a password`)
}

/** Cookies of a response, merged into a jar. */
function keepCookies(jar: Map<string, string>, res: Response) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const i = pair.indexOf('=')
    jar.set(pair.slice(0, i), pair.slice(i + 1))
  }
}
const cookieHeader = (jar: Map<string, string>) =>
  [...jar.entries()].map(([k, v]) => `${k}=${v}`).join('; ')

async function login(server: BenchServer, email: string, password: string) {
  const jar = new Map<string, string>()
  const form = await fetch(`${server.url}/login`)
  keepCookies(jar, form)
  const html = await form.text()
  const field = /<input[^>]*name=["']_csrf["'][^>]*>/.exec(html)?.[0]
  const csrf = field ? /value=["']([^"']+)["']/.exec(field)?.[1] : undefined
  if (!csrf) throw new Error(`no CSRF field on /login (${form.status}): ${html.slice(0, 300)}`)
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'cookie': cookieHeader(jar),
    },
    body: new URLSearchParams({ email, password, _csrf: csrf }).toString(),
  })
  keepCookies(jar, res)
  if (res.status !== 302 || res.headers.get('location') === '/login')
    throw new Error(`login failed: ${res.status} ${res.headers.get('location')}`)
  return cookieHeader(jar)
}

async function prepare(label: string, count: number, csrs: string[]): Promise<Install> {
  const server = await startServer({ keepDataDir: Boolean(process.env.BENCH_KEEP) })
  const boot = await api(server, 'POST', '/api/v1/bootstrap', undefined, {
    token: server.bootstrapToken,
    email: 'bench-api@example.com',
  })
  const token: string = boot.apiToken
  const { ca } = await api(server, 'POST', '/api/v1/cas', token, {
    name: 'Bench UI CA',
    keyType: 'ecdsa-p256',
  })
  const { templates } = await api(server, 'GET', `/api/v1/cas/${ca.id}/templates`, token)
  const second = await api(server, 'POST', `/api/v1/cas/${ca.id}/templates`, token, {
    name: 'Internal services',
    starter: 'web-server',
  })
  const web = templates.find((t: any) => t.name === 'Web Server')
  const issued = await api(server, 'POST', `/api/v1/templates/${web.id}/issue`, token, {
    csr: csrs[0],
  })
  const der = Buffer.from(
    issued.certificate.certificatePem.replace(/-----[^-]+-----|\s/g, ''),
    'base64'
  )
  log(`${label}: server up, CA created`)
  const password = 'bench password long enough'
  await setPassword(server, 'bench-api@example.com', password)
  const install: Install = {
    label,
    count,
    server,
    caId: ca.id,
    templates: [web.id, second.template.id],
    cookie: await login(server, 'bench-api@example.com', password),
  }
  const started = Date.now()
  install.sampleSerial = bulkLoadCertificates({
    dataDir: install.server.dataDir,
    caId: install.caId,
    count: install.count,
    der,
    templateIds: install.templates,
  }).sampleSerial
  log(
    `${label}: ${count.toLocaleString('en-US')} certificates loaded in ${((Date.now() - started) / 1000).toFixed(1)} s (server pid ${server.pid})`
  )
  return install
}

async function timeGet(install: Install, query: string, check: (html: string) => void) {
  const started = process.hrtime.bigint()
  const res = await fetch(`${install.server.url}/admin/certificates?ca=${install.caId}&${query}`, {
    headers: { cookie: install.cookie },
    redirect: 'manual',
  })
  const html = await res.text()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (res.status !== 200) throw new Error(`${install.label} ${query}: HTTP ${res.status}`)
  check(html)
  return ms
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function main() {
  log(
    `open-pki admin UI benchmark — node ${process.version}, ${os.availableParallelism()} cores, ${os.platform()} ${os.release()}`
  )
  const csrs = await makeP256Csrs(1)
  const [small, large] = await Promise.all([
    prepare(`${SMALL.toLocaleString('en-US')} certs`, SMALL, csrs),
    prepare(`${LARGE.toLocaleString('en-US')} certs`, LARGE, csrs),
  ])
  const rowsOf = (html: string) => (html.match(/<tr id="cert-row-/g) ?? []).length
  const someRows = (min: number) => (html: string) => {
    if (rowsOf(html) < min)
      throw new Error(
        `expected at least ${min} rows, got ${rowsOf(html)}: ${/<div id="cert-results"[\s\S]{0,600}/.exec(html)?.[0]}`
      )
  }
  const queries: Array<{
    name: string
    query: (i: Install) => string
    check: (h: string) => void
  }> = [
    { name: 'first page', query: () => '', check: someRows(50) },
    {
      name: 'search CN prefix "host-4" (page of matches)',
      query: () => 'q=host-4',
      check: someRows(50),
    },
    { name: 'search one host "host-427."', query: () => 'q=host-427.', check: someRows(1) },
    { name: 'search SAN prefix "alt-777."', query: () => 'q=alt-777.', check: someRows(1) },
    {
      name: 'search serial prefix (8 hex digits)',
      query: (i) => `q=${i.sampleSerial!.slice(0, 8)}`,
      check: someRows(1),
    },
    { name: 'filter status revoked', query: () => 'status=revoked', check: someRows(50) },
    { name: 'filter expiring within 60 days', query: () => 'expiring=60', check: someRows(50) },
    {
      name: 'filter template (second)',
      query: (i) => `template=${i.templates[1]}`,
      check: someRows(50),
    },
  ]
  const results: Array<{ name: string; small: number; large: number }> = []
  try {
    for (const q of queries) {
      const times: Record<string, number[]> = { small: [], large: [] }
      for (let round = 0; round < WARM + ROUNDS; round++) {
        // Alternate which install goes first, so drift in machine load hits both alike.
        const order = round % 2 ? [large, small] : [small, large]
        for (const install of order) {
          const ms = await timeGet(install, q.query(install), q.check)
          if (round >= WARM) times[install === small ? 'small' : 'large'].push(ms)
        }
      }
      const r = { name: q.name, small: median(times.small), large: median(times.large) }
      results.push(r)
      log(
        `${q.name}: ${r.small.toFixed(2)} ms with ${SMALL.toLocaleString('en-US')}, ${r.large.toFixed(2)} ms with ${LARGE.toLocaleString('en-US')}`
      )
    }
  } finally {
    await Promise.all([small.server.stop(2000), large.server.stop(2000)])
  }

  const header = [
    'Issued Certificates page',
    `${LARGE.toLocaleString('en-US')} certs`,
    `${SMALL.toLocaleString('en-US')} certs (baseline)`,
    'ratio',
    'target',
    'result',
  ]
  const rows = results.map((r) => {
    const ratio = r.large / r.small
    return [
      r.name,
      `${r.large.toFixed(2)} ms`,
      `${r.small.toFixed(2)} ms`,
      `${ratio.toFixed(2)}×`,
      `≤ ${TARGET}×`,
      ratio <= TARGET ? 'PASS' : 'FAIL',
    ]
  })
  const all = [header, ...rows]
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)))
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')
  process.stdout.write(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`)
  for (const r of rows) process.stdout.write(`${line(r)}\n`)
  process.stdout.write(
    `\n(median of ${ROUNDS} full-page GETs per query and install after ${WARM} untimed ones, the two installs alternating; SQLite, NODE_ENV=production; total ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`
  )
}

main().catch((error) => {
  process.stderr.write(`\nbench:ui could not run: ${error?.stack ?? error}\n`)
  killAllServers()
  process.exitCode = 1
})
