/**
 * Test fixtures: a fresh demo server per test (so the client list is
 * deterministic), pages that fail the test on uncaught page errors, and a
 * helper to open the dashboard under a given name.
 */
import { test as base, expect, type Browser, type Page, type TestInfo } from '@playwright/test'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DemoServer } from './demo-server.js'

export { expect }

export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url))
mkdirSync(ARTIFACTS, { recursive: true })

export interface Dashboard {
  page: Page
  name: string
}

interface Fixtures {
  demo: DemoServer
  /** Uncaught errors of every page opened in the test; asserted empty at the end. */
  pageErrors: string[]
  /** Open the dashboard in a new browser context (a separate "tab" with its own storage). */
  openDashboard: (name: string) => Promise<Dashboard>
}

function watchErrors(page: Page, into: string[]): void {
  page.on('pageerror', (err) => into.push(`${err.name}: ${err.message}`))
}

export const test = base.extend<Fixtures>({
  // eslint-disable-next-line no-empty-pattern
  demo: async ({}, use, testInfo: TestInfo) => {
    const server = await DemoServer.start()
    try {
      await use(server)
    } finally {
      await server.stop()
      if (testInfo.status !== testInfo.expectedStatus) {
        await testInfo.attach('demo-server.log', { body: server.output(), contentType: 'text/plain' })
      }
    }
  },

  // eslint-disable-next-line no-empty-pattern
  pageErrors: async ({}, use) => {
    const errors: string[] = []
    await use(errors)
    expect(errors, 'uncaught errors in the page').toEqual([])
  },

  page: async ({ page, pageErrors }, use, testInfo) => {
    watchErrors(page, pageErrors)
    await use(page)
    await attachPageState(page, 'page', testInfo)
  },

  openDashboard: async ({ browser, demo, pageErrors }, use, testInfo) => {
    const contexts: Awaited<ReturnType<Browser['newContext']>>[] = []
    const opened: Dashboard[] = []
    await use(async (name: string) => {
      const context = await browser.newContext()
      contexts.push(context)
      const page = await context.newPage()
      watchErrors(page, pageErrors)
      opened.push({ page, name })
      await gotoDashboard(page, demo, name)
      return { page, name }
    })
    for (const d of opened) await attachPageState(d.page, d.name, testInfo)
    await Promise.all(contexts.map((c) => c.close().catch(() => {})))
  },
})

/** On failure, keep what the page knew: its state badge, client list and event log. */
async function attachPageState(page: Page, label: string, testInfo: TestInfo): Promise<void> {
  if (testInfo.status === testInfo.expectedStatus || page.isClosed()) return
  const state = await page
    .evaluate(() => {
      const text = (id: string) => document.getElementById(id)?.innerText ?? '(missing)'
      return [
        `state: ${document.getElementById('conn-state')?.dataset.state}`,
        `clients:\n${text('client-list')}`,
        `log (newest first):\n${text('log')}`,
      ].join('\n\n')
    })
    .catch((err: unknown) => `could not read the page: ${String(err)}`)
  await testInfo.attach(`page-state-${label}.txt`, { body: state, contentType: 'text/plain' })
}

/** Load the dashboard as `name` and wait until it is connected and receiving metrics. */
export async function gotoDashboard(page: Page, demo: DemoServer, name: string): Promise<void> {
  await page.goto(`${demo.url}?name=${encodeURIComponent(name)}`)
  await expect(page.getByTestId('conn-state')).toHaveAttribute('data-state', 'open')
}

/** Number of metric samples the page has received so far. */
export async function sampleCount(page: Page): Promise<number> {
  return Number((await page.getByTestId('sample-count').textContent()) ?? '0')
}

/** Points currently held by a chart's rolling window. */
export async function chartPoints(page: Page, chart: string): Promise<number> {
  return Number((await page.getByTestId(`chart-${chart}`).getAttribute('data-points')) ?? '0')
}
