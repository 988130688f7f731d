/*
 * The benches' REST client: a JSON call to a bench server's API (bearer token optional) that
 * throws with the status and the start of the body on anything but 2xx.
 */
import type { BenchServer } from './server.js'

export async function api(
  server: Pick<BenchServer, 'url'>,
  method: string,
  url: string,
  token?: string,
  body?: unknown
) {
  const res = await fetch(server.url + url, {
    method,
    headers: {
      'content-type': 'application/json',
      'accept': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status}: ${text.slice(0, 500)}`)
  return JSON.parse(text)
}
