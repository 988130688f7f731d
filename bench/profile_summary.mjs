#!/usr/bin/env node
/*
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_CPU_PROF=dir npm run bench:issue):
 * self time by area (idle, GC, SQLite, Lucid/knex, framework, PKI, crypto...), the top functions
 * by self time, and the inclusive time of selected kernel functions.
 *
 *   node bench/profile_summary.mjs <file.cpuprofile> [--phase 'issue P-256'] [--top 30] [--fn name1,name2]
 *
 * Samples taken while the main thread is blocked inside a synchronous native call (better-sqlite3
 * executing a statement, fsync at COMMIT) are charged to the JavaScript function that made the
 * call, so this is main-thread wall-clock time, not just CPU time.
 */
import fs from 'node:fs'
import path from 'node:path'

const args = process.argv.slice(2)
const file = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')))
if (!file) {
  console.error('usage: node bench/profile_summary.mjs <file.cpuprofile> [--top N] [--fn a,b,c]')
  process.exit(2)
}
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}
const TOP = Number(opt('top', 30))
const FNS = opt(
  'fn',
  'issue,readCsr,parseCsr,verifyCsrSignature,verifySignature,signCertificate,storeCertificate,audit,lintDraft,verify,find,findOrFail,handle,send,serializeCertificate,sendPem,nameToDer,nameToString,newSerial,get,commit,transaction,run,all,get'
).split(',')

const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

// --phase NAME: only the samples taken during that measurement (phases-<pid>.json, written by the bench)
const PHASE = opt('phase', undefined)
let window = [-Infinity, Infinity]
let requests = Number(opt('requests', 0)) || undefined
if (PHASE) {
  const pid = /\.(\d+)\.0\.\d+\.cpuprofile$/.exec(file)?.[1]
  const phasesFile = path.join(path.dirname(file), `phases-${pid}.json`)
  const phases = JSON.parse(fs.readFileSync(phasesFile, 'utf8'))
  const phase = phases.find((p) => p.name === PHASE)
  if (!phase) {
    console.error(
      `no phase "${PHASE}" in ${phasesFile} (have: ${phases.map((p) => p.name).join(', ')})`
    )
    process.exit(2)
  }
  window = [phase.fromUs, phase.toUs]
  requests = phase.requests ?? requests
}

// time per node id from samples/timeDeltas (µs); sample i is taken at startTime + Σ timeDeltas[0..i]
const inWindow = []
{
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0
    inWindow.push(t >= window[0] && t <= window[1])
  }
}
const selfUs = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  if (!inWindow[i]) continue
  const id = profile.samples[i]
  const dt = profile.timeDeltas[i] ?? 0
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)

function area(cf) {
  const url = cf.url || ''
  const name = cf.functionName
  if (name === '(idle)') return 'idle (event loop waiting)'
  if (name === '(garbage collector)') return 'garbage collector'
  if (name === '(program)') return '(program: native, not attributed)'
  if (/better-sqlite3/.test(url)) return 'better-sqlite3 (JS wrapper + native SQLite incl. fsync)'
  if (/node_modules\/knex\//.test(url)) return 'knex (query building, pool, client)'
  if (/node_modules\/@adonisjs\/lucid\//.test(url)) return 'Lucid (ORM/query client)'
  if (/node_modules\/@adonisjs\//.test(url))
    return 'AdonisJS framework (http, router, bodyparser...)'
  if (/node_modules\/(@peculiar|asn1js|pkijs|pvtsutils|pvutils)/.test(url))
    return 'ASN.1 libraries (@peculiar, asn1js)'
  if (/node_modules\/(ts-node|@swc|source-map)/.test(url)) return 'ts-node / swc (module loading)'
  if (/node_modules\//.test(url))
    return 'other node_modules: ' + url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1')
  if (/\/app\/pki\//.test(url)) return 'app/pki (X.509 encode, CSR parse, lint)'
  if (/\/app\/services\//.test(url)) return 'app/services (kernel logic)'
  if (/\/app\//.test(url)) return 'app/ (controllers, middleware, models)'
  if (/\/hsm\//.test(url)) return 'hsm/ (signer, keys)'
  if (/^node:|^internal\//.test(url) || (!url && name)) {
    if (
      /crypto/.test(url) ||
      /^(sign|verify|Sign|Verify|createHash|digest|update|randomBytes|randomFillSync|createPublicKey|createPrivateKey)$/.test(
        name
      )
    )
      return 'node:crypto'
    if (/http|net|stream|_http|buffer|events/.test(url)) return 'node: http/net/streams'
    return 'node internals / builtins'
  }
  return 'other: ' + url
}

const byArea = new Map()
const byFn = new Map()
for (const [id, us] of selfUs) {
  const n = nodes.get(id)
  const a = area(n.callFrame)
  byArea.set(a, (byArea.get(a) ?? 0) + us)
  const key = `${n.callFrame.functionName || '(anonymous)'}  ${(n.callFrame.url || '').replace(/^.*\/(node_modules\/)?/, '')}:${n.callFrame.lineNumber + 1}`
  byFn.set(key, (byFn.get(key) ?? 0) + us)
}

// inclusive time per function name (a node counts once per sample even if recursive)
const inclusive = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  if (!inWindow[i]) continue
  const dt = profile.timeDeltas[i] ?? 0
  const seen = new Set()
  let id = profile.samples[i]
  while (id !== undefined) {
    const n = nodes.get(id)
    const cf = n.callFrame
    const local = !/node_modules/.test(cf.url)
    const key = `${cf.functionName}${local && cf.url ? '  ' + cf.url.replace(/^.*\/(app|hsm|bench|start|config)\//, '$1/') : ''}`
    if (!seen.has(key)) {
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt)
    }
    id = parent.get(id)
  }
}

const ms = (us) => (us / 1000).toFixed(0).padStart(7) + ' ms'
const share = (us) => ((100 * us) / total).toFixed(1).padStart(5) + '%'
console.log(
  `${file}${PHASE ? ` [phase ${PHASE}]` : ''}: ${(total / 1e6).toFixed(2)} s sampled, ${inWindow.filter(Boolean).length} samples\n`
)
console.log('Self time by area')
{
  let rest = 0
  let restN = 0
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1])) {
    if (us / total >= 0.003) console.log(`  ${ms(us)} ${share(us)}  ${a}`)
    else ((rest += us), restN++)
  }
  if (restN) console.log(`  ${ms(rest)} ${share(rest)}  (${restN} smaller areas)`)
}
console.log(`\nTop ${TOP} functions by self time`)
for (const [f, us] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, TOP))
  console.log(`  ${ms(us)} ${share(us)}  ${f}`)
console.log('\nInclusive time (synchronous part of the call tree) of selected functions')
const wanted = new Set(FNS)
for (const [k, us] of [...inclusive]
  .filter(([k]) => wanted.has(k.split('  ')[0]))
  .sort((x, y) => y[1] - x[1])
  .slice(0, 40)) {
  console.log(`  ${ms(us)} ${share(us)}  ${k}`)
}

// Where the time of one request goes: each sample is charged to the first bucket that matches
// its stack (leaf first), in the order below.
const BUCKETS = [
  ['garbage collector', (st) => st[0].functionName === '(garbage collector)'],
  ['idle (event loop waiting: I/O, timers)', (st) => st[0].functionName === '(idle)'],
  ['native, unattributed ((program))', (st) => st[0].functionName === '(program)'],
  [
    'SQLite COMMIT (WAL append + fsync, synchronous=FULL)',
    (st) => st[0].functionName === '_query' && has(st, 'commit', /knex/),
  ],
  [
    'SQLite prepare (knex re-prepares every statement)',
    (st) => has(st, 'prepare', /better-sqlite3/),
  ],
  [
    'SQLite execute (other statements: SELECT/INSERT/BEGIN)',
    (st) => st[0].functionName === '_query' || /better-sqlite3/.test(st[0].url),
  ],
  [
    'CSR check: public key import (crypto.createPublicKey)',
    (st) => has(st, 'createPublicKey') && has(st, 'verifySignature'),
  ],
  ['CSR check: ECDSA verify', (st) => has(st, 'verifySignature')],
  ['CSR parse (PEM, DER walk, subject, extensions)', (st) => has(st, 'parseCsr')],
  ['CA signature (ECDSA sign, hsm/)', (st) => has(st, 'signOneShot') || /\/hsm\//.test(st[0].url)],
  [
    'certificate build + encode + lint (app/pki, ASN.1 libs)',
    (st) => st.some((f) => /\/app\/pki\/|node_modules\/(@peculiar|asn1js|pvtsutils)/.test(f.url)),
  ],
  [
    'knex + Lucid (query building, pool, models, transactions)',
    (st) => st.some((f) => /node_modules\/(knex|@adonisjs\/lucid|tarn)\//.test(f.url)),
  ],
  [
    'kernel services / controllers / middleware (own code)',
    (st) => st.some((f) => /\/app\/(services|controllers|middleware|models)\//.test(f.url)),
  ],
  [
    'HTTP + framework (node http, router, bodyparser, response)',
    (st) =>
      st.some((f) =>
        /node_modules\/@adonisjs\/|node_modules\/@poppinss\/|^node:(_http|net|internal\/(streams|http|stream_base))/.test(
          f.url
        )
      ),
  ],
  [
    'promise / microtask machinery',
    (st) =>
      st[0].functionName === 'runMicrotasks' ||
      st.some((f) => f.functionName === 'processTicksAndRejections'),
  ],
  ['other', () => true],
]
function has(stack, name, urlRe) {
  return stack.some((f) => f.functionName === name && (!urlRe || urlRe.test(f.url)))
}
const bucketUs = new Map(BUCKETS.map(([b]) => [b, 0]))
for (let i = 0; i < profile.samples.length; i++) {
  if (!inWindow[i]) continue
  const stack = []
  for (let id = profile.samples[i]; id !== undefined; id = parent.get(id))
    stack.push(nodes.get(id).callFrame)
  const [b] = BUCKETS.find(([, match]) => match(stack))
  bucketUs.set(b, bucketUs.get(b) + (profile.timeDeltas[i] ?? 0))
}
console.log(
  `\nWhere the main thread's time goes${requests ? ` (${requests} requests: ms per request)` : ''}`
)
for (const [b, us] of [...bucketUs].filter(([, us]) => us > 0).sort((x, y) => y[1] - x[1])) {
  const per = requests ? `${(us / 1000 / requests).toFixed(3).padStart(7)} ms/req ` : ''
  console.log(`  ${ms(us)} ${share(us)} ${per} ${b}`)
}
if (requests)
  console.log(
    `  ${ms(total)} 100.0% ${(total / 1000 / requests).toFixed(3).padStart(7)} ms/req  total`
  )

// --detail: the top functions (self time) and the kernel entry points inside each big bucket
if (args.includes('--detail')) {
  const perBucket = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    if (!inWindow[i]) continue
    const stack = []
    for (let id = profile.samples[i]; id !== undefined; id = parent.get(id))
      stack.push(nodes.get(id).callFrame)
    const [b] = BUCKETS.find(([, match]) => match(stack))
    const own = stack.find((f) => /\/(app|hsm)\//.test(f.url))
    const leaf = `${stack[0].functionName || '(anonymous)'} ${stack[0].url.replace(/^.*\/(node_modules\/)?/, '')}:${stack[0].lineNumber + 1}`
    const entry = own
      ? `${own.functionName || '(anonymous)'} ${own.url.replace(/^.*\/(app|hsm)\//, '$1/')}:${own.lineNumber + 1}`
      : '(no own frame)'
    const m = perBucket.get(b) ?? perBucket.set(b, { leaf: new Map(), entry: new Map() }).get(b)
    const dt = profile.timeDeltas[i] ?? 0
    m.leaf.set(leaf, (m.leaf.get(leaf) ?? 0) + dt)
    m.entry.set(entry, (m.entry.get(entry) ?? 0) + dt)
  }
  for (const [b, m] of [...perBucket].sort((x, y) => bucketUs.get(y[0]) - bucketUs.get(x[0]))) {
    if (bucketUs.get(b) / total < 0.03) continue
    console.log(`\n[${b}] innermost own (app/, hsm/) frame:`)
    for (const [k, v] of [...m.entry].sort((x, y) => y[1] - x[1]).slice(0, 8))
      console.log(`  ${ms(v)} ${share(v)}  ${k}`)
    console.log(`[${b}] leaf functions:`)
    for (const [k, v] of [...m.leaf].sort((x, y) => y[1] - x[1]).slice(0, 6))
      console.log(`  ${ms(v)} ${share(v)}  ${k}`)
  }
}
