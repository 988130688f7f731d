/*
 * Certificate template options (manual §5.3.1), their JSON schema (ajv, strict, with defaults)
 * and the starter templates a new template can be based on.
 */
import { Ajv } from 'ajv'
import { KernelError } from '#exceptions/kernel_error'
import { KEY_USAGE_NAMES } from '#pki/extensions'

/** Key usage names, as the PKI layer encodes them. */
export const KEY_USAGES = KEY_USAGE_NAMES
export type KeyUsageName = (typeof KEY_USAGES)[number]

export const EXT_KEY_USAGES = [
  'serverAuth',
  'clientAuth',
  'codeSigning',
  'emailProtection',
  'timeStamping',
  'OCSPSigning',
  'smartcardLogon',
  'ipsecIKE',
  'documentSigning',
] as const
export type ExtKeyUsageName = (typeof EXT_KEY_USAGES)[number]

export const KEY_FAMILIES = ['rsa', 'ec', 'ed25519', 'ml-dsa', 'slh-dsa'] as const
export type KeyFamily = (typeof KEY_FAMILIES)[number]
export const SAN_TYPES = ['dns', 'ip', 'email', 'uri'] as const

/** Predefined certificate policies (CA/Browser Forum), or any dotted OID. */
export const PREDEFINED_POLICIES: Record<string, string> = {
  'domain-validated': '2.23.140.1.2.1',
  'organization-validated': '2.23.140.1.2.2',
  'individual-validated': '2.23.140.1.2.3',
  'extended-validation': '2.23.140.1.1',
  'any-policy': '2.5.29.32.0',
}

export interface SubjectDefaults {
  commonName?: string
  organization?: string
  organizationalUnit?: string
  country?: string
  state?: string
  locality?: string
  email?: string
}

export interface TemplateOptions {
  enabled: boolean
  description: string
  /** "Allow unsolicited certificate web requests" (the public request URL). */
  allowUnsolicited: boolean
  renewal: {
    allowWithValidCertificate: boolean
    revokeOld: boolean
    /** Only allow renewal within this many days of expiry; null = any time. */
    withinDays: number | null
    copySubjectAndSans: boolean
  }
  /** Hash for RSA/ECDSA signatures; null = the CA's own. */
  signatureHash: 'sha256' | 'sha384' | 'sha512' | null
  validityDays: number
  /** Upper bound an approver may choose; null = the CA's remaining life. */
  maxValidityDays: number | null
  subject: {
    /** "Supplied by the CSR": honour the CSR subject; otherwise the defaults replace it. */
    fromCsr: boolean
    defaults: SubjectDefaults
  }
  keyUsage: KeyUsageName[]
  /** Drop key usages the key type cannot perform (keyEncipherment for EC/EdDSA/ML-DSA keys...). */
  keyUsageByKeyType: boolean
  extKeyUsage: ExtKeyUsageName[]
  customEkuOids: string[]
  basicConstraints: { ca: boolean; pathLength: number | null }
  aia: { include: boolean; customUrl: string | null }
  includeOcsp: boolean
  includeCrl: boolean
  cps: { include: boolean; policy: string | null }
  keys: { allowed: KeyFamily[]; minRsaBits: number; ecCurves: Array<'P-256' | 'P-384' | 'P-521'> }
  sans: { allowed: Array<(typeof SAN_TYPES)[number]>; required: boolean; copyCommonName: boolean }
}

const subjectSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    commonName: { type: 'string', maxLength: 64 },
    organization: { type: 'string', maxLength: 64 },
    organizationalUnit: { type: 'string', maxLength: 64 },
    country: { type: 'string', pattern: '^[A-Za-z]{2}$' },
    state: { type: 'string', maxLength: 128 },
    locality: { type: 'string', maxLength: 128 },
    email: { type: 'string', maxLength: 128 },
  },
}

export const templateOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    description: { type: 'string', maxLength: 2000, default: '' },
    allowUnsolicited: { type: 'boolean', default: false },
    renewal: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowWithValidCertificate: { type: 'boolean', default: false },
        revokeOld: { type: 'boolean', default: false },
        withinDays: { type: ['integer', 'null'], minimum: 1, maximum: 3650, default: null },
        copySubjectAndSans: { type: 'boolean', default: true },
      },
    },
    signatureHash: { enum: ['sha256', 'sha384', 'sha512', null], default: null },
    validityDays: { type: 'integer', minimum: 1, maximum: 36500, default: 365 },
    maxValidityDays: { type: ['integer', 'null'], minimum: 1, maximum: 36500, default: null },
    subject: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        fromCsr: { type: 'boolean', default: true },
        defaults: { ...subjectSchema, default: {} },
      },
    },
    keyUsage: {
      type: 'array',
      uniqueItems: true,
      items: { enum: [...KEY_USAGES] },
      default: ['digitalSignature'],
    },
    keyUsageByKeyType: { type: 'boolean', default: true },
    extKeyUsage: {
      type: 'array',
      uniqueItems: true,
      items: { enum: [...EXT_KEY_USAGES] },
      default: [],
    },
    customEkuOids: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', pattern: '^[0-2](\\.(0|[1-9][0-9]*))+$' },
      default: [],
    },
    basicConstraints: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ca: { type: 'boolean', default: false },
        pathLength: { type: ['integer', 'null'], minimum: 0, maximum: 32, default: null },
      },
    },
    aia: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        include: { type: 'boolean', default: true },
        customUrl: {
          type: ['string', 'null'],
          pattern: '^https?://',
          maxLength: 2000,
          default: null,
        },
      },
    },
    includeOcsp: { type: 'boolean', default: true },
    includeCrl: { type: 'boolean', default: true },
    cps: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        include: { type: 'boolean', default: false },
        policy: {
          anyOf: [
            { type: 'null' },
            { enum: Object.keys(PREDEFINED_POLICIES) },
            { type: 'string', pattern: '^[0-2](\\.(0|[1-9][0-9]*))+$' },
          ],
          default: null,
        },
      },
    },
    keys: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowed: {
          type: 'array',
          uniqueItems: true,
          minItems: 1,
          items: { enum: [...KEY_FAMILIES] },
          default: [...KEY_FAMILIES],
        },
        minRsaBits: { type: 'integer', enum: [2048, 3072, 4096], default: 2048 },
        ecCurves: {
          type: 'array',
          uniqueItems: true,
          items: { enum: ['P-256', 'P-384', 'P-521'] },
          default: ['P-256', 'P-384', 'P-521'],
        },
      },
    },
    sans: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowed: {
          type: 'array',
          uniqueItems: true,
          items: { enum: [...SAN_TYPES] },
          default: [...SAN_TYPES],
        },
        required: { type: 'boolean', default: false },
        copyCommonName: { type: 'boolean', default: false },
      },
    },
  },
} as const

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true, allowUnionTypes: true })
const validateOptions = ajv.compile(templateOptionsSchema)

/** Validates (and fills defaults into) a copy of `input`; throws E_VALIDATION listing every problem. */
export function parseTemplateOptions(input: unknown): TemplateOptions {
  const copy = structuredClone(input ?? {})
  if (!validateOptions(copy)) {
    const problems = (validateOptions.errors ?? []).map(
      (e) =>
        `${e.instancePath || 'options'} ${e.message}${e.params && 'allowedValues' in e.params ? ` (${(e.params as any).allowedValues.join(', ')})` : ''}`
    )
    // `fields`: one entry per problem with its option path (e.g. "renewal.withinDays"), so a form
    // can show each message next to its field.
    const fields = (validateOptions.errors ?? []).map((e) => ({
      field: e.instancePath.slice(1).replaceAll('/', '.') || 'options',
      keyword: e.keyword,
      message: e.message ?? 'is invalid',
      params: e.params,
    }))
    throw new KernelError('E_VALIDATION', `Invalid template options: ${problems.join('; ')}`, {
      problems,
      fields,
    })
  }
  const options = copy as unknown as TemplateOptions
  if (options.maxValidityDays !== null && options.validityDays > options.maxValidityDays) {
    throw new KernelError(
      'E_VALIDATION',
      `The default validity (${options.validityDays} days) is longer than the template's maximum (${options.maxValidityDays} days); lower it or raise the maximum.`,
      { field: 'validityDays' }
    )
  }
  if (options.keyUsage.includes('keyCertSign') && !options.basicConstraints.ca) {
    throw new KernelError(
      'E_VALIDATION',
      'keyCertSign needs "Certificate Authority" set in basic constraints.',
      { field: 'keyUsage' }
    )
  }
  return options
}

/** Deep-merges a partial update into existing options, then validates the result. */
export function mergeTemplateOptions(current: TemplateOptions, patch: unknown): TemplateOptions {
  const merge = (a: any, b: any): any => {
    if (b === undefined) return a
    if (
      b === null ||
      typeof b !== 'object' ||
      Array.isArray(b) ||
      a === null ||
      typeof a !== 'object' ||
      Array.isArray(a)
    )
      return b
    const out: any = { ...a }
    for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v)
    return out
  }
  return parseTemplateOptions(merge(current, patch))
}

type StarterSpec = { label: string; options: Record<string, unknown> }

/** Starter templates (manual §1.4.2, §5.2), following current practice for each use. */
export const STARTER_TEMPLATES: Record<string, StarterSpec> = {
  'web-server': {
    label: 'Web Server',
    options: {
      description: 'TLS server certificates for web servers (CA/Browser Forum practice).',
      validityDays: 397,
      maxValidityDays: 397,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: ['serverAuth'],
      sans: { allowed: ['dns', 'ip'], required: true, copyCommonName: true },
      cps: { include: true, policy: 'domain-validated' },
    },
  },
  'client-auth': {
    label: 'Client Authentication',
    options: {
      description: 'TLS client certificates for users and devices.',
      validityDays: 365,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: ['clientAuth'],
    },
  },
  'web-server-client': {
    label: 'Web Server + Client',
    options: {
      description: 'Certificates usable as both TLS server and TLS client.',
      validityDays: 397,
      maxValidityDays: 397,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: ['serverAuth', 'clientAuth'],
      sans: { allowed: ['dns', 'ip'], required: true, copyCommonName: true },
    },
  },
  'code-signing': {
    label: 'Code Signing',
    options: {
      description: 'Code signing certificates.',
      validityDays: 365,
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['codeSigning'],
      sans: { allowed: ['email', 'uri'], required: false, copyCommonName: false },
    },
  },
  'email-protection': {
    label: 'Email Protection',
    options: {
      description: 'S/MIME certificates for signing and encrypting email.',
      validityDays: 365,
      keyUsage: ['digitalSignature', 'nonRepudiation', 'keyEncipherment'],
      extKeyUsage: ['emailProtection'],
      sans: { allowed: ['email'], required: true, copyCommonName: false },
    },
  },
  'certificate-authority': {
    label: 'Certificate Authority',
    options: {
      description: 'Subordinate (intermediate) certificate authorities.',
      validityDays: 1825,
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      keyUsageByKeyType: true,
      extKeyUsage: [],
      basicConstraints: { ca: true, pathLength: 0 },
      sans: { allowed: [], required: false, copyCommonName: false },
    },
  },
  'timestamping': {
    label: 'Timestamping',
    options: {
      description: 'RFC 3161 time-stamping authority certificates.',
      validityDays: 1095,
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['timeStamping'],
      sans: { allowed: [], required: false, copyCommonName: false },
    },
  },
  'ocsp-signing': {
    label: 'OCSP Signing',
    options: {
      description: 'Delegated OCSP responder certificates.',
      validityDays: 30,
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['OCSPSigning'],
      includeOcsp: false,
      sans: { allowed: [], required: false, copyCommonName: false },
    },
  },
  'computer': {
    label: 'Computer',
    options: {
      description:
        'Machine certificates (domain computers, servers): client and server authentication.',
      validityDays: 365,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: ['clientAuth', 'serverAuth'],
      sans: { allowed: ['dns', 'ip'], required: true, copyCommonName: true },
    },
  },
  'user': {
    label: 'User',
    options: {
      description: 'User certificates: client authentication, email protection.',
      validityDays: 365,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: ['clientAuth', 'emailProtection'],
      sans: { allowed: ['email', 'uri'], required: false, copyCommonName: false },
    },
  },
}

export function starterOptions(starter: string): TemplateOptions {
  const spec = STARTER_TEMPLATES[starter]
  if (!spec) {
    throw new KernelError(
      'E_VALIDATION',
      `Unknown starter template "${starter}". Choose one of: ${Object.keys(STARTER_TEMPLATES).join(', ')}.`
    )
  }
  return parseTemplateOptions(spec.options)
}
