/*
 * Public API of the protocol-agnostic X.509 layer (see docs/pki.md).
 */
export * from './errors.js'
export * from './oids.js'
export {
  algorithmIdentifierDer,
  allowedHashes,
  defaultHash,
  describeSpki,
  keyFamily,
  signatureAlgorithm,
  signatureAlgorithmInfo,
  spkiKeyBits,
  usesHash,
  type KeyFamily,
  type SignatureAlgorithmInfo,
  type SpkiInfo,
} from './algorithms.js'
export * from './pem.js'
export * from './names.js'
export * from './serial.js'
export * from './extensions.js'
export * from './csr.js'
export * from './certificate.js'
export * from './lint.js'
export * from './pkcs7.js'
export * from './ocsp.js'
export * from './crl.js'
