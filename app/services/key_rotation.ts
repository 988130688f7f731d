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
    const rows = await trx
      .from('cas')
      .whereNotNull('key_material')
      .select('id', 'key_ref', 'key_material')
    for (const row of rows) {
      if (!ring.needsRotation(row.key_material)) {
        unchanged++
        continue
      }
      // The blob is bound to its key reference (AAD); re-encryption keeps that binding.
      await trx
        .from('cas')
        .where('id', row.id)
        .update({ key_material: await keyService.reencrypt(row.key_ref, row.key_material) })
      rotated++
    }
    // delegated service certificates' keys (OCSP responders, TSAs): same binding as CA keys
    const serviceKeyRows = await trx
      .from('service_keys')
      .select('certificate_id', 'key_ref', 'key_material')
    for (const row of serviceKeyRows) {
      if (!ring.needsRotation(row.key_material)) continue
      await trx
        .from('service_keys')
        .where('certificate_id', row.certificate_id)
        .update({ key_material: await keyService.reencrypt(row.key_ref, row.key_material) })
      serviceKeys++
    }
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
