/*
 * The install's master key ring, loaded once per process. On a fresh install without
 * PKI_MASTER_KEY a key file is generated (mode 0600) in the data folder.
 */
import pkiConfig from '#config/pki'
import { MasterKeyRing } from '../../hsm/master_key.js'

let loaded: { ring: MasterKeyRing; created: boolean; path?: string } | undefined

export function loadMasterKey() {
  if (!loaded) {
    const result = MasterKeyRing.load({
      envKey: pkiConfig.masterKey.env,
      keyFile: pkiConfig.masterKey.file,
      previousKeys: pkiConfig.masterKey.previous,
      create: true,
    })
    // e.g. a key file others can read; the warnings never hold key bytes.
    for (const warning of result.warnings ?? []) process.stderr.write(`Warning: ${warning}\n`)
    loaded = result
  }
  return loaded
}

export function masterKeyRing(): MasterKeyRing {
  return loadMasterKey().ring
}
