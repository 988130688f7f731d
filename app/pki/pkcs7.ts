/*
 * Degenerate ("certs-only") PKCS#7 / CMS SignedData (RFC 5652, RFC 8894 3.4 for SCEP
 * GetCACert): no content, no signers, just certificates.
 */
import * as asn1js from 'asn1js'
import { isSingleSequence, oidDer, sequence, TAG, tlv, toBuffer } from './der.js'
import { PkiError } from './errors.js'
import { CMS } from './oids.js'
import { derOrPem, PEM_LABELS } from './pem.js'

const VERSION_1 = Buffer.from([TAG.INTEGER, 1, 1])
const EMPTY_SET = Buffer.from([TAG.SET, 0])

/**
 * ContentInfo { signedData, SignedData { version 1, digestAlgorithms {}, encapContentInfo
 * { data }, certificates [0] (in the given order), signerInfos {} } } as DER bytes.
 * The certificates are embedded byte for byte.
 */
export function certsOnlyPkcs7(certs: readonly Uint8Array[]): Uint8Array {
  for (const [i, cert] of certs.entries()) {
    if (!isSingleSequence(cert)) {
      throw new PkiError(
        'E_INVALID_CERTIFICATE',
        `certificate #${i + 1} is not DER (convert PEM with derOrPem first)`
      )
    }
  }
  const signedData = sequence(
    VERSION_1,
    EMPTY_SET,
    sequence(oidDer(CMS.data)),
    ...(certs.length > 0 ? [tlv(0xa0, ...certs)] : []),
    EMPTY_SET
  )
  return sequence(oidDer(CMS.signedData), tlv(0xa0, signedData))
}

/**
 * The certificates of a PKCS#7 / CMS SignedData (DER, BER or PEM "PKCS7"/"CMS"), byte for
 * byte, in order. Certificates of other kinds (attribute certificates, ...) are skipped.
 */
export function certsFromPkcs7(input: Uint8Array | string): Uint8Array[] {
  let der: Uint8Array
  try {
    der = derOrPem(input, [PEM_LABELS.pkcs7, PEM_LABELS.cms])
  } catch (error) {
    throw new PkiError(
      'E_INVALID_CERTIFICATE',
      `not a PKCS#7 bundle: ${(error as Error).message}`,
      { cause: error }
    )
  }
  const fail = (why: string) =>
    new PkiError('E_INVALID_CERTIFICATE', `not a PKCS#7 certificate bundle: ${why}`)
  const parsed = asn1js.fromBER(toBuffer(der))
  if (parsed.offset === -1) throw fail(parsed.result.error || 'malformed ASN.1')
  const contentInfo = parsed.result
  if (!(contentInfo instanceof asn1js.Sequence)) throw fail('not a ContentInfo')
  const [type, explicit] = contentInfo.valueBlock.value
  if (!(type instanceof asn1js.ObjectIdentifier) || type.valueBlock.toString() !== CMS.signedData) {
    throw fail('the content type is not signedData')
  }
  const signedData = (explicit as asn1js.Constructed | undefined)?.valueBlock.value[0]
  if (!(signedData instanceof asn1js.Sequence)) throw fail('no SignedData')
  const certificates = signedData.valueBlock.value.find(
    (el) => el.idBlock.tagClass === 3 && el.idBlock.tagNumber === 0
  ) as asn1js.Constructed | undefined
  if (!certificates) return []
  const out: Uint8Array[] = []
  for (const el of certificates.valueBlock.value) {
    if (!(el instanceof asn1js.Sequence)) continue
    // the bytes as they are in the bundle (re-encoding could alter a signed structure)
    out.push(new Uint8Array(el.valueBeforeDecodeView))
  }
  return out
}
