/**
 * The conformance page: the shared suite over Chromium's own WebSocket,
 * through `@wirecall/browser`, against the Node server that served the page
 * (WebSocket at /rpc on the same origin). Playwright calls
 * `window.conformance.run(name)` once per case.
 */
import { connect, streams } from '@wirecall/browser'
import { fromBrowserClient, type Connect } from '../adapters.js'
import type { TestService } from '../server-service.js'
import { caseNamed, cases, runCase, show } from '../suite.js'

/** What `run` reports back to Playwright (plain data: it crosses page.evaluate). */
export interface CaseResult {
  ok: boolean
  error?: string
  ms: number
}

declare global {
  interface Window {
    conformance: { names: string[]; run(name: string): Promise<CaseResult> }
  }
}

const wsUrl = new URL('/rpc', location.href)
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'

const connectNative: Connect = async (options = {}) => {
  // No `WebSocket` option: the browser's own WebSocket is the implementation under test.
  // Streams are opt-in in a page (a page without them does not bundle them); the suite has stream cases.
  const client = await connect<TestService>(wsUrl.href, {
    streams,
    ...(options.service ? { service: options.service } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  })
  return fromBrowserClient(client, 'chromium')
}

const log = document.getElementById('log')!

window.conformance = {
  names: cases.map((c) => c.name),
  async run(name) {
    const started = performance.now()
    try {
      await runCase(caseNamed(name), connectNative)
      log.textContent += `ok   ${name}\n`
      return { ok: true, ms: performance.now() - started }
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : show(err)
      log.textContent += `FAIL ${name}\n${error}\n`
      return { ok: false, error, ms: performance.now() - started }
    }
  },
}
document.body.dataset.ready = 'true'
