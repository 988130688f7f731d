/*
 * Browser tests: a real server process (`node bin/start.js`, its own fresh data folder and SQLite
 * database, sessions in cookies as in production) driven by Debian's Chromium through
 * playwright-core. Screenshots go to tmp/artifacts/screenshots/<name>.png.
 *
 *   const session = await startBrowserSession()
 *   try { await session.page.goto(session.setupUrl) ... } finally { await session.close() }
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { repoRoot } from './external.js'
import { freePort, spawnServer, waitHealthy, type ServerProcess } from './processes.js'

/** Debian's Chromium, installed by scripts/install-test-tools.sh (apt package `chromium`). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Flags for a headless Chromium on a machine with a closed network: no GPU, no QUIC, none of the
 * background connections to Google's hosts (they would be refused, many at a time), no sandbox
 * (the tests run as root). Playwright adds --headless and a fresh temporary --user-data-dir of
 * its own on every launch.
 */
export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
])

/** Where screenshots are written (gitignored tmp/). */
export const SCREENSHOT_DIR = join(repoRoot, 'tmp', 'artifacts', 'screenshots')
/** Where downloads are saved. */
export const DOWNLOAD_DIR = join(repoRoot, 'tmp', 'artifacts', 'downloads')
/** The server process's output, written when the session closes. */
export const SERVER_LOG = join(repoRoot, 'tmp', 'artifacts', 'browser-server.log')
/** What the page reported: script errors, console errors, HTTP answers >= 400. */
export const BROWSER_LOG = join(repoRoot, 'tmp', 'artifacts', 'browser-console.log')

export interface BrowserSession {
  server: ServerProcess
  /** http://127.0.0.1:<port> */
  baseUrl: string
  /** The one-time setup link the server printed on its first start. */
  setupUrl: string
  /** The server's data folder (its SQLite database and master key). */
  dataDir: string
  browser: Browser
  context: BrowserContext
  page: Page
  /** Script errors, console errors and HTTP answers >= 400 the page saw so far. */
  events: string[]
  /** Full-page PNG of the current page to tmp/artifacts/screenshots/<name>.png; returns the path. */
  screenshot(name: string, page?: Page): Promise<string>
  /**
   * Closes the browser and stops the server (SIGTERM); writes the server's output to
   * tmp/artifacts/browser-server.log and the page's events to browser-console.log. Safe to call
   * twice.
   */
  close(): Promise<void>
}

export interface BrowserSessionOptions {
  /** Port for the server; default BROWSER_TEST_PORT or a free port. */
  port?: number
  /** Extra environment for the server process. */
  env?: Record<string, string | undefined>
}

/** The `/setup?token=...` link from the server's first-start message. */
export function setupLinkFrom(output: string): string | undefined {
  return /in a browser: (\S+\/setup\?token=\S+)/.exec(output)?.[1]
}

async function waitForOutput(server: ServerProcess, pattern: RegExp, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (pattern.test(server.output())) return
    if (server.hasExited()) break
    await new Promise((done) => setTimeout(done, 100))
  }
  throw new Error(`the server did not print ${pattern} (output follows):\n${server.output()}`)
}

/** Artifacts of an earlier run are removed once per test process, before the first session. */
let artifactsCleaned = false

/**
 * Starts a fresh install (own data folder, SQLite, generated master key) on 127.0.0.1, reads the
 * setup link it prints, and opens Chromium with one page. Always close() it (group teardown).
 */
export async function startBrowserSession(
  options: BrowserSessionOptions = {}
): Promise<BrowserSession> {
  const port =
    options.port ??
    (process.env.BROWSER_TEST_PORT ? Number(process.env.BROWSER_TEST_PORT) : await freePort())
  const baseUrl = `http://127.0.0.1:${port}`
  if (!artifactsCleaned) {
    artifactsCleaned = true
    await rm(SCREENSHOT_DIR, { recursive: true, force: true })
    await rm(DOWNLOAD_DIR, { recursive: true, force: true })
  }
  const dataDir = join(resolve(repoRoot, process.env.DATA_DIR ?? 'tmp'), `browser-server-${port}`)
  await rm(dataDir, { recursive: true, force: true })
  await mkdir(dataDir, { recursive: true, mode: 0o700 })

  const server = spawnServer({
    port,
    env: {
      // A fresh install of its own: the suite's other servers and tests never share its data.
      DATA_DIR: dataDir,
      DB_CONNECTION: 'sqlite',
      DB_DATABASE: undefined,
      PKI_MASTER_KEY: undefined,
      PKI_MASTER_KEY_FILE: undefined,
      APP_URL: baseUrl,
      // the example third-party plugin, as scripts/test.sh installs it in every test server
      PKI_PLUGINS: process.env.PKI_PLUGINS ?? 'pki-plugin-example',
      ...options.env,
    },
  })
  let browser: Browser | undefined
  try {
    await waitHealthy(server, 90_000)
    await waitForOutput(server, /in a browser: \S+\/setup\?token=/)
    const setupUrl = setupLinkFrom(server.output())!

    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`${CHROMIUM_PATH} is missing: run scripts/install-test-tools.sh`)
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: 60_000,
    })
    const context = await browser.newContext({
      baseURL: baseUrl,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      locale: 'en-US',
      timezoneId: 'UTC',
    })
    context.setDefaultTimeout(15_000)
    const page = await context.newPage()
    const events: string[] = []
    const note = (line: string) => events.push(`${new Date().toISOString()} ${line}`)
    page.on('pageerror', (error) => note(`page error: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        note(`console ${message.type()}: ${message.text()}`)
      }
    })
    page.on('response', (response) => {
      if (response.status() >= 400) {
        note(`${response.status()} ${response.request().method()} ${response.url()}`)
      }
    })
    await mkdir(SCREENSHOT_DIR, { recursive: true })

    let closed = false
    const openedBrowser = browser
    return {
      server,
      baseUrl,
      setupUrl,
      dataDir,
      browser,
      context,
      page,
      events,
      async screenshot(name: string, target: Page = page) {
        const file = join(SCREENSHOT_DIR, `${name}.png`)
        await target.screenshot({ path: file, fullPage: true })
        return file
      },
      async close() {
        if (closed) return
        closed = true
        await openedBrowser.close().catch(() => {})
        await server.stop()
        await writeFile(SERVER_LOG, server.output()).catch(() => {})
        await writeFile(BROWSER_LOG, events.join('\n') + '\n').catch(() => {})
      },
    }
  } catch (error) {
    await browser?.close().catch(() => {})
    await server.stop(5000)
    throw error
  }
}

/** A path relative to the working directory, for the test output. */
export function shortPath(path: string) {
  return relative(process.cwd(), path) || '.'
}

/** A file name from a test title: lowercase words joined by dashes. */
export function slug(title: string) {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60)
}

export interface DownloadedFile {
  /** The name the server suggested (Content-Disposition). */
  name: string
  /** Where Playwright saved it (under tmp/artifacts/downloads/). */
  path: string
  content: Buffer
}

/**
 * Runs `trigger` (a click on a download link or button) and saves the file the browser
 * downloads through Playwright's download event.
 */
export async function download(
  page: Page,
  trigger: () => Promise<unknown>
): Promise<DownloadedFile> {
  const [file] = await Promise.all([page.waitForEvent('download'), trigger()])
  const failure = await file.failure()
  if (failure) throw new Error(`the download of ${file.url()} failed: ${failure}`)
  await mkdir(DOWNLOAD_DIR, { recursive: true })
  const path = join(DOWNLOAD_DIR, file.suggestedFilename())
  await file.saveAs(path)
  return { name: file.suggestedFilename(), path, content: await readFile(path) }
}
