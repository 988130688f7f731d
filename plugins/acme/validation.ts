/*
 * Challenge validation against the real network (RFC 8555 §8.3 http-01, §8.4 dns-01, RFC 8737
 * tls-alpn-01, RFC 8738 for IP identifiers). Names are resolved through the configured DNS
 * resolvers (install setting), so tests point them at a local DNS server.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { Resolver } from 'node:dns/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { ipToBytes, normalizeIp, parseCertificate } from '#pki/index'
import type { Identifier, ChallengeType } from './identifiers.js'
import { AcmeProblem } from './problems.js'
import type { InstallSettings } from './settings.js'

const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31'

export interface ValidationInput {
  type: ChallengeType
  identifier: Identifier
  token: string
  keyAuthorization: string
  settings: InstallSettings
}

/**
 * Aborted when a validation times out: its lookups are cancelled, its HTTP requests and TLS
 * connections destroyed (so no socket outlives the validation), and no further redirect is
 * followed.
 */
type Signal = AbortSignal

/** The timeout problem once the validation was aborted (before a redirect hop, a lookup). */
function throwIfAborted(signal: Signal) {
  if (signal.aborted) {
    throw signal.reason instanceof AcmeProblem
      ? signal.reason
      : new AcmeProblem('connection', 'The validation was aborted.')
  }
}

/**
 * The DNS resolver setting as node's Resolver takes it: comma-separated IP addresses, each with
 * an optional port (`192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53`, `[2001:db8::53]:5353`).
 * Names are not accepted (the resolver is what resolves them), nor port 0, which aborts the
 * process inside node's DNS library. Returns the servers, or the first problem as text.
 */
export function parseResolvers(value: string): { servers: string[] } | { problem: string } {
  const servers: string[] = []
  for (const raw of value.split(',')) {
    const entry = raw.trim()
    if (!entry) continue
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
    const v4 = /^([\d.]+)(?::(\d+))?$/.exec(entry)
    const [host, port] = bracketed
      ? [bracketed[1], bracketed[2]]
      : v4
        ? [v4[1], v4[2]]
        : [entry, undefined]
    const family = isIP(host)
    if (family === 0 || (v4 && family !== 4) || (bracketed && family !== 6)) {
      return {
        problem: `"${entry}" is not an IP address (give resolvers by address, e.g. 192.0.2.53 or [2001:db8::53]:53).`,
      }
    }
    if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) {
      return { problem: `"${entry}": the port must be from 1 to 65535.` }
    }
    servers.push(port === undefined ? host : family === 6 ? `[${host}]:${port}` : `${host}:${port}`)
  }
  return { servers }
}

function resolver(settings: InstallSettings, signal: Signal): Resolver {
  throwIfAborted(signal)
  const r = new Resolver({
    timeout: Math.min(5000, settings.validationTimeoutSeconds * 1000),
    tries: 2,
  })
  const parsed = parseResolvers(settings.dnsResolver)
  // Settings are checked when saved; a value stored before that check fails the validation.
  if ('problem' in parsed) {
    throw new AcmeProblem('dns', `The server's DNS resolver setting is invalid: ${parsed.problem}`)
  }
  if (parsed.servers.length) r.setServers(parsed.servers)
  signal.addEventListener('abort', () => r.cancel(), { once: true })
  return r
}

/** The addresses a name resolves to (A then AAAA); an IP identifier is its own address. */
async function addressesOf(
  identifier: Identifier,
  settings: InstallSettings,
  signal: Signal
): Promise<string[]> {
  throwIfAborted(signal)
  if (identifier.type === 'ip') {
    if (unreachableAddress(identifier.value)) {
      throw new AcmeProblem(
        'connection',
        `${identifier.value} is an address this server does not validate against (unspecified, link-local, multicast or broadcast).`
      )
    }
    return [identifier.value]
  }
  const r = resolver(settings, signal)
  const found: string[] = []
  for (const lookup of [() => r.resolve4(identifier.value), () => r.resolve6(identifier.value)]) {
    try {
      found.push(...(await lookup()))
    } catch {
      // NXDOMAIN / NODATA for this family
    }
    if (found.length) break
  }
  throwIfAborted(signal)
  if (!found.length) {
    throw new AcmeProblem('dns', `No A or AAAA record found for ${identifier.value}.`)
  }
  // A name (or a redirect to one) that points at an address no web server of the name can be at
  // (the cloud metadata service at 169.254.169.254, 0.0.0.0 meaning this host...) is not tried.
  const usable = found.filter((address) => !unreachableAddress(address))
  if (!usable.length) {
    throw new AcmeProblem(
      'connection',
      `${identifier.value} resolves to ${found.join(', ')}: ${found.length > 1 ? 'addresses' : 'an address'} this server does not validate against (unspecified, link-local, multicast or broadcast).`
    )
  }
  return usable
}

/**
 * Addresses validation never connects to: unspecified (0.0.0.0/8, ::), link-local
 * (169.254.0.0/16 — where cloud metadata services answer — and fe80::/10), multicast and
 * broadcast, also in their IPv4-mapped IPv6 form. Loopback and private ranges stay allowed: a
 * private CA validates names on its own networks.
 */
export function unreachableAddress(address: string): boolean {
  let bytes = ipToBytes(address)
  if (!bytes) return false
  if (bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0)) {
    if (bytes[10] === 0xff && bytes[11] === 0xff) bytes = bytes.subarray(12)
  }
  if (bytes.length === 4) {
    const [a, b] = bytes
    return a === 0 || (a === 169 && b === 254) || a >= 224
  }
  return (
    bytes.every((x) => x === 0) ||
    (bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80) ||
    bytes[0] === 0xff
  )
}

/**
 * Runs `run` with a signal that is aborted after `ms`: the promise then rejects with the timeout
 * problem at once, and the abort tears down whatever the validation still has open.
 */
function withTimeout<T>(run: (signal: Signal) => Promise<T>, ms: number, what: string): Promise<T> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout
  const timedOut = new Promise<T>((_, reject) => {
    timer = setTimeout(() => {
      const problem = new AcmeProblem('connection', `${what} timed out after ${ms / 1000} s.`)
      controller.abort(problem)
      reject(problem)
    }, ms)
  })
  const running = run(controller.signal)
  // Once timed out, the aborted work's own rejection is of no interest.
  running.catch(() => {})
  return Promise.race([running, timedOut]).finally(() => clearTimeout(timer))
}

function hostForUrl(address: string) {
  return isIP(address) === 6 ? `[${address}]` : address
}

interface HttpTarget {
  /** https only after a redirect to https (RFC 8555 §8.3: the first request is plain HTTP) */
  secure: boolean
  address: string
  port: number
  /** the Host header (and, over https, the SNI name when it is a DNS name) */
  host: string
  /** the name as in the URL, for messages */
  url: string
}

/**
 * One HTTP GET; resolves with status, location and at most 8 KiB of body. Over https the
 * certificate is not checked (RFC 8555 §8.3: the key authorization is what proves control).
 */
function httpGet(target: HttpTarget, path: string, signal: Signal, timeoutMs: number) {
  throwIfAborted(signal)
  const { address, port, host } = target
  const request = target.secure ? httpsRequest : httpRequest
  const servername = target.secure && isIP(target.url) === 0 ? target.url : undefined
  return new Promise<{ status: number; location?: string; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: address,
        port,
        path,
        method: 'GET',
        headers: { host, 'user-agent': 'open-pki-acme' },
        // A connection of its own (no pooled keep-alive socket left behind), destroyed when the
        // validation is aborted or the socket stays idle.
        agent: false,
        signal,
        timeout: timeoutMs,
        ...(target.secure ? { rejectUnauthorized: false, servername } : {}),
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size <= 8192) chunks.push(chunk)
          else res.destroy()
        })
        res.on('close', () => {
          // A body cut by the abort is no answer (the timeout problem instead).
          if (signal.aborted) return reject(signal.reason)
          resolve({
            status: res.statusCode ?? 0,
            location: res.headers.location,
            body: Buffer.concat(chunks).toString('utf8'),
          })
        })
      }
    )
    req.on('timeout', () =>
      req.destroy(new Error(`no answer for ${Math.round(timeoutMs / 1000)} s`))
    )
    req.on('error', (error) =>
      reject(
        signal.aborted && signal.reason instanceof AcmeProblem
          ? signal.reason
          : new AcmeProblem(
              'connection',
              `Could not fetch ${target.secure ? 'https' : 'http'}://${host}${path}: ${error.message}`
            )
      )
    )
    req.end()
  })
}

async function validateHttp01(input: ValidationInput, signal: Signal) {
  const { identifier, token, settings } = input
  const timeoutMs = settings.validationTimeoutSeconds * 1000
  const [address] = await addressesOf(identifier, settings, signal)
  const hostHeader = identifier.type === 'ip' ? hostForUrl(identifier.value) : identifier.value
  let path = `/.well-known/acme-challenge/${token}`
  let target: HttpTarget = {
    secure: false,
    address,
    port: settings.http01Port,
    host: hostHeader,
    url: identifier.value,
  }
  for (let hop = 0; hop <= 10; hop++) {
    const res = await httpGet(target, path, signal, timeoutMs)
    if (res.status >= 300 && res.status < 400 && res.location) {
      // Timed out meanwhile: no further hop.
      throwIfAborted(signal)
      const { next, port } = redirectTarget(res.location, target, path, settings)
      const name = next.hostname.replace(/^\[|\]$/g, '')
      const nextId: Identifier = isIP(name)
        ? { type: 'ip', value: name }
        : { type: 'dns', value: name }
      const [nextAddress] = await addressesOf(nextId, settings, signal)
      target = {
        secure: next.protocol === 'https:',
        address: nextAddress,
        port,
        host: next.host,
        url: name,
      }
      path = `${next.pathname}${next.search}`
      continue
    }
    if (res.status !== 200) {
      throw new AcmeProblem(
        'unauthorized',
        `http://${hostHeader}/.well-known/acme-challenge/${token} answered ${res.status}.`
      )
    }
    if (res.body.trim() !== input.keyAuthorization) {
      throw new AcmeProblem(
        'incorrectResponse',
        `The key authorization served for ${identifier.value} does not match the challenge.`
      )
    }
    return
  }
  throw new AcmeProblem('connection', 'Too many redirects.')
}

/**
 * Where an http-01 redirect leads, and on which port. As Let's Encrypt does: http and https
 * only, and only to the ports those are validated on (80 and 443, or this install's http-01 and
 * tls-alpn-01 ports, which stand for them), so that a redirect cannot make the server probe
 * other services. A Location that is not a URL is the client's error too.
 */
function redirectTarget(
  location: string,
  from: HttpTarget,
  path: string,
  settings: InstallSettings
): { next: URL; port: number } {
  let next: URL
  try {
    next = new URL(location, `${from.secure ? 'https' : 'http'}://${from.host}${path}`)
  } catch {
    throw new AcmeProblem('connection', `The redirect to "${location}" is not a URL.`)
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new AcmeProblem('connection', `A redirect to ${next.protocol} is not followed.`)
  }
  const secure = next.protocol === 'https:'
  const standard = secure ? 443 : 80
  const ours = secure ? settings.tlsAlpn01Port : settings.http01Port
  if (!next.port) return { next, port: ours }
  const port = Number(next.port)
  if (port !== standard && port !== ours) {
    throw new AcmeProblem(
      'connection',
      `A redirect to port ${port} is not followed (only ${secure ? 'https on 443' : 'http on 80'}).`
    )
  }
  return { next, port }
}

async function validateDns01(input: ValidationInput, signal: Signal) {
  const name = `_acme-challenge.${input.identifier.value.replace(/^\*\./, '')}`
  const expected = createHash('sha256').update(input.keyAuthorization).digest('base64url')
  let records: string[][]
  try {
    records = await resolver(input.settings, signal).resolveTxt(name)
  } catch (error) {
    throwIfAborted(signal)
    throw new AcmeProblem(
      'dns',
      `No TXT record at ${name} (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'}).`
    )
  }
  const values = records.map((chunks) => chunks.join(''))
  if (!values.includes(expected)) {
    throw new AcmeProblem(
      'incorrectResponse',
      `None of the ${values.length} TXT record(s) at ${name} is the expected digest.`
    )
  }
}

/** RFC 8738 §6: the reverse-mapping name an IP tls-alpn-01 validation sends as SNI. */
function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`
  const bytes = ipToBytes(ip)
  if (!bytes) throw new AcmeProblem('malformed', `${ip} is not an IP address.`)
  const hex = Buffer.from(bytes).toString('hex')
  return `${hex.split('').reverse().join('.')}.ip6.arpa`
}

async function validateTlsAlpn01(input: ValidationInput, signal: Signal) {
  const { identifier, settings } = input
  const [address] = await addressesOf(identifier, settings, signal)
  const servername = identifier.type === 'ip' ? reverseName(identifier.value) : identifier.value
  const der = await new Promise<{ der: Buffer; protocol: string | false | null }>(
    (resolve, reject) => {
      throwIfAborted(signal)
      const socket = tlsConnect({
        host: address,
        port: settings.tlsAlpn01Port,
        servername,
        ALPNProtocols: ['acme-tls/1'],
        rejectUnauthorized: false,
      })
      // Destroyed when the validation times out, or when the server stays silent.
      const abort = () => {
        socket.destroy()
        reject(signal.reason)
      }
      signal.addEventListener('abort', abort, { once: true })
      socket.once('close', () => signal.removeEventListener('abort', abort))
      socket.setTimeout(settings.validationTimeoutSeconds * 1000, () =>
        socket.destroy(new Error('no answer'))
      )
      socket.once('secureConnect', () => {
        const peer = socket.getPeerX509Certificate()
        const protocol = socket.alpnProtocol
        socket.destroy()
        if (!peer) reject(new AcmeProblem('tls', 'The server presented no certificate.'))
        else resolve({ der: peer.raw, protocol })
      })
      socket.once('error', (error) =>
        reject(new AcmeProblem('tls', `TLS connection to ${servername} failed: ${error.message}`))
      )
    }
  )
  if (der.protocol !== 'acme-tls/1') {
    throw new AcmeProblem('tls', 'The server did not negotiate the acme-tls/1 protocol.')
  }
  // A certificate that does not parse is the client's fault (RFC 8737 §3), not the server's.
  let cert: X509Certificate
  let parsed: ReturnType<typeof parseCertificate>
  try {
    cert = new X509Certificate(der.der)
    parsed = parseCertificate(der.der)
  } catch (error) {
    throw new AcmeProblem(
      'tls',
      `The validation certificate presented for ${identifier.value} could not be parsed: ${(error as Error).message}`
    )
  }
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean)
  // Addresses compared in one spelling: node prints an IPv6 SAN in full (2001:DB8:0:0:0:0:0:1).
  const canonical = (ip: string) => normalizeIp(ip) ?? ip.toLowerCase()
  const wanted =
    identifier.type === 'ip'
      ? `IP Address:${canonical(identifier.value)}`
      : `DNS:${identifier.value}`
  const normalizedSans = sans.map((s) =>
    s.replace(/^IP Address:(.*)$/i, (_, ip) => `IP Address:${canonical(ip)}`)
  )
  if (normalizedSans.length !== 1 || normalizedSans[0].toLowerCase() !== wanted.toLowerCase()) {
    throw new AcmeProblem(
      'incorrectResponse',
      `The validation certificate must name only ${identifier.value} (it names ${sans.join(', ') || 'nothing'}).`
    )
  }
  const ext = parsed.extensionList.find((e) => e.extnID === ACME_IDENTIFIER_OID)
  if (!ext || !ext.critical) {
    throw new AcmeProblem(
      'incorrectResponse',
      'The validation certificate lacks the critical acmeIdentifier extension.'
    )
  }
  const value = Buffer.from(ext.extnValue.buffer)
  const digest = createHash('sha256').update(input.keyAuthorization).digest()
  // extnValue is an OCTET STRING holding DER OCTET STRING (04 20 <32 bytes>).
  if (
    value.length !== 34 ||
    value[0] !== 0x04 ||
    value[1] !== 0x20 ||
    !value.subarray(2).equals(digest)
  ) {
    throw new AcmeProblem(
      'incorrectResponse',
      'The acmeIdentifier extension does not hold the key authorization digest.'
    )
  }
}

/** Validates one challenge; throws an AcmeProblem describing the failure. */
export async function validateChallenge(input: ValidationInput): Promise<void> {
  const ms = input.settings.validationTimeoutSeconds * 1000
  const run = (signal: Signal) =>
    input.type === 'http-01'
      ? validateHttp01(input, signal)
      : input.type === 'dns-01'
        ? validateDns01(input, signal)
        : validateTlsAlpn01(input, signal)
  await withTimeout(run, ms, `${input.type} validation of ${input.identifier.value}`)
}
