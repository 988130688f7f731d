/*
 * Public surface of hsm/: the signer contract, key handling, the master key ring, the software
 * signer and the backend registry. app/ imports from here (or '#hsm/index').
 */
export * from './types.js'
export {
  MasterKeyRing,
  parseMasterKey,
  type MasterKeyLoadOptions,
  type MasterKeyLoadResult,
} from './master_key.js'
export {
  classicalKeyType,
  describeSpki,
  generateKeyPair,
  importPkcs8,
  importPrivateKeyPem,
  keyTypeFromSpki,
  pkcs8KeyType,
  verifySignature,
  type ImportedKey,
  type KeyFamily,
  type KeyPairDer,
  type SpkiDescription,
  type VerifyOptions,
} from './keys.js'
export { SoftwareSigner } from './software_signer.js'
export {
  SignerRegistry,
  SoftwareBackend,
  keyRefScheme,
  type CreatedSoftwareKey,
  type SignerBackend,
} from './backends.js'
export {
  getPqImplementation,
  hasNativePq,
  setPqImplementation,
  type PqImplementation,
} from './pq_native.js'
export { PqWorkerPool, getPqWorkerPool, shutdownPqWorkerPool } from './pq_worker_pool.js'
export { isMlDsaKeyType, isPqKeyType, ML_DSA, SLH_DSA, type PqKeyType } from './algorithms.js'
