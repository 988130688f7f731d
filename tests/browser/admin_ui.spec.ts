/*
 * The admin UI in real Chromium against a real server process (issue 3, "How it is proven").
 * The tests of this group run in order on one browser page and one fresh install: each step
 * starts where the previous one left the install (first administrator, then a CA, ...).
 * Screenshots of the main pages go to tmp/artifacts/screenshots/.
 */
import { test } from '@japa/runner'
import {
  SCREENSHOT_DIR,
  SERVER_LOG,
  shortPath,
  slug,
  startBrowserSession,
  type BrowserSession,
} from '#tests/helpers/browser'

const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = 'correct horse battery staple'

test.group('Admin UI in Chromium', (group) => {
  let session: BrowserSession

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

    // the setup link is spent: it no longer shows the setup form
    await page.goto(session.setupUrl)
    await page.waitForURL('**/admin/cas/new')
  })
})
