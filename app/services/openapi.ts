/*
 * OpenAPI 3.1 description of the REST API (served at /api/v1/openapi.json).
 */
import { KEY_TYPES } from '../../hsm/types.js'
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } })
const ok = (description: string, schema: unknown = { type: 'object' }) => ({
  description,
  ...json(schema),
})
const errors = {
  '400': ok('Malformed input (PEM/DER, CSR)', ref('Error')),
  '401': ok('Missing or invalid API token', ref('Error')),
  '403': ok('Denied by template policy or access rules', ref('Error')),
  '404': ok('No such object (or no access)', ref('Error')),
  '409': ok('Conflict with the current state', ref('Error')),
  '422': ok('Invalid values', ref('Error')),
}
const idParam = (name = 'id') => ({ name, in: 'path', required: true, schema: { type: 'string' } })

function op(
  summary: string,
  opts: {
    params?: string[]
    body?: unknown
    response?: [string, string, unknown?]
    query?: Array<[string, string]>
  } = {}
) {
  const [status, description, schema] = opts.response ?? ['200', 'OK']
  return {
    summary,
    parameters: [
      ...(opts.params ?? []).map((p) => idParam(p)),
      ...(opts.query ?? []).map(([name, help]) => ({
        name,
        in: 'query',
        required: false,
        description: help,
        schema: { type: 'string' },
      })),
    ],
    ...(opts.body ? { requestBody: { required: true, ...json(opts.body) } } : {}),
    responses: { [status]: ok(description, schema), ...errors },
  }
}

export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Open PKI REST API',
      version,
      description:
        'Certificate authorities, templates, requests, certificates and revocation. Authenticate with `Authorization: Bearer <API token>` (create one with `node ace token:create --user EMAIL`).',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
              required: ['code', 'message'],
            },
          },
        },
        Subject: {
          type: 'object',
          properties: {
            commonName: { type: 'string' },
            organization: { type: 'string' },
            organizationalUnit: { type: 'string' },
            country: { type: 'string' },
            state: { type: 'string' },
            locality: { type: 'string' },
            email: { type: 'string' },
          },
        },
        San: {
          type: 'object',
          properties: { type: { enum: ['dns', 'ip', 'email', 'uri'] }, value: { type: 'string' } },
          required: ['type', 'value'],
        },
        CreateCa: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string' },
            subject: ref('Subject'),
            keyType: { enum: [...KEY_TYPES] },
            signatureHash: { enum: ['sha256', 'sha384', 'sha512'] },
            validityDays: { type: 'integer' },
            pathLength: { type: ['integer', 'null'] },
            keyUsage: { type: 'array', items: { type: 'string' } },
            extKeyUsage: { type: 'array', items: { type: 'string' } },
            csrOnly: { type: 'boolean' },
            importKeyPem: { type: 'string' },
            importKeyPassword: { type: 'string' },
            cpsUrl: { type: 'string' },
            policyOid: { type: 'string' },
            serviceSettings: {
              type: 'object',
              properties: {
                keyType: { type: ['string', 'null'] },
                hash: { type: ['string', 'null'] },
              },
            },
          },
        },
        Overrides: {
          type: 'object',
          properties: {
            subject: ref('Subject'),
            sans: { type: 'array', items: ref('San') },
            validityDays: { type: 'integer' },
            notBefore: { type: 'string', format: 'date-time' },
            notAfter: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    paths: {
      '/bootstrap': {
        post: {
          ...op(
            'Redeem the one-time bootstrap token: creates the first administrator and returns an API token',
            {
              body: {
                type: 'object',
                properties: { token: { type: 'string' }, email: { type: 'string' } },
              },
              response: ['201', 'Administrator created'],
            }
          ),
          security: [],
        },
      },
      '/me': { get: op('The authenticated user') },
      '/cas': {
        get: op('List CAs'),
        post: op('Create a root CA, a CSR-only intermediate, or a CA from an imported key', {
          body: ref('CreateCa'),
          response: ['201', 'Created'],
        }),
      },
      '/cas/{id}': {
        get: op('A CA (id or name)', { params: ['id'] }),
        patch: op('Edit CPS URL, policy OID, service-certificate settings, name', {
          params: ['id'],
          body: { type: 'object' },
        }),
        delete: op('Delete the CA with its templates and certificates', {
          params: ['id'],
          response: ['204', 'Deleted'],
        }),
      },
      '/cas/{id}/certificate': {
        get: op('Download the CA certificate', {
          params: ['id'],
          query: [['format', 'pem | der | p7b']],
        }),
        post: op('Import the signed certificate of a CSR-only CA', {
          params: ['id'],
          body: {
            type: 'object',
            required: ['certificatePem'],
            properties: { certificatePem: { type: 'string' }, chainPem: { type: 'string' } },
          },
        }),
      },
      '/cas/{id}/chain': {
        get: op('Download the CA chain', { params: ['id'], query: [['format', 'pem | p7b']] }),
      },
      '/cas/{id}/csr': { get: op('Download the CSR of a CSR-only CA', { params: ['id'] }) },
      '/cas/{id}/service-urls': { get: op('Service URLs of a CA', { params: ['id'] }) },
      '/starter-templates': { get: op('Starter templates with their default options') },
      '/cas/{id}/templates': {
        get: op('Templates of a CA', { params: ['id'] }),
        post: op('Create a template from a starter', {
          params: ['id'],
          body: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string' },
              starter: { type: 'string' },
              options: { type: 'object' },
            },
          },
          response: ['201', 'Created'],
        }),
      },
      '/templates/{id}': {
        get: op('A template', { params: ['id'] }),
        patch: op('Edit a template (options merged, then validated)', {
          params: ['id'],
          body: { type: 'object' },
        }),
        delete: op('Delete a template without active certificates', {
          params: ['id'],
          response: ['204', 'Deleted'],
        }),
      },
      '/templates/{id}/service-urls': { get: op('Service URLs of a template', { params: ['id'] }) },
      '/templates/{id}/requests': {
        post: op('Submit a CSR as a pending request', {
          params: ['id'],
          body: { type: 'object', required: ['csr'], properties: { csr: { type: 'string' } } },
          response: ['201', 'Queued'],
        }),
      },
      '/templates/{id}/issue': {
        post: op('Issue directly (administrators and API tokens)', {
          params: ['id'],
          query: [['format', 'pem to receive only the PEM']],
          body: {
            allOf: [
              ref('Overrides'),
              { type: 'object', required: ['csr'], properties: { csr: { type: 'string' } } },
            ],
          },
          response: ['201', 'Issued'],
        }),
      },
      '/cas/{id}/requests': {
        get: op('Requests of a CA, newest first, a page at a time', {
          params: ['id'],
          query: [
            ['status', 'pending | issued | declined | all'],
            ['limit', 'requests per page (1-500, default 100)'],
            ['before', 'the `next.before` of the previous page (keyset paging)'],
          ],
        }),
      },
      '/requests/{id}': { get: op('A request', { params: ['id'] }) },
      '/requests/{id}/approve': {
        post: op('Sign a pending request, optionally overriding subject, SANs and validity', {
          params: ['id'],
          body: ref('Overrides'),
          response: ['201', 'Issued'],
        }),
      },
      '/requests/{id}/decline': {
        post: op('Decline a pending request', {
          params: ['id'],
          body: { type: 'object', properties: { reason: { type: 'string' } } },
        }),
      },
      '/requests/bulk': {
        post: op('Approve or decline many requests', {
          body: {
            type: 'object',
            required: ['action', 'ids'],
            properties: {
              action: { enum: ['approve', 'decline'] },
              ids: { type: 'array', items: { type: 'integer' } },
              reason: { type: 'string' },
            },
          },
        }),
      },
      '/cas/{id}/certificates': {
        get: op('Issued certificates of a CA', {
          params: ['id'],
          query: [
            ['status', 'valid | expired | revoked | hold'],
            ['q', 'search subject, SANs, serial'],
            ['page', ''],
            ['perPage', ''],
          ],
        }),
      },
      '/cas/{id}/certificates/{serial}': {
        get: op('A certificate by serial (hex)', {
          params: ['id', 'serial'],
          query: [['format', 'pem | der | p7b']],
        }),
      },
      '/certificates/{id}': {
        get: op('A certificate', { params: ['id'], query: [['format', 'pem | der | p7b']] }),
      },
      '/certificates/{id}/revoke': {
        post: op('Revoke (RFC 5280 reasons; certificateHold is reversible)', {
          params: ['id'],
          body: { type: 'object', properties: { reason: { type: 'string' } } },
        }),
      },
      '/certificates/{id}/unrevoke': {
        post: op('Release a certificate from hold', { params: ['id'] }),
      },
      '/audit': {
        get: op('Audit log, newest first', {
          query: [
            ['action', ''],
            ['limit', ''],
            ['before', 'id'],
          ],
        }),
      },
    },
  }
}
