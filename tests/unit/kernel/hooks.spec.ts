import { test } from '@japa/runner'
import { KernelHooks } from '#services/hooks'

const actor = { kind: 'system', label: 's', isAdmin: true } as const
const ctx = () => ({
  caId: 1,
  caName: 'x',
  templateId: 1,
  templateName: 't',
  actor,
  source: 'test',
  subjectDn: 'CN=x',
  sans: [],
  keyType: 'ecdsa-p256',
  meta: {},
})

test.group('Kernel hooks', () => {
  test('series hooks run in order and the first error vetoes', async ({ assert }) => {
    const hooks = new KernelHooks()
    const calls: string[] = []
    hooks.register('validateIssue', { owner: 'b', order: 2, handler: () => void calls.push('b') })
    hooks.register('validateIssue', { owner: 'a', order: 1, handler: () => void calls.push('a') })
    await hooks.run('validateIssue', ctx())
    assert.deepEqual(calls, ['a', 'b'])
    hooks.register('validateIssue', {
      owner: 'veto',
      order: 0,
      handler: () => {
        throw new Error('nope')
      },
    })
    await assert.rejects(() => hooks.run('validateIssue', ctx()), 'nope')
  })

  test('a slow series hook times out as a veto; a slow or broken parallel hook is only logged', async ({
    assert,
  }) => {
    const hooks = new KernelHooks()
    hooks.register('validateIssue', {
      owner: 'slow',
      timeoutMs: 20,
      handler: () => new Promise((r) => setTimeout(r, 500)),
    })
    await assert.rejects(() => hooks.run('validateIssue', ctx()), /did not answer within 20 ms/)
    let fine = false
    hooks.register('afterIssue', {
      owner: 'slow',
      timeoutMs: 20,
      handler: () => new Promise((r) => setTimeout(r, 500)),
    })
    hooks.register('afterIssue', {
      owner: 'broken',
      handler: () => {
        throw new Error('boom')
      },
    })
    hooks.register('afterIssue', {
      owner: 'fine',
      handler: () => {
        fine = true
      },
    })
    await hooks.run('afterIssue', {
      ...ctx(),
      certificateId: 1,
      serial: '01',
      der: new Uint8Array(),
      notAfter: 0,
    })
    assert.isTrue(fine)
  })

  test('inactive handlers are skipped and can be unregistered', async ({ assert }) => {
    const hooks = new KernelHooks()
    let active = false
    let count = 0
    const off = hooks.register('afterRevoke', {
      owner: 'p',
      isActive: () => active,
      handler: () => void count++,
    })
    const rctx = {
      caId: 1,
      certificateId: 1,
      serial: '01',
      reason: 'unspecified',
      previousStatus: 'valid',
      actor,
    }
    await hooks.run('afterRevoke', rctx)
    assert.equal(count, 0)
    assert.isFalse(hooks.has('afterRevoke'))
    active = true
    await hooks.run('afterRevoke', rctx)
    assert.equal(count, 1)
    off()
    await hooks.run('afterRevoke', rctx)
    assert.equal(count, 1)
  })
})
