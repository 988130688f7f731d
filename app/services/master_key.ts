/*
 * The install's master key ring, loaded once per process. On a fresh install without
 * PKI_MASTER_KEY a key file is generated (mode 0600) in the data folder.
 */
import pkiConfig from '#config/pki'
import { MasterKeyRing } from '../../hsm/master_key.js'

let loaded: { ring: MasterKeyRing; created: boolean; path?: string } | undefined

export function loadMasterKey() {
  if (!loaded) {
    loaded = MasterKeyRing.load({
      envKey: pkiConfig.masterKey.env,
      keyFile: pkiConfig.masterKey.file,
      previousKeys: pkiConfig.masterKey.previous,
      create: true,
    })
  }
  return loaded
}

export function masterKeyRing(): MasterKeyRing {
  return loadMasterKey().ring
}
