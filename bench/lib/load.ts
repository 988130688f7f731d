/*
 * Fixed-duration, fixed-concurrency HTTP load with autocannon (a devDependency), in this process.
 * Counts every non-2xx answer and keeps a sample of them for the report.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const autocannon: any = require('autocannon')

export interface LoadSpec {
  url: string
  method?: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** A different body per request (cycled by autocannon's setupRequest). */
  bodies?: string[]
  /** A different path per request (cycled like `bodies`), e.g. OCSP GETs of random serials. */
  paths?: string[]
  connections: number
  durationSec: number
}

export interface LoadResult {
  reqPerSec: number
  total2xx: number
  non2xx: number
  errors: number
  timeouts: number
  durationSec: number
  latencyP50: number
  latencyP99: number
  /** status → count, for non-2xx answers */
  statuses: Record<string, number>
  /** first few non-2xx bodies */
  samples: string[]
  /** CPU seconds this (client) process used during the run */
  clientCpuSec: number
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const statuses: Record<string, number> = {}
  const samples: string[] = []
  let next = 0
  const bodies = spec.bodies
  const request: Record<string, unknown> = {
    method: spec.method ?? 'GET',
    path: spec.path,
    headers: spec.headers ?? {},
    onResponse: (status: number, body: string) => {
      if (status < 200 || status > 299) {
        statuses[status] = (statuses[status] ?? 0) + 1
        if (samples.length < 3) samples.push(`${status} ${String(body).slice(0, 300)}`)
      }
    },
  }
  const paths = spec.paths
  if ((bodies && bodies.length) || (paths && paths.length)) {
    request.setupRequest = (req: any) => {
      const i = next++
      if (bodies && bodies.length) req.body = bodies[i % bodies.length]
      if (paths && paths.length) req.path = paths[i % paths.length]
      return req
    }
  }
  const cpu0 = process.cpuUsage()
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationSec,
    timeout: 30,
    requests: [request],
  })
  const cpu = process.cpuUsage(cpu0)
  const total2xx = result['2xx'] ?? 0
  const elapsed = (result.duration ?? spec.durationSec) as number
  return {
    // completed 2xx answers per second: an error answer is not throughput
    reqPerSec: total2xx / elapsed,
    total2xx,
    non2xx: result.non2xx ?? 0,
    errors: result.errors ?? 0,
    timeouts: result.timeouts ?? 0,
    durationSec: elapsed,
    latencyP50: result.latency?.p50 ?? Number.NaN,
    latencyP99: result.latency?.p99 ?? Number.NaN,
    statuses,
    samples,
    clientCpuSec: (cpu.user + cpu.system) / 1e6,
  }
}
