/*
 * npm run bench:revoke — what revoking one certificate through the REST API costs in a CA with
 * 1,000,000 certificates already revoked, next to a CA with none, in the same server and run (a
 * report, never a timed test). Target (issue 4): at most 1.5 times the cost with none.
 *
 * One real server (`node bin/start.js`, NODE_ENV=production, SQLite as shipped, the OCSP and
 * ACME plugins disabled as in bench:crl). Two P-256 CAs: "none" with no revoked certificate,
 * "1M" with 1,000,000 revoked ones bulk-loaded (and its 1M-entry CRL built before timing). Each
 * gets BENCH_REVOKES certificates issued through the API; then they are revoked one request at a
 * time, the two CAs alternating, each POST /api/v1/certificates/:id/revoke timed end to end.
 * Everything a revocation sets off runs as it would in production: the CRL plugin's hooks (change
 * log, staleness), its refresh job rebuilding full and delta CRLs every 2 s, the poll job.
 *
 * Environment: BENCH_LARGE (default 1000000), BENCH_REVOKES (default 150 per CA).
 * Exit code: 0 when the run completed (even with a FAIL); 1 when it could not run.
 */
import os from 'node:os'
import Database from 'better-sqlite3'
import path from 'node:path'
import { bulkLoadCertificates } from './lib/bulk_load.js'
import { makeP256Csrs } from './lib/csrs.js'
import { killAllServers } from './lib/server.js'
import { api } from './lib/api.js'
import { createBenchCa, crlServer, derOf, issue, openDb } from './crl.js'

const LARGE = Number(process.env.BENCH_LARGE ?? 1_000_000)
const REVOKES = Number(process.env.BENCH_REVOKES ?? 150)
const TARGET = 1.5

const t0 = Date.now()
const log = (msg: string) =>
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const fmt = (n: number) => n.toLocaleString('en-US')

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]

async function main() {
  log(
    `open-pki revocation benchmark — node ${process.version}, ${os.availableParallelism()} cores, ${os.platform()} ${os.release()}`
  )
  const { server, token } = await crlServer()
  running = server
  log(`server up (pid ${server.pid}); OCSP and ACME plugins disabled`)
  try {
    const csrs = await makeP256Csrs(4)
    const none = await createBenchCa(server, token, 'Bench revoke none')
    const full = await createBenchCa(server, token, `Bench revoke ${LARGE}`)
    const sample = await issue(server, token, full, csrs[0])
    const loaded = Date.now()
    bulkLoadCertificates({
      dataDir: server.dataDir,
      caId: full.id,
      count: LARGE,
      der: derOf(sample.certificatePem),
      templateIds: [full.templateId],
      revokedPercent: 100,
      holdPercent: 0,
      spreadDays: 300,
    })
    log(
      `CA "1M": ${fmt(LARGE)} revoked certificates loaded in ${((Date.now() - loaded) / 1000).toFixed(1)} s`
    )

    // Its CRL with every one of them, before timing (a read of the certificates).
    const rw = new Database(path.join(server.dataDir, 'pki.sqlite3'))
    rw.pragma('busy_timeout = 10000')
    rw.prepare('UPDATE crl_state SET rescan = 1, dirty = dirty + 1 WHERE ca_id = ?').run(full.id)
    rw.close()
    const db = openDb(server)
    const entries = () =>
      Number(
        (
          db
            .prepare(
              "SELECT l.entries FROM crl_lists l JOIN crl_state s ON s.ca_id = l.ca_id AND s.full_number = l.number WHERE l.ca_id = ? AND l.scope = 'full'"
            )
            .get(full.id) as { entries: number } | undefined
        )?.entries ?? 0
      )
    const waitStarted = Date.now()
    while (entries() < LARGE) {
      if (Date.now() - waitStarted > 600_000) throw new Error('the 1M CRL was not built in 10 min')
      await sleep(200)
    }
    log(`CA "1M": CRL with ${fmt(entries())} entries stored`)

    const certs: Record<string, number[]> = { none: [], full: [] }
    for (let i = 0; i < REVOKES; i++) {
      certs.none.push((await issue(server, token, none, csrs[1 + (i % 3)])).id)
      certs.full.push((await issue(server, token, full, csrs[1 + (i % 3)])).id)
    }
    log(`${fmt(REVOKES)} certificates issued in each CA`)
    await sleep(3000)

    const times: Record<string, number[]> = { none: [], full: [] }
    const revoke = async (label: 'none' | 'full', id: number) => {
      const started = process.hrtime.bigint()
      await api(server, 'POST', `/api/v1/certificates/${id}/revoke`, token, {
        reason: 'keyCompromise',
      })
      times[label].push(Number(process.hrtime.bigint() - started) / 1e6)
    }
    // Two untimed each (warm-up), then alternate, starting with either side in turn.
    for (let i = 0; i < REVOKES; i++) {
      const order: Array<'none' | 'full'> = i % 2 ? ['full', 'none'] : ['none', 'full']
      for (const label of order) await revoke(label, certs[label][i])
      if (i === 1) {
        times.none = []
        times.full = []
      }
    }
    // The CRL keeps up: every revocation is in it shortly after the last one.
    const lastRevoke = Date.now()
    while (entries() < LARGE + REVOKES && Date.now() - lastRevoke < 60_000) await sleep(100)
    const finalEntries = entries()
    const caughtUp = Date.now() - lastRevoke
    db.close()

    const m0 = median(times.none)
    const m1 = median(times.full)
    console.log('')
    console.log(
      `Revoking one certificate through the API (${fmt(times.none.length)} timed each, alternating)`
    )
    console.log(
      `  CA with none revoked:   median ${m0.toFixed(2)} ms, mean ${mean(times.none).toFixed(2)} ms, p90 ${p90(times.none).toFixed(2)} ms`
    )
    console.log(
      `  CA with ${fmt(LARGE)} revoked: median ${m1.toFixed(2)} ms, mean ${mean(times.full).toFixed(2)} ms, p90 ${p90(times.full).toFixed(2)} ms`
    )
    console.log(
      `  its full CRL: ${fmt(finalEntries)} entries ${(caughtUp / 1000).toFixed(1)} s after the last revocation (expected ${fmt(LARGE + REVOKES)})`
    )
    const ratio = m1 / m0
    console.log(
      `  ratio (median): ${ratio.toFixed(3)}  target ≤ ${TARGET}  ${ratio <= TARGET ? 'PASS' : 'FAIL'}` +
        `   (mean: ${(mean(times.full) / mean(times.none)).toFixed(3)})`
    )
  } finally {
    await server.stop()
  }
}

/** The server of this run, for its output when the run fails. */
let running: { output(): string } | undefined

main()
  .then(() => process.exit(0))
  .catch((error) => {
    console.error(error)
    if (running) console.error(`the server's last output:\n${running.output().slice(-4000)}`)
    killAllServers()
    process.exit(1)
  })
