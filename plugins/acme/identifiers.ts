/*
 * ACME identifiers (RFC 8555 §7.1.4 dns, RFC 8738 ip): normalisation, the challenge types each
 * may use, and pre-approved domain lists ("*.example.com" covers example.com and every name
 * below it).
 */
import { domainToASCII } from 'node:url'
import { ipToBytes, isValidDnsName, isValidIp, normalizeIp } from '#pki/index'
import { AcmeProblem, type Subproblem } from './problems.js'

export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01'
export const CHALLENGE_TYPES: readonly ChallengeType[] = ['http-01', 'dns-01', 'tls-alpn-01']

export interface Identifier {
  type: 'dns' | 'ip'
  value: string
}

/** Validates and normalises an order's identifiers (lower-case names, canonical IPs, no duplicates). */
export function normalizeIdentifiers(input: unknown): Identifier[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw new AcmeProblem('malformed', 'An order needs a non-empty "identifiers" array.')
  }
  if (input.length > 100) {
    throw new AcmeProblem('rejectedIdentifier', 'An order may hold at most 100 identifiers.')
  }
  const out: Identifier[] = []
  const problems: Subproblem[] = []
  for (const raw of input) {
    const type = raw?.type
    const value = typeof raw?.value === 'string' ? raw.value.trim() : ''
    if (type !== 'dns' && type !== 'ip') {
      problems.push({
        type: 'unsupportedIdentifier',
        detail: `Identifier type ${JSON.stringify(type ?? null)} is not supported (dns and ip are).`,
        identifier: { type: String(type), value },
      })
      continue
    }
    let normal: string | null = null
    if (type === 'dns') {
      const lower = value.toLowerCase().replace(/\.$/, '')
      normal = isValidDnsName(lower) && !isValidIp(lower) ? lower : null
    } else {
      normal = isValidIp(value) ? normalizeIp(value) : null
    }
    const mapped = type === 'ip' && normal ? mappedIpv4(normal) : null
    if (mapped) {
      // Validated over IPv6 and issued as a 16-byte SAN, it would not be the IPv4 address the
      // client means (RFC 4291 §2.5.5.2): the IPv4 form is the identifier of that address.
      problems.push({
        type: 'rejectedIdentifier',
        detail: `"${value}" is an IPv4-mapped IPv6 address: use the IPv4 form ${mapped}.`,
        identifier: { type, value },
      })
      continue
    }
    if (!normal) {
      problems.push({
        type: 'rejectedIdentifier',
        detail: `"${value}" is not a valid ${type === 'dns' ? 'DNS name' : 'IP address'}.`,
        identifier: { type, value },
      })
      continue
    }
    if (!out.some((i) => i.type === type && i.value === normal)) out.push({ type, value: normal })
  }
  if (problems.length) throw identifierProblem(problems)
  return out
}

/** The IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else null. */
function mappedIpv4(ip: string): string | null {
  const bytes = ipToBytes(ip)
  if (!bytes || bytes.length !== 16) return null
  if (!bytes.subarray(0, 10).every((b) => b === 0) || bytes[10] !== 0xff || bytes[11] !== 0xff)
    return null
  return [...bytes.subarray(12)].join('.')
}

export function identifierProblem(problems: Subproblem[]): AcmeProblem {
  const type = problems.every((p) => p.type === problems[0].type)
    ? (problems[0].type as 'rejectedIdentifier' | 'unsupportedIdentifier')
    : 'rejectedIdentifier'
  const detail =
    problems.length === 1 ? problems[0].detail : `${problems.length} identifiers were refused.`
  return new AcmeProblem(type, detail, { subproblems: problems })
}

export function isWildcard(id: Identifier) {
  return id.type === 'dns' && id.value.startsWith('*.')
}

/** Challenge types offered for an identifier: wildcards dns-01 only, IPs no dns-01 (RFC 8738). */
export function challengeTypesFor(id: Identifier): ChallengeType[] {
  if (id.type === 'ip') return ['http-01', 'tls-alpn-01']
  if (isWildcard(id)) return ['dns-01']
  return ['http-01', 'dns-01', 'tls-alpn-01']
}

/** Why a challenge type is not offered, for the problem document. */
export function notOfferedReason(id: Identifier, type: string): string {
  if (!(CHALLENGE_TYPES as readonly string[]).includes(type))
    return `Challenge type "${type}" is not supported (http-01, dns-01 and tls-alpn-01 are).`
  if (id.type === 'ip')
    return `${type} is not offered for IP address identifiers (RFC 8738): use http-01 or tls-alpn-01.`
  return `${type} is not offered for the wildcard ${id.value}: use dns-01.`
}

/** Parses a comma-separated pre-approved list (lower-case, trimmed, empty entries dropped). */
export function parsePreApproved(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => asciiName(s.trim().toLowerCase().replace(/\.$/, '')))
    .filter(Boolean)
}

/**
 * An internationalized name in the A-label form ACME clients send (`*.bücher.de` →
 * `*.xn--bcher-kva.de`); anything else as it is (an invalid name stays invalid).
 */
function asciiName(entry: string): string {
  if (/^[\u0020-\u007e]*$/.test(entry)) return entry
  const wildcard = entry.startsWith('*.')
  const ascii = domainToASCII(wildcard ? entry.slice(2) : entry)
  if (!ascii) return entry
  return wildcard ? `*.${ascii}` : ascii
}

/** Checks a pre-approved list; returns the entries that are neither names, wildcards nor IPs. */
export function invalidPreApproved(entries: string[]): string[] {
  return entries.filter((e) => !(isValidIp(e) || isValidDnsName(e)))
}

/**
 * Whether an identifier is pre-approved: an exact entry, or under a "*.base" entry (which also
 * covers "base" itself). A wildcard identifier "*.x.example.com" is checked as x.example.com's
 * whole subtree, which "*.example.com" (or "*.x.example.com") covers.
 */
export function isPreApproved(id: Identifier, entries: string[]): boolean {
  if (id.type === 'ip') {
    const ip = normalizeIp(id.value)
    return entries.some((e) => isValidIp(e) && normalizeIp(e) === ip)
  }
  const wildcard = isWildcard(id)
  const name = wildcard ? id.value.slice(2) : id.value
  return entries.some((entry) => {
    if (entry.startsWith('*.')) {
      const base = entry.slice(2)
      return name === base || name.endsWith(`.${base}`)
    }
    return !wildcard && entry === name
  })
}
