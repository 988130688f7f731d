import { test } from '@japa/runner'
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  AttributeTypeAndValue,
  AttributeValue,
  GeneralName,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
} from '@peculiar/asn1-x509'
import {
  bytesToIp,
  decodeGeneralNamesDer,
  decodeSans,
  encodeSans,
  generalNamesDer,
  ipToBytes,
  isValidDnsName,
  isValidEmail,
  isValidIp,
  isValidUri,
  nameFromDer,
  nameToDer,
  nameToString,
  nameToSubject,
  normalizeSerialHex,
  parseName,
  PkiError,
  subjectToName,
  type SanEntry,
  type SubjectFields,
} from '../../../app/pki/index.js'
import { run, toolPath } from '../../helpers/external.js'

test.group('names: subject', () => {
  test('SubjectFields → DER → SubjectFields round-trips, in C ST L O OU CN emailAddress order', ({
    assert,
  }) => {
    const fields: SubjectFields = {
      commonName: 'Jürgen Müller',
      organization: 'Müller & Söhne, GmbH',
      organizationalUnit: 'Einkauf',
      country: 'de',
      state: 'Bayern',
      locality: 'München',
      email: 'jm@example.com',
      serialNumber: 'ID-12345',
      domainComponent: ['com', 'example'],
      extra: [{ oid: '2.5.4.11', value: 'Ausland' }],
    }
    const der = nameToDer(fields)
    const back = nameFromDer(der)
    assert.deepEqual(back, { ...fields, country: 'DE' })
    assert.equal(
      nameToString(der, { order: 'encoded' }),
      'DC=com,DC=example,C=DE,ST=Bayern,L=München,O=Müller & Söhne\\, GmbH,OU=Einkauf,CN=Jürgen Müller,' +
        'serialNumber=ID-12345,emailAddress=jm@example.com,OU=Ausland'
    )
    assert.isTrue(
      nameToString(der).startsWith(
        'OU=Ausland,emailAddress=jm@example.com,serialNumber=ID-12345,CN='
      )
    )
  })

  test('string types: PrintableString for C and serialNumber, IA5String for email and DC, UTF8String otherwise (openssl asn1parse)', async ({
    assert,
  }) => {
    const der = nameToDer({
      country: 'US',
      organization: 'Acme',
      commonName: 'acme.test',
      email: 'a@acme.test',
      serialNumber: '42',
      domainComponent: ['test'],
    })
    const { code, stdout } = await run(toolPath('openssl'), ['asn1parse', '-inform', 'DER'], {
      input: Buffer.from(der),
    })
    assert.equal(code, 0)
    const types = stdout
      .split('\n')
      .filter((l) => /STRING/.test(l))
      .map((l) => l.replace(/.*prim: (\S+)\s*:(.*)/, '$1=$2').trim())
    assert.deepEqual(types, [
      'IA5STRING=test',
      'PRINTABLESTRING=US',
      'UTF8STRING=Acme',
      'UTF8STRING=acme.test',
      'PRINTABLESTRING=42',
      'IA5STRING=a@acme.test',
    ])
  })

  test('invalid subjects are E_INVALID_NAME', ({ assert }) => {
    const bad: SubjectFields[] = [
      { country: 'Germany' },
      { country: 'D1' },
      { serialNumber: 'a_b' },
      { email: 'jürgen@example.com' },
      { extra: [{ oid: 'not-an-oid', value: 'x' }] },
      // EV jurisdictionCountryName is a two-letter ISO 3166 code too
      { extra: [{ oid: '1.3.6.1.4.1.311.60.2.1.3', value: 'usa' }] },
      // one DNS label per domainComponent (RFC 4519 §2.4)
      { domainComponent: ['example.com'] },
    ]
    for (const fields of bad) {
      try {
        nameToDer(fields)
        assert.fail(`accepted ${JSON.stringify(fields)}`)
      } catch (error) {
        assert.instanceOf(error, PkiError)
        assert.equal((error as PkiError).code, 'E_INVALID_NAME')
      }
    }
    assert.throws(() => nameFromDer(new Uint8Array([0x30, 0x05, 0x31])), /not valid DER/)
  })

  test('a value that is no string shows as an RFC 4514 hexstring, a "#" in text is escaped', ({
    assert,
  }) => {
    // serialNumber as an INTEGER (not a string type): SEQUENCE { SET { SEQUENCE { OID, INTEGER } } }
    const der = Buffer.from('300f310d300b0603550405020412345678', 'hex')
    assert.equal(nameToString(der), 'serialNumber=#020412345678')
    // Read back as fields it stays marked, and is refused rather than re-issued as the text "#02…".
    const fields = nameFromDer(der)
    assert.isUndefined(fields.serialNumber)
    assert.deepEqual(fields.extra, [{ oid: '2.5.4.5', value: '#020412345678', hex: true }])
    assert.throws(
      () => nameToDer(fields),
      /serialNumber has a value that is no string \(#020412345678\)/
    )
    assert.equal(nameToString(nameToDer({ commonName: '#tag' })), 'CN=\\#tag')
    assert.equal(
      nameToString(nameToDer({ extra: [{ oid: '1.3.6.1.4.1.311.60.2.1.3', value: 'us' }] })),
      'jurisdictionC=US'
    )
  })

  test('empty fields are left out; an empty subject encodes as an empty SEQUENCE', ({ assert }) => {
    assert.deepEqual(
      nameToDer({ commonName: '', organization: undefined }),
      new Uint8Array([0x30, 0x00])
    )
    assert.equal(nameToString(new Uint8Array([0x30, 0x00])), '')
  })
})

test.group('names: direct DER codec agrees with the asn1-x509 schemas', () => {
  const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]
  const utf8Pool = [
    'a',
    'Z',
    '0',
    ' ',
    ',',
    '+',
    '"',
    '\\',
    '#',
    'é',
    'ß',
    'Ж',
    '中',
    '😀',
    '\u00a0',
    '=',
    ';',
    '<',
  ]
  const text = (max: number) =>
    Array.from({ length: 1 + Math.floor(Math.random() * max) }, () => pick(utf8Pool)).join('')
  const printable = (max: number) =>
    Array.from({ length: 1 + Math.floor(Math.random() * max) }, () =>
      pick(['A', 'b', '9', ' ', '-', '.', ':', '?'])
    ).join('')

  function randomSubject(): SubjectFields {
    const fields: SubjectFields = {}
    if (Math.random() < 0.7) fields.commonName = text(20)
    if (Math.random() < 0.5) fields.organization = text(30)
    if (Math.random() < 0.3) fields.organizationalUnit = text(10)
    if (Math.random() < 0.5) fields.country = pick(['DE', 'US', 'jp'])
    if (Math.random() < 0.3) fields.state = text(10)
    if (Math.random() < 0.3) fields.locality = text(10)
    if (Math.random() < 0.3) fields.email = `user${Math.floor(Math.random() * 100)}@example.com`
    if (Math.random() < 0.2) fields.serialNumber = printable(12)
    if (Math.random() < 0.2) fields.domainComponent = ['com', 'example']
    if (Math.random() < 0.2)
      fields.extra = [
        { oid: '2.5.4.11', value: text(5) },
        { oid: '1.3.6.1.4.1.99999.7', value: text(5) },
      ]
    return fields
  }

  test('nameToDer bytes equal AsnConvert(subjectToName); nameFromDer equals nameToSubject(parseName)', ({
    assert,
  }) => {
    for (let i = 0; i < 500; i++) {
      const fields = randomSubject()
      const ours = Buffer.from(nameToDer(fields))
      assert.equal(
        ours.toString('hex'),
        Buffer.from(AsnConvert.serialize(subjectToName(fields))).toString('hex'),
        JSON.stringify(fields)
      )
      assert.deepEqual(nameFromDer(ours), nameToSubject(parseName(ours)))
      assert.equal(nameToString(ours), nameToString(parseName(ours)))
    }
  })

  test('names in other string types (BMPString, TeletexString, UniversalString) decode like asn1-x509', ({
    assert,
  }) => {
    const der = nameToDer(
      new Name([
        new RelativeDistinguishedName([
          new AttributeTypeAndValue({
            type: '2.5.4.3',
            value: new AttributeValue({ bmpString: 'BMP Ж 中' }),
          }),
        ]),
        new RelativeDistinguishedName([
          new AttributeTypeAndValue({
            type: '2.5.4.10',
            value: new AttributeValue({ teletexString: 'Teletex' }),
          }),
        ]),
        new RelativeDistinguishedName([
          new AttributeTypeAndValue({
            type: '2.5.4.11',
            value: new AttributeValue({ universalString: 'Univ 😀' }),
          }),
          new AttributeTypeAndValue({
            type: '2.5.4.7',
            value: new AttributeValue({ printableString: 'Multi' }),
          }),
        ]),
      ])
    )
    assert.deepEqual(nameFromDer(der), nameToSubject(parseName(der)))
    assert.deepEqual(nameFromDer(der), {
      commonName: 'BMP Ж 中',
      organization: 'Teletex',
      organizationalUnit: 'Univ 😀',
      locality: 'Multi',
    })
    assert.equal(nameToString(der), 'OU=Univ 😀+L=Multi,O=Teletex,CN=BMP Ж 中')
  })

  test('GeneralNames: direct encoding equals asn1-x509; decoding agrees', ({ assert }) => {
    const sans: SanEntry[] = [
      { type: 'dns', value: '*.a.example' },
      { type: 'email', value: 'x@a.example' },
      { type: 'uri', value: 'urn:example:1' },
      { type: 'ip', value: '10.0.0.1' },
      { type: 'ip', value: 'fe80::1' },
    ]
    const ours = generalNamesDer(sans)
    assert.equal(
      ours.toString('hex'),
      Buffer.from(AsnConvert.serialize(new SubjectAlternativeName(encodeSans(sans)))).toString(
        'hex'
      )
    )
    const viaLibrary = decodeSans([...AsnConvert.parse(ours, SubjectAlternativeName)])
    assert.deepEqual(decodeGeneralNamesDer(ours), { sans: viaLibrary, otherCount: 0 })
    const withOther = Buffer.from(
      AsnConvert.serialize(
        new SubjectAlternativeName([
          new GeneralName({ registeredID: '1.2.3' }),
          ...encodeSans(sans.slice(0, 1)),
        ])
      )
    )
    assert.deepEqual(decodeGeneralNamesDer(withOther), { sans: sans.slice(0, 1), otherCount: 1 })
  })
})

test.group('names: validation helpers', () => {
  test('isValidDnsName', ({ assert }) => {
    for (const ok of [
      'example.com',
      'a.b.c.d',
      '*.example.com',
      'xn--bcher-kva.example',
      'localhost',
      'a-b.c0m',
      `${'a'.repeat(63)}.com`,
    ]) {
      assert.isTrue(isValidDnsName(ok), ok)
    }
    for (const bad of [
      '',
      '.',
      'example.com.',
      '-a.com',
      'a-.com',
      'a..b',
      '*.',
      '*',
      'a.*.com',
      'foo*.com',
      'ex ample.com',
      'bücher.de',
      'under_score.com',
      `${'a'.repeat(64)}.com`,
      `${'a.'.repeat(127)}aa`,
    ]) {
      assert.isFalse(isValidDnsName(bad), bad)
    }
    assert.isFalse(isValidDnsName('*.example.com', { allowWildcard: false }))
  })

  test('isValidIp and IP ↔ bytes (IPv4, IPv6 compressed, IPv4-mapped)', ({ assert }) => {
    assert.deepEqual(ipToBytes('192.0.2.1'), new Uint8Array([192, 0, 2, 1]))
    assert.deepEqual(
      ipToBytes('2001:db8::1'),
      new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    )
    assert.equal(bytesToIp(ipToBytes('2001:0DB8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1')
    assert.equal(bytesToIp(ipToBytes('::')!), '::')
    assert.equal(bytesToIp(ipToBytes('1:0:0:2:0:0:0:3')!), '1:0:0:2::3')
    assert.equal(bytesToIp(ipToBytes('::ffff:10.1.2.3')!), '::ffff:10.1.2.3')
    assert.equal(bytesToIp(ipToBytes('fe80::1:2')!), 'fe80::1:2')
    for (const bad of [
      '256.1.1.1',
      '1.2.3',
      '01.2.3.4',
      '1.2.3.4.5',
      '::1::',
      '12345::',
      'fe80::1%eth0',
      '1:2:3:4:5:6:7:8:9',
      'g::1',
      '',
      'localhost',
      '1:2:3:4:5:6:7::8',
    ]) {
      assert.isFalse(isValidIp(bad), bad)
    }
    assert.isTrue(isValidIp('1:2:3:4:5:6:7:8'))
    assert.isTrue(isValidIp('::1'))
  })

  test('isValidEmail and isValidUri', ({ assert }) => {
    assert.isTrue(isValidEmail('first.last+tag@example.com'))
    for (const bad of [
      'no-at.example.com',
      '@example.com',
      'a@',
      'a@b_c.com',
      'a b@example.com',
      'a..b@example.com',
      'ü@example.com',
      'a@*.example.com',
    ]) {
      assert.isFalse(isValidEmail(bad), bad)
    }
    for (const ok of [
      'https://example.com/x?y=1',
      'http://127.0.0.1:8080/ocsp',
      'ldap://ldap.example.com/cn=CA',
      'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
      'spiffe://trust.example/ns/a',
    ]) {
      assert.isTrue(isValidUri(ok), ok)
    }
    for (const bad of [
      '',
      'example.com/x',
      'http://',
      'http://exa mple.com',
      'https://bücher.de/',
      '/relative',
    ]) {
      assert.isFalse(isValidUri(bad), bad)
    }
  })

  test('normalizeSerialHex', ({ assert }) => {
    assert.equal(normalizeSerialHex('00:AB:CD'), 'abcd')
    assert.equal(normalizeSerialHex('ABC'), '0abc')
    assert.equal(normalizeSerialHex('0x00ff'), 'ff')
    assert.equal(normalizeSerialHex(' 7f 00 01 '), '7f0001')
    assert.equal(normalizeSerialHex('80'), '80')
    for (const bad of ['', '00', '0:0', 'xyz', '12-34', 'g1']) {
      assert.throws(() => normalizeSerialHex(bad), /serial|hexadecimal|positive/)
    }
  })
})

test.group('names: SANs', () => {
  test('encode/decode all four kinds; IPs canonical; library-level GeneralName bytes', ({
    assert,
  }) => {
    const sans = [
      { type: 'dns', value: 'www.example.com' },
      { type: 'ip', value: '192.0.2.7' },
      { type: 'ip', value: '2001:DB8:0:0::A' },
      { type: 'ip', value: '::ffff:192.0.2.8' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'https://example.com/device/1' },
    ] as const
    const names = encodeSans(sans)
    const der = Buffer.from(AsnConvert.serialize(new SubjectAlternativeName(names)))
    // iPAddress [7] OCTET STRING of 4 and 16 bytes
    assert.include(der.toString('hex'), '8704c0000207')
    assert.include(der.toString('hex'), '871020010db800000000000000000000000a')
    assert.include(der.toString('hex'), '871000000000000000000000ffffc0000208')
    const back = decodeSans([...AsnConvert.parse(der, SubjectAlternativeName)])
    assert.deepEqual(back, [
      { type: 'dns', value: 'www.example.com' },
      { type: 'ip', value: '192.0.2.7' },
      { type: 'ip', value: '2001:db8::a' },
      { type: 'ip', value: '::ffff:192.0.2.8' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'https://example.com/device/1' },
    ])
  })

  test('invalid SANs are E_INVALID_SAN; unmapped kinds are skipped on decode', ({ assert }) => {
    for (const san of [
      { type: 'dns', value: 'bad_name' },
      { type: 'ip', value: '300.1.1.1' },
      { type: 'email', value: 'nope' },
      { type: 'uri', value: 'no-scheme' },
      { type: 'upn', value: 'x' },
    ]) {
      try {
        encodeSans([san as never])
        assert.fail(`accepted ${san.value}`)
      } catch (error) {
        assert.equal((error as PkiError).code, 'E_INVALID_SAN')
      }
    }
    assert.deepEqual(decodeSans([new GeneralName({ registeredID: '1.2.3.4' })]), [])
  })
})
