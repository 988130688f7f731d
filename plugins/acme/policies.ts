/*
 * ACME policies (manual §8.2) and External Account Bindings (§8.3): the operations the admin
 * pages and the ace commands share. Every change is audited.
 */
import type { Actor, PluginRuntime } from '#plugin-api'
import { invalidPreApproved, parsePreApproved } from './identifiers.js'
import { dropHmacKey, newEabCredentials, sealHmacKey } from './keys.js'
import { insertedId } from './store.js'

export class PolicyError extends Error {
  constructor(
    message: string,
    readonly field?: string
  ) {
    super(message)
  }
}

export interface Policy {
  id: number
  name: string
  caId: number
  templateId: number
  preApproved: string[]
  /** Profile name → template id (besides the default, the policy's own template). */
  profiles: Record<string, number>
}

export function policyFromRow(row: any): Policy {
  let profiles: Record<string, number> = {}
  try {
    profiles = JSON.parse(row.profiles || '{}')
  } catch {
    profiles = {}
  }
  return {
    id: Number(row.id),
    name: String(row.name),
    caId: Number(row.ca_id),
    templateId: Number(row.template_id),
    preApproved: parsePreApproved(String(row.pre_approved ?? '')),
    profiles,
  }
}

export async function findPolicy(runtime: PluginRuntime, id: number): Promise<Policy | null> {
  const row = await runtime.table('acme_policies').where('id', id).first()
  return row ? policyFromRow(row) : null
}

/** The CA of a policy (for service log entries); null when the policy is gone. */
export async function caIdOfPolicy(runtime: PluginRuntime, policyId: number) {
  const row = await runtime.table('acme_policies').where('id', policyId).select('ca_id').first()
  return row ? Number(row.ca_id) : null
}

export async function findPolicyByName(runtime: PluginRuntime, name: string) {
  const row = await runtime.table('acme_policies').where('name', name).first()
  return row ? policyFromRow(row) : null
}

export async function listPolicies(runtime: PluginRuntime, caId?: number | null) {
  const q = runtime.table('acme_policies').orderBy('name')
  if (caId) q.where('ca_id', caId)
  return ((await q) as any[]).map(policyFromRow)
}

export const PROFILE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** Parses "name=template, name2=template2" (template names of the CA) into profile → template id. */
async function resolveProfiles(
  runtime: PluginRuntime,
  caId: number,
  text: string
): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (!entries.length) return out
  const templates = await runtime.listTemplates(caId)
  for (const entry of entries) {
    const [name, templateName] = entry.split('=').map((s) => s?.trim() ?? '')
    if (!PROFILE_NAME.test(name) || !templateName) {
      throw new PolicyError(
        `Profile "${entry}" must read name=template (name: lower-case letters, digits, . _ -).`,
        'profiles'
      )
    }
    const template = templates.find((t) => t.name === templateName || String(t.id) === templateName)
    if (!template) {
      throw new PolicyError(
        `Profile "${name}": the CA has no template "${templateName}".`,
        'profiles'
      )
    }
    out[name] = template.id
  }
  return out
}

export interface PolicyInput {
  caId: number
  name: string
  /** A template id or name of the CA. */
  template: string | number
  preApproved?: string
  /** "name=template, …" */
  profiles?: string
}

async function checkPolicyInput(runtime: PluginRuntime, input: PolicyInput, exceptId?: number) {
  const name = String(input.name ?? '').trim()
  if (!name || name.length > 100) {
    throw new PolicyError('A policy needs a name of 1 to 100 characters.', 'name')
  }
  const clash = await findPolicyByName(runtime, name)
  if (clash && clash.id !== exceptId) {
    throw new PolicyError(`A policy named "${name}" already exists (names are unique).`, 'name')
  }
  const ca = await runtime.getCa(input.caId)
  if (!ca) throw new PolicyError('That CA does not exist.', 'ca')
  const templates = await runtime.listTemplates(ca.id)
  const wanted = String(input.template ?? '').trim()
  const template = templates.find((t) => String(t.id) === wanted || t.name === wanted)
  if (!template) {
    throw new PolicyError(
      `CA "${ca.name}" has no template "${wanted}". Templates: ${templates.map((t) => t.name).join(', ') || 'none'}.`,
      'template'
    )
  }
  const preApproved = parsePreApproved(input.preApproved ?? '')
  const bad = invalidPreApproved(preApproved)
  if (bad.length) {
    throw new PolicyError(
      `Not a domain, wildcard domain or IP address: ${bad.join(', ')}.`,
      'preApproved'
    )
  }
  const profiles = await resolveProfiles(runtime, ca.id, input.profiles ?? '')
  return { name, ca, template, preApproved, profiles }
}

/**
 * A write that failed: the unique name taken meanwhile by another policy (a PolicyError the form
 * shows), or anything else (rethrown as it is, not disguised as a name clash).
 */
async function nameClash(runtime: PluginRuntime, name: string, error: unknown) {
  return (await findPolicyByName(runtime, name))
    ? new PolicyError(`A policy named "${name}" already exists.`, 'name')
    : error
}

export async function createPolicy(runtime: PluginRuntime, input: PolicyInput, actor?: Actor) {
  const checked = await checkPolicyInput(runtime, input)
  const now = Date.now()
  let id: number
  try {
    const inserted = await runtime
      .table('acme_policies')
      .insert({
        name: checked.name,
        ca_id: checked.ca.id,
        template_id: checked.template.id,
        pre_approved: checked.preApproved.join(', '),
        profiles: JSON.stringify(checked.profiles),
        created_at: now,
        updated_at: now,
      })
      .returning('id')
    id = insertedId(inserted)
  } catch (error) {
    throw await nameClash(runtime, checked.name, error)
  }
  await auditAs(runtime, actor, {
    action: 'acme.policy.create',
    caId: checked.ca.id,
    objectType: 'acme_policy',
    objectId: id,
    details: {
      name: checked.name,
      template: checked.template.name,
      preApproved: checked.preApproved,
      profiles: Object.keys(checked.profiles),
    },
  })
  return (await findPolicy(runtime, id))!
}

export async function updatePolicy(
  runtime: PluginRuntime,
  id: number,
  input: PolicyInput,
  actor?: Actor
) {
  const policy = await findPolicy(runtime, id)
  if (!policy) throw new PolicyError('That policy does not exist.')
  const checked = await checkPolicyInput(runtime, { ...input, caId: policy.caId }, id)
  try {
    await runtime
      .table('acme_policies')
      .where('id', id)
      .update({
        name: checked.name,
        template_id: checked.template.id,
        pre_approved: checked.preApproved.join(', '),
        profiles: JSON.stringify(checked.profiles),
        updated_at: Date.now(),
      })
  } catch (error) {
    throw await nameClash(runtime, checked.name, error)
  }
  await auditAs(runtime, actor, {
    action: 'acme.policy.update',
    caId: policy.caId,
    objectType: 'acme_policy',
    objectId: id,
    details: { name: checked.name, template: checked.template.name },
  })
}

/** Deletes a policy with its EABs. Refused while accounts are bound to it. */
export async function deletePolicy(runtime: PluginRuntime, id: number, actor?: Actor) {
  const policy = await findPolicy(runtime, id)
  if (!policy) throw new PolicyError('That policy does not exist.')
  const accounts = await runtime
    .table('acme_accounts')
    .where('policy_id', id)
    .where('status', 'valid')
    .count({ n: '*' })
  if (Number(accounts[0]?.n ?? 0) > 0) {
    throw new PolicyError(
      `Policy "${policy.name}" has ACME accounts bound to it for good; deactivate them first.`
    )
  }
  for (const eab of await runtime.table('acme_eabs').where('policy_id', id)) {
    await dropHmacKey(runtime, String(eab.hmac_key))
  }
  await runtime.table('acme_eabs').where('policy_id', id).delete()
  await runtime.table('acme_policies').where('id', id).delete()
  await auditAs(runtime, actor, {
    action: 'acme.policy.delete',
    caId: policy.caId,
    objectType: 'acme_policy',
    objectId: id,
    details: { name: policy.name },
  })
}

/**
 * Why a template cannot be deleted: the policies that sign with it (as their template or as a
 * profile's). Null when none does. The beforeTemplateDelete hook's answer.
 */
export async function templateInUse(
  runtime: PluginRuntime,
  caId: number,
  templateId: number
): Promise<string | null> {
  const policies = await listPolicies(runtime, caId)
  const uses = policies.flatMap((p) => [
    ...(p.templateId === templateId ? [`"${p.name}" (its template)`] : []),
    ...Object.entries(p.profiles)
      .filter(([, t]) => t === templateId)
      .map(([profile]) => `"${p.name}" (profile ${profile})`),
  ])
  if (uses.length === 0) return null
  return `ACME policy ${uses.join(', ')} signs with this template: choose another template for it (ACME → Policies → Edit), then delete this one.`
}

/**
 * A CA was deleted (with its templates and certificates): its policies can never issue again.
 * They go with their EABs (and the EABs' keys), accounts, orders, authorizations, challenges and
 * certificate records, so their names are free and the directory lists no dead profile.
 */
export async function removeCaPolicies(runtime: PluginRuntime, caId: number): Promise<string[]> {
  const policies = await runtime.table('acme_policies').where('ca_id', caId).select('id', 'name')
  const ids = policies.map((p: any) => Number(p.id))
  // Every row in one transaction; the EABs' keys (kernel secrets) once the rows are gone.
  const handles = await runtime.transaction(async (tx) => {
    const eabs = ids.length ? await tx.table('acme_eabs').whereIn('policy_id', ids) : []
    if (ids.length) {
      const orders = () => tx.table('acme_orders').whereIn('policy_id', ids).select('id')
      const authz = tx.table('acme_authorizations').whereIn('order_id', orders()).select('id')
      await tx.table('acme_challenges').whereIn('authz_id', authz).delete()
      await tx.table('acme_authorizations').whereIn('order_id', orders()).delete()
      for (const table of ['acme_orders', 'acme_accounts', 'acme_eabs']) {
        await tx.table(table).whereIn('policy_id', ids).delete()
      }
      await tx.table('acme_policies').whereIn('id', ids).delete()
    }
    await tx.table('acme_certificates').where('ca_id', caId).delete()
    return eabs.map((eab: any) => String(eab.hmac_key))
  })
  for (const handle of handles) await dropHmacKey(runtime, handle)
  return policies.map((p: any) => String(p.name))
}

export interface EabInput {
  policyId: number
  name: string
  maxUses?: number
  /** Expiry in ms since the epoch; null: never. */
  expiresAt?: number | null
}

/** Creates an EAB; the HMAC key is returned here only (stored encrypted). */
export async function createEab(runtime: PluginRuntime, input: EabInput, actor?: Actor) {
  const policy = await findPolicy(runtime, input.policyId)
  if (!policy) throw new PolicyError('That policy does not exist.', 'policy')
  const name = String(input.name ?? '').trim()
  if (!name || name.length > 100) {
    throw new PolicyError('An EAB needs a name of 1 to 100 characters.', 'name')
  }
  const maxUses = input.maxUses ?? 1
  if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 1_000_000) {
    throw new PolicyError('The allowed use count is a whole number from 1 to 1000000.', 'uses')
  }
  if (input.expiresAt !== undefined && input.expiresAt !== null) {
    if (!Number.isFinite(input.expiresAt) || input.expiresAt <= Date.now()) {
      throw new PolicyError('The expiry must be in the future.', 'expires')
    }
  }
  const clash = await runtime.table('acme_eabs').where({ policy_id: policy.id, name }).first()
  if (clash) {
    throw new PolicyError(`Policy "${policy.name}" already has an EAB named "${name}".`, 'name')
  }
  const { kid, hmacKey } = newEabCredentials()
  const inserted = await runtime
    .table('acme_eabs')
    .insert({
      policy_id: policy.id,
      name,
      kid,
      hmac_key: await sealHmacKey(runtime, hmacKey),
      max_uses: maxUses,
      uses: 0,
      expires_at: input.expiresAt ?? null,
      created_at: Date.now(),
    })
    .returning('id')
  const id = insertedId(inserted)
  await auditAs(runtime, actor, {
    action: 'acme.eab.create',
    caId: policy.caId,
    objectType: 'acme_eab',
    objectId: id,
    details: { policy: policy.name, name, kid, maxUses, expiresAt: input.expiresAt ?? null },
  })
  return { id, kid, hmacKey, policy, name, maxUses, expiresAt: input.expiresAt ?? null }
}

export async function deleteEab(runtime: PluginRuntime, id: number, actor?: Actor) {
  const row = await runtime.table('acme_eabs').where('id', id).first()
  if (!row) throw new PolicyError('That EAB does not exist.')
  const policy = await findPolicy(runtime, Number(row.policy_id))
  await runtime.table('acme_eabs').where('id', id).delete()
  await dropHmacKey(runtime, String(row.hmac_key))
  await auditAs(runtime, actor, {
    action: 'acme.eab.delete',
    caId: policy?.caId ?? null,
    objectType: 'acme_eab',
    objectId: id,
    details: { name: row.name, kid: row.kid, uses: Number(row.uses) },
  })
}

/** An audit entry; the acting person (admin pages) is named in the details. */
export async function auditAs(
  runtime: PluginRuntime,
  actor: Actor | undefined,
  entry: Parameters<PluginRuntime['audit']>[0]
) {
  await runtime.audit({
    ...entry,
    details: { ...entry.details, ...(actor ? { by: actor.label } : {}) },
  })
}

/** The directory URL of the install. */
export function directoryUrl(runtime: { publicUrl: string }) {
  return `${runtime.publicUrl}/acme/directory`
}
