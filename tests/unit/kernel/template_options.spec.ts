import { test } from '@japa/runner'
import {
  mergeTemplateOptions,
  parseTemplateOptions,
  starterOptions,
  STARTER_TEMPLATES,
} from '#services/template_options'
import { parseReason, REVOCATION_REASONS } from '#services/revocation_service'

test.group('Template options', () => {
  test('defaults fill every option', ({ assert }) => {
    const options = parseTemplateOptions({})
    assert.isTrue(options.enabled)
    assert.equal(options.validityDays, 365)
    assert.deepEqual(options.keys.allowed, ['rsa', 'ec', 'ed25519', 'ml-dsa', 'slh-dsa'])
    assert.deepEqual(options.renewal, {
      allowWithValidCertificate: false,
      revokeOld: false,
      withinDays: null,
      copySubjectAndSans: true,
    })
  })

  test('every starter validates; the Web Server starter follows current practice', ({ assert }) => {
    for (const id of Object.keys(STARTER_TEMPLATES)) assert.isObject(starterOptions(id))
    const web = starterOptions('web-server')
    assert.isAtMost(web.validityDays, 397)
    assert.deepEqual(web.keyUsage, ['digitalSignature', 'keyEncipherment'])
    assert.isTrue(web.keyUsageByKeyType)
    assert.isTrue(web.cps.include)
    assert.isTrue(starterOptions('certificate-authority').basicConstraints.ca)
  })

  test('merging keeps other options and validates the result', ({ assert }) => {
    const web = starterOptions('web-server')
    const merged = mergeTemplateOptions(web, { keys: { minRsaBits: 3072 } })
    assert.equal(merged.keys.minRsaBits, 3072)
    assert.deepEqual(merged.keys.allowed, web.keys.allowed)
    assert.throws(() => mergeTemplateOptions(web, { keys: { minRsaBits: 1024 } }), /minRsaBits/)
    assert.throws(() => parseTemplateOptions({ unknown: 1 }), /additional properties/)
  })
})

test.group('Revocation reasons', () => {
  test('RFC 5280 names are accepted in any case; removeFromCRL is not a revocation reason', ({
    assert,
  }) => {
    assert.lengthOf(REVOCATION_REASONS, 9)
    assert.equal(parseReason('KEYCOMPROMISE'), 'keyCompromise')
    assert.equal(parseReason(undefined), 'unspecified')
    assert.throws(() => parseReason('removeFromCRL'), /delta CRLs/)
    assert.throws(() => parseReason('lost'), /not a revocation reason/)
  })
})
