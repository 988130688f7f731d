/*
 * The CRL plugin's CRLs read by clients we did not write: `openssl verify -crl_check`, and
 * `-crl_check_all -use_deltas -extended_crl` with a base and a delta that carries a new
 * revocation and a removeFromCRL; `openssl crl -verify`; GnuTLS `certtool --verify-crl`; shard
 * CRLs under -extended_crl (the right shard revokes, another shard is out of scope); OpenSSL 3.5
 * for an ML-DSA CA and an SLH-DSA CA (no incremental signer: signed whole).
 */
import { test } from '@japa/runner'
import { createCa, unique, webServerTemplate, withFiles } from '#tests/helpers/api'
import { opensslVerify, run, toolPath, type OpensslBinary } from '#tests/helpers/external'
import { toPem } from '#pki/index'
import {
  crlNumberOf,
  fetchCrl,
  issueLeaf,
  readCrl,
  refreshCrls,
  revokeApi,
  setCrlSettings,
  unrevokeApi,
} from '../functional/crl_support.js'

const pemOf = (der: Buffer) => toPem(der, 'X509 CRL')

async function certtoolVerifyCrl(caPem: string, crlPem: string) {
  return withFiles({ 'ca.pem': caPem, 'crl.pem': crlPem }, async (p) => {
    const r = await run('/usr/bin/certtool', [
      '--verify-crl',
      '--load-ca-certificate',
      p['ca.pem'],
      '--infile',
      p['crl.pem'],
    ])
    return { code: r.code, output: r.stdout + r.stderr }
  })
}

test.group('CRL interop', () => {
  test('openssl verify: base CRL, then base + delta with a new revocation and a removeFromCRL', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL interop'), keyType: 'ecdsa-p256' })
    const caPem = ca.certificatePem!
    // The base stays while the delta follows the changes.
    await setCrlSettings(ca.id, { fullMinIntervalSeconds: 86400 })
    const template = await webServerTemplate(client, ca.id)
    const held = await issueLeaf(client, template.id, 'held.interop.example')
    const later = await issueLeaf(client, template.id, 'later.interop.example')
    const fine = await issueLeaf(client, template.id, 'fine.interop.example')
    await revokeApi(client, held.id, 'certificateHold')
    const base = pemOf((await fetchCrl(`/crl/${ca.id}.crl`)).bytes)

    const check = (cert: string, crls: string[], mode: 'leaf' | 'all' = 'leaf', extra = true) =>
      opensslVerify({
        roots: [caPem],
        cert,
        crls,
        crlCheck: mode,
        extraArgs: extra ? ['-use_deltas', '-extended_crl'] : [],
      })

    // -crl_check with the base alone: held is revoked (hold), the others are fine.
    const heldBase = await check(held.certificatePem, [base], 'leaf', false)
    assert.isFalse(heldBase.ok)
    assert.include(heldBase.output, 'certificate revoked')
    assert.isTrue((await check(later.certificatePem, [base], 'leaf', false)).ok)
    assert.isTrue((await check(fine.certificatePem, [base], 'leaf', false)).ok)

    // A new revocation and a hold released: the delta carries both, the base is unchanged.
    await revokeApi(client, later.id, 'keyCompromise')
    await unrevokeApi(client, held.id)
    await refreshCrls()
    const sameBase = pemOf((await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    assert.equal(sameBase, base)
    const deltaDer = (await fetchCrl(`/crl/${ca.id}-delta.crl`)).bytes
    const deltaText = await readCrl(caPem, deltaDer)
    assert.isTrue(deltaText.ok, deltaText.output)
    assert.include(deltaText.text, 'Remove From CRL')
    const delta = pemOf(deltaDer)

    for (const mode of ['leaf', 'all'] as const) {
      const laterDelta = await check(later.certificatePem, [base, delta], mode)
      assert.isFalse(laterDelta.ok, `${mode}: ${laterDelta.output}`)
      assert.include(laterDelta.output, 'certificate revoked')
      const heldDelta = await check(held.certificatePem, [base, delta], mode)
      assert.isTrue(heldDelta.ok, `${mode}: ${heldDelta.output}`)
      const fineDelta = await check(fine.certificatePem, [base, delta], mode)
      assert.isTrue(fineDelta.ok, `${mode}: ${fineDelta.output}`)
    }
    // Without -use_deltas OpenSSL ignores the delta: the base's hold still counts.
    const noDeltas = await opensslVerify({
      roots: [caPem],
      cert: held.certificatePem,
      crls: [base, delta],
      extraArgs: ['-extended_crl'],
    })
    assert.isFalse(noDeltas.ok)

    // GnuTLS checks both signatures.
    for (const crl of [base, delta]) {
      const gnutls = await certtoolVerifyCrl(caPem, crl)
      assert.equal(gnutls.code, 0, gnutls.output)
      assert.match(gnutls.output, /Verified/)
    }

    // A new full CRL (no minimum interval) lists the revocation and no longer the hold.
    await setCrlSettings(ca.id, { fullMinIntervalSeconds: 0 })
    await refreshCrls()
    const next = (await fetchCrl(`/crl/${ca.id}.crl`)).bytes
    const nextText = await readCrl(caPem, next)
    assert.isAbove(crlNumberOf(nextText.text), crlNumberOf(deltaText.text))
    assert.isFalse((await check(later.certificatePem, [pemOf(next)], 'all')).ok)
    assert.isTrue((await check(held.certificatePem, [pemOf(next)], 'all')).ok)
  }).timeout(120_000)

  test('shard CRLs under -extended_crl: the certificate’s own shard revokes it, another is out of scope', async ({
    client,
    assert,
  }) => {
    const ca = await createCa(client, { name: unique('CRL shards interop'), keyType: 'rsa-2048' })
    await setCrlSettings(ca.id, { shards: 2 })
    const template = await webServerTemplate(client, ca.id)
    const leaf = await issueLeaf(client, template.id, 'shard.interop.example')
    const shard = Number(
      new RegExp(`/crl/${ca.id}-s2-(\\d)\\.crl`).exec(
        (
          await run(toolPath('openssl'), ['x509', '-noout', '-ext', 'crlDistributionPoints'], {
            input: leaf.certificatePem,
          })
        ).stdout
      )![1]
    )
    await revokeApi(client, leaf.id, 'affiliationChanged')
    await refreshCrls()
    const own = pemOf((await fetchCrl(`/crl/${ca.id}-s2-${shard}.crl`)).bytes)
    const other = pemOf((await fetchCrl(`/crl/${ca.id}-s2-${1 - shard}.crl`)).bytes)
    const verify = (crls: string[]) =>
      opensslVerify({
        roots: [ca.certificatePem!],
        cert: leaf.certificatePem,
        crls,
        extraArgs: ['-extended_crl'],
      })
    const revoked = await verify([own])
    assert.isFalse(revoked.ok)
    assert.include(revoked.output, 'certificate revoked')
    const outOfScope = await verify([other])
    assert.isFalse(outOfScope.ok)
    assert.include(outOfScope.output, 'different CRL scope')
    // with -crl_check_all the root is checked too: the full CRL (no IDP) covers it
    const full = pemOf((await fetchCrl(`/crl/${ca.id}.crl`)).bytes)
    const all = await opensslVerify({
      roots: [ca.certificatePem!],
      cert: leaf.certificatePem,
      crls: [own, full],
      crlCheck: 'all',
      extraArgs: ['-extended_crl'],
    })
    assert.isFalse(all.ok)
    assert.include(all.output, 'certificate revoked')
    const gnutls = await certtoolVerifyCrl(ca.certificatePem!, own)
    assert.equal(gnutls.code, 0, gnutls.output)
  }).timeout(120_000)

  for (const keyType of ['ml-dsa-65', 'slh-dsa-sha2-128s']) {
    test(`OpenSSL 3.5: ${keyType} CA, CRL verified and a revoked leaf refused`, async ({
      client,
      assert,
    }) => {
      const ca = await createCa(client, { name: unique(`CRL ${keyType}`), keyType })
      // fewer signatures for the slow SLH-DSA: no delta
      await setCrlSettings(ca.id, { deltas: false })
      const template = await webServerTemplate(client, ca.id)
      const leaf = await issueLeaf(client, template.id, `${keyType}.interop.example`)
      const fine = await issueLeaf(client, template.id, `fine-${keyType}.interop.example`)
      await revokeApi(client, leaf.id, 'keyCompromise')
      await refreshCrls()
      const der = (await fetchCrl(`/crl/${ca.id}.crl`)).bytes
      const binary: OpensslBinary = 'openssl35'
      const text = await readCrl(ca.certificatePem!, der, binary)
      assert.isTrue(text.ok, text.output)
      assert.include(text.text, 'Key Compromise')
      const crl = pemOf(der)
      const revoked = await opensslVerify({
        binary,
        roots: [ca.certificatePem!],
        cert: leaf.certificatePem,
        crls: [crl],
        extraArgs: ['-extended_crl'],
      })
      assert.isFalse(revoked.ok)
      assert.include(revoked.output, 'certificate revoked')
      const ok = await opensslVerify({
        binary,
        roots: [ca.certificatePem!],
        cert: fine.certificatePem,
        crls: [crl],
        crlCheck: 'all',
        extraArgs: ['-extended_crl'],
      })
      assert.isTrue(ok.ok, ok.output)
    }).timeout(300_000)
  }
})
