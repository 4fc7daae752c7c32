/**
 * The transport conformance suite (e2e/conformance/suite.ts) in real
 * Chromium: `@wirecall/browser` over the browser's own WebSocket against a
 * Node wirecall server with the shared test service. One Playwright test per
 * case; the page runs the case (with its leak check) and reports back.
 *
 * One server and one page bundle per worker: the bundle is built in memory
 * with Vite's JS API from e2e/conformance/page/vite.config.ts; a small
 * node:http server serves it and hosts the WebSocket at /rpc on 127.0.0.1:0.
 */
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { build, type Rolldown } from 'vite'
import { test as base, expect } from '@playwright/test'
import { serve, type WirecallServer } from '@wirecall/node'
import { createTestService } from '../conformance/server-service.js'
import { cases } from '../conformance/suite.js'
import type { CaseResult } from '../conformance/page/main.js'

const PAGE_CONFIG = fileURLToPath(new URL('../conformance/page/vite.config.ts', import.meta.url))

interface Served {
  readonly url: string
  readonly wirecall: WirecallServer
  /** What the server logged (warnings about the deliberate notification to a missing method...). */
  readonly log: string[]
}

/** Build the page in memory: path ('/index.html', '/assets/...') to body and content type. */
async function buildPage(): Promise<Map<string, { body: string | Uint8Array; type: string }>> {
  const result = await build({ configFile: PAGE_CONFIG, build: { write: false }, logLevel: 'warn' })
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[]
  const files = new Map<string, { body: string | Uint8Array; type: string }>()
  for (const out of outputs) {
    for (const item of out.output) {
      const body = item.type === 'chunk' ? item.code : item.source
      const type = item.fileName.endsWith('.html') ? 'text/html; charset=utf-8'
        : item.fileName.endsWith('.js') ? 'text/javascript; charset=utf-8'
          : 'application/octet-stream'
      files.set(`/${item.fileName}`, { body, type })
    }
  }
  if (!files.has('/index.html')) throw new Error(`the conformance page build has no index.html: ${[...files.keys()].join(', ')}`)
  return files
}

const test = base.extend<{ pageErrors: string[] }, { served: Served }>({
  served: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const files = await buildPage()
      const http: Server = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname
        const file = files.get(path === '/' ? '/index.html' : path)
        if (!file || req.method !== 'GET') return void res.writeHead(404).end()
        res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body)
      })
      const log: string[] = []
      const logger = {
        warn: (...args: unknown[]) => void log.push(`warn: ${args.map(String).join(' ')}`),
        error: (...args: unknown[]) => void log.push(`error: ${args.map(String).join(' ')}`),
      }
      const wirecall = await serve({ server: http, path: '/rpc', service: createTestService(), logger, redactErrors: false }) // the suite checks error data crosses; building the page sets NODE_ENV=production here
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject)
        http.listen(0, '127.0.0.1', () => resolve())
      })
      const address = http.address()
      if (typeof address !== 'object' || !address) throw new Error('no address')
      try {
        await use({ url: `http://127.0.0.1:${address.port}/`, wirecall, log })
      } finally {
        await wirecall.close()
        http.closeAllConnections()
        await new Promise<void>((resolve) => http.close(() => resolve()))
      }
    },
    { scope: 'worker', timeout: 60_000 },
  ],

  // eslint-disable-next-line no-empty-pattern
  pageErrors: async ({}, use) => {
    const errors: string[] = []
    await use(errors)
    expect(errors, 'uncaught errors in the page').toEqual([])
  },
})

test.describe('conformance suite in Chromium (native WebSocket -> Node server)', () => {
  test.beforeEach(async ({ page, served, pageErrors }) => {
    page.on('pageerror', (err) => pageErrors.push(`${err.name}: ${err.message}`))
    await page.goto(served.url)
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
    // The page and this process list the same cases.
    expect(await page.evaluate(() => window.conformance.names)).toEqual(cases.map((c) => c.name))
  })

  test.afterEach(async ({ served }, testInfo) => {
    // The case closed its clients: the server must have dropped every connection.
    await expect.poll(() => served.wirecall.connections.size, { message: 'server connections left after the case', timeout: 5_000 }).toBe(0)
    if (testInfo.status !== testInfo.expectedStatus && served.log.length) {
      await testInfo.attach('server.log', { body: served.log.join('\n'), contentType: 'text/plain' })
    }
  })

  for (const c of cases) {
    test(c.name, async ({ page }) => {
      const result: CaseResult = await page.evaluate((name) => window.conformance.run(name), c.name)
      expect(result.error ?? 'passed', `case "${c.name}" in Chromium`).toBe('passed')
      expect(result.ok).toBe(true)
    })
  }
})
