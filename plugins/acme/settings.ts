/*
 * The ACME plugin's settings (ajv JSON schemas, see docs/plugin-authoring.md).
 *  - install: directory meta, where validators connect (ports, DNS resolver), lifetimes, limits;
 *  - template: whether the template accepts wildcard identifiers through ACME.
 */
import type { SettingsSpec } from '#plugin-api'
import { parseResolvers } from './validation.js'

export const installSettings: SettingsSpec = {
  version: 1,
  check(values) {
    const parsed = parseResolvers(String(values.dnsResolver ?? ''))
    return 'problem' in parsed ? { dnsResolver: parsed.problem } : undefined
  },
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      termsOfService: {
        'type': 'string',
        'title': 'Terms of service URL',
        'description':
          'Shown in the directory (meta.termsOfService). When set, new accounts must agree to it.',
        'maxLength': 500,
        'pattern': '^(https?://.*)?$',
        'default': '',
        'x-message': 'Enter an http(s) URL, or leave it empty.',
      },
      website: {
        'type': 'string',
        'title': 'Website URL',
        'description': 'Shown in the directory (meta.website).',
        'maxLength': 500,
        'pattern': '^(https?://.*)?$',
        'default': '',
        'x-message': 'Enter an http(s) URL, or leave it empty.',
      },
      http01Port: {
        'type': 'integer',
        'title': 'http-01 port',
        'description': 'The port http-01 validation connects to (RFC 8555 says 80).',
        'minimum': 1,
        'maximum': 65535,
        'default': 80,
        'x-message': 'A port number from 1 to 65535.',
      },
      tlsAlpn01Port: {
        'type': 'integer',
        'title': 'tls-alpn-01 port',
        'description': 'The port tls-alpn-01 validation connects to (RFC 8737 says 443).',
        'minimum': 1,
        'maximum': 65535,
        'default': 443,
        'x-message': 'A port number from 1 to 65535.',
      },
      dnsResolver: {
        'type': 'string',
        'title': 'DNS resolvers',
        'description':
          'Comma-separated resolver addresses (IP, IP:port or [IPv6]:port) for dns-01 TXT lookups and for the addresses http-01 and tls-alpn-01 connect to. Empty: the system resolver.',
        'maxLength': 300,
        'pattern': '^[0-9A-Fa-f.:\\[\\], ]*$',
        'default': '',
        'x-message':
          'Comma-separated IP addresses, each with an optional port (e.g. 192.0.2.53:53).',
      },
      validationTimeoutSeconds: {
        'type': 'integer',
        'title': 'Validation timeout (seconds)',
        'minimum': 1,
        'maximum': 120,
        'default': 10,
        'x-message': 'From 1 to 120 seconds.',
      },
      orderLifetimeHours: {
        'type': 'integer',
        'title': 'Order and authorization lifetime (hours)',
        'minimum': 1,
        'maximum': 720,
        'default': 24,
        'x-message': 'From 1 to 720 hours.',
      },
      ordersPerAccountPerHour: {
        'type': 'integer',
        'title': 'New orders per account per hour',
        'description': 'Beyond it newOrder answers rateLimited with Retry-After. 0: no limit.',
        'minimum': 0,
        'maximum': 1000000,
        'default': 300,
        'x-message': 'A whole number, 0 for no limit.',
      },
      requestsPerIpPerMinute: {
        'type': 'integer',
        'title': 'ACME requests per IP address per minute',
        'description':
          'POST requests of one client address; beyond it the server answers rateLimited with Retry-After. 0: no limit.',
        'minimum': 0,
        'maximum': 1000000,
        'default': 1200,
        'x-message': 'A whole number, 0 for no limit.',
      },
    },
  },
}

export const templateSettings: SettingsSpec = {
  version: 1,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allowWildcards: {
        type: 'boolean',
        title: 'Allow wildcard identifiers (*.example.com) in ACME orders',
        description:
          'Wildcards can only be validated with dns-01 (or be pre-approved by a policy).',
        default: false,
      },
    },
  },
}

export interface InstallSettings {
  termsOfService: string
  website: string
  http01Port: number
  tlsAlpn01Port: number
  dnsResolver: string
  validationTimeoutSeconds: number
  orderLifetimeHours: number
  ordersPerAccountPerHour: number
  requestsPerIpPerMinute: number
}
