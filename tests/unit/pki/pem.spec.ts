import { test } from '@japa/runner'
import { derOrPem, fromPem, PkiError, pemBlocks, toPem } from '../../../app/pki/index.js'

const der = new Uint8Array(Array.from({ length: 200 }, (_, i) => (i === 0 ? 0x30 : (i * 7) & 0xff)))

test.group('pem', () => {
  test('toPem writes 64-character lines and round-trips', ({ assert }) => {
    const pem = toPem(der, 'CERTIFICATE')
    const lines = pem.trimEnd().split('\n')
    assert.equal(lines[0], '-----BEGIN CERTIFICATE-----')
    assert.equal(lines.at(-1), '-----END CERTIFICATE-----')
    for (const line of lines.slice(1, -2)) assert.lengthOf(line, 64)
    assert.isTrue(pem.endsWith('\n'))
    assert.deepEqual(fromPem(pem), der)
  })

  test('fromPem tolerates CRLF, indentation, blank lines and surrounding text', ({ assert }) => {
    const pem = toPem(der, 'CERTIFICATE')
    const messy =
      'Subject: something\r\n\r\n' +
      pem
        .split('\n')
        .map((l) => `   ${l}  `)
        .join('\r\n\r\n') +
      '\r\ntrailing words'
    assert.deepEqual(fromPem(messy, ['CERTIFICATE']), der)
  })

  test('pemBlocks returns every block in order; fromPem picks the expected label', ({ assert }) => {
    const other = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05])
    const text = toPem(other, 'PRIVATE KEY') + toPem(der, 'CERTIFICATE') + toPem(other, 'X509 CRL')
    const blocks = pemBlocks(text)
    assert.deepEqual(
      blocks.map((b) => b.label),
      ['PRIVATE KEY', 'CERTIFICATE', 'X509 CRL']
    )
    assert.deepEqual(fromPem(text, ['CERTIFICATE']), der)
    assert.deepEqual(fromPem(text), other)
  })

  test('wrong label, mismatched END, bad base64 and encrypted PEM are E_INVALID_PEM', ({
    assert,
  }) => {
    const cases = [
      toPem(der, 'CERTIFICATE REQUEST'),
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n',
      '-----BEGIN CERTIFICATE-----\nMII*B$$\n-----END CERTIFICATE-----\n',
      '-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nMIIB\n-----END CERTIFICATE-----\n',
      'no pem at all',
    ]
    for (const text of cases) {
      assert.throws(() => fromPem(text, ['CERTIFICATE']), /PEM|base64/)
      try {
        fromPem(text, ['CERTIFICATE'])
      } catch (error) {
        assert.instanceOf(error, PkiError)
        assert.equal((error as PkiError).code, 'E_INVALID_PEM')
        assert.equal((error as PkiError).status, 400)
      }
    }
  })

  test('derOrPem accepts DER, PEM as string or bytes, and bare base64', ({ assert }) => {
    const pem = toPem(der, 'CERTIFICATE')
    assert.deepEqual(derOrPem(der), der)
    assert.deepEqual(derOrPem(pem), der)
    assert.deepEqual(derOrPem(new TextEncoder().encode(pem)), der)
    assert.deepEqual(derOrPem(Buffer.from(der).toString('base64')), der)
    assert.throws(() => derOrPem(new Uint8Array([0xff, 0x00, 0x13, 0x99])), /neither DER/)
    assert.throws(() => derOrPem(''), /base64/)
  })
})
