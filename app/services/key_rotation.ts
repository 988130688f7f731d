/*
 * Master key rotation: start with the new key as PKI_MASTER_KEY and the old one in
 * PKI_PREVIOUS_MASTER_KEYS, run `node ace key:rotate`, then drop the old key everywhere.
 */
import db from '@adonisjs/lucid/services/db'
import { masterKeyRing } from './master_key.js'
import { audit } from './audit_service.js'
import { keyService } from './key_service.js'
import { reencryptProviderSecrets } from './login_providers.js'
import type { Actor } from './actor.js'
import { reencryptPluginSecrets } from '#plugins/settings_store'
import { reencryptPluginSecretValues } from './plugin_secrets.js'

export async function rotateMasterKey(actor: Actor) {
  const ring = masterKeyRing()
  let rotated = 0
  let unchanged = 0
  let serviceKeys = 0
  await db.transaction(async (trx) => {
    // CA keys, then delegated service certificates' keys (OCSP responders, TSAs)
    const caKeys = await reencryptKeyRows(trx, 'cas', 'id')
    rotated = caKeys.rotated
    unchanged = caKeys.unchanged
    const service = await reencryptKeyRows(trx, 'service_keys', 'certificate_id')
    serviceKeys = service.rotated
    // login providers' client secrets (bound to their row by the AAD)
    const secrets = await reencryptProviderSecrets(trx)
    // Plugin settings marked secret are encrypted with the same ring.
    const pluginSecrets =
      (await reencryptPluginSecrets(trx)) + (await reencryptPluginSecretValues(trx))
    await trx
      .from('kernel_meta')
      .where('key', 'master_key_canary')
      .update({ value: ring.makeCanary() })
    await audit(
      actor,
      {
        action: 'master-key.rotate',
        details: {
          keyId: ring.currentKeyId,
          rotated,
          serviceKeys,
          loginProviderSecrets: secrets,
          pluginSecrets,
        },
      },
      trx
    )
  })
  return { rotated, unchanged, serviceKeys, keyId: ring.currentKeyId }
}

/**
 * Re-encrypts every `key_material` of a table under the current master key. Each blob is bound
 * to its key reference (AAD); re-encryption keeps that binding.
 */
async function reencryptKeyRows(trx: any, table: 'cas' | 'service_keys', idColumn: string) {
  const ring = masterKeyRing()
  let rotated = 0
  let unchanged = 0
  const rows = await trx
    .from(table)
    .whereNotNull('key_material')
    .select(idColumn, 'key_ref', 'key_material')
  for (const row of rows) {
    if (!ring.needsRotation(row.key_material)) {
      unchanged++
      continue
    }
    await trx
      .from(table)
      .where(idColumn, row[idColumn])
      .update({ key_material: await keyService.reencrypt(row.key_ref, row.key_material) })
    rotated++
  }
  return { rotated, unchanged }
}
