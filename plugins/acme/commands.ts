/*
 * Ace commands for scripts and operators (issue 5):
 *   node ace acme:policy:create --ca NAME --name NAME --template NAME [--pre-approved LIST] [--profiles LIST]
 *   node ace acme:eab:create --policy NAME [--name NAME] [--uses N] [--expires-days N]
 * acme:eab:create prints three lines: the directory URL, "KID: <kid>" and "HMAC key: <key>".
 */
import type { CommandSpec, PluginRuntime } from '#plugin-api'
import { createEab, createPolicy, directoryUrl, findPolicyByName } from './policies.js'

async function caByName(runtime: PluginRuntime, name: string) {
  const cas = await runtime.listCas()
  const ca = cas.find((c) => c.name === name) ?? cas.find((c) => String(c.id) === name)
  if (!ca) {
    throw new Error(
      `No CA is named "${name}". CAs: ${cas.map((c) => c.name).join(', ') || 'none'}.`
    )
  }
  return ca
}

export async function policyCreateCommand(
  runtime: PluginRuntime,
  flags: { ca: string; name: string; template: string; preApproved?: string; profiles?: string }
) {
  const ca = await caByName(runtime, flags.ca)
  return createPolicy(runtime, {
    caId: ca.id,
    name: flags.name,
    template: flags.template,
    preApproved: flags.preApproved ?? '',
    profiles: flags.profiles ?? '',
  })
}

export async function eabCreateCommand(
  runtime: PluginRuntime,
  flags: { policy: string; name?: string; uses?: number; expiresDays?: number }
) {
  const policy = await findPolicyByName(runtime, flags.policy)
  if (!policy) throw new Error(`No ACME policy is named "${flags.policy}".`)
  const days = flags.expiresDays
  if (days !== undefined && (!Number.isFinite(days) || days <= 0)) {
    throw new Error('--expires-days must be a positive number of days.')
  }
  return createEab(runtime, {
    policyId: policy.id,
    name: flags.name ?? `cli-${new Date().toISOString().replace(/[:.]/g, '-')}`,
    maxUses: flags.uses ?? 1,
    expiresAt: days === undefined ? null : Date.now() + days * 86_400_000,
  })
}

export const commands: CommandSpec[] = [
  {
    name: 'acme:policy:create',
    description: 'Create an ACME policy (a CA, the template it signs with, pre-approved domains)',
    flags: {
      ca: { type: 'string', description: 'Name of the CA', required: true },
      name: { type: 'string', description: 'Policy name (unique in the install)', required: true },
      template: {
        type: 'string',
        description: 'Template of the CA used for signing',
        required: true,
      },
      preApproved: {
        type: 'string',
        description:
          'Comma-separated pre-approved domains (*.example.com covers the domain and its subdomains)',
      },
      profiles: {
        type: 'string',
        description: 'Comma-separated ACME profiles as name=template',
      },
    },
    async run({ flags, runtime, out }) {
      const policy = await policyCreateCommand(runtime, flags as any)
      out(`Policy "${policy.name}" created (id ${policy.id}).`)
      out(`Directory URL: ${directoryUrl(runtime)}`)
    },
  },
  {
    name: 'acme:eab:create',
    description: 'Create External Account Binding credentials for an ACME policy',
    flags: {
      policy: { type: 'string', description: 'Name of the ACME policy', required: true },
      name: { type: 'string', description: 'Name of the EAB (default: cli-<time>)' },
      uses: { type: 'number', description: 'How many accounts it may register (default 1)' },
      expiresDays: { type: 'number', description: 'Days until it expires (default: never)' },
    },
    async run({ flags, runtime, out }) {
      const eab = await eabCreateCommand(runtime, flags as any)
      out(directoryUrl(runtime))
      out(`KID: ${eab.kid}`)
      out(`HMAC key: ${eab.hmacKey}`)
    },
  },
]
