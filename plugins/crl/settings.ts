/*
 * The CRL plugin's settings. CA scope: how long each full CRL is valid (its nextUpdate).
 */
import type { SettingsSpec } from '#plugin-api'

export const DEFAULT_VALIDITY_DAYS = 30

export const caSettings: SettingsSpec = {
  version: 1,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      validityDays: {
        'type': 'integer',
        'title': 'CRL validity (days)',
        'description':
          'Days between a CRL’s thisUpdate and nextUpdate. A new CRL is issued on each revocation and 2 days before nextUpdate.',
        'minimum': 3,
        'maximum': 365,
        'default': DEFAULT_VALIDITY_DAYS,
        'x-message': 'The CRL validity is a whole number of days from 3 to 365.',
      },
    },
  },
}

/** The validity in days from stored CA settings (the default when unset or malformed). */
export function validityDaysOf(settings: Record<string, unknown>): number {
  const value = Number(settings.validityDays)
  return Number.isInteger(value) && value >= 3 && value <= 365 ? value : DEFAULT_VALIDITY_DAYS
}
