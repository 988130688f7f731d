/*
 * Hand-built DER for tests that need requests no tool makes (a forged signature, a repeated
 * extension): a TLV writer and a PKCS#10 request around a given SubjectPublicKeyInfo, kept
 * apart from app/pki so the bytes are not made by the code under test.
 */
import crypto from 'node:crypto'

/** One TLV with a definite length (short form, or 0x81/0x82 long form). */
export function tlv(tag: number, body: Buffer): Buffer {
  const len =
    body.length < 0x80
      ? Buffer.from([body.length])
      : body.length < 0x100
        ? Buffer.from([0x81, body.length])
        : Buffer.from([0x82, body.length >> 8, body.length & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}

const oid = (hex: string) => tlv(0x06, Buffer.from(hex, 'hex'))

/** A subjectAltName extension with DNS names. */
export function dnsSanExtension(names: string[]): Buffer {
  const general = Buffer.concat(names.map((n) => tlv(0x82, Buffer.from(n))))
  return tlv(0x30, Buffer.concat([oid('551d11'), tlv(0x04, tlv(0x30, general))]))
}

/** One RDN: a SET of one AttributeTypeAndValue, the type's OID in hex and the value's TLV. */
export function rdn(oidHex: string, value: Buffer): Buffer {
  return tlv(0x31, tlv(0x30, Buffer.concat([oid(oidHex), value])))
}

/**
 * The CertificationRequestInfo for CN=`commonName` (then `moreRdns`) and `spki`, with one
 * extensionRequest attribute holding `extensions` (each a DER Extension).
 */
export function requestInfo(
  commonName: string,
  spki: Buffer,
  extensions: Buffer[],
  moreRdns: Buffer[] = []
): Buffer {
  const cn = tlv(
    0x30,
    Buffer.concat([rdn('550403', tlv(0x0c, Buffer.from(commonName))), ...moreRdns])
  )
  const extReq = tlv(
    0x30,
    Buffer.concat([oid('2a864886f70d01090e'), tlv(0x31, tlv(0x30, Buffer.concat(extensions)))])
  )
  return tlv(0x30, Buffer.concat([Buffer.from('020100', 'hex'), cn, spki, tlv(0xa0, extReq)]))
}

/** A PEM request from its info, signature algorithm (DER AlgorithmIdentifier) and signature. */
export function requestPem(info: Buffer, algorithm: Buffer, signature: Buffer): string {
  const der = tlv(
    0x30,
    Buffer.concat([info, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))])
  )
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`
}

/** ecdsa-with-SHA256 */
export const ECDSA_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex')
/** sha256WithRSAEncryption */
export const RSA_SHA256 = Buffer.from('300d06092a864886f70d01010b0500', 'hex')

/** A request signed by a new P-256 key, with the given extensions (and further RDNs). */
export function p256Request(
  commonName: string,
  extensions: Buffer[],
  moreRdns: Buffer[] = []
): string {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const info = requestInfo(
    commonName,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
    moreRdns
  )
  return requestPem(info, ECDSA_SHA256, crypto.sign('sha256', info, privateKey))
}
