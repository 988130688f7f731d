/*
 * Plugin secrets (contract: runtime.secrets): values a plugin must be able to read back but
 * never store in plain text (ACME EAB HMAC keys, remote-signer credentials). Each is encrypted
 * under the master key, bound (AAD) to its plugin and handle, in plugin_secrets; the plugin keeps
 * the random handle. Re-encrypted by `key:rotate` (reencryptPluginSecretValues).
 */
import { randomBytes } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import { masterKeyRing } from './master_key.js'

const aad = (pluginId: string, handle: string) => `plugin-secret:${pluginId}:${handle}`
const HANDLE = /^ps_[A-Za-z0-9_-]{22,60}$/

export function pluginSecrets(pluginId: string) {
  return {
    async put(value: string): Promise<string> {
      if (typeof value !== 'string') throw new TypeError('A plugin secret is a string.')
      const handle = `ps_${randomBytes(24).toString('base64url')}`
      await db.table('plugin_secrets').insert({
        id: handle,
        plugin_id: pluginId,
        material: masterKeyRing().encrypt(Buffer.from(value, 'utf8'), aad(pluginId, handle)),
        created_at: Date.now(),
      })
      return handle
    },

    async get(handle: string): Promise<string | null> {
      if (typeof handle !== 'string' || !HANDLE.test(handle)) return null
      const row = await db
        .from('plugin_secrets')
        .where({ id: handle, plugin_id: pluginId })
        .select('material')
        .first()
      if (!row) return null
      return masterKeyRing().decrypt(row.material, aad(pluginId, handle)).toString('utf8')
    },

    async delete(handle: string): Promise<void> {
      if (typeof handle !== 'string' || !HANDLE.test(handle)) return
      await db.from('plugin_secrets').where({ id: handle, plugin_id: pluginId }).delete()
    },
  }
}

/** key:rotate: re-encrypts every plugin secret under the current master key. */
export async function reencryptPluginSecretValues(trx: any): Promise<number> {
  const ring = masterKeyRing()
  let count = 0
  const secrets = await trx.from('plugin_secrets').select('id', 'plugin_id', 'material')
  for (const row of secrets) {
    if (!ring.needsRotation(row.material)) continue
    await trx
      .from('plugin_secrets')
      .where('id', row.id)
      .update({ material: ring.reencrypt(row.material, aad(row.plugin_id, row.id)) })
    count++
  }
  return count
}
