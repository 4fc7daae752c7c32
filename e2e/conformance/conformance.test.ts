/**
 * The conformance suite under vitest, over three adapters:
 * - the in-memory transport pair (a core `Session` on both ends),
 * - the Node client against a Node server on 127.0.0.1:0,
 * - the browser client (`@wirecall/browser`, with `ws` as its WebSocket) against a Node server.
 * Chromium's own WebSocket runs the same list in e2e/tests/conformance.spec.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket as WsWebSocket } from 'ws'
import { Session, streams, type Logger } from '@wirecall/core'
import { createMemoryPair } from '@wirecall/core/internal'
import { serve, connect as nodeConnect, type WirecallServer } from '@wirecall/node'
import { connect as browserConnect, type WebSocketConstructor } from '@wirecall/browser'
import { fromBrowserClient, fromSession, type Connect } from './adapters.js'
import { createTestService, type TestService } from './server-service.js'
import { cases, runCase } from './suite.js'

/** Collects what the server side logs (e.g. the notification to a missing method) instead of printing it. */
const quiet: Logger & { lines: unknown[][] } = {
  lines: [],
  warn(...args: unknown[]) { this.lines.push(args) },
  error(...args: unknown[]) { this.lines.push(args) },
}

const CASE_TIMEOUT_MS = 20_000

describe('conformance: in-memory transport pair', () => {
  const servers: Session[] = []
  const connect: Connect = async (options = {}) => {
    const [a, b] = createMemoryPair()
    // A session built by hand has streams only when given the option (the Node adapters pass it by default).
    servers.push(new Session(b, { service: createTestService(), logger: quiet, streams }))
    const client = new Session<TestService>(a, { streams, ...(options.service ? { service: options.service } : {}), ...(options.timeout !== undefined ? { timeout: options.timeout } : {}) })
    return fromSession(client, 'memory')
  }
  afterEach(async () => {
    // runCase closed every client; the server ends must have seen it.
    for (const s of servers.splice(0)) expect(s.closed, 'server session closed with its client').toBe(true)
  })
  for (const c of cases) it(c.name, () => runCase(c, connect), CASE_TIMEOUT_MS)
})

/** A Node server with the shared service, started once per describe block. */
function nodeServer(): { server: () => WirecallServer; url: () => string } {
  let server: WirecallServer | undefined
  beforeAll(async () => {
    server = await serve({ host: '127.0.0.1', port: 0, service: createTestService(), logger: quiet })
  })
  afterAll(async () => {
    await server?.close()
  })
  afterEach(async () => {
    // Every connection the case opened is gone from the server too (bounded wait: the close handshake is async).
    const deadline = Date.now() + 3_000
    while (server!.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    expect(server!.connections.size, 'server connections left after the case').toBe(0)
  })
  return { server: () => server!, url: () => `ws://127.0.0.1:${server!.port}` }
}

describe('conformance: Node client -> Node server (ws on 127.0.0.1)', () => {
  const { url } = nodeServer()
  const connect: Connect = async (options = {}) => {
    const session = await nodeConnect<TestService>(url(), {
      ...(options.service ? { service: options.service } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    })
    return fromSession(session, 'node')
  }
  for (const c of cases) it(c.name, () => runCase(c, connect), CASE_TIMEOUT_MS)
})

describe('conformance: browser client (ws as WebSocket) -> Node server', () => {
  const { url } = nodeServer()
  const connect: Connect = async (options = {}) => {
    const client = await browserConnect<TestService>(url(), {
      WebSocket: WsWebSocket as unknown as WebSocketConstructor,
      streams,
      ...(options.service ? { service: options.service } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    })
    return fromBrowserClient(client, 'browser-ws')
  }
  for (const c of cases) it(c.name, () => runCase(c, connect), CASE_TIMEOUT_MS)
})
