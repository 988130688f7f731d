/*
 * The admin UI in real Chromium against a real server process (issue 3, "How it is proven").
 * The tests of this group run in order on one browser page and one fresh install: each step
 * starts where the previous one left the install (first administrator, then a CA, ...).
 * Screenshots of the main pages go to tmp/artifacts/screenshots/.
 */
import { test } from '@japa/runner'
import type { Locator, Page } from 'playwright-core'
import { opensslCsr } from '#tests/helpers/api'
import { opensslText, opensslVerify } from '#tests/helpers/external'
import {
  SCREENSHOT_DIR,
  SERVER_LOG,
  shortPath,
  slug,
  download,
  startBrowserSession,
  type BrowserSession,
} from '#tests/helpers/browser'

const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = 'correct horse battery staple'
const CA_NAME = 'Browser Test Root CA'
const TEMPLATE_NAME = 'Browser Web Server'
const DAY = 86_400_000

/** A link of the side navigation. */
function navLink(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true })
}

/** The open modal (<dialog id="modal">), once htmx has filled and opened it. */
async function openModal(page: Page, opener: Locator) {
  await opener.click()
  const modal = page.getByRole('dialog')
  await modal.waitFor({ state: 'visible' })
  return modal
}

/** Chooses a CA in the dropdown at the top; the page reloads with ?ca=<id>. */
async function switchCa(page: Page, name: string) {
  const before = page.url()
  await page.getByRole('banner').getByLabel('CA', { exact: true }).selectOption({ label: name })
  await page.waitForURL((url) => url.searchParams.has('ca') && url.href !== before)
  await page.waitForLoadState('load')
}

/** "Not Before" / "Not After" of `openssl x509 -text`, as epoch milliseconds. */
function validityOf(text: string) {
  const field = (name: string) => {
    const match = new RegExp(`${name}\\s*:\\s*(.+)`).exec(text)
    if (!match) throw new Error(`no ${name} in:\n${text}`)
    const ms = new Date(match[1].trim().replace(/\s+/g, ' ')).getTime()
    if (Number.isNaN(ms)) throw new Error(`unreadable ${name}: ${match[1]}`)
    return ms
  }
  return { notBefore: field('Not Before'), notAfter: field('Not After') }
}

test.group('Admin UI in Chromium', (group) => {
  let session: BrowserSession
  /** Filled in by the steps, used by the later ones. */
  let rootPem = ''
  let templatePath = ''

  group.setup(async () => {
    session = await startBrowserSession()
    return async () => {
      await session.close()
      console.log(
        `  screenshots: ${shortPath(SCREENSHOT_DIR)}/, server log: ${shortPath(SERVER_LOG)}`
      )
    }
  })

  // A failed step leaves a picture of the page it failed on.
  group.each.setup((t) => {
    t.cleanup(async (hasError) => {
      if (hasError) await session?.screenshot(`failed-${slug(t.title)}`).catch(() => {})
    })
  })

  test('the setup link creates the first administrator; log out and log in again', async ({
    assert,
  }) => {
    const { page } = session
    await page.goto(session.setupUrl)
    await page.getByRole('heading', { name: 'Create the first administrator' }).waitFor()
    // the token from the link is already in the form
    assert.equal(
      await page.getByLabel('Setup token').inputValue(),
      new URL(session.setupUrl).searchParams.get('token')
    )
    await session.screenshot('setup')
    await page.getByLabel('Your email').fill(ADMIN_EMAIL)
    await page.getByLabel('Password').fill(ADMIN_PASSWORD)
    await page.getByRole('button', { name: 'Create administrator' }).click()
    // a user with no CA is sent to CA creation
    await page.waitForURL('**/admin/cas/new')

    await page.getByRole('button', { name: 'Log out' }).click()
    await page.waitForURL('**/login')
    await page.getByRole('heading', { name: 'Log in' }).waitFor()

    // a wrong password is refused with a message, and the user stays on the login page
    await page.getByLabel('Email').fill(ADMIN_EMAIL)
    await page.getByLabel('Password').fill('not the password at all')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('alert').filter({ hasText: 'The email or password is wrong.' }).waitFor()
    assert.match(page.url(), /\/login$/)
    await session.screenshot('login')

    await page.getByLabel('Email').fill(ADMIN_EMAIL)
    await page.getByLabel('Password').fill(ADMIN_PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    // still no CA: /admin sends the administrator to CA creation again
    await page.waitForURL('**/admin/cas/new')
    assert.include(await page.getByRole('banner').innerText(), ADMIN_EMAIL)

    // every CA-scoped page sends a user without a CA back to CA creation (manual §1.2)
    for (const path of ['/admin/templates', '/admin/requests', '/admin/certificates']) {
      await page.goto(path)
      await page.waitForURL('**/admin/cas/new')
      await page.getByRole('heading', { name: 'Create New CA' }).waitFor()
    }

    // the setup link is spent: it no longer shows the setup form
    await page.goto(session.setupUrl)
    await page.waitForURL('**/admin/cas/new')
  })

  test('create a root CA with the form; it is listed, current and downloadable', async ({
    assert,
  }) => {
    const { page } = session
    await page.goto('/admin/cas/new')
    await page.getByRole('heading', { name: 'Create New CA' }).waitFor()
    await session.screenshot('ca-new')

    // a missing name is refused next to the field (htmx re-renders the form with 422)
    await page.getByLabel('Certificate Authority Name (common name)').fill('   ')
    await page.getByLabel('Organization (O)').fill('Browser Tests')
    await page.getByRole('button', { name: 'Create New CA' }).click()
    await page.getByRole('alert').filter({ hasText: 'The CA was not created' }).waitFor()
    assert.match(page.url(), /\/admin\/cas\/new$/)

    await page.getByLabel('Certificate Authority Name (common name)').fill(CA_NAME)
    await page.getByLabel('Organization (O)').fill('Browser Tests')
    await page.getByLabel('Country (C)').fill('DE')
    await page.getByRole('button', { name: 'Create New CA' }).click()
    // manual §1.2.1: to Manage CAs, with the new CA in the dropdown at the top
    await page.waitForURL('**/admin/cas')
    await page.getByRole('heading', { name: 'Manage CAs' }).waitFor()
    await page
      .getByText(`CA "${CA_NAME}" was created and is ready to issue certificates.`)
      .waitFor()
    const dropdown = page.getByRole('banner').getByLabel('CA', { exact: true })
    assert.equal(await dropdown.locator('option:checked').innerText(), CA_NAME)
    const row = page.getByRole('row', { name: new RegExp(CA_NAME) })
    assert.include(await row.innerText(), 'active')
    assert.include(await row.innerText(), 'root')
    await session.screenshot('ca-list')

    // CA details, and "Get CA Certificate(s)" in its modal
    await row.getByRole('link', { name: CA_NAME }).click()
    await page.waitForURL(/\/admin\/cas\/\d+$/)
    await page.getByRole('heading', { name: CA_NAME }).waitFor()
    await session.screenshot('ca-details')
    const modal = await openModal(page, page.getByRole('button', { name: 'Get CA Certificate(s)' }))
    await modal.getByRole('heading', { name: `Get CA Certificate(s) · ${CA_NAME}` }).waitFor()
    const file = await download(page, () =>
      modal.getByRole('link', { name: 'CA certificate (PEM)' }).click()
    )
    rootPem = file.content.toString('utf8')
    assert.match(rootPem, /^-----BEGIN CERTIFICATE-----/)
    const rootText = await opensslText(rootPem, 'x509')
    assert.match(rootText, new RegExp(`Subject: .*CN ?= ?${CA_NAME}`))
    assert.match(rootText, /CA:TRUE/)
    const selfSigned = await opensslVerify({ roots: [rootPem], cert: rootPem })
    assert.isTrue(selfSigned.ok, selfSigned.output)
    await modal.getByRole('button', { name: 'Close' }).click()
    await modal.waitFor({ state: 'hidden' })

    // the dashboard of the new CA
    await navLink(page, 'Dashboard').click()
    await page.waitForURL('**/admin')
    await page.getByRole('heading', { name: CA_NAME, level: 1 }).waitFor()
    await page.getByRole('heading', { name: 'Certificates issued' }).waitFor()
    await session.screenshot('dashboard-new-ca')
  })

  test('create a template from a starter and change its validity', async ({ assert }) => {
    const { page } = session
    await navLink(page, 'Create Template').click()
    await page.waitForURL('**/admin/templates/new')
    await page.getByLabel('Template name').fill(TEMPLATE_NAME)
    await page.getByRole('radio', { name: /^Web Server(?!\s*\+)/ }).check()
    await page.getByRole('button', { name: 'Create Template' }).click()
    await page.waitForURL(/\/admin\/templates\/\d+/)
    templatePath = new URL(page.url()).pathname.match(/^\/admin\/templates\/\d+/)![0]
    await page.getByRole('heading', { name: TEMPLATE_NAME, level: 1 }).waitFor()
    await page.getByText(`Template "${TEMPLATE_NAME}" was created`).waitFor()

    // a bad value is refused next to its field, nothing saved
    await page.getByLabel('Validity Period (Days)').fill('0')
    // past the browser's own min check, to see the server's answer
    await page.evaluate("document.getElementById('t-validity').removeAttribute('min')")
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('alert').filter({ hasText: 'Nothing was saved' }).waitFor()

    await page.getByLabel('Validity Period (Days)').fill('90')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByText(`Template "${TEMPLATE_NAME}" was saved.`).waitFor()
    await page.goto(templatePath)
    assert.equal(await page.getByLabel('Validity Period (Days)').inputValue(), '90')
    await session.screenshot('template-edit')
  })

  test('submit CSRs made by OpenSSL through the template menu', async ({ assert }) => {
    const { page } = session
    await page.goto(templatePath)
    await page
      .getByRole('group', { name: `Template ${TEMPLATE_NAME}` })
      .getByRole('link', { name: 'Submit CSR' })
      .click()
    await page.waitForURL(`**${templatePath}/submit`)
    await page.getByRole('heading', { name: 'Submit CSR' }).waitFor()

    // garbage is refused next to the CSR field
    await page.getByLabel('Certificate signing request (PEM)').fill('not a CSR')
    await page.getByRole('button', { name: 'Submit', exact: true }).click()
    await page.locator('#submit-csr-error').waitFor()

    // one request to approve in Pending Requests
    const first = await opensslCsr({
      subject: '/CN=browser.example.com/O=Browser Tests',
      sans: ['DNS:browser.example.com', 'DNS:old.example.com'],
    })
    await page.getByLabel('Certificate signing request (PEM)').fill(first.csrPem)
    await page.getByRole('button', { name: 'Submit', exact: true }).click()
    const result = page.getByRole('status').filter({ hasText: 'Request submitted' })
    await result.waitFor()
    assert.include(await result.innerText(), 'CN=browser.example.com')

    // one signed at once, to put on hold later
    await page.getByRole('link', { name: 'Submit another CSR' }).click()
    const second = await opensslCsr({
      subject: '/CN=hold.example.com',
      sans: ['DNS:hold.example.com'],
    })
    await page.getByLabel('Certificate signing request (PEM)').fill(second.csrPem)
    await page.getByLabel(/Sign now/).check()
    await page.getByRole('button', { name: 'Submit', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Certificate issued' }).waitFor()
  })

  test('approve the request with an overridden SAN and validity', async ({ assert }) => {
    const { page } = session
    await navLink(page, 'Pending Requests').click()
    await page.waitForURL('**/admin/requests')
    const row = page.getByRole('row', { name: /CN=browser\.example\.com/ })
    await row.waitFor()
    const modal = await openModal(page, row.getByRole('link', { name: 'Review' }))
    await modal.getByText('DNS:old.example.com').waitFor()
    await session.screenshot('pending-requests')

    await modal.getByRole('tab', { name: 'Requested Attributes' }).click()
    await modal.getByLabel('Override requested attributes').check()
    // the CSR's values are the starting point
    assert.equal(await modal.getByLabel('Common name (CN)').inputValue(), 'browser.example.com')
    assert.equal(await modal.getByLabel('Value').nth(1).inputValue(), 'old.example.com')
    // drop old.example.com, rename browser.example.com, add api.example.com
    await modal.getByRole('button', { name: 'Remove' }).nth(1).click()
    await modal.getByLabel('Value').first().fill('override.example.com')
    await modal.getByRole('button', { name: 'Add a SAN' }).click()
    await modal.getByLabel('Value').nth(1).fill('api.example.com')
    assert.equal(await modal.getByLabel('Value').count(), 2)

    await modal.getByRole('tab', { name: 'Validity' }).click()
    await modal.getByLabel('Override validity time').check()
    await modal.getByLabel('Days from now').check()
    await modal.getByLabel('Validity (days)').fill('7')
    await session.screenshot('pending-request-validity')

    await modal.getByRole('button', { name: 'Sign' }).click()
    // the table is swapped in, the modal closes and a notice says what happened
    await modal.waitFor({ state: 'hidden' })
    await page.getByText(/Request #\d+ approved: certificate [0-9a-f:]+ issued/i).waitFor()
    await page.getByText('No pending requests.').waitFor()
  })

  test('download the issued certificate and verify it with OpenSSL', async ({ assert }) => {
    const { page } = session
    await navLink(page, 'Issued Certificates').click()
    await page.waitForURL('**/admin/certificates')
    const row = page.getByRole('row', { name: /browser\.example\.com/ })
    const modal = await openModal(
      page,
      row.getByRole('link', { name: 'browser.example.com', exact: true })
    )
    await modal.getByText('DNS:override.example.com').waitFor()
    await modal.getByText('DNS:api.example.com').waitFor()
    await session.screenshot('issued-certificates')

    const file = await download(page, () =>
      modal.getByRole('link', { name: 'PEM', exact: true }).click()
    )
    const pem = file.content.toString('utf8')
    const verified = await opensslVerify({ roots: [rootPem], cert: pem })
    assert.isTrue(verified.ok, verified.output)

    const text = await opensslText(pem, 'x509')
    assert.match(text, /Subject: .*CN ?= ?browser\.example\.com/)
    // the overridden list; the Web Server template adds the common name as the first SAN
    assert.match(
      text,
      /X509v3 Subject Alternative Name: *\n\s*DNS:browser\.example\.com, DNS:override\.example\.com, DNS:api\.example\.com\n/
    )
    assert.notInclude(text, 'old.example.com')
    // 7 days from the approval (the override), not the template's 90
    const { notBefore, notAfter } = validityOf(text)
    assert.isBelow(Math.abs(notAfter - (Date.now() + 7 * DAY)), 2 * 3600_000)
    assert.isBelow(notAfter - notBefore, 7 * DAY + 2 * 3600_000)

    // the chain download verifies too, and ends at the root
    const chain = await download(page, () =>
      modal.getByRole('link', { name: 'Chain (PEM)' }).click()
    )
    const chainPem = chain.content.toString('utf8')
    assert.include(chainPem, rootPem.trim().split('\n')[1])
    assert.isTrue((await opensslVerify({ roots: [rootPem], cert: chainPem })).ok)
    await modal.getByRole('button', { name: 'Close' }).click()
    await modal.waitFor({ state: 'hidden' })
  })

  test('revoke a certificate, then change the reason to keyCompromise', async ({ assert }) => {
    const { page } = session
    await page.goto('/admin/certificates')
    const row = page.getByRole('row', { name: /browser\.example\.com/ })
    const modal = await openModal(
      page,
      row.getByRole('link', { name: 'browser.example.com', exact: true })
    )
    await modal.getByRole('tab', { name: 'Revocation' }).click()
    await modal.getByText('This certificate is valid.').waitFor()
    await modal.getByLabel('Revocation reason').selectOption({ label: 'Superseded' })
    await modal.getByRole('button', { name: 'Revoke', exact: true }).click()
    await modal.getByRole('status').filter({ hasText: 'revoked (superseded)' }).waitFor()
    const panel = modal.getByRole('tabpanel', { name: 'Revocation' })
    await panel.getByText('Revoked (permanent)').waitFor()
    await panel.getByText('superseded', { exact: true }).waitFor()
    // the row behind the modal shows it too (out-of-band swap)
    await row.getByText('revoked', { exact: true }).waitFor()

    await modal.getByRole('button', { name: 'Change reason to keyCompromise' }).click()
    await panel.getByText('keyCompromise', { exact: true }).waitFor()
    assert.equal(
      await modal.getByRole('button', { name: 'Change reason to keyCompromise' }).count(),
      0
    )
    await modal.getByRole('button', { name: 'Close' }).click()
    await modal.waitFor({ state: 'hidden' })
  })

  test('put a certificate on hold and unrevoke it', async () => {
    const { page } = session
    await page.goto('/admin/certificates')
    const row = page.getByRole('row', { name: /hold\.example\.com/ })
    const modal = await openModal(
      page,
      row.getByRole('link', { name: 'Revocation of hold.example.com' })
    )
    await modal
      .getByLabel('Revocation reason')
      .selectOption({ label: 'Certificate hold (can be undone)' })
    await modal.getByRole('button', { name: 'Revoke', exact: true }).click()
    await modal.getByText(/This certificate is\s+on hold/).waitFor()
    await row.getByText('on hold', { exact: true }).waitFor()
    await session.screenshot('certificate-on-hold')

    await modal.getByRole('button', { name: 'Unrevoke' }).click()
    await modal.getByText('This certificate is valid.').waitFor()
    await row.getByText('valid', { exact: true }).waitFor()
    await modal.getByRole('button', { name: 'Close' }).click()
    await modal.waitFor({ state: 'hidden' })
  })

  test('enable, disable and re-enable the example plugin: its tab and menu come and go', async ({
    assert,
  }) => {
    const { page } = session
    const exampleTab = page.getByRole('tab', { name: 'Example', exact: true })
    const greetings = navLink(page, 'Greetings')

    const setPlugin = async (action: 'Enable' | 'Disable') => {
      await navLink(page, 'Plugins').click()
      await page.waitForURL('**/admin/plugins')
      const row = page.getByRole('row', { name: /Example/ })
      await row.getByRole('button', { name: `${action} Example` }).click()
      const other = action === 'Enable' ? 'Disable' : 'Enable'
      await row.getByRole('button', { name: `${other} Example` }).waitFor()
      await row.getByText(action === 'Enable' ? 'enabled' : 'disabled', { exact: true }).waitFor()
    }
    const templateTabs = async () => {
      await page.goto(templatePath)
      await page.getByRole('tab', { name: 'General' }).waitFor()
      return exampleTab.count()
    }

    // a new install starts with the example plugin disabled
    await navLink(page, 'Plugins').click()
    await page.getByRole('heading', { name: 'Plugins' }).waitFor()
    const row = page.getByRole('row', { name: /Example/ })
    await row.getByText('disabled', { exact: true }).waitFor()
    assert.equal(await templateTabs(), 0)
    assert.equal(await greetings.count(), 0)

    await setPlugin('Enable')
    await session.screenshot('plugins')
    assert.equal(await templateTabs(), 1)
    assert.equal(await greetings.count(), 1)
    await exampleTab.click()
    await page.getByText('No word is refused for this template.').waitFor()
    await session.screenshot('template-plugin-tab')

    await setPlugin('Disable')
    assert.equal(await templateTabs(), 0)
    assert.equal(await greetings.count(), 0)

    await setPlugin('Enable')
    assert.equal(await templateTabs(), 1)
    assert.equal(await greetings.count(), 1)
  })

  test("the example plugin's template setting vetoes a request with a clear refusal", async ({
    assert,
  }) => {
    const { page } = session
    await page.goto(templatePath)
    await page.getByRole('tab', { name: 'Example', exact: true }).click()
    await page.getByLabel('Refuse names containing').fill('forbidden')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').filter({ hasText: 'Settings saved.' }).waitFor()
    await page.getByText(/Requests whose names contain\s+forbidden\s+are refused/).waitFor()

    await page
      .getByRole('group', { name: `Template ${TEMPLATE_NAME}` })
      .getByRole('link', { name: 'Submit CSR' })
      .click()
    const vetoed = await opensslCsr({
      subject: '/CN=forbidden.example.com',
      sans: ['DNS:forbidden.example.com'],
    })
    await page.getByLabel('Certificate signing request (PEM)').fill(vetoed.csrPem)
    await page.getByLabel(/Sign now/).check()
    await page.getByRole('button', { name: 'Submit', exact: true }).click()
    const refusal = page.getByRole('alert').filter({ hasText: 'contains "forbidden"' })
    await refusal.waitFor()
    assert.include(await refusal.innerText(), `template "${TEMPLATE_NAME}" does not allow`)
    assert.include(
      await page.getByRole('status').filter({ hasText: 'Request submitted' }).innerText(),
      'is pending approval'
    )
    await session.screenshot('plugin-veto')
  })

  test('the Logs page shows what happened', async ({ assert }) => {
    const { page } = session
    await navLink(page, 'Logs').click()
    await page.waitForURL('**/admin/logs')
    await page.getByRole('heading', { name: 'Logs' }).waitFor()
    await page.locator('#log-results table').waitFor()
    // the issuances, the revocations and the plugin's refusal are among the entries (the
    // service log is written in batches a moment after the action: reload until it is there)
    const events = [
      'certificate.issued',
      'issuance.refused',
      'certificate.revoked',
      'certificate.unrevoked',
    ]
    const missing = async () => {
      const found = await Promise.all(
        events.map((event) => page.getByRole('row').filter({ hasText: event }).count())
      )
      return events.filter((_, index) => found[index] === 0)
    }
    const deadline = Date.now() + 10_000
    while ((await missing()).length && Date.now() < deadline) {
      await page.waitForTimeout(500)
      await page.reload()
      await page.locator('#log-results').waitFor()
    }
    assert.deepEqual(await missing(), [])
    assert.include(
      await page.getByRole('row').filter({ hasText: 'issuance.refused' }).first().innerText(),
      'contains "forbidden"'
    )
    await session.screenshot('logs')

    // the dashboard now has something to draw
    await navLink(page, 'Dashboard').click()
    await page.waitForURL('**/admin')
    await page.getByRole('heading', { name: 'Certificates issued' }).waitFor()
    await session.screenshot('dashboard')
  })

  test('search and filter issued certificates: htmx swaps the results in place', async ({
    assert,
  }) => {
    const { page } = session
    await navLink(page, 'Issued Certificates').click()
    await page.waitForURL('**/admin/certificates')
    const browserRow = page.getByRole('row', { name: /browser\.example\.com/ })
    const holdRow = page.getByRole('row', { name: /hold\.example\.com/ })
    await browserRow.waitFor()
    await holdRow.waitFor()
    // a marker that a full page load would lose
    await page.evaluate('window.__sameDocument = true')

    // a SAN prefix finds the certificate whose SANs were overridden
    await page.getByLabel('Search').fill('override.ex')
    await holdRow.waitFor({ state: 'detached' })
    await browserRow.waitFor()
    assert.include(await browserRow.innerText(), 'matched override.example.com')
    assert.match(page.url(), /[?&]q=override\.ex/)
    await page.getByLabel('Search').fill('')
    await holdRow.waitFor()

    await page.getByLabel('Status').selectOption({ label: 'Revoked' })
    await holdRow.waitFor({ state: 'detached' })
    await browserRow.waitFor()
    await page.getByLabel('Status').selectOption({ label: 'Any status' })
    await holdRow.waitFor()

    // expiring within 30 days: the 7-day certificate, not the 90-day one. The 7-day one is
    // revoked, which "expiring" lists only when that status is asked for (the dashboard counts
    // valid certificates only).
    await page.getByLabel('Expiring within (days)').fill('30')
    await holdRow.waitFor({ state: 'detached' })
    await browserRow.waitFor({ state: 'detached' })
    await page.getByLabel('Status').selectOption({ label: 'Revoked' })
    await browserRow.waitFor()
    assert.isTrue(await page.evaluate('window.__sameDocument === true'))
  })

  test('decline a pending request in bulk with a reason', async () => {
    const { page } = session
    await navLink(page, 'Pending Requests').click()
    await page.waitForURL('**/admin/requests')
    const row = page.getByRole('row', { name: /CN=forbidden\.example\.com/ })
    await row.getByRole('checkbox').check()
    await page
      .getByLabel('Decline reason (optional)')
      .fill('Names with forbidden words are not issued')
    await page.getByRole('button', { name: 'Decline selected' }).click()
    await page.getByRole('status').filter({ hasText: '1 request declined.' }).waitFor()
    await page.getByText('No pending requests.').waitFor()

    await page
      .getByRole('navigation', { name: 'Request status' })
      .getByRole('link', { name: 'Declined' })
      .click()
    await row.waitFor()
    await row.getByText('Names with forbidden words are not issued').waitFor()
  })

  test('keyboard only: log in, open a certificate, close the modal with Escape', async ({
    assert,
  }) => {
    const { page } = session
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.waitForURL('**/login')
    // the email field gets the focus; Tab moves to the password, Enter submits
    await page.waitForFunction(
      "document.activeElement === document.querySelector('input[name=email]')"
    )
    await page.keyboard.type(ADMIN_EMAIL)
    await page.keyboard.press('Tab')
    await page.keyboard.type(ADMIN_PASSWORD)
    await page.keyboard.press('Enter')
    await page.waitForURL('**/admin')

    await page.goto('/admin/certificates')
    const link = page.getByRole('link', { name: 'hold.example.com', exact: true })
    await link.waitFor()
    // Tab until the link has the focus: it is reachable from the keyboard
    let reached = false
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab')
      reached =
        (await page.evaluate(
          "document.activeElement?.tagName === 'A' ? document.activeElement.textContent.trim() : ''"
        )) === 'hold.example.com'
    }
    assert.isTrue(reached, 'the certificate link cannot be reached with Tab')
    await page.keyboard.press('Enter')
    const modal = page.getByRole('dialog')
    await modal.waitFor({ state: 'visible' })
    await modal.getByRole('heading', { name: /hold\.example\.com/ }).waitFor()
    // the focus moved into the modal
    assert.isTrue(
      await page.evaluate("document.getElementById('modal').contains(document.activeElement)")
    )
    await page.keyboard.press('Escape')
    await modal.waitFor({ state: 'hidden' })
  })

  test('an intermediate CA: CSR download, signed by the root through a CA template, certificate import', async ({
    assert,
  }) => {
    const { page } = session
    const rootName = CA_NAME
    const subName = 'Browser Test Intermediate CA'

    // a "Certificate Authority" template on the root
    await navLink(page, 'Create Template').click()
    await page.getByLabel('Template name').fill('Browser Sub CA')
    await page.getByRole('radio', { name: /^Certificate Authority/ }).check()
    await page.getByRole('button', { name: 'Create Template' }).click()
    await page.waitForURL(/\/admin\/templates\/\d+/)
    const subTemplatePath = new URL(page.url()).pathname.match(/^\/admin\/templates\/\d+/)![0]

    // the CSR-only CA
    await navLink(page, 'Create New CA').click()
    await page.getByLabel('Certificate Authority Name (common name)').fill(subName)
    await page.getByLabel(/CSR only/).check()
    await page.getByRole('button', { name: 'Create New CA' }).click()
    await page.waitForURL(/\/admin\/cas\/\d+\/csr$/)
    await page.getByText(`CA "${subName}" was created with a CSR`).waitFor()
    await page.getByRole('heading', { name: 'Import Signed Certificate' }).waitFor()
    const dropdown = page.getByRole('banner').getByLabel('CA', { exact: true })
    assert.match(await dropdown.locator('option:checked').innerText(), /waiting for certificate/)
    await session.screenshot('ca-csr-import')
    const csr = await download(page, () =>
      page.getByRole('link', { name: 'Download CSR' }).first().click()
    )
    const csrPem = csr.content.toString('utf8')
    assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----/)
    const subCaPage = new URL(page.url()).pathname.replace(/\/csr$/, '')

    // back to the root with the dropdown, sign the CSR there
    await switchCa(page, rootName)
    assert.equal(await dropdown.locator('option:checked').innerText(), rootName)
    await page.goto(`${subTemplatePath}/submit`)
    await page.getByLabel('Certificate signing request (PEM)').fill(csrPem)
    await page.getByLabel(/Sign now/).check()
    await page.getByRole('button', { name: 'Submit', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Certificate issued' }).waitFor()
    await page.getByRole('link', { name: 'View the certificate' }).click()
    const modal = page.getByRole('dialog')
    await modal.waitFor({ state: 'visible' })
    const signed = await download(page, () =>
      modal.getByRole('link', { name: 'PEM', exact: true }).click()
    )
    const subPem = signed.content.toString('utf8')
    await modal.getByRole('button', { name: 'Close' }).click()

    // import it on the intermediate's page
    await page.goto(`${subCaPage}/csr`)
    await page.getByLabel('Signed CA certificate (PEM)').fill(subPem)
    await page.getByRole('button', { name: 'Import Certificate' }).click()
    await page.getByText(`CA "${subName}" is now active and can issue certificates.`).waitFor()
    const verified = await opensslVerify({ roots: [rootPem], cert: subPem })
    assert.isTrue(verified.ok, verified.output)
    assert.match(await opensslText(subPem, 'x509'), /CA:TRUE, pathlen:0/)

    // both CAs are listed; the dropdown scopes the dashboard
    await navLink(page, 'Manage CAs').click()
    await page
      .getByRole('row', { name: new RegExp(subName) })
      .getByText('intermediate', { exact: true })
      .waitFor()
    await switchCa(page, subName)
    await navLink(page, 'Dashboard').click()
    await page.getByRole('heading', { name: subName, level: 1 }).waitFor()
    // the scope holds on other pages: the intermediate has issued nothing yet
    await navLink(page, 'Issued Certificates').click()
    await page.getByText(`Certificates issued by ${subName}.`).waitFor()
    assert.equal(await page.getByRole('row', { name: /example\.com/ }).count(), 0)
    await switchCa(page, rootName)
    await page.getByText(`Certificates issued by ${rootName}.`).waitFor()
    await page.getByRole('row', { name: /hold\.example\.com/ }).waitFor()
  })

  test('a post-quantum CA: create with ML-DSA-44, rename, delete after typing its name', async ({
    assert,
  }) => {
    const { page } = session
    const name = 'Browser PQ CA'
    const renamed = 'Browser PQ CA (renamed)'
    await navLink(page, 'Create New CA').click()
    await page.getByLabel('Certificate Authority Name (common name)').fill(name)
    // Alpine shows the parameter sets of the chosen key type only
    await page
      .getByRole('combobox', { name: 'Key type' })
      .selectOption({ label: 'ML-DSA (post-quantum, FIPS 204)' })
    await page
      .getByRole('combobox', { name: 'Parameter set' })
      .selectOption({ label: 'ML-DSA-44 (security level 2)' })
    await page.getByRole('button', { name: 'Create New CA' }).click()
    await page.waitForURL('**/admin/cas')
    const row = page.getByRole('row', { name: new RegExp(name) })
    assert.match(await row.innerText(), /ML-DSA-44/i)

    // its certificate is an ML-DSA-44 self-signed CA that OpenSSL 3.5 verifies
    const modal = await openModal(page, row.getByRole('button', { name: 'Get CA Certificate(s)' }))
    const file = await download(page, () =>
      modal.getByRole('link', { name: 'CA certificate (PEM)' }).click()
    )
    const pem = file.content.toString('utf8')
    assert.match(await opensslText(pem, 'x509', 'openssl35'), /ML-DSA-44/)
    const verified = await opensslVerify({ roots: [pem], cert: pem, binary: 'openssl35' })
    assert.isTrue(verified.ok, verified.output)
    await modal.getByRole('button', { name: 'Close' }).click()
    await modal.waitFor({ state: 'hidden' })

    // Edit CA tab: rename
    await row.getByRole('link', { name: 'Edit' }).click()
    await page.getByRole('tab', { name: 'Edit CA' }).waitFor()
    await page.getByLabel('Name', { exact: true }).fill(renamed)
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByText(`CA "${renamed}" was saved.`).waitFor()
    await page.getByRole('heading', { name: renamed, level: 1 }).waitFor()

    // delete: the modal asks for the name first
    await page.getByRole('tab', { name: 'Edit CA' }).click()
    const confirm = await openModal(page, page.getByRole('link', { name: 'Delete CA…' }))
    await confirm.getByRole('heading', { name: `Delete CA “${renamed}”?` }).waitFor()
    await confirm.getByLabel('Type the CA name to confirm').fill('not the name')
    await confirm.getByRole('button', { name: 'Delete CA, its templates and certificates' }).click()
    await confirm.getByRole('alert').waitFor()
    await confirm.getByLabel('Type the CA name to confirm').fill(renamed)
    await confirm.getByRole('button', { name: 'Delete CA, its templates and certificates' }).click()
    await page.waitForURL('**/admin/cas')
    await page
      .getByText(`CA "${renamed}" was deleted with its templates and certificates.`)
      .waitFor()
    assert.equal(await page.getByRole('row', { name: new RegExp(name) }).count(), 0)
    const options = await page
      .getByRole('banner')
      .getByLabel('CA', { exact: true })
      .locator('option')
      .allInnerTexts()
    assert.notInclude(options.join('\n'), name)
  })

  test("deleting a user asks first, whatever their address holds (o'brien@…)", async ({
    assert,
  }) => {
    const { page } = session
    const email = `o'brien+${Date.now()}@example.com`
    await navLink(page, 'Users').click()
    await page.getByLabel('Email').fill(email)
    // Added, the user's own page opens.
    await Promise.all([
      page.waitForURL((url) => /^\/admin\/users\/\d+$/.test(url.pathname)),
      page.getByRole('button', { name: 'Add user' }).click(),
    ])
    await page.getByRole('button', { name: 'Delete user' }).waitFor()
    // The question names the address; dismissed, nothing is deleted. (An inline onsubmit made
    // the apostrophe a script error: no question, and the form was sent at once.)
    const asked: string[] = []
    const answer = (accept: boolean) =>
      page.once('dialog', (dialog) => {
        asked.push(dialog.message())
        void (accept ? dialog.accept() : dialog.dismiss())
      })
    answer(false)
    await page.getByRole('button', { name: 'Delete user' }).click()
    await page.waitForTimeout(300)
    assert.lengthOf(asked, 1)
    assert.include(asked[0], email)
    assert.include(page.url(), '/admin/users/')
    answer(true)
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/admin/users'),
      page.getByRole('button', { name: 'Delete user' }).click(),
    ])
    assert.lengthOf(asked, 2)
    assert.equal(await page.getByRole('row').filter({ hasText: email }).count(), 0)
  })

  test('the other admin pages render; no page raised a script error', async ({ assert }) => {
    const { page } = session
    const pages: Array<[link: string, heading: string | RegExp, screenshot: string]> = [
      ['Manage Templates', 'Manage Templates', 'templates'],
      ['Greetings', /Greetings/, 'plugin-page'],
      ['Users', 'Users', 'users'],
      ['Profile', 'Profile', 'profile'],
    ]
    for (const [link, heading, screenshot] of pages) {
      await navLink(page, link).click()
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
      await session.screenshot(screenshot)
    }
    // 4xx answers to forms are expected (validation); script errors, htmx errors are not
    const problems = session.events.filter(
      (line) =>
        line.includes('page error:') ||
        (line.includes('console error:') && !line.includes('Failed to load resource'))
    )
    assert.deepEqual(problems, [])
  })
})
