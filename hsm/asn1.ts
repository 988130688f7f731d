/*
 * Thin typed glue over asn1js for the few structures hsm/ reads and writes itself
 * (PKCS#8 / OneAsymmetricKey, SubjectPublicKeyInfo, the ML-DSA private key CHOICE, PBES2
 * parameters). No key material is ever put into an error message.
 */
import * as asn1js from 'asn1js'
import { SignerError } from './types.js'

export type AsnNode = ReturnType<typeof asn1js.fromBER>['result']

type ErrorCode = 'E_KEY_INVALID' | 'E_KEY_UNSUPPORTED'

/** Decodes one complete DER/BER element; trailing bytes are refused. */
export function decodeDer(bytes: Uint8Array, what: string): AsnNode {
  let parsed: ReturnType<typeof asn1js.fromBER>
  try {
    parsed = asn1js.fromBER(bytes, { maxDepth: 16, maxNodes: 2000 })
  } catch {
    throw new SignerError('E_KEY_INVALID', `${what} is not valid DER`)
  }
  if (parsed.offset === -1 || parsed.result.error) {
    throw new SignerError('E_KEY_INVALID', `${what} is not valid DER`)
  }
  if (parsed.offset !== bytes.byteLength) {
    throw new SignerError('E_KEY_INVALID', `${what} has trailing bytes after its DER encoding`)
  }
  return parsed.result
}

export function fail(what: string, code: ErrorCode = 'E_KEY_INVALID'): never {
  throw new SignerError(code, what)
}

export function sequenceItems(node: AsnNode | undefined, what: string): AsnNode[] {
  if (!(node instanceof asn1js.Sequence)) fail(`${what}: expected a SEQUENCE`)
  return node.valueBlock.value
}

export function oidOf(node: AsnNode | undefined, what: string): string {
  if (!(node instanceof asn1js.ObjectIdentifier)) fail(`${what}: expected an OBJECT IDENTIFIER`)
  return node.valueBlock.toString()
}

export function octetsOf(node: AsnNode | undefined, what: string): Uint8Array {
  if (!(node instanceof asn1js.OctetString) || node.valueBlock.isConstructed) {
    fail(`${what}: expected an OCTET STRING`)
  }
  return new Uint8Array(node.valueBlock.valueHexView)
}

export function smallIntOf(node: AsnNode | undefined, what: string): number {
  if (!(node instanceof asn1js.Integer)) fail(`${what}: expected an INTEGER`)
  const bytes = node.valueBlock.valueHexView
  if (bytes.byteLength > 6) fail(`${what}: INTEGER out of range`)
  let value = 0
  for (const b of bytes) value = value * 256 + b
  if (bytes.byteLength > 0 && bytes[0] & 0x80) fail(`${what}: negative INTEGER`)
  return value
}

/** True for a context-specific tag `[n]`. */
export function isContextTag(node: AsnNode | undefined, n: number): boolean {
  return node !== undefined && node.idBlock.tagClass === 3 && node.idBlock.tagNumber === n
}

/** Content octets of an IMPLICIT primitive context-specific element. */
export function primitiveContent(node: AsnNode, what: string): Uint8Array {
  if (!(node instanceof asn1js.Primitive)) fail(`${what}: expected a primitive element`)
  return new Uint8Array(node.valueBlock.valueHexView)
}

export interface AlgorithmIdentifierValue {
  oid: string
  /** DER of the parameters element, absent when the field is absent. */
  params?: AsnNode
}

export function algorithmIdentifierOf(
  node: AsnNode | undefined,
  what: string
): AlgorithmIdentifierValue {
  const items = sequenceItems(node, what)
  if (items.length < 1 || items.length > 2) fail(`${what}: malformed AlgorithmIdentifier`)
  return { oid: oidOf(items[0], what), params: items[1] }
}

/** PKCS#8 PrivateKeyInfo (v1) or OneAsymmetricKey (v2, RFC 5958). */
export interface Pkcs8Parts {
  version: number
  algorithm: AlgorithmIdentifierValue
  privateKey: Uint8Array
  /** Raw public key bits from the v2 `[1] publicKey` field, if present. */
  publicKey?: Uint8Array
}

export function parsePkcs8(der: Uint8Array): Pkcs8Parts {
  const what = 'PKCS#8 private key'
  const items = sequenceItems(decodeDer(der, what), what)
  if (items.length < 3) fail(`${what}: too few fields`)
  const version = smallIntOf(items[0], what)
  if (version !== 0 && version !== 1) fail(`${what}: unknown version ${version}`)
  const algorithm = algorithmIdentifierOf(items[1], what)
  const privateKey = octetsOf(items[2], what)
  let publicKey: Uint8Array | undefined
  for (const extra of items.slice(3)) {
    if (isContextTag(extra, 0)) continue // attributes
    if (isContextTag(extra, 1) && version === 1) {
      const bits = primitiveContent(extra, what)
      if (bits.length < 1 || bits[0] !== 0) fail(`${what}: malformed public key field`)
      publicKey = bits.subarray(1)
      continue
    }
    fail(`${what}: unexpected field`)
  }
  return { version, algorithm, privateKey, publicKey }
}

function algorithmIdentifier(oid: string): asn1js.Sequence {
  // Parameters ABSENT (RFC 9881 / RFC 9909 / RFC 8410).
  return new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid })] })
}

function toBytes(buffer: ArrayBuffer): Uint8Array {
  return new Uint8Array(buffer)
}

/** PKCS#8 v1 PrivateKeyInfo with parameters absent. */
export function encodePkcs8(oid: string, privateKey: Uint8Array): Uint8Array {
  return toBytes(
    new asn1js.Sequence({
      value: [
        new asn1js.Integer({ value: 0 }),
        algorithmIdentifier(oid),
        new asn1js.OctetString({ valueHex: privateKey }),
      ],
    }).toBER()
  )
}

/** SubjectPublicKeyInfo with parameters absent and the raw key as the BIT STRING. */
export function encodeSpki(oid: string, publicKey: Uint8Array): Uint8Array {
  return toBytes(
    new asn1js.Sequence({
      value: [
        algorithmIdentifier(oid),
        new asn1js.BitString({ valueHex: publicKey, unusedBits: 0 }),
      ],
    }).toBER()
  )
}

export interface SpkiParts {
  algorithm: AlgorithmIdentifierValue
  publicKey: Uint8Array
}

export function parseSpki(der: Uint8Array): SpkiParts {
  const what = 'SubjectPublicKeyInfo'
  const items = sequenceItems(decodeDer(der, what), what)
  if (items.length !== 2) fail(`${what}: expected two fields`)
  const algorithm = algorithmIdentifierOf(items[0], what)
  const bits = items[1]
  if (!(bits instanceof asn1js.BitString) || bits.valueBlock.isConstructed) {
    fail(`${what}: expected a BIT STRING`)
  }
  if (bits.valueBlock.unusedBits !== 0) fail(`${what}: public key is not a whole number of bytes`)
  return { algorithm, publicKey: new Uint8Array(bits.valueBlock.valueHexView) }
}

/** `[0] IMPLICIT OCTET STRING` — the ML-DSA seed form (RFC 9881). */
export function encodeContextPrimitive(tagNumber: number, content: Uint8Array): Uint8Array {
  return toBytes(
    new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber }, valueHex: content }).toBER()
  )
}

export function encodeOctetString(content: Uint8Array): Uint8Array {
  return toBytes(new asn1js.OctetString({ valueHex: content }).toBER())
}

export { asn1js }
