/*
 * Certificate authorities (manual §1.2, §4): create (root, CSR-only intermediate, imported key),
 * activate an intermediate with its signed certificate, edit, delete, download.
 */
import { createHash } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import CertificateAuthority, { type ServiceSettings } from '#models/certificate_authority'
import Template from '#models/template'
import { KernelError, notFound } from '#exceptions/kernel_error'
import { isKeyType, KEY_TYPES, type HashName, type KeyType } from '../../hsm/types.js'
import { verifySignature } from '../../hsm/keys.js'
import * as pki from '#pki/index'
import pkiConfig from '#config/pki'
import { keyService } from './key_service.js'
import { audit } from './audit_service.js'
import { hooks } from './hooks.js'
import type { Actor } from './actor.js'
import { accessibleCaIds, assertCaAccess } from './access.js'
import {
  starterOptions,
  KEY_USAGES,
  EXT_KEY_USAGES,
  type SubjectDefaults,
} from './template_options.js'
import { caMaterial } from './ca_material.js'
import { writeServiceLog } from './service_log.js'

export interface CreateCaInput {
  name: string
  subject?: SubjectDefaults
  keyType?: string
  signatureHash?: string
  validityDays?: number
  pathLength?: number | null
  keyUsage?: string[]
  extKeyUsage?: string[]
  csrOnly?: boolean
  /** PEM private key to use instead of generating one. */
  importKeyPem?: string
  importKeyPassword?: string
  cpsUrl?: string | null
  policyOid?: string | null
  serviceSettings?: Partial<ServiceSettings>
}

const OID = /^[0-2](\.(0|[1-9][0-9]*))+$/

export function defaultHash(keyType: KeyType): HashName {
  if (keyType === 'ecdsa-p384') return 'sha384'
  if (keyType === 'ecdsa-p521') return 'sha512'
  return 'sha256'
}

/**
 * The CA's signature hash, limited by its key type (`allowedHashes`): ECDSA signs with the hash
 * of its curve, RSA with any of sha256/384/512. Ed25519, ML-DSA and SLH-DSA sign the message
 * itself and ignore the hash (docs/pki.md): the default is stored whatever was given.
 */
function validateHash(value: unknown, keyType: KeyType): HashName {
  if (value === undefined || value === null || value === '') return defaultHash(keyType)
  if (value !== 'sha256' && value !== 'sha384' && value !== 'sha512') {
    throw new KernelError(
      'E_VALIDATION',
      `Signature hash "${value}" is not supported; use sha256, sha384 or sha512.`,
      { field: 'signatureHash' }
    )
  }
  const allowed = pki.allowedHashes(keyType)
  if (allowed.length === 0) return defaultHash(keyType)
  if (!allowed.includes(value)) {
    throw new KernelError(
      'E_VALIDATION',
      `Signature hash "${value}" cannot be used with a ${keyType} key; allowed: ${allowed.join(', ')}.`,
      { field: 'signatureHash' }
    )
  }
  return value
}

function validateKeyUsageForKey(keyType: KeyType, keyUsage: readonly string[]) {
  // The certificate lint's own rules for the key family (app/pki/lint.ts).
  const problems = pki.keyUsageKeyProblems(pki.keyFamily(keyType), keyUsage)
  if (problems.length) {
    throw new KernelError(
      'E_VALIDATION',
      `Key usage not allowed for a ${keyType} CA: ${problems.join('; ')}.`,
      { field: 'keyUsage' }
    )
  }
}

function validateServiceSettings(
  input: Partial<ServiceSettings> | undefined,
  current?: ServiceSettings
): ServiceSettings {
  const out: ServiceSettings = { keyType: current?.keyType ?? null, hash: current?.hash ?? null }
  if (input === undefined || input === null) return out
  if (typeof input !== 'object')
    throw new KernelError('E_VALIDATION', 'serviceSettings must be an object { keyType, hash }.', {
      field: 'serviceSettings',
    })
  if ('keyType' in input) {
    if (input.keyType !== null && !isKeyType(input.keyType)) {
      throw new KernelError(
        'E_VALIDATION',
        `Service key type "${input.keyType}" is not one of the supported key types.`,
        { field: 'serviceSettings.keyType' }
      )
    }
    out.keyType = input.keyType ?? null
  }
  if ('hash' in input) {
    if (input.hash !== null && !['sha256', 'sha384', 'sha512'].includes(input.hash as string)) {
      throw new KernelError(
        'E_VALIDATION',
        `Service hash "${input.hash}" is not supported; use sha256, sha384 or sha512.`,
        { field: 'serviceSettings.hash' }
      )
    }
    out.hash = input.hash ?? null
  }
  return out
}

function validateCpsAndPolicy(cpsUrl: unknown, policyOid: unknown) {
  if (
    cpsUrl !== undefined &&
    cpsUrl !== null &&
    cpsUrl !== '' &&
    (typeof cpsUrl !== 'string' || !/^https?:\/\/\S+$/.test(cpsUrl))
  ) {
    throw new KernelError('E_VALIDATION', 'The CPS URL must be an http:// or https:// URL.', {
      field: 'cpsUrl',
    })
  }
  if (
    policyOid !== undefined &&
    policyOid !== null &&
    policyOid !== '' &&
    (typeof policyOid !== 'string' || !OID.test(policyOid))
  ) {
    throw new KernelError(
      'E_VALIDATION',
      `The policy OID "${policyOid}" is not a dotted object identifier such as 1.3.6.1.4.1.99999.1.`,
      { field: 'policyOid' }
    )
  }
}

/**
 * A CA name: 1–200 characters of text, not only digits (a CA is found by id or by name, so the
 * name "7" would find CA #7 instead).
 */
function caName(input: unknown): string {
  if (typeof input !== 'string' && input !== undefined && input !== null)
    throw new KernelError('E_VALIDATION', 'The CA name must be text.', { field: 'name' })
  const name = (input ?? '').trim()
  if (!name || name.length > 200)
    throw new KernelError('E_VALIDATION', 'A CA name (1–200 characters) is required.', {
      field: 'name',
    })
  if (/^\d+$/.test(name))
    throw new KernelError(
      'E_VALIDATION',
      `A CA name cannot be only digits ("${name}" would be read as a CA id); add a word, e.g. "CA ${name}".`,
      { field: 'name' }
    )
  return name
}

function validateSubject(subject: SubjectDefaults | undefined, name: string): SubjectDefaults {
  if (
    subject !== undefined &&
    subject !== null &&
    (typeof subject !== 'object' || Array.isArray(subject))
  )
    throw new KernelError('E_VALIDATION', 'subject must be an object of attribute → text.', {
      field: 'subject',
    })
  const s: SubjectDefaults = { ...(subject ?? {}) }
  if (s.commonName !== undefined && s.commonName !== null && typeof s.commonName !== 'string')
    throw new KernelError('E_VALIDATION', 'Subject field commonName must be text.', {
      field: 'subject.commonName',
    })
  s.commonName = (s.commonName ?? name)?.trim()
  if (!s.commonName)
    throw new KernelError('E_VALIDATION', 'The CA common name is required.', {
      field: 'subject.commonName',
    })
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined || v === null || v === '') delete (s as any)[k]
    else if (typeof v !== 'string')
      throw new KernelError('E_VALIDATION', `Subject field ${k} must be text.`, {
        field: `subject.${k}`,
      })
  }
  if (s.country && !/^[A-Za-z]{2}$/.test(s.country)) {
    throw new KernelError(
      'E_VALIDATION',
      `Country "${s.country}" must be a two-letter ISO 3166 code such as US or DE.`,
      { field: 'subject.country' }
    )
  }
  if (s.country) s.country = s.country.toUpperCase()
  return s
}

function pickNames<T extends string>(
  values: unknown,
  allowed: readonly T[],
  label: string,
  field: string
): T[] {
  if (!Array.isArray(values))
    throw new KernelError('E_VALIDATION', `${label} must be a list.`, { field })
  for (const v of values) {
    if (!allowed.includes(v))
      throw new KernelError(
        'E_VALIDATION',
        `${label}: "${v}" is not one of ${allowed.join(', ')}.`,
        { field }
      )
  }
  return [...new Set(values)] as T[]
}

export function serializeCa(ca: CertificateAuthority) {
  return {
    id: ca.id,
    name: ca.name,
    status: ca.status,
    keyType: ca.keyType,
    subject: ca.subject,
    subjectDn: ca.subjectDn,
    signatureHash: ca.signatureHash,
    validityDays: ca.validityDays,
    pathLength: ca.pathLength,
    keyUsage: ca.keyUsage,
    extKeyUsage: ca.extKeyUsage,
    cpsUrl: ca.cpsUrl,
    policyOid: ca.policyOid,
    serviceSettings: ca.serviceSettings,
    selfSigned: ca.selfSigned,
    serial: ca.serial,
    subjectKeyId: ca.ski,
    notBefore: ca.notBefore ? new Date(ca.notBefore).toISOString() : null,
    notAfter: ca.notAfter ? new Date(ca.notAfter).toISOString() : null,
    certificatePem: ca.certificate ? pki.toPem(ca.certificate, 'CERTIFICATE') : null,
    csrPem: ca.status === 'pending' && ca.csr ? pki.toPem(ca.csr, 'CERTIFICATE REQUEST') : null,
    createdAt: new Date(ca.createdAt).toISOString(),
  }
}

export const caService = {
  async list(actor: Actor) {
    const ids = await accessibleCaIds(actor)
    const q = CertificateAuthority.query().orderBy('name')
    if (ids) q.whereIn('id', ids)
    return q
  },

  async find(actor: Actor, idOrName: number | string): Promise<CertificateAuthority> {
    const byId = typeof idOrName === 'number' || /^\d+$/.test(String(idOrName))
    const ca = byId
      ? await CertificateAuthority.find(Number(idOrName))
      : await CertificateAuthority.findBy('name', String(idOrName))
    if (!ca) throw notFound('CA', idOrName)
    await assertCaAccess(actor, ca.id)
    return ca
  },

  async create(actor: Actor, input: CreateCaInput): Promise<CertificateAuthority> {
    const name = caName(input.name)
    if (await CertificateAuthority.findBy('name', name)) {
      throw new KernelError(
        'E_CONFLICT',
        `A CA named "${name}" already exists; CA names are unique per install.`,
        { field: 'name' }
      )
    }
    const subject = validateSubject(input.subject, name)
    const validityDays =
      input.validityDays === undefined || input.validityDays === null
        ? 3650
        : Number(input.validityDays)
    if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 36500) {
      throw new KernelError(
        'E_VALIDATION',
        'CA validity must be a whole number of days between 1 and 36500.',
        { field: 'validityDays' }
      )
    }
    const pathLength =
      input.pathLength === undefined || input.pathLength === null ? null : Number(input.pathLength)
    if (
      pathLength !== null &&
      (!Number.isInteger(pathLength) || pathLength < 0 || pathLength > 32)
    ) {
      throw new KernelError(
        'E_VALIDATION',
        'Path length must be empty (unlimited) or a whole number from 0 to 32.',
        { field: 'pathLength' }
      )
    }
    const keyUsage = pickNames(
      input.keyUsage ?? ['keyCertSign', 'cRLSign', 'digitalSignature'],
      KEY_USAGES,
      'Key usage',
      'keyUsage'
    )
    if (!keyUsage.includes('keyCertSign'))
      throw new KernelError('E_VALIDATION', 'A CA needs the keyCertSign key usage.', {
        field: 'keyUsage',
      })
    const extKeyUsage = pickNames(
      input.extKeyUsage ?? [],
      EXT_KEY_USAGES,
      'Extended key usage',
      'extKeyUsage'
    )
    validateCpsAndPolicy(input.cpsUrl, input.policyOid)
    const serviceSettings = validateServiceSettings(input.serviceSettings)

    // Key: imported or generated (RSA and post-quantum generation run off the event loop).
    let key: { keyRef: string; encrypted: string; spki: Uint8Array; keyType: KeyType }
    if (input.importKeyPem) {
      if (
        input.importKeyPassword !== undefined &&
        input.importKeyPassword !== null &&
        typeof input.importKeyPassword !== 'string'
      )
        throw new KernelError('E_VALIDATION', 'The key password must be text.', {
          field: 'importKeyPassword',
        })
      key = await keyService.importKey(input.importKeyPem, input.importKeyPassword ?? undefined)
      if (input.keyType && input.keyType !== key.keyType) {
        throw new KernelError(
          'E_VALIDATION',
          `The imported key is ${key.keyType}, not ${input.keyType}.`,
          { field: 'keyType' }
        )
      }
    } else {
      const keyType = input.keyType ?? 'ecdsa-p256'
      if (!isKeyType(keyType)) {
        throw new KernelError(
          'E_VALIDATION',
          `Key type "${keyType}" is not supported. Choose one of: ${KEY_TYPES.join(', ')}.`,
          { field: 'keyType' }
        )
      }
      // Checked before the (possibly slow) key generation.
      validateKeyUsageForKey(keyType, keyUsage)
      validateHash(input.signatureHash, keyType)
      const created = await keyService.createKey(keyType)
      key = { ...created, keyType }
    }
    // Imported keys: their type is known only now.
    validateKeyUsageForKey(key.keyType, keyUsage)
    const signatureHash = validateHash(input.signatureHash, key.keyType)
    const signer = await keyService.signerFor({ keyRef: key.keyRef, keyMaterial: key.encrypted })
    const subjectDer = pki.nameToDer(subject)

    let certificate: Uint8Array | null = null
    let csr: Uint8Array | null = null
    if (input.csrOnly) {
      csr = await pki.buildCsr({
        subject,
        signer,
        hash: signatureHash,
        extensions: [
          pki.basicConstraints({ ca: true, pathLength: pathLength ?? undefined }),
          pki.keyUsage(keyUsage),
        ],
      })
    } else {
      const now = Date.now()
      const ski = pki.keyIdentifier(signer.publicKeySpki)
      const extensions = [
        pki.basicConstraints({ ca: true, pathLength: pathLength ?? undefined }),
        pki.keyUsage(keyUsage),
        ...(extKeyUsage.length ? [pki.extendedKeyUsage(extKeyUsage)] : []),
        pki.subjectKeyIdentifierFromId(ski),
        pki.authorityKeyIdentifier(ski),
      ]
      certificate = await pki.signCertificate(
        {
          serial: pki.newSerial(),
          issuerDer: subjectDer,
          subjectDer,
          notBefore: new Date(now - pkiConfig.backdateSeconds * 1000),
          notAfter: new Date(now + validityDays * 86400_000),
          spki: signer.publicKeySpki,
          extensions,
          signatureAlgorithm: pki.signatureAlgorithm(key.keyType, signatureHash),
        },
        signer,
        signatureHash
      )
    }
    const parsed = certificate ? pki.parseCertificate(certificate) : undefined

    const ca = await db.transaction(async (trx) => {
      const created = await CertificateAuthority.create(
        {
          name,
          status: certificate ? 'active' : 'pending',
          keyType: key.keyType,
          keyRef: key.keyRef,
          keyMaterial: key.encrypted,
          subject,
          subjectDn: pki.nameToString(subjectDer),
          certificate: certificate ? Buffer.from(certificate) : null,
          csr: csr ? Buffer.from(csr) : null,
          chain: [],
          signatureHash,
          validityDays,
          pathLength,
          keyUsage,
          extKeyUsage,
          cpsUrl: input.cpsUrl || null,
          policyOid: input.policyOid || null,
          serviceSettings,
          pluginSettings: {},
          selfSigned: Boolean(certificate),
          serial: parsed?.serialHex ?? null,
          ski: Buffer.from(pki.keyIdentifier(signer.publicKeySpki)).toString('hex'),
          notBefore: parsed ? parsed.notBefore.getTime() : null,
          notAfter: parsed ? parsed.notAfter.getTime() : null,
          createdBy: actor.userId ?? null,
        },
        { client: trx }
      )
      if (actor.userId) {
        await trx.table('ca_members').insert({
          ca_id: created.id,
          user_id: actor.userId,
          role: 'owner',
          created_at: Date.now(),
        })
      }
      await Template.create(
        {
          caId: created.id,
          name: 'Web Server',
          starter: 'web-server',
          options: starterOptions('web-server'),
          pluginSettings: {},
        },
        { client: trx }
      )
      await audit(
        actor,
        {
          action: input.csrOnly ? 'ca.create.csr' : 'ca.create',
          objectType: 'ca',
          objectId: created.id,
          caId: created.id,
          details: {
            name,
            keyType: key.keyType,
            imported: Boolean(input.importKeyPem),
            validityDays,
          },
        },
        trx
      )
      return created
    })
    await writeServiceLog({
      service: 'kernel',
      caId: ca.id,
      level: 'info',
      event: 'ca.created',
      message: `CA "${ca.name}" created by ${actor.label} (${ca.keyType}${input.csrOnly ? ', CSR only: waiting for its signed certificate' : ''}${input.importKeyPem ? ', imported key' : ''}).`,
      details: { name: ca.name, keyType: ca.keyType, csrOnly: Boolean(input.csrOnly) },
    })
    await hooks.run('afterCaCreated', { caId: ca.id, caName: ca.name, actor })
    return ca
  },

  /**
   * Activates a CSR-only CA with its signed certificate. The certificate must carry this CA's
   * public key and be a CA certificate, and a chain to a self-signed root must be buildable
   * from the supplied chain and the CAs stored here, each signature verified.
   */
  async importCertificate(
    actor: Actor,
    idOrName: number | string,
    certPem: string,
    chainPem?: string
  ) {
    const ca = await this.find(actor, idOrName)
    if (ca.status !== 'pending') {
      throw new KernelError(
        'E_CONFLICT',
        `CA "${ca.name}" is already active; only a CSR-only CA waiting for its certificate can import one.`
      )
    }
    const certDer = pki.certificateFromInput(certPem)
    const cert = pki.parseCertificate(certDer)
    const signer = await keyService.signerFor(ca)
    if (!pki.certificateMatchesKey(certDer, signer.publicKeySpki)) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        `The certificate's public key is not the key of CA "${ca.name}": import the certificate issued for this CA's CSR.`,
        { field: 'certificatePem' }
      )
    }
    if (!cert.isCa) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        'The certificate is not a CA certificate (basicConstraints cA is not set).',
        { field: 'certificatePem' }
      )
    }
    // RFC 5280 §4.2.1.3: a key usage, when present, must allow signing certificates.
    const usages = cert.extensions.keyUsage
    if (usages && !usages.includes('keyCertSign')) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        `The certificate's key usage (${usages.join(', ') || 'none'}) does not include keyCertSign: certificates this CA signed would not validate. Ask the issuing CA for a CA profile.`,
        { field: 'certificatePem' }
      )
    }
    if (cert.notBefore.getTime() > Date.now()) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        `The certificate is not valid yet: it starts on ${cert.notBefore.toISOString()}. Import it from then on, or ask the issuing CA for one valid now.`,
        { field: 'certificatePem' }
      )
    }
    if (cert.notAfter.getTime() < Date.now()) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        `The certificate expired on ${cert.notAfter.toISOString()}.`,
        { field: 'certificatePem' }
      )
    }
    // Issued by a CA of this install and revoked (or held) there since: not a CA to activate.
    // (Looked up by CA and serial, the indexed way, then matched by fingerprint.)
    const caRows: Array<{ id: number }> = await db.from('cas').select('id')
    const caIds = caRows.map((r) => r.id)
    const issuedHere = await db
      .from('certificates')
      .whereIn('ca_id', caIds)
      .where('serial', cert.serialHex)
      .where('fingerprint', createHash('sha256').update(certDer).digest('hex'))
      .whereIn('status', ['revoked', 'hold'])
      .select('status', 'revocation_reason')
      .first()
    if (issuedHere) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        `The certificate was ${issuedHere.status === 'hold' ? 'put on hold' : `revoked (${issuedHere.revocation_reason})`} by its issuing CA on this install: ask for a new one.`,
        { field: 'certificatePem' }
      )
    }

    // Candidate issuers: what was supplied, then every stored CA certificate and chain.
    const candidates: Uint8Array[] = chainPem ? pki.certificatesFromInput(chainPem) : []
    const stored = await CertificateAuthority.query().whereNotNull('certificate')
    for (const other of stored) {
      candidates.push(other.certificate!)
      for (const b64 of other.chain) candidates.push(Buffer.from(b64, 'base64'))
    }
    const refusals: string[] = []
    const chain = buildChain(certDer, candidates, refusals)
    if (!chain && refusals.length) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        `No valid chain to a root: ${refusals.join('; ')}. Certificates this CA signed would not validate.`,
        { field: 'chainPem' }
      )
    }
    if (!chain) {
      throw new KernelError(
        'E_INVALID_CERTIFICATE',
        'No chain to a root can be built for this certificate: supply the issuing CA certificates (up to the root) with --chain / "chainPem".',
        { field: 'chainPem' }
      )
    }

    ca.merge({
      status: 'active',
      certificate: Buffer.from(certDer),
      chain: chain.map((c) => Buffer.from(c).toString('base64')),
      serial: cert.serialHex,
      notBefore: cert.notBefore.getTime(),
      notAfter: cert.notAfter.getTime(),
      selfSigned: false,
    })
    await db.transaction(async (trx) => {
      ca.useTransaction(trx)
      await ca.save()
      await audit(
        actor,
        {
          action: 'ca.import-certificate',
          objectType: 'ca',
          objectId: ca.id,
          caId: ca.id,
          details: { serial: cert.serialHex, chainLength: chain.length },
        },
        trx
      )
    })
    caMaterial.forget(ca.id)
    await hooks.run('afterCaUpdated', { caId: ca.id, caName: ca.name, actor })
    return ca
  },

  async update(actor: Actor, idOrName: number | string, patch: Record<string, any>) {
    const ca = await this.find(actor, idOrName)
    const allowed = ['name', 'cpsUrl', 'policyOid', 'serviceSettings', 'signatureHash']
    const unknown = Object.keys(patch).filter((k) => !allowed.includes(k))
    if (unknown.length) {
      throw new KernelError(
        'E_VALIDATION',
        `These CA fields cannot be edited: ${unknown.join(', ')}. Editable: ${allowed.join(', ')}.`
      )
    }
    validateCpsAndPolicy(patch.cpsUrl, patch.policyOid)
    const changes: Record<string, unknown> = {}
    if ('name' in patch) {
      const name = caName(patch.name)
      const other = await CertificateAuthority.findBy('name', name)
      if (other && other.id !== ca.id)
        throw new KernelError('E_CONFLICT', `A CA named "${name}" already exists.`, {
          field: 'name',
        })
      changes.name = name
    }
    if ('cpsUrl' in patch) changes.cpsUrl = patch.cpsUrl || null
    if ('policyOid' in patch) changes.policyOid = patch.policyOid || null
    if ('serviceSettings' in patch)
      changes.serviceSettings = validateServiceSettings(patch.serviceSettings, ca.serviceSettings)
    if ('signatureHash' in patch)
      changes.signatureHash = validateHash(patch.signatureHash, ca.keyType)
    ca.merge(changes)
    await db.transaction(async (trx) => {
      ca.useTransaction(trx)
      await ca.save()
      await audit(
        actor,
        {
          action: 'ca.update',
          objectType: 'ca',
          objectId: ca.id,
          caId: ca.id,
          details: { changes },
        },
        trx
      )
    })
    caMaterial.forget(ca.id)
    await hooks.run('afterCaUpdated', { caId: ca.id, caName: ca.name, actor })
    return ca
  },

  /** Deletes the CA with its templates, requests and certificates (cascade), audited. */
  async delete(actor: Actor, idOrName: number | string) {
    const ca = await this.find(actor, idOrName)
    const counts = await db.from('certificates').where('ca_id', ca.id).count('* as n').first()
    await db.transaction(async (trx) => {
      await trx.from('cas').where('id', ca.id).delete()
      await audit(
        actor,
        {
          action: 'ca.delete',
          objectType: 'ca',
          objectId: ca.id,
          caId: ca.id,
          details: { name: ca.name, certificates: Number(counts?.n ?? 0) },
        },
        trx
      )
    })
    caMaterial.forget(ca.id)
    keyService.forget(ca.keyRef)
    // Install-wide entry (ca_id null): the CA's own entries are no longer reachable by its users.
    await writeServiceLog({
      service: 'kernel',
      caId: null,
      level: 'info',
      event: 'ca.deleted',
      message: `CA "${ca.name}" (#${ca.id}) deleted by ${actor.label} with ${Number(counts?.n ?? 0)} certificate(s).`,
      details: { caId: ca.id, name: ca.name, certificates: Number(counts?.n ?? 0) },
    })
    await hooks.run('afterCaDeleted', { caId: ca.id, caName: ca.name, actor })
  },

  /** The CA certificate followed by its issuers up to the root. */
  chainOf(ca: CertificateAuthority): Uint8Array[] {
    if (!ca.certificate) return []
    return [ca.certificate, ...ca.chain.map((b64) => Buffer.from(b64, 'base64'))]
  },
}

/**
 * Builds issuer certificates from `leaf` (a CA certificate) up to a self-signed root out of
 * `candidates`, checking every signature and, for each issuer (RFC 5280 §6.1): its validity at
 * `now`, its key usage (keyCertSign when a key usage is present) and its pathLenConstraint
 * against the CA certificates below it (the leaf included; self-issued ones do not count).
 * Returns the issuers (not the leaf), or undefined when no chain exists; then `problems`
 * receives why the issuers found were refused.
 */
export function buildChain(
  leaf: Uint8Array,
  candidates: Uint8Array[],
  problems: string[] = [],
  now: number = Date.now()
): Uint8Array[] | undefined {
  type Node = { der: Uint8Array; info: ReturnType<typeof pki.parseCertificate> }
  const parsedCandidates: Node[] = candidates.map((der) => ({
    der,
    info: pki.parseCertificate(der),
  }))
  const isRoot = (node: Node) =>
    node.info.selfIssued &&
    pki.verifyCertificateSignature(node.der, node.info.spki, verifySignature)
  const issuersOf = (node: Node) =>
    parsedCandidates
      .filter(
        (c) =>
          c.info.isCa &&
          Buffer.compare(Buffer.from(c.info.subjectDer), Buffer.from(node.info.issuerDer)) === 0 &&
          pki.verifyCertificateSignature(node.der, c.info.spki, verifySignature)
      )
      // A self-signed root first: the same CA's cross-certificate leads further only at times.
      .sort((a, b) => Number(isRoot(b)) - Number(isRoot(a)))
  /** Why `issuer` cannot sign for a path with `below` CA certificates under it, if it cannot. */
  const refusal = (issuer: Node, below: number): string | undefined => {
    const info = issuer.info
    const name = `"${info.subjectString}"`
    if (info.notBefore.getTime() > now)
      return `issuer ${name} is not valid before ${info.notBefore.toISOString()}`
    if (info.notAfter.getTime() < now)
      return `issuer ${name} expired on ${info.notAfter.toISOString()}`
    const usages = info.extensions.keyUsage
    if (usages && !usages.includes('keyCertSign'))
      return `issuer ${name} has no keyCertSign key usage (${usages.join(', ') || 'none'})`
    const pathLength = info.extensions.basicConstraints?.pathLength
    if (pathLength !== undefined && below > pathLength)
      return `issuer ${name} has path length constraint ${pathLength} but ${below} CA certificate(s) would sit below it`
    return undefined
  }
  // Depth-first with backtracking: an issuer that leads nowhere (a cross-certificate whose own
  // issuer is missing, or one whose constraints refuse this path) gives way to the next one.
  // `below`: the non-self-issued CA certificates under the next issuer (the leaf is a CA).
  const walk = (node: Node, path: Node[], below: number): Uint8Array[] | undefined => {
    if (isRoot(node)) return path.map((n) => n.der)
    if (path.length >= 10) return undefined
    for (const issuer of issuersOf(node)) {
      if (issuer.der === node.der || path.some((n) => n.der === issuer.der)) continue
      const refused = refusal(issuer, below)
      if (refused) {
        if (!problems.includes(refused)) problems.push(refused)
        continue
      }
      const found = walk(issuer, [...path, issuer], below + (issuer.info.selfIssued ? 0 : 1))
      if (found) return found
    }
    return undefined
  }
  const leafInfo = pki.parseCertificate(leaf)
  return walk({ der: leaf, info: leafInfo }, [], leafInfo.selfIssued ? 0 : 1)
}
