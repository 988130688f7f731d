/*
 * Pending requests a page at a time (keyset paging, newest first), in the REST API and in the
 * admin UI: every request is reachable, none is listed twice, and a page never mixes CAs.
 */
import { test } from '@japa/runner'
import Template from '#models/template'
import { caService } from '#services/ca_service'
import { requestService } from '#services/request_service'
import { tokenService } from '#services/token_service'
import { systemActor, type Actor } from '#services/actor'
import { webUser } from '#tests/helpers/web'
import { opensslCsr, unique } from '#tests/helpers/api'

test.group('Requests: pages', () => {
  test('105 pending requests come in pages of 100 and 5 (UI) and of 40 (API)', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const actor: Actor = { kind: 'user', label: user.email, userId: user.id, isAdmin: false }
    const ca = await caService.create(actor, { name: unique('Paged CA'), keyType: 'ecdsa-p256' })
    const template = await Template.query().where('ca_id', ca.id).firstOrFail()
    const { csrPem } = await opensslCsr({ subject: '/CN=paged.example.com' })
    const ids: number[] = []
    for (let i = 0; i < 105; i++) {
      ids.push((await requestService.submit(actor, template, csrPem, 'ui')).id)
    }
    // another CA's request must never show up
    const other = await caService.create(systemActor, {
      name: unique('Other CA'),
      keyType: 'ecdsa-p256',
    })
    const otherTemplate = await Template.query().where('ca_id', other.id).firstOrFail()
    const foreign = await requestService.submit(systemActor, otherTemplate, csrPem, 'ui')

    // admin UI: first page (newest 100) with an "Older" link, then the last 5 with "Newest"
    const first = await client.get(`/admin/requests?ca=${ca.id}`).loginAs(user)
    first.assertStatus(200)
    const idsOn = (html: string) =>
      [...html.matchAll(/name="ids" value="(\d+)"/g)].map((m) => Number(m[1]))
    const page1 = idsOn(first.text())
    assert.deepEqual(page1, ids.slice(5).reverse())
    const older = /href="\/admin\/requests\?status=pending&(?:amp;)?before=(\d+)"/.exec(
      first.text()
    )
    assert.exists(older, 'an "Older" link')
    assert.equal(Number(older![1]), ids[5])

    const second = await client
      .get(`/admin/requests?status=pending&before=${older![1]}`)
      .header('HX-Request', 'true')
      .header('HX-Target', 'requests-table')
      .loginAs(user)
    second.assertStatus(200)
    assert.deepEqual(idsOn(second.text()), ids.slice(0, 5).reverse())
    assert.include(second.text(), '>Newest</a>')
    assert.notInclude(second.text(), '>Older</a>')
    assert.notInclude(first.text() + second.text(), `value="${foreign.id}"`)

    // REST API: pages of 40 via `next.before`, every request exactly once
    const token = await tokenService.createToken(systemActor, user, 'paging')
    const seen: number[] = []
    let before: number | undefined
    for (let pages = 0; pages < 10; pages++) {
      const qs = before ? `?limit=40&before=${before}` : '?limit=40'
      const response = await client.get(`/api/v1/cas/${ca.id}/requests${qs}`).bearerToken(token)
      response.assertStatus(200)
      const body = response.body()
      seen.push(...body.requests.map((r: any) => r.id))
      assert.isAtMost(body.requests.length, 40)
      if (!body.next) break
      before = body.next.before
    }
    assert.deepEqual(seen, [...ids].reverse())

    // limit is clamped to 1..500 (0 was a 500), anything but digits is refused
    const one = await client.get(`/api/v1/cas/${ca.id}/requests?limit=0`).bearerToken(token)
    one.assertStatus(200)
    assert.deepEqual(
      one.body().requests.map((r: any) => r.id),
      [ids[104]]
    )
    assert.deepEqual(one.body().next, { before: ids[104] })
    for (const qs of ['limit=abc', 'limit=-1', 'limit=1e3', 'limit=2.5', 'before=abc']) {
      const refused = await client.get(`/api/v1/cas/${ca.id}/requests?${qs}`).bearerToken(token)
      assert.equal(refused.status(), 422, qs)
      assert.equal(refused.body().error.code, 'E_VALIDATION')
    }
    // A cursor beyond PostgreSQL's integer is the newest page (it was a 500 there).
    const huge = await client
      .get(`/api/v1/cas/${ca.id}/requests?limit=1&before=3000000000`)
      .bearerToken(token)
    huge.assertStatus(200)
    assert.deepEqual(
      huge.body().requests.map((r: any) => r.id),
      [ids[104]]
    )
    // The admin page refuses a cursor that is no number instead of showing page one again.
    const badUi = await client
      .get('/admin/requests?status=pending&before=abc')
      .header('HX-Request', 'true')
      .header('HX-Target', 'requests-table')
      .loginAs(user)
    assert.equal(badUi.status(), 422, badUi.text().slice(0, 300))
  }).timeout(120_000)

  test('pages of the largest size (500) still lead to the next page', async ({
    client,
    assert,
  }) => {
    const user = await webUser()
    const actor: Actor = { kind: 'user', label: user.email, userId: user.id, isAdmin: false }
    const ca = await caService.create(actor, { name: unique('Big pages'), keyType: 'ecdsa-p256' })
    const template = await Template.query().where('ca_id', ca.id).firstOrFail()
    const { csrPem } = await opensslCsr({ subject: '/CN=big-pages.example.com' })
    const ids: number[] = []
    for (let i = 0; i < 503; i++) {
      ids.push((await requestService.submit(actor, template, csrPem, 'api')).id)
    }
    const token = await tokenService.createToken(systemActor, user, 'big pages')
    for (const limit of ['500', '5000']) {
      const first = await client
        .get(`/api/v1/cas/${ca.id}/requests?limit=${limit}`)
        .bearerToken(token)
      first.assertStatus(200)
      assert.lengthOf(first.body().requests, 500, `limit=${limit}`)
      assert.isNotNull(first.body().next, `limit=${limit}: the last 3 are on a next page`)
      const second = await client
        .get(`/api/v1/cas/${ca.id}/requests?limit=${limit}&before=${first.body().next.before}`)
        .bearerToken(token)
      assert.deepEqual(
        second.body().requests.map((r: any) => r.id),
        ids.slice(0, 3).reverse()
      )
      assert.isNull(second.body().next)
    }
  }).timeout(180_000)
})
