/*
 * Users page (install administrators only): list, create (with a password, or invited),
 * disable/enable, delete (not yourself, not the last administrator), CA memberships. Every
 * change is audited.
 */
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { webUser } from '#tests/helpers/web'
import { createCa, unique } from '#tests/helpers/api'
import { tokenService } from '#services/token_service'
import { systemActor } from '#services/actor'
import { describeAce, flat, runAce } from '#tests/helpers/processes'

const PASSWORD = 'a long enough password'
const mail = (prefix: string) => `${unique(prefix).replace(' ', '-')}@example.test`

async function auditRow(action: string, objectId: number | string) {
  return db
    .from('audit_logs')
    .where({ action, object_id: String(objectId) })
    .first()
}

test.group('Users page', () => {
  test('only install administrators reach it', async ({ client, assert }) => {
    const user = await webUser()
    for (const path of ['/admin/users', `/admin/users/${user.id}`, '/admin/login-providers']) {
      const page = await client.get(path).loginAs(user)
      page.assertStatus(403)
      assert.include(page.text(), 'Only an install administrator')
    }
    const post = await client
      .post('/admin/users')
      .loginAs(user)
      .form({ email: mail('x') })
      .withCsrfToken()
    post.assertStatus(403)
    const anonymous = await client.get('/admin/users').redirects(0)
    anonymous.assertStatus(302)
    assert.equal(anonymous.header('location'), '/login')
  })

  test('lists users with role, status, last login and external logins', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const other = await webUser()
    await db
      .from('users')
      .where('id', other.id)
      .update({ last_login_at: Date.UTC(2026, 0, 2, 3, 4) })
    const now = Date.now()
    const [p] = await db
      .table('login_providers')
      .insert({
        kind: 'github',
        name: unique('GitHub'),
        config: '{}',
        allowed_domains: '',
        created_at: now,
        updated_at: now,
      })
      .returning('id')
    const providerId = typeof p === 'object' ? p.id : p
    await db.table('user_identities').insert({
      user_id: other.id,
      provider_id: providerId,
      subject: '42',
      email: other.email,
      created_at: now,
    })
    const page = await client.get('/admin/users').loginAs(admin)
    page.assertStatus(200)
    const text = page.text()
    assert.include(text, admin.email)
    assert.include(text, other.email)
    assert.include(text, '2026-01-02 03:04 UTC')
    const row = text.slice(
      text.indexOf(other.email),
      text.indexOf('</tr>', text.indexOf(other.email))
    )
    assert.include(row, 'GitHub')
    assert.include(row, 'active')
  })

  test('creates a user with a password (who can log in) and an invited user (who cannot)', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const email = mail('local')
    const created = await client
      .post('/admin/users')
      .loginAs(admin)
      .form({ email: email.toUpperCase(), password: PASSWORD, isAdmin: 'on' })
      .withCsrfToken()
      .redirects(0)
    created.assertStatus(302)
    const row = await db.from('users').where('email', email).first()
    assert.isTrue(Boolean(row.is_admin))
    assert.match(row.password, /^\$argon2id\$/)
    assert.exists(await auditRow('user.create', row.id))
    const login = await client
      .post('/login')
      .header('X-Forwarded-For', '10.50.0.1')
      .form({ email, password: PASSWORD })
      .withCsrfToken()
      .redirects(0)
    assert.equal(login.header('location'), '/admin')

    const invitedEmail = mail('invited')
    await client
      .post('/admin/users')
      .loginAs(admin)
      .form({ email: invitedEmail })
      .withCsrfToken()
      .redirects(0)
    const invited = await db.from('users').where('email', invitedEmail).first()
    assert.isNull(invited.password)
    assert.isFalse(Boolean(invited.is_admin))
    const list = await client.get('/admin/users').loginAs(admin)
    const line = list.text().slice(list.text().indexOf(invitedEmail))
    assert.include(line.slice(0, line.indexOf('</tr>')), 'invited')
    assert.include((await auditRow('user.create', invited.id)).details, '"invited":true')
  })

  test('bad input is shown next to the field and nothing is created', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const bad = await client
      .post('/admin/users')
      .loginAs(admin)
      .form({ email: 'not-an-email' })
      .withCsrfToken()
    bad.assertStatus(422)
    assert.include(bad.text(), 'is not a valid email address')
    assert.include(bad.text(), 'field has-error')

    const email = mail('short')
    const short = await client
      .post('/admin/users')
      .loginAs(admin)
      .form({ email, password: 'short' })
      .withCsrfToken()
    short.assertStatus(422)
    assert.include(short.text(), 'at least 12 characters')
    assert.isNull(await db.from('users').where('email', email).first())

    const taken = await client
      .post('/admin/users')
      .loginAs(admin)
      .form({ email: admin.email })
      .withCsrfToken()
    taken.assertStatus(409)
    assert.include(taken.text(), 'already exists')
  })

  test('disable and enable: a disabled user cannot log in, their session and API tokens stop', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const user = await webUser({ password: PASSWORD })
    const token = await tokenService.createToken(systemActor, user, 'script')
    const api = await client.get('/api/v1/cas').bearerToken(token)
    api.assertStatus(200)

    const disabled = await client
      .post(`/admin/users/${user.id}/disable`)
      .loginAs(admin)
      .withCsrfToken()
      .redirects(0)
    disabled.assertStatus(302)
    assert.isTrue(Boolean((await db.from('users').where('id', user.id).first()).disabled))
    assert.exists(await auditRow('user.disable', user.id))

    const session = await client.get('/admin/profile').loginAs(user).redirects(0)
    session.assertStatus(302)
    assert.equal(session.header('location'), '/login')
    const apiAfter = await client.get('/api/v1/cas').bearerToken(token)
    apiAfter.assertStatus(401)
    const login = await client
      .post('/login')
      .header('X-Forwarded-For', '10.50.0.2')
      .form({ email: user.email, password: PASSWORD })
      .withCsrfToken()
      .redirects(0)
    assert.equal(login.header('location'), '/login')

    await client.post(`/admin/users/${user.id}/enable`).loginAs(admin).withCsrfToken().redirects(0)
    assert.isFalse(Boolean((await db.from('users').where('id', user.id).first()).disabled))
    assert.exists(await auditRow('user.enable', user.id))
    ;(await client.get('/api/v1/cas').bearerToken(token)).assertStatus(200)
  })

  test('cannot disable or delete yourself, nor delete the last administrator', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const self = await client
      .post(`/admin/users/${admin.id}/delete`)
      .loginAs(admin)
      .withCsrfToken()
      .redirects(0)
    self.assertStatus(302)
    assert.exists(await db.from('users').where('id', admin.id).first())
    // the refusal is flashed on the page the form came from
    const shown = await client
      .post(`/admin/users/${admin.id}/delete`)
      .loginAs(admin)
      .header('Referer', `/admin/users/${admin.id}`)
      .withCsrfToken()
    shown.assertStatus(200)
    assert.include(shown.text(), 'You cannot delete your own account')

    const selfDisable = await client
      .post(`/admin/users/${admin.id}/disable`)
      .loginAs(admin)
      .withCsrfToken()
      .redirects(0)
    selfDisable.assertStatus(302)
    assert.isFalse(Boolean((await db.from('users').where('id', admin.id).first()).disabled))

    // the last enabled administrator: disable every other admin, then try to delete this one
    // as a second administrator that is itself being disabled is impossible; use the service
    const { accountService } = await import('#services/token_service')
    const others = await db.from('users').where('is_admin', true).whereNot('id', admin.id)
    await db
      .from('users')
      .whereIn(
        'id',
        others.map((o: any) => o.id)
      )
      .update({ disabled: true })
    try {
      const actor = { kind: 'user' as const, label: 'other', userId: -1, isAdmin: true }
      await assert.rejects(
        () => accountService.deleteUser(actor, admin.id),
        /last enabled administrator/
      )
      await assert.rejects(
        () => accountService.setDisabled(actor, admin.id, true),
        /last enabled administrator/
      )
    } finally {
      await db
        .from('users')
        .whereIn(
          'id',
          others.map((o: any) => o.id)
        )
        .update({ disabled: false })
    }
  })

  test('delete removes the user with tokens and memberships; audited', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const user = await webUser()
    const token = await tokenService.createToken(systemActor, user, 'to go')
    const deleted = await client
      .post(`/admin/users/${user.id}/delete`)
      .loginAs(admin)
      .withCsrfToken()
      .redirects(0)
    deleted.assertStatus(302)
    assert.equal(deleted.header('location'), '/admin/users')
    assert.isNull(await db.from('users').where('id', user.id).first())
    assert.isNull(await db.from('api_tokens').where('user_id', user.id).first())
    assert.exists(await auditRow('user.delete', user.id))
    ;(await client.get('/api/v1/cas').bearerToken(token)).assertStatus(401)
    const gone = await client.get(`/admin/users/${user.id}`).loginAs(admin)
    gone.assertStatus(404)
  })

  test('CA memberships: add as member or owner, the user then reaches the CA; remove', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const user = await webUser()
    const userToken = await tokenService.createToken(systemActor, user, 'api')
    const ca = await createCa(client, { name: unique('Member CA'), keyType: 'ecdsa-p256' })

    ;(await client.get(`/api/v1/cas/${ca.id}`).bearerToken(userToken)).assertStatus(404)

    const bad = await client
      .post(`/admin/users/${user.id}/memberships`)
      .loginAs(admin)
      .form({ caId: ca.id, role: 'superuser' })
      .withCsrfToken()
    bad.assertStatus(422)
    assert.include(bad.text(), 'Choose the role')

    const added = await client
      .post(`/admin/users/${user.id}/memberships`)
      .loginAs(admin)
      .form({ caId: ca.id, role: 'member' })
      .withCsrfToken()
      .redirects(0)
    added.assertStatus(302)
    const row = await db.from('ca_members').where({ ca_id: ca.id, user_id: user.id }).first()
    assert.equal(row.role, 'member')
    assert.equal((await auditRow('ca.member.add', user.id)).ca_id, ca.id)
    ;(await client.get(`/api/v1/cas/${ca.id}`).bearerToken(userToken)).assertStatus(200)

    await client
      .post(`/admin/users/${user.id}/memberships`)
      .loginAs(admin)
      .form({ caId: ca.id, role: 'owner' })
      .withCsrfToken()
      .redirects(0)
    assert.equal(
      (await db.from('ca_members').where({ ca_id: ca.id, user_id: user.id }).first()).role,
      'owner'
    )
    const detail = await client.get(`/admin/users/${user.id}`).loginAs(admin)
    assert.include(detail.text(), ca.name)

    await client
      .post(`/admin/users/${user.id}/memberships/${ca.id}/delete`)
      .loginAs(admin)
      .withCsrfToken()
      .redirects(0)
    assert.isNull(await db.from('ca_members').where({ ca_id: ca.id, user_id: user.id }).first())
    assert.exists(await auditRow('ca.member.remove', user.id))
    ;(await client.get(`/api/v1/cas/${ca.id}`).bearerToken(userToken)).assertStatus(404)
  })

  test('an administrator sets a password; the user changes it on the profile', async ({
    client,
    assert,
  }) => {
    const admin = await webUser({ isAdmin: true })
    const user = await webUser()
    const set = await client
      .post(`/admin/users/${user.id}/password`)
      .loginAs(admin)
      .form({ password: PASSWORD })
      .withCsrfToken()
      .redirects(0)
    set.assertStatus(302)
    assert.exists(await auditRow('user.set-password', user.id))
    const login = await client
      .post('/login')
      .header('X-Forwarded-For', '10.50.0.3')
      .form({ email: user.email, password: PASSWORD })
      .withCsrfToken()
      .redirects(0)
    assert.equal(login.header('location'), '/admin')
  })
})

test.group('user:create on the command line', () => {
  test('--password-stdin creates a local account that can log in; a weak password creates nothing', async ({
    client,
    assert,
  }) => {
    const email = mail('cli')
    const weak = await runAce(['user:create', '--email', email, '--password-stdin'], {
      input: 'short\n',
    })
    assert.notEqual(weak.code, 0, describeAce(weak))
    assert.include(flat(weak.stderr + weak.stdout), 'at least 12 characters')
    assert.isNull(await db.from('users').where('email', email).first())

    const made = await runAce(['user:create', '--email', email, '--admin', '--password-stdin'], {
      input: `${PASSWORD}\n`,
    })
    assert.equal(made.code, 0, describeAce(made))
    assert.include(made.stdout, `Created user ${email} (administrator) with a local password.`)
    const row = await db.from('users').where('email', email).first()
    assert.match(row.password, /^\$argon2id\$/)
    const login = await client
      .post('/login')
      .header('X-Forwarded-For', '10.50.0.9')
      .form({ email, password: PASSWORD })
      .withCsrfToken()
      .redirects(0)
    assert.equal(login.header('location'), '/admin')
  }).timeout(180_000)
})
