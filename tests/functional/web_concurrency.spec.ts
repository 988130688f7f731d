/*
 * WEB_CONCURRENCY: `node bin/start.js` runs several server processes on one port (node:cluster).
 * Each is a node of the install on the shared database: requests are answered by more than one
 * of them, issuance through the shared port works, only the first process announces the install,
 * a bad value refuses to start with a message, and SIGTERM stops every process.
 */
import { test } from '@japa/runner'
import { adminToken, createCa, opensslCsr, unique, webServerTemplate } from '#tests/helpers/api'
import {
  freePort,
  mapLimit,
  spawnServer,
  startServer,
  type ServerProcess,
} from '#tests/helpers/processes'

/**
 * The node id of the process that answered, over a new connection each time; undefined while
 * that process's plugins are still starting (503 "starting").
 */
async function answeringNode(server: ServerProcess): Promise<string | undefined> {
  const response = await fetch(`${server.url}/health`, {
    headers: { connection: 'close' },
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await response.json()) as { node: string; status: string }
  if (response.status === 503 && body.status === 'starting') return undefined
  if (response.status !== 200) throw new Error(`/health: ${response.status}`)
  return body.node
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test.group('WEB_CONCURRENCY: several server processes on one port', () => {
  test('two processes answer, issuance works through the shared port, SIGTERM stops both', async ({
    client,
    assert,
  }) => {
    const token = await adminToken()
    const ca = await createCa(client, { name: unique('Concurrency'), keyType: 'ecdsa-p256' })
    const template = await webServerTemplate(client, ca.id)
    const server = await startServer({
      port: await freePort(),
      env: { WEB_CONCURRENCY: '2' },
      timeoutMs: 90_000,
    })
    let workerPids: number[] = []
    try {
      // The second process starts once the first listens: wait until both have answered.
      const nodes = new Set<string>()
      const deadline = Date.now() + 60_000
      while (nodes.size < 2 && Date.now() < deadline) {
        const node = await answeringNode(server)
        if (node) nodes.add(node)
        else await new Promise((r) => setTimeout(r, 100))
      }
      assert.equal(nodes.size, 2, server.output())
      assert.include(server.output(), '[cluster] starting 2 server processes')
      // Only the first process may announce (the test install has an administrator already,
      // so neither prints a token here; the second must not even try).
      assert.notInclude(server.output(), 'bootstrap token')

      const csrs = await mapLimit([0, 1, 2, 3, 4, 5], 3, (i) =>
        opensslCsr({ subject: `/CN=wc${i}.example.com`, sans: [`DNS:wc${i}.example.com`] })
      )
      const serials = await mapLimit(csrs, 6, async ({ csrPem }) => {
        const response = await fetch(`${server.url}/api/v1/templates/${template.id}/issue`, {
          method: 'POST',
          headers: {
            'authorization': `Bearer ${token}`,
            'content-type': 'application/json',
            'connection': 'close',
          },
          body: JSON.stringify({ csr: csrPem }),
        })
        const json: any = await response.json()
        assert.equal(response.status, 201, JSON.stringify(json))
        return json.certificate.serial as string
      })
      assert.lengthOf(new Set(serials), 6)

      workerPids = [...server.output().matchAll(/worker (\d+) listening/g)].map((m) => Number(m[1]))
    } finally {
      const code = await server.stop(20_000)
      assert.equal(code, 0, server.output())
    }
    // No orphan: the primary waited for its workers.
    assert.lengthOf(workerPids, 2, server.output())
    for (const pid of workerPids) assert.isFalse(processAlive(pid), `worker ${pid} still runs`)
  }).timeout(180_000)

  test('when every process dies at once, the primary starts them again', async ({ assert }) => {
    const server = await startServer({
      port: await freePort(),
      env: { WEB_CONCURRENCY: '2' },
      timeoutMs: 90_000,
    })
    try {
      const listening = () =>
        [...server.output().matchAll(/worker (\d+) listening/g)].map((m) => Number(m[1]))
      const deadline = Date.now() + 60_000
      while (listening().length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100))
      }
      const first = listening()
      assert.lengthOf(first, 2, server.output())
      // Both killed together (an OOM kill, a crash every node hits): the primary held only an
      // unref'd restart timer and exited 0, restarting nothing.
      for (const pid of first) process.kill(pid, 'SIGKILL')
      while (listening().length < 4 && Date.now() < deadline + 30_000) {
        if (server.hasExited()) break
        await new Promise((r) => setTimeout(r, 200))
      }
      assert.isFalse(server.hasExited(), server.output())
      assert.lengthOf(listening(), 4, server.output())
      let node: string | undefined
      for (let i = 0; i < 150 && !node; i++) {
        node = await answeringNode(server)
        if (!node) await new Promise((r) => setTimeout(r, 200))
      }
      assert.isDefined(node, server.output())
    } finally {
      await server.stop(20_000)
    }
  }).timeout(180_000)

  test('a bad WEB_CONCURRENCY refuses to start and says why', async ({ assert }) => {
    const server = spawnServer({ port: await freePort(), env: { WEB_CONCURRENCY: 'lots' } })
    const code = await server.exited
    assert.equal(code, 1)
    assert.include(
      server.output(),
      'WEB_CONCURRENCY must be a whole number from 1 to 64, or "auto"'
    )
  })
})
