/*
 * The CRL plugin's settings (CA scope): how long full and delta CRLs are valid, whether delta
 * CRLs are published, how often a change may reissue the full CRL, and the shard count.
 */
import type { SettingsSpec } from '#plugin-api'

export const DEFAULT_VALIDITY_DAYS = 30
export const DEFAULT_DELTA_HOURS = 24
export const MAX_SHARDS = 64

export const caSettings: SettingsSpec = {
  version: 2,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      validityDays: {
        'type': 'integer',
        'title': 'CRL validity (days)',
        'description':
          'Days between a full CRL’s thisUpdate and nextUpdate. A new CRL is issued after each revocation and 2 days before nextUpdate.',
        'minimum': 3,
        'maximum': 365,
        'default': DEFAULT_VALIDITY_DAYS,
        'x-message': 'The CRL validity is a whole number of days from 3 to 365.',
      },
      deltas: {
        'type': 'boolean',
        'title': 'Publish delta CRLs',
        'description':
          'A delta CRL lists the changes since its base full CRL; full CRLs and new certificates point to it (Freshest CRL).',
        'default': true,
        'x-message': 'Delta CRLs are either on or off.',
      },
      deltaValidityHours: {
        'type': 'integer',
        'title': 'Delta CRL validity (hours)',
        'description':
          'Hours between a delta CRL’s thisUpdate and nextUpdate. A delta is reissued within seconds of a change, and when a quarter of this is left.',
        'minimum': 1,
        'maximum': 168,
        'default': DEFAULT_DELTA_HOURS,
        'x-message': 'The delta CRL validity is a whole number of hours from 1 to 168.',
      },
      fullMinIntervalSeconds: {
        'type': 'integer',
        'title': 'Minimum seconds between full CRLs after a change',
        'description':
          '0: every change reissues the full CRL within seconds (the delta carries changes meanwhile when it is on). A full CRL that must read every revoked certificate again, when that read last took over a second, also waits ten times that read.',
        'minimum': 0,
        'maximum': 604800,
        'default': 0,
        'x-message': 'The interval is a whole number of seconds from 0 to 604800 (a week).',
      },
      shards: {
        'type': 'integer',
        'title': 'CRL shards',
        'description':
          'Above 0: new certificates name one of this many shard CRLs in their CDP (chosen by serial), each listing only its own certificates. Shard sets once used keep being published; the full CRL stays.',
        'minimum': 0,
        'maximum': MAX_SHARDS,
        'default': 0,
        'x-message': `The shard count is a whole number from 0 (one CRL) to ${MAX_SHARDS}.`,
      },
    },
  },
  upgrade: (old) => old,
}

export interface CrlCaSettings {
  validityDays: number
  deltas: boolean
  deltaValidityHours: number
  fullMinIntervalSeconds: number
  shards: number
}

function intIn(value: unknown, min: number, max: number, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback
}

/** Stored CA settings with defaults for what is unset or malformed. */
export function crlSettingsOf(settings: Record<string, unknown>): CrlCaSettings {
  return {
    validityDays: intIn(settings.validityDays, 3, 365, DEFAULT_VALIDITY_DAYS),
    deltas: settings.deltas === undefined ? true : settings.deltas === true,
    deltaValidityHours: intIn(settings.deltaValidityHours, 1, 168, DEFAULT_DELTA_HOURS),
    fullMinIntervalSeconds: intIn(settings.fullMinIntervalSeconds, 0, 604800, 0),
    shards: intIn(settings.shards, 0, MAX_SHARDS, 0),
  }
}

export const DEFAULT_SETTINGS: CrlCaSettings = crlSettingsOf({})
