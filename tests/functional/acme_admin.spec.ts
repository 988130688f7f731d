/*
 * The ACME admin pages (manual §8.2–§8.3) as an administrator uses them through htmx: the
 * Policies page of the current CA, creating a policy (and a refused duplicate), the EAB page,
 * creating an EAB whose modal shows the directory URL, KID, HMAC key and client commands once
 * (and those credentials register), accounts with their orders and certificates, the ACME
 * template tab, audit entries and Logs page events; a CA the user cannot see answers 404.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { adminToken, createTemplate, opensslCsr, unique } from '#tests/helpers/api'
import { createPolicy } from '../../plugins/acme/policies.js'
import { webUser } from '#tests/helpers/web'
import { AcmeTestClient } from '../../plugins/acme/tests/client.js'
import { accountIdOf, acmeWorld, directoryUrl, pemToB64u, disableAcme } from './acme_fixtures.js'

test.group('ACME admin pages', (group) => {
  group.teardown(disableAcme)
  test('policies, EAB credentials shown once, accounts, template tab, audit and logs', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client)
    const admin = await webUser({ isAdmin: true })
    const q = `?ca=${world.ca.id}`

    const page = await client.get(`/admin/p/acme${q}`).loginAs(admin)
    page.assertStatus(200)
    assert.include(page.text(), 'ACME Policies')
    assert.include(page.text(), directoryUrl())
    assert.include(page.text(), world.policy.name)

    const form = await client
      .get(`/admin/p/acme/policies/new${q}`)
      .loginAs(admin)
      .header('hx-request', 'true')
    form.assertStatus(200)
    assert.include(form.text(), 'Create ACME Policy')
    assert.include(form.text(), `value="${world.template.id}"`)

    const name = `admin-policy-${Date.now()}`
    const created = await client
      .post(`/admin/p/acme/policies${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
      .form({
        name,
        template: String(world.template.id),
        preApproved: '*.admin.test',
        profiles: '',
      })
    created.assertStatus(200)
    assert.equal(created.header('hx-redirect'), '/admin/p/acme')
    const policy = await world.runtime.table('acme_policies').where('name', name).first()
    assert.equal(Number(policy.ca_id), world.ca.id)

    const duplicate = await client
      .post(`/admin/p/acme/policies${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
      .form({ name, template: String(world.template.id) })
    duplicate.assertStatus(422)
    assert.include(duplicate.text(), 'already exists')
    const badDomain = await client
      .post(`/admin/p/acme/policies${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
      .form({
        name: `${name}-2`,
        template: String(world.template.id),
        preApproved: 'not a domain!',
      })
    badDomain.assertStatus(422)
    assert.include(badDomain.text(), 'not a domain!')

    const eabPage = await client.get(`/admin/p/acme/policies/${policy.id}/eabs${q}`).loginAs(admin)
    eabPage.assertStatus(200)
    assert.include(eabPage.text(), 'No External Account Binding yet')

    const eab = await client
      .post(`/admin/p/acme/policies/${policy.id}/eabs${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
      .form({ name: 'web team', uses: '2', expires: '2099-12-31' })
    eab.assertStatus(200)
    const text = eab.text()
    const kid = /id="eab-kid">([^<]+)</.exec(text)![1]
    const hmacKey = /id="eab-hmac">([^<]+)</.exec(text)![1]
    assert.include(text, directoryUrl())
    for (const label of ['certbot', 'lego', 'acme.sh', 'Traefik']) assert.include(text, label)
    assert.include(text, `--eab-kid ${kid} --eab-hmac-key ${hmacKey}`)
    assert.include(text, `hmacEncoded: ${hmacKey}`)
    assert.include(text, 'hx-swap-oob')
    // Shown once: the EAB page lists the KID, never the key.
    const listed = await client.get(`/admin/p/acme/policies/${policy.id}/eabs${q}`).loginAs(admin)
    assert.include(listed.text(), kid)
    assert.notInclude(listed.text(), hmacKey)
    assert.include(listed.text(), '0 / 2')
    const stored = await world.runtime.table('acme_eabs').where('kid', kid).first()
    assert.notInclude(JSON.stringify(stored), hmacKey)

    // The credentials register an account, which shows on the Accounts pages with its order.
    const acme = await new AcmeTestClient(directoryUrl()).init()
    assert.equal((await acme.register({ kid, hmacKey })).status, 201)
    const order = await acme.newOrder([{ type: 'dns', value: 'www.admin.test' }])
    const { csrPem } = await opensslCsr({
      subject: '/CN=www.admin.test',
      sans: ['DNS:www.admin.test'],
    })
    const fin = await acme.post(order.body.finalize, { csr: pemToB64u(csrPem) })
    assert.equal(fin.body.status, 'valid', fin.text)
    const accountId = accountIdOf(acme)
    const accounts = await client.get(`/admin/p/acme/accounts${q}`).loginAs(admin)
    assert.include(accounts.text(), `/admin/p/acme/accounts/${accountId}`)
    const account = await client.get(`/admin/p/acme/accounts/${accountId}${q}`).loginAs(admin)
    account.assertStatus(200)
    assert.include(account.text(), 'www.admin.test')
    assert.match(account.text(), /\/admin\/certificates\/\d+/)

    // The directory URL in the CA and template service URL modals.
    for (const path of [
      `/admin/cas/${world.ca.id}/service-urls`,
      `/admin/templates/${world.template.id}/service-urls`,
    ]) {
      const urls = await client.get(path).loginAs(admin).header('hx-request', 'true')
      urls.assertStatus(200)
      assert.include(urls.text(), 'ACME directory')
      assert.include(urls.text(), directoryUrl())
    }

    // The template tab names the policies signing with it.
    const tab = await client
      .get(`/admin/plugin-tabs/template/${world.template.id}/acme`)
      .loginAs(admin)
      .header('hx-request', 'true')
    tab.assertStatus(200)
    assert.include(tab.text(), name)
    assert.include(tab.text(), 'allowWildcards')

    // Audit and Logs page entries.
    const audits = await db
      .from('audit_logs')
      .where('object_type', 'like', 'acme_%')
      .select('action')
    const actions = audits.map((a: any) => a.action)
    for (const a of ['acme.policy.create', 'acme.eab.create', 'acme.account.create'])
      assert.include(actions, a)
    // Enrollments are the kernel's certificate.issued entries (queued, written within a second).
    let logs = await client.get(`/admin/logs${q}`).loginAs(admin)
    for (let i = 0; i < 30 && !logs.text().includes('www.admin.test'); i++) {
      await new Promise((r) => setTimeout(r, 100))
      logs = await client.get(`/admin/logs${q}`).loginAs(admin)
    }
    assert.match(logs.text(), /www\.admin\.test[^<]*\(acme, template/)

    // Deleting the used EAB is safe; a policy with accounts cannot be deleted.
    const del = await client
      .post(`/admin/p/acme/eabs/${stored.id}/delete${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
    del.assertStatus(200)
    assert.notInclude(del.text(), kid)
    assert.equal((await acme.post(acme.kid!, '')).status, 200)
    const refused = await client
      .post(`/admin/p/acme/policies/${policy.id}/delete${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
    refused.assertStatus(409)
    assert.include(refused.text(), 'bound to it')

    // A user who cannot see this CA gets nothing of it.
    const user = await webUser()
    const foreign = await client.get(`/admin/p/acme/policies/${policy.id}/eabs${q}`).loginAs(user)
    assert.notInclude(foreign.text(), kid)
    assert.notEqual(foreign.status(), 200)
  })

  test('a policy is edited; its template cannot be deleted under it; a deleted CA takes its policies along', async ({
    client,
    assert,
  }) => {
    const world = await acmeWorld(client, { profiles: '' })
    const admin = await webUser({ isAdmin: true })
    const q = `?ca=${world.ca.id}`
    const token = await adminToken()
    const acme = await new AcmeTestClient(directoryUrl()).init()
    assert.equal((await acme.register(await world.eab())).status, 201)

    // The template the policy signs with cannot be deleted (it has no certificates).
    const refused = await client.delete(`/api/v1/templates/${world.template.id}`).bearerToken(token)
    refused.assertStatus(409)
    assert.include(refused.body().error.message, world.policy.name)
    assert.include(refused.body().error.message, 'choose another template')

    // Edit: the form shows the policy; saving moves it to another template (IDN pre-approved
    // names are kept in the A-label form clients send).
    const other = await createTemplate(client, world.ca.id, {
      name: unique('Other'),
      starter: 'web-server',
    })
    other.assertStatus(201)
    const otherId = other.body().template.id
    const form = await client
      .get(`/admin/p/acme/policies/${world.policy.id}/edit${q}`)
      .loginAs(admin)
      .header('hx-request', 'true')
    form.assertStatus(200)
    assert.include(form.text(), 'Edit ACME Policy')
    assert.include(form.text(), `value="${world.policy.name}"`)
    const saved = await client
      .post(`/admin/p/acme/policies/${world.policy.id}${q}`)
      .loginAs(admin)
      .withCsrfToken()
      .header('hx-request', 'true')
      .form({
        name: world.policy.name,
        template: String(otherId),
        preApproved: '*.bücher.example',
        profiles: `short=${other.body().template.name}`,
      })
    saved.assertStatus(200)
    const row = await world.runtime.table('acme_policies').where('id', world.policy.id).first()
    assert.equal(Number(row.template_id), otherId)
    assert.equal(row.pre_approved, '*.xn--bcher-kva.example')
    const audited = await db
      .from('audit_logs')
      .where({ action: 'acme.policy.update', object_id: String(world.policy.id) })
    assert.lengthOf(audited, 1)
    // The old template is free now; the new one is held, as a profile's too.
    ;(
      await client.delete(`/api/v1/templates/${world.template.id}`).bearerToken(token)
    ).assertStatus(204)
    ;(await client.delete(`/api/v1/templates/${otherId}`).bearerToken(token)).assertStatus(409)

    // The public directory names the profile, never the policy offering it.
    const directory = (await (await fetch(directoryUrl())).json()) as any
    assert.property(directory.meta.profiles, 'short')
    assert.notInclude(JSON.stringify(directory.meta.profiles), world.policy.name)

    // Deleting the CA removes its policies, EABs and accounts: the name is free again.
    ;(await client.delete(`/api/v1/cas/${world.ca.id}`).bearerToken(token)).assertStatus(204)
    for (const table of ['acme_policies', 'acme_eabs', 'acme_accounts']) {
      const column = table === 'acme_policies' ? 'id' : 'policy_id'
      const left = await world.runtime.table(table).where(column, world.policy.id)
      assert.lengthOf(left, 0, table)
    }
    const fresh = await acmeWorld(client)
    const renamed = await createPolicy(fresh.runtime, {
      caId: fresh.ca.id,
      name: world.policy.name,
      template: fresh.template.id,
    })
    assert.equal(renamed.name, world.policy.name)
  })
})
