/**
 * The operator panel (demo/operator.html), fed over wirecall by the server's
 * `createMetrics()` snapshot: it lists the dashboard's connection with its
 * name and the metrics stream it reads, and counts
 * the methods the dashboard called, live.
 */
import { expect, test } from '../support/fixtures.js'

test('the operator panel shows connections, their references and top methods, updated live', async ({ openDashboard, demo, page }) => {
  const dashboard = await openDashboard('alice')
  await page.goto(`${demo.url}operator.html`)
  await expect(page.getByTestId('op-state')).toHaveAttribute('data-state', 'open')

  // Two connections: the dashboard and the panel itself.
  await expect(page.getByTestId('op-connection')).toHaveCount(2)
  const alice = page.getByTestId('op-connection').filter({ hasText: 'alice' })
  await expect(alice).toHaveCount(1)
  // The dashboard reads its metrics as a stream: the server sends one stream to it, and holds none of its references.
  await expect(alice.locator('td').nth(10)).toHaveText('1 / 0')
  await expect(alice.locator('td').nth(9)).toHaveText('0 / 0')

  // Methods the dashboard called are counted; the panel's own polling shows up too and grows.
  await expect(page.locator('[data-testid="op-method"][data-method="subscribe"]')).toHaveCount(1)
  const operatorCalls = () => page.locator('[data-testid="op-method"][data-method="operator"] td').nth(1).textContent().then(Number)
  const before = await operatorCalls()
  await expect.poll(operatorCalls, { timeout: 5_000 }).toBeGreaterThan(before)
  await expect(page.getByTestId('op-total-connections')).toHaveText('2')

  // The dashboard closes: its row goes.
  await dashboard.page.close()
  await expect(page.getByTestId('op-connection')).toHaveCount(1)
})
