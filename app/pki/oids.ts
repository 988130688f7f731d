/*
 * Named object identifiers used across the PKI layer. Plain strings (dotted decimal), grouped
 * by purpose. Keep each value next to the document that defines it.
 */

/** Signature algorithms (certificate / CSR / CRL `signatureAlgorithm`). */
export const SIG = {
  // RFC 8017 / RFC 4055
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha224WithRSAEncryption: '1.2.840.113549.1.1.14',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  rsassaPss: '1.2.840.113549.1.1.10',
  // RFC 5758 / X9.62
  ecdsaWithSHA1: '1.2.840.10045.4.1',
  ecdsaWithSHA224: '1.2.840.10045.4.3.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  // RFC 8410
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  // FIPS 204 (NIST CSOR sigAlgs)
  mlDsa44: '2.16.840.1.101.3.4.3.17',
  mlDsa65: '2.16.840.1.101.3.4.3.18',
  mlDsa87: '2.16.840.1.101.3.4.3.19',
  // FIPS 205 (NIST CSOR sigAlgs)
  slhDsaSha2_128s: '2.16.840.1.101.3.4.3.20',
  slhDsaSha2_128f: '2.16.840.1.101.3.4.3.21',
  slhDsaSha2_192s: '2.16.840.1.101.3.4.3.22',
  slhDsaSha2_192f: '2.16.840.1.101.3.4.3.23',
  slhDsaSha2_256s: '2.16.840.1.101.3.4.3.24',
  slhDsaSha2_256f: '2.16.840.1.101.3.4.3.25',
  slhDsaShake_128s: '2.16.840.1.101.3.4.3.26',
  slhDsaShake_128f: '2.16.840.1.101.3.4.3.27',
  slhDsaShake_192s: '2.16.840.1.101.3.4.3.28',
  slhDsaShake_192f: '2.16.840.1.101.3.4.3.29',
  slhDsaShake_256s: '2.16.840.1.101.3.4.3.30',
  slhDsaShake_256f: '2.16.840.1.101.3.4.3.31',
} as const

/** Public key algorithms (SubjectPublicKeyInfo `algorithm`) and named curves. */
export const KEY = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  x25519: '1.3.101.110',
  x448: '1.3.101.111',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  // named curves (RFC 5480)
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
} as const

/** Digest algorithms. */
export const HASH = {
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const

/** Distinguished name attribute types. */
export const ATTR = {
  commonName: '2.5.4.3',
  surname: '2.5.4.4',
  serialNumber: '2.5.4.5',
  country: '2.5.4.6',
  locality: '2.5.4.7',
  state: '2.5.4.8',
  streetAddress: '2.5.4.9',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  title: '2.5.4.12',
  businessCategory: '2.5.4.15',
  postalCode: '2.5.4.17',
  givenName: '2.5.4.42',
  initials: '2.5.4.43',
  generationQualifier: '2.5.4.44',
  dnQualifier: '2.5.4.46',
  pseudonym: '2.5.4.65',
  organizationIdentifier: '2.5.4.97',
  userId: '0.9.2342.19200300.100.1.1',
  domainComponent: '0.9.2342.19200300.100.1.25',
  emailAddress: '1.2.840.113549.1.9.1',
  // EV jurisdiction (CA/B Forum EV guidelines)
  jurisdictionLocality: '1.3.6.1.4.1.311.60.2.1.1',
  jurisdictionState: '1.3.6.1.4.1.311.60.2.1.2',
  jurisdictionCountry: '1.3.6.1.4.1.311.60.2.1.3',
} as const

/** Certificate and CRL extensions. */
export const EXT = {
  subjectDirectoryAttributes: '2.5.29.9',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  privateKeyUsagePeriod: '2.5.29.16',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  cRLNumber: '2.5.29.20',
  cRLReason: '2.5.29.21',
  invalidityDate: '2.5.29.24',
  deltaCRLIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  certificateIssuer: '2.5.29.29',
  nameConstraints: '2.5.29.30',
  cRLDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  freshestCRL: '2.5.29.46',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  subjectInfoAccess: '1.3.6.1.5.5.7.1.11',
  tlsFeature: '1.3.6.1.5.5.7.1.24',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  // Certificate Transparency (RFC 6962)
  ctPrecertPoison: '1.3.6.1.4.1.11129.2.4.3',
  ctSctList: '1.3.6.1.4.1.11129.2.4.2',
  // Microsoft
  msCertificateTemplateName: '1.3.6.1.4.1.311.20.2',
  msCertificateTemplate: '1.3.6.1.4.1.311.21.7',
  msCaVersion: '1.3.6.1.4.1.311.21.1',
  msApplicationPolicies: '1.3.6.1.4.1.311.21.10',
} as const

/** Extended key usage purposes (RFC 5280 4.2.1.12 and others). */
export const EKU = {
  anyExtendedKeyUsage: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  ipsecEndSystem: '1.3.6.1.5.5.7.3.5',
  ipsecTunnel: '1.3.6.1.5.5.7.3.6',
  ipsecUser: '1.3.6.1.5.5.7.3.7',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
  ipsecIKE: '1.3.6.1.5.5.7.3.17', // RFC 4945
  sshClient: '1.3.6.1.5.5.7.3.21', // RFC 6187
  sshServer: '1.3.6.1.5.5.7.3.22', // RFC 6187
  documentSigning: '1.3.6.1.5.5.7.3.36', // RFC 9336
  pkinitClientAuth: '1.3.6.1.5.2.3.4', // RFC 4556
  pkinitKdc: '1.3.6.1.5.2.3.5', // RFC 4556
  smartcardLogon: '1.3.6.1.4.1.311.20.2.2', // Microsoft
  msEfs: '1.3.6.1.4.1.311.10.3.4', // Microsoft encrypting file system
  msDocumentSigning: '1.3.6.1.4.1.311.10.3.12',
  ctPrecertSigning: '1.3.6.1.4.1.11129.2.4.4', // RFC 6962
} as const

export type EkuName = keyof typeof EKU

/** AccessDescription methods (AIA / SIA). */
export const ACCESS = {
  ocsp: '1.3.6.1.5.5.7.48.1',
  caIssuers: '1.3.6.1.5.5.7.48.2',
  timeStamping: '1.3.6.1.5.5.7.48.3',
  caRepository: '1.3.6.1.5.5.7.48.5',
} as const

/** Certificate policies and their qualifiers. */
export const POLICY = {
  anyPolicy: '2.5.29.32.0',
  qualifierCps: '1.3.6.1.5.5.7.2.1',
  qualifierUserNotice: '1.3.6.1.5.5.7.2.2',
  // CA/Browser Forum reserved policy identifiers
  extendedValidation: '2.23.140.1.1',
  domainValidated: '2.23.140.1.2.1',
  organizationValidated: '2.23.140.1.2.2',
  individualValidated: '2.23.140.1.2.3',
  evCodeSigning: '2.23.140.1.3',
  codeSigning: '2.23.140.1.4.1',
  timeStamping: '2.23.140.1.4.2',
  smimeMailboxLegacy: '2.23.140.1.5.1.1',
  smimeMailboxMultipurpose: '2.23.140.1.5.1.2',
  smimeMailboxStrict: '2.23.140.1.5.1.3',
  smimeOrganizationLegacy: '2.23.140.1.5.2.1',
  smimeOrganizationMultipurpose: '2.23.140.1.5.2.2',
  smimeOrganizationStrict: '2.23.140.1.5.2.3',
  smimeSponsorLegacy: '2.23.140.1.5.3.1',
  smimeSponsorMultipurpose: '2.23.140.1.5.3.2',
  smimeSponsorStrict: '2.23.140.1.5.3.3',
  smimeIndividualLegacy: '2.23.140.1.5.4.1',
  smimeIndividualMultipurpose: '2.23.140.1.5.4.2',
  smimeIndividualStrict: '2.23.140.1.5.4.3',
} as const

/** PKCS#9 / CSR attributes. */
export const PKCS9 = {
  emailAddress: '1.2.840.113549.1.9.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
  /** Microsoft's pre-standard extension request attribute, still sent by some clients. */
  msCertExtensions: '1.3.6.1.4.1.311.2.1.14',
} as const

/** CMS content types. */
export const CMS = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
} as const

/** Short display names for OIDs we know (signature algorithms, EKUs, extensions, policies). */
const NAMES: Record<string, string> = {}
for (const group of [SIG, KEY, HASH, EXT, EKU, ACCESS, POLICY, CMS] as Record<string, string>[]) {
  for (const [name, oid] of Object.entries(group)) if (!(oid in NAMES)) NAMES[oid] = name
}

/** A friendly name for an OID, or the dotted OID itself. */
export function oidName(oid: string): string {
  return NAMES[oid] ?? oid
}
