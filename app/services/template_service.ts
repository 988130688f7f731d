/*
 * Certificate templates (manual §1.4, §5): create from a starter, edit, delete.
 */
import db from '@adonisjs/lucid/services/db'
import Template from '#models/template'
import CertificateAuthority from '#models/certificate_authority'
import { fastDb } from './fast_db.js'
import { KernelError, notFound } from '#exceptions/kernel_error'
import type { Actor } from './actor.js'
import { assertCaAccess } from './access.js'
import { audit } from './audit_service.js'
import { hooks } from './hooks.js'
import {
  mergeTemplateOptions,
  parseTemplateOptions,
  starterOptions,
  STARTER_TEMPLATES,
} from './template_options.js'

/** Plugin settings as the API shows them: secret values (stored encrypted) are left out. */
function withoutSecrets(settings: Record<string, unknown>) {
  const isSecret = (v: unknown) =>
    Boolean(v && typeof v === 'object' && typeof (v as { $enc?: unknown }).$enc === 'string')
  return Object.fromEntries(
    Object.entries(settings ?? {}).map(([plugin, values]) => [
      plugin,
      values && typeof values === 'object'
        ? Object.fromEntries(Object.entries(values).filter(([, v]) => !isSecret(v)))
        : values,
    ])
  )
}

export function serializeTemplate(t: Template) {
  return {
    id: t.id,
    caId: t.caId,
    name: t.name,
    starter: t.starter,
    options: t.options,
    pluginSettings: withoutSecrets(t.pluginSettings),
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
  }
}

/*
 * Issuance looks a template and its CA up on every certificate: both rows are kept in memory
 * and revalidated by one indexed query on their versions (updated_at), so an edit made by
 * another node or an ace command is used from the next request on.
 */
const ISSUANCE_VERSIONS = `SELECT t.updated_at AS template_version, c.updated_at AS ca_version, c.id AS ca_id
  FROM templates t JOIN cas c ON c.id = t.ca_id WHERE t.id = ?`
const issuanceCache = new Map<number, { template: Template; ca: CertificateAuthority }>()

export const templateService = {
  /** The template and its CA, for issuing a certificate (access checked). */
  async findForIssuance(actor: Actor, templateId: number) {
    if (!Number.isInteger(templateId)) throw notFound('template', templateId)
    const versions = await fastDb.first(ISSUANCE_VERSIONS, [templateId])
    if (!versions) throw notFound('template', templateId)
    await assertCaAccess(actor, Number(versions.ca_id))
    let hit = issuanceCache.get(templateId)
    if (
      !hit ||
      hit.template.updatedAt !== Number(versions.template_version) ||
      hit.ca.updatedAt !== Number(versions.ca_version)
    ) {
      const template = await Template.find(templateId)
      const ca = template ? await CertificateAuthority.find(template.caId) : null
      if (!template || !ca) throw notFound('template', templateId)
      if (issuanceCache.size > 10_000) issuanceCache.clear()
      hit = { template, ca }
      issuanceCache.set(templateId, hit)
    }
    return hit
  },

  starters() {
    return Object.entries(STARTER_TEMPLATES).map(([id, s]) => ({
      id,
      label: s.label,
      options: starterOptions(id),
    }))
  },

  async list(actor: Actor, caId: number) {
    await assertCaAccess(actor, caId)
    return Template.query().where('ca_id', caId).orderBy('name')
  },

  async find(actor: Actor, idOrName: number | string, caId?: number) {
    const byId = typeof idOrName === 'number' || /^\d+$/.test(String(idOrName))
    // Names are unique per CA only: without a CA, only an id finds a template.
    if (!byId && caId === undefined) throw notFound('template', idOrName)
    let template: Template | null
    if (byId && caId === undefined) template = await Template.find(Number(idOrName))
    else
      template = await Template.query()
        .where('ca_id', caId!)
        .where(byId ? 'id' : 'name', byId ? Number(idOrName) : String(idOrName))
        .first()
    if (!template) throw notFound('template', idOrName)
    await assertCaAccess(actor, template.caId)
    return template
  },

  async create(
    actor: Actor,
    caId: number,
    input: { name?: string; starter?: string; options?: unknown }
  ) {
    await assertCaAccess(actor, caId)
    const name = String(input.name ?? '').trim()
    if (!name || name.length > 200)
      throw new KernelError('E_VALIDATION', 'A template name (1–200 characters) is required.', {
        field: 'name',
      })
    if (await Template.query().where({ ca_id: caId, name }).first()) {
      throw new KernelError('E_CONFLICT', `This CA already has a template named "${name}".`, {
        field: 'name',
      })
    }
    const starter = input.starter ?? 'web-server'
    const base = starterOptions(starter)
    const options = input.options === undefined ? base : mergeTemplateOptions(base, input.options)
    return db.transaction(async (trx) => {
      const template = await Template.create(
        { caId, name, starter, options, pluginSettings: {} },
        { client: trx }
      )
      await audit(
        actor,
        {
          action: 'template.create',
          objectType: 'template',
          objectId: template.id,
          caId,
          details: { name, starter },
        },
        trx
      )
      return template
    })
  },

  /**
   * `options` are merged into the current ones, then validated whole; with `replaceOptions` they
   * replace them (a form that shows every option sends them all, so cleared fields stay cleared).
   */
  async update(
    actor: Actor,
    template: Template,
    patch: { name?: string; options?: unknown; replaceOptions?: boolean }
  ) {
    const changes: Record<string, unknown> = {}
    if (patch.name !== undefined) {
      const name = String(patch.name).trim()
      if (!name || name.length > 200)
        throw new KernelError('E_VALIDATION', 'A template name (1–200 characters) is required.', {
          field: 'name',
        })
      const other = await Template.query()
        .where({ ca_id: template.caId, name })
        .whereNot('id', template.id)
        .first()
      if (other)
        throw new KernelError('E_CONFLICT', `This CA already has a template named "${name}".`, {
          field: 'name',
        })
      template.name = name
      changes.name = name
    }
    if (patch.options !== undefined) {
      template.options = patch.replaceOptions
        ? parseTemplateOptions(patch.options)
        : mergeTemplateOptions(template.options, patch.options)
      changes.options = patch.options
    }
    await db.transaction(async (trx) => {
      template.useTransaction(trx)
      await template.save()
      await audit(
        actor,
        {
          action: 'template.update',
          objectType: 'template',
          objectId: template.id,
          caId: template.caId,
          details: changes,
        },
        trx
      )
    })
    await hooks.run('afterTemplateUpdated', {
      caId: template.caId,
      templateId: template.id,
      templateName: template.name,
      actor,
    })
    return template
  },

  /**
   * Refused while the template has certificates that are neither expired nor permanently revoked
   * (a certificate on hold still counts as active, manual §5.4).
   */
  async delete(actor: Actor, template: Template) {
    const active = await db
      .from('certificates')
      .where('template_id', template.id)
      .where('not_after', '>', Date.now())
      .whereIn('status', ['valid', 'hold'])
      .count('* as n')
      .first()
    const n = Number(active?.n ?? 0)
    if (n > 0) {
      throw new KernelError(
        'E_CONFLICT',
        `Template "${template.name}" still has ${n} active certificate(s) (valid or on hold). Revoke them or wait until they expire, then delete the template.`
      )
    }
    // A plugin that signs with the template may refuse (e.g. an ACME policy uses it): E_CONFLICT.
    await hooks.run('beforeTemplateDelete', {
      caId: template.caId,
      templateId: template.id,
      templateName: template.name,
      actor,
    })
    await db.transaction(async (trx) => {
      await trx.from('templates').where('id', template.id).delete()
      await audit(
        actor,
        {
          action: 'template.delete',
          objectType: 'template',
          objectId: template.id,
          caId: template.caId,
          details: { name: template.name },
        },
        trx
      )
    })
    await hooks.run('afterTemplateDeleted', {
      caId: template.caId,
      templateId: template.id,
      templateName: template.name,
      actor,
    })
  },
}
