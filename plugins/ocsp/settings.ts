/*
 * The OCSP responder's per-CA settings (the CA page's "OCSP" tab is generated from the schema).
 */
import type { SettingsSpec } from '#plugin-api'

export interface OcspCaSettings {
  responderMode: 'delegated' | 'ca-key'
  responseValidityHours: number
  maxAgeSeconds: number
  honourNonces: boolean
  responderValidityDays: number
}

export const DEFAULTS: OcspCaSettings = {
  responderMode: 'delegated',
  responseValidityHours: 24,
  maxAgeSeconds: 300,
  honourNonces: false,
  responderValidityDays: 7,
}

export const caSettings: SettingsSpec = {
  version: 1,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      responderMode: {
        'type': 'string',
        'enum': ['delegated', 'ca-key'],
        'title': 'Responses signed by',
        'description':
          'delegated: an OCSP Responder certificate issued by this CA (EKU OCSPSigning, id-pkix-ocsp-nocheck), renewed automatically. ca-key: the CA key itself (classical and ML-DSA CAs; SLH-DSA CAs always use a delegated responder, a signature takes seconds).',
        'default': DEFAULTS.responderMode,
        'x-message': 'Choose "delegated" or "ca-key".',
      },
      responseValidityHours: {
        'type': 'integer',
        'title': 'Response validity (hours)',
        'description':
          'Hours between a response’s thisUpdate and nextUpdate. Responses are signed again at half that time, and at once on revocation.',
        'minimum': 1,
        'maximum': 168,
        'default': DEFAULTS.responseValidityHours,
        'x-message': 'The response validity is a whole number of hours from 1 to 168.',
      },
      maxAgeSeconds: {
        'type': 'integer',
        'title': 'HTTP cache max-age (seconds)',
        'description':
          'Cache-Control max-age of GET answers: how long an HTTP cache in front may keep serving a response after a revocation.',
        'minimum': 0,
        'maximum': 86400,
        'default': DEFAULTS.maxAgeSeconds,
        'x-message': 'max-age is a whole number of seconds from 0 to 86400.',
      },
      honourNonces: {
        type: 'boolean',
        title: 'Honour nonces',
        description:
          'A POST that carries a nonce gets a fresh signature echoing it (classical CAs only; post-quantum CAs always answer with pre-signed responses).',
        default: DEFAULTS.honourNonces,
      },
      responderValidityDays: {
        'type': 'integer',
        'title': 'Responder certificate validity (days)',
        'description':
          'Validity of each delegated OCSP Responder certificate; a new one is issued when a third of it is left, or at once when it is revoked.',
        'minimum': 2,
        'maximum': 90,
        'default': DEFAULTS.responderValidityDays,
        'x-message': 'The responder validity is a whole number of days from 2 to 90.',
      },
    },
  },
  // A schema cannot know the CA's algorithm: refuse the CA key as signer for SLH-DSA CAs here.
  check(values, { ca }) {
    if (values.responderMode === 'ca-key' && ca?.keyType.startsWith('slh-dsa')) {
      return {
        responderMode: `CA "${ca.name}" has an SLH-DSA key, whose signatures take seconds: its responses are signed by a delegated responder. Choose "delegated".`,
      }
    }
    return undefined
  },
}

function intIn(value: unknown, min: number, max: number, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback
}

/** Settings as stored, with defaults for anything unset or malformed. */
export function readCaSettings(stored: Record<string, unknown>): OcspCaSettings {
  return {
    responderMode: stored.responderMode === 'ca-key' ? 'ca-key' : 'delegated',
    responseValidityHours: intIn(
      stored.responseValidityHours,
      1,
      168,
      DEFAULTS.responseValidityHours
    ),
    maxAgeSeconds: intIn(stored.maxAgeSeconds, 0, 86400, DEFAULTS.maxAgeSeconds),
    honourNonces: stored.honourNonces === true,
    responderValidityDays: intIn(
      stored.responderValidityDays,
      2,
      90,
      DEFAULTS.responderValidityDays
    ),
  }
}
