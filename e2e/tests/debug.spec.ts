/**
 * The page's debug switch in real Chromium: `localStorage.debug` set before
 * the dashboard loads makes the browser client log its areas to the console;
 * without it the console gets none of them.
 */
import { expect, gotoDashboard, test } from '../support/fixtures.js'

test("localStorage.debug = 'wirecall:*' logs the client's and session's lines to the console", async ({ page, demo }) => {
  const lines: string[] = []
  page.on('console', (message) => lines.push(message.text()))
  await page.addInitScript(() => localStorage.setItem('debug', 'wirecall:*'))
  await gotoDashboard(page, demo, 'debug-on')
  await expect.poll(() => lines.some((l) => /^wirecall:client .*connecting -> open/.test(l))).toBe(true)
  await expect.poll(() => lines.some((l) => /^wirecall:session .*(sent|received) request #\d+/.test(l))).toBe(true)
})

test('without localStorage.debug, no wirecall debug line reaches the console', async ({ page, demo }) => {
  const lines: string[] = []
  page.on('console', (message) => lines.push(message.text()))
  await gotoDashboard(page, demo, 'debug-off')
  await expect(page.locator('[data-testid="client-item"][data-me="true"]')).toHaveCount(1)
  expect(lines.filter((l) => l.startsWith('wirecall:'))).toEqual([])
})
