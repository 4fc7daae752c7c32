/**
 * The live dashboard in real Chromium against the real demo server:
 * page -> server calls, server -> page calls, remote errors, live charts,
 * a server crash + restart, and two tabs seeing each other.
 */
import { join } from 'node:path'
import { ARTIFACTS, chartPoints, expect, gotoDashboard, sampleCount, test } from '../support/fixtures.js'

test.describe('live dashboard', () => {
  test('the page calls the server (echo)', async ({ page, demo }) => {
    await gotoDashboard(page, demo, 'echo-tab')
    const text = 'ping from Playwright — ünïcödé ✓'
    await page.getByTestId('echo-input').fill(text)
    await page.getByTestId('echo-submit').click()
    await expect(page.getByTestId('echo-result')).toHaveText(text)
    await expect(page.getByTestId('echo-result')).toHaveAttribute('data-kind', 'result')

    await page.getByTestId('divide-a').fill('355')
    await page.getByTestId('divide-b').fill('113')
    await page.getByTestId('divide-submit').click()
    await expect(page.getByTestId('divide-output')).toHaveAttribute('data-kind', 'result')
    await expect(page.getByTestId('divide-result')).toHaveText(/^= 3\.14159292/)
  })

  test('the server calls a page service (getName shows up in the client list)', async ({ page, demo }) => {
    const name = `named-by-page-${Date.now() % 100000}`
    await gotoDashboard(page, demo, name)
    const me = page.locator('[data-testid="client-item"][data-me="true"]')
    await expect(me).toHaveCount(1)
    // The server learned this name only by calling the page's getName() through conn.remote.
    await expect(me.getByTestId('client-name')).toHaveText(name)
    await expect(page.getByTestId('client-count')).toHaveText('1')
  })

  test('a remote error is shown with its name and message', async ({ page, demo }) => {
    await gotoDashboard(page, demo, 'errors-tab')
    const out = page.getByTestId('divide-output')

    await page.getByTestId('divide-a').fill('1')
    await page.getByTestId('divide-b').fill('0')
    await page.getByTestId('divide-submit').click()
    await expect(out).toHaveAttribute('data-kind', 'error')
    await expect(page.getByTestId('divide-error-name')).toHaveText('RangeError')
    await expect(page.getByTestId('divide-error-message')).toHaveText('cannot divide 1 by zero')

    // A custom (non built-in) error class: its name and message still reach the page.
    await page.getByTestId('divide-a').fill('abc')
    await page.getByTestId('divide-b').fill('2')
    await page.getByTestId('divide-submit').click()
    await expect(out).toContainText('InvalidOperandError')
    await expect(page.getByTestId('divide-error-message')).toContainText('operand a must be a finite number')

    // ...and the page recovers with a good call afterwards.
    await page.getByTestId('divide-a').fill('10')
    await page.getByTestId('divide-b').fill('4')
    await page.getByTestId('divide-submit').click()
    await expect(out).toHaveAttribute('data-kind', 'result')
    await expect(page.getByTestId('divide-result')).toHaveText('= 2.5')
    await expect(page.getByTestId('divide-error-name')).toHaveText('')
  })

  test('charts update over time', async ({ page, demo }, testInfo) => {
    await gotoDashboard(page, demo, 'charts-tab')
    const charts = ['cpu', 'memory', 'loop', 'calls'] as const

    // Let every chart collect a few samples (one per 500 ms).
    for (const c of charts) await expect.poll(() => chartPoints(page, c), { timeout: 15_000 }).toBeGreaterThanOrEqual(4)

    // Each chart is a uPlot instance inside the test id's element: one canvas, plus a legend row.
    const memory = page.getByTestId('chart-memory')
    const memoryCanvas = memory.locator('canvas')
    await expect(memoryCanvas).toHaveCount(1)
    const before = {
      points: await chartPoints(page, 'memory'),
      image: await memoryCanvas.evaluate((c: HTMLCanvasElement) => c.toDataURL()),
      lastT: Number(await memory.getAttribute('data-last-t')),
    }
    // Generate some RPC traffic so the calls/s chart has something to show.
    await page.getByTestId('burst').click()
    await expect(page.getByTestId('burst-result')).toContainText('calls in', { timeout: 20_000 })

    await expect.poll(() => chartPoints(page, 'memory')).toBeGreaterThanOrEqual(before.points + 3)
    const after = {
      image: await memoryCanvas.evaluate((c: HTMLCanvasElement) => c.toDataURL()),
      lastT: Number(await memory.getAttribute('data-last-t')),
    }
    expect(after.lastT).toBeGreaterThan(before.lastT)
    expect(after.image, 'the memory chart was redrawn with new data').not.toBe(before.image)

    // The memory line (rss is never 0) is really drawn: count opaque pixels of the series colour #7aa2ff.
    const linePixels = await memoryCanvas.evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
      let n = 0
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3]! > 200 && Math.abs(d[i]! - 0x7a) < 16 && Math.abs(d[i + 1]! - 0xa2) < 16 && Math.abs(d[i + 2]! - 0xff) < 16) n++
      }
      return n
    })
    expect(linePixels).toBeGreaterThan(30)

    // The burst shows up as calls/s (20 000 calls within a few samples).
    await expect
      .poll(async () => {
        const last = await page.getByTestId('chart-calls').getAttribute('data-max')
        return Number(last ?? 0)
      })
      .toBeGreaterThan(100)

    await expect(page.getByTestId('value-memory')).toHaveText(/MB$/)
    // The legend names both series with their newest values (not uPlot's '--' for "no cursor").
    await expect(memory.locator('.u-legend .u-series:not(:first-child)')).toHaveText([/^rss\s*[\d.]+ MB$/, /^heap used\s*[\d.]+ MB$/])

    // A fuller picture for the screenshot artifact: ~10 s of data and a remote error on display.
    await page.getByTestId('divide-a').fill('1')
    await page.getByTestId('divide-b').fill('0')
    await page.getByTestId('divide-submit').click()
    await expect(page.getByTestId('divide-error-name')).toHaveText('RangeError')
    await expect.poll(() => chartPoints(page, 'cpu'), { timeout: 20_000 }).toBeGreaterThanOrEqual(20)
    const shot = join(ARTIFACTS, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    await testInfo.attach('dashboard', { path: shot, contentType: 'image/png' })
  })

  test('metrics arrive as a stream; a slow consumer pauses the server generator instead of making it buffer', async ({ page, demo }) => {
    await gotoDashboard(page, demo, 'slow-tab')
    const state = page.getByTestId('producer-state')
    const detail = page.getByTestId('producer-detail')
    await expect.poll(() => sampleCount(page)).toBeGreaterThanOrEqual(2)
    await expect(state).toHaveAttribute('data-state', 'running')
    await expect(detail).toContainText('server generator running')

    // Slow: 2 s per sample against a sample every 500 ms. The page's credit (4 samples) runs out and the
    // server's generator waits at its yield; the server reports it paused, holding nothing.
    await page.getByTestId('slow-toggle').click()
    await expect(page.getByTestId('slow-toggle')).toHaveAttribute('aria-pressed', 'true')
    await expect(state).toHaveAttribute('data-state', 'paused', { timeout: 10_000 })
    await expect(detail).toContainText('credit is used up')
    // Meanwhile the page reads a sample every 2 s (not every 500 ms): the feed slowed down, it did not pile up.
    // On the server, the generator yields only as the page gives credit back (about one per read, by the
    // server's own count), not the 8 samples of those 4 s: the rest go by, skipped, not queued.
    const slowFrom = await sampleCount(page)
    const serverCount = async (key: 'sent') => Number(await detail.getAttribute(`data-${key}`))
    const sentFrom = await serverCount('sent')
    expect(sentFrom).toBeGreaterThan(0)
    await page.waitForTimeout(4_000)
    const slowRead = (await sampleCount(page)) - slowFrom
    expect(slowRead).toBeGreaterThanOrEqual(1)
    expect(slowRead).toBeLessThanOrEqual(3)
    expect((await serverCount('sent')) - sentFrom).toBeLessThanOrEqual(3)

    // Back to full speed: the generator runs again, and the samples it did not produce while paused show as skipped.
    await page.getByTestId('slow-toggle').click()
    await expect(state).toHaveAttribute('data-state', 'running', { timeout: 10_000 })
    const fastFrom = await sampleCount(page)
    await expect.poll(() => sampleCount(page), { timeout: 10_000 }).toBeGreaterThanOrEqual(fastFrom + 4)
    await expect(page.getByTestId('stream-read')).toContainText(/server skipped [1-9]/)
    // Calls were never held back by the paused stream.
    await page.getByTestId('echo-input').fill('still answering')
    await page.getByTestId('echo-submit').click()
    await expect(page.getByTestId('echo-result')).toHaveText('still answering')
  })

  test('the page reconnects and resumes the feed when the server restarts', async ({ page, demo }) => {
    const name = 'survivor'
    await gotoDashboard(page, demo, name)
    const badge = page.getByTestId('conn-state')
    await expect.poll(() => sampleCount(page)).toBeGreaterThanOrEqual(2)
    const firstPid = demo.pid
    await expect(page.getByTestId('server-pid')).toHaveText(String(firstPid))

    await demo.kill('SIGKILL')
    await expect(badge).toHaveAttribute('data-state', /reconnecting|connecting/)
    const frozen = await sampleCount(page)
    // The page uses whileDisconnected: 'fail', so a call now fails fast instead of hanging.
    await page.getByTestId('echo-input').fill('while down')
    await page.getByTestId('echo-submit').click()
    await expect(page.getByTestId('echo-result')).toHaveText(/^ConnectionClosedError: /)
    await page.waitForTimeout(1_000)
    expect(await sampleCount(page), 'no samples while the server is down').toBe(frozen)

    await demo.start() // same port
    expect(demo.pid).not.toBe(firstPid)
    await expect(badge).toHaveAttribute('data-state', 'open', { timeout: 20_000 })
    // onReconnect re-subscribed: samples flow again, now from the new process.
    await expect(page.getByTestId('server-pid')).toHaveText(String(demo.pid), { timeout: 15_000 })
    await expect.poll(() => sampleCount(page)).toBeGreaterThanOrEqual(frozen + 3)
    await expect(page.getByTestId('log')).toContainText('server restarted')

    // The new server asked the page for its name again.
    const me = page.locator('[data-testid="client-item"][data-me="true"]')
    await expect(me.getByTestId('client-name')).toHaveText(name)
    // And calls work again.
    await page.getByTestId('echo-input').fill('after restart')
    await page.getByTestId('echo-submit').click()
    await expect(page.getByTestId('echo-result')).toHaveText('after restart')
  })

  test('two pages see each other in the client list', async ({ openDashboard }) => {
    const alice = await openDashboard('alice')
    const bob = await openDashboard('bob')

    for (const { page } of [alice, bob]) {
      await expect(page.getByTestId('client-count')).toHaveText('2')
      await expect(page.getByTestId('client-name')).toHaveText(['alice', 'bob'], { timeout: 10_000 })
    }
    await expect(alice.page.locator('[data-me="true"]').getByTestId('client-name')).toHaveText('alice')
    await expect(bob.page.locator('[data-me="true"]').getByTestId('client-name')).toHaveText('bob')

    // Bob leaves; Alice's list shrinks without a reload.
    await bob.page.context().close()
    await expect(alice.page.getByTestId('client-name')).toHaveText(['alice'])
    await expect(alice.page.getByTestId('client-count')).toHaveText('1')
  })
})
