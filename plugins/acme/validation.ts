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
import { normalizeIp, parseCertificate } from '#pki/index'
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

function resolver(settings: InstallSettings): Resolver {
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
  return r
}

/** The addresses a name resolves to (A then AAAA); an IP identifier is its own address. */
async function addressesOf(identifier: Identifier, settings: InstallSettings): Promise<string[]> {
  if (identifier.type === 'ip') return [identifier.value]
  const r = resolver(settings)
  const found: string[] = []
  for (const lookup of [() => r.resolve4(identifier.value), () => r.resolve6(identifier.value)]) {
    try {
      found.push(...(await lookup()))
    } catch {
      // NXDOMAIN / NODATA for this family
    }
    if (found.length) break
  }
  if (!found.length) {
    throw new AcmeProblem('dns', `No A or AAAA record found for ${identifier.value}.`)
  }
  return found
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new AcmeProblem('connection', `${what} timed out after ${ms / 1000} s.`)),
        ms
      )
    }),
  ]).finally(() => clearTimeout(timer))
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
function httpGet(target: HttpTarget, path: string) {
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
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            location: res.headers.location,
            body: Buffer.concat(chunks).toString('utf8'),
          })
        )
      }
    )
    req.on('error', (error) =>
      reject(
        new AcmeProblem(
          'connection',
          `Could not fetch ${target.secure ? 'https' : 'http'}://${host}${path}: ${error.message}`
        )
      )
    )
    req.end()
  })
}

async function validateHttp01(input: ValidationInput) {
  const { identifier, token, settings } = input
  const [address] = await addressesOf(identifier, settings)
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
    const res = await httpGet(target, path)
    if (res.status >= 300 && res.status < 400 && res.location) {
      const { next, port } = redirectTarget(res.location, target, path, settings)
      const name = next.hostname.replace(/^\[|\]$/g, '')
      const nextId: Identifier = isIP(name)
        ? { type: 'ip', value: name }
        : { type: 'dns', value: name }
      const [nextAddress] = await addressesOf(nextId, settings)
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

async function validateDns01(input: ValidationInput) {
  const name = `_acme-challenge.${input.identifier.value.replace(/^\*\./, '')}`
  const expected = createHash('sha256').update(input.keyAuthorization).digest('base64url')
  let records: string[][]
  try {
    records = await resolver(input.settings).resolveTxt(name)
  } catch (error) {
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
  const hex = [...Buffer.from(new Uint8Array(ipv6Bytes(ip)))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')
  return `${hex.split('').reverse().join('.')}.ip6.arpa`
}

function ipv6Bytes(ip: string): number[] {
  const [head, tail = ''] = ip.split('::')
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16)
    return [n >> 8, n & 0xff]
  })
}

async function validateTlsAlpn01(input: ValidationInput) {
  const { identifier, settings } = input
  const [address] = await addressesOf(identifier, settings)
  const servername = identifier.type === 'ip' ? reverseName(identifier.value) : identifier.value
  const der = await new Promise<{ der: Buffer; protocol: string | false | null }>(
    (resolve, reject) => {
      const socket = tlsConnect({
        host: address,
        port: settings.tlsAlpn01Port,
        servername,
        ALPNProtocols: ['acme-tls/1'],
        rejectUnauthorized: false,
      })
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
  const cert = new X509Certificate(der.der)
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
  const parsed = parseCertificate(der.der)
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
  const run =
    input.type === 'http-01'
      ? validateHttp01(input)
      : input.type === 'dns-01'
        ? validateDns01(input)
        : validateTlsAlpn01(input)
  await withTimeout(run, ms, `${input.type} validation of ${input.identifier.value}`)
}
