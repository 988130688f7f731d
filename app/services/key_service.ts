/*
 * The kernel's door to hsm/: creates and imports CA keys and hands out signers. Signers are
 * cached by key reference, so a key is decrypted and parsed once per process.
 */
import { SoftwareBackend } from '../../hsm/backends.js'
import { SoftwareSigner } from '../../hsm/software_signer.js'
import { SignerError, type KeyType, type Signer } from '../../hsm/types.js'
import { KernelError } from '#exceptions/kernel_error'
import { masterKeyRing } from './master_key.js'

let backend: SoftwareBackend | undefined

function software() {
  backend ??= new SoftwareBackend(masterKeyRing())
  return backend
}

function mapSignerError(error: unknown): never {
  if (error instanceof SignerError) {
    if (error.code === 'E_KEY_INVALID' || error.code === 'E_KEY_UNSUPPORTED') {
      throw new KernelError('E_INVALID_KEY', error.message)
    }
    throw new KernelError('E_SIGNER_UNAVAILABLE', error.message)
  }
  throw error
}

export const keyService = {
  async createKey(keyType: KeyType) {
    try {
      return await software().createKey(keyType)
    } catch (error) {
      mapSignerError(error)
    }
  },

  async importKey(pem: string, password?: string) {
    try {
      return await software().importKey(pem, password)
    } catch (error) {
      mapSignerError(error)
    }
  },

  async signerFor(ca: { keyRef: string; keyMaterial: string | null }): Promise<Signer> {
    try {
      return await software().load(ca.keyRef, ca.keyMaterial ?? undefined)
    } catch (error) {
      mapSignerError(error)
    }
  },

  async reencrypt(keyRef: string, blob: string) {
    return software().reencrypt(keyRef, blob)
  },

  async close() {
    await backend?.close()
    backend = undefined
    await SoftwareSigner.close()
  },

  forget(keyRef: string) {
    software().evict(keyRef)
  },
}
