/**
 * Test harness: two sessions over the in-memory pair, and a leak check that
 * every test runs at the end (pending calls, in-flight handlers and
 * reference tables back to zero), in the spirit of Cap'n Web's harness.
 */
import { afterEach, expect } from 'vitest'
import { Session, createMemoryPair, type MemoryPairOptions, type SessionOptions, type Logger } from '../src/index.js'

export const silent: Logger & { warnings: unknown[][]; errors: unknown[][] } = {
  warnings: [],
  errors: [],
  warn(...args: unknown[]) { this.warnings.push(args) },
  error(...args: unknown[]) { this.errors.push(args) },
}

const open: Session<unknown>[] = []

export interface Pair<S, C> {
  client: Session<S>
  server: Session<C>
  clientTransport: ReturnType<typeof createMemoryPair>[0]
  serverTransport: ReturnType<typeof createMemoryPair>[1]
}

/** A connected pair: `client.remote` calls `serverOptions.service`, `server.remote` calls `clientOptions.service`. */
export function pair<S = unknown, C = unknown>(
  serverOptions: SessionOptions = {}, clientOptions: SessionOptions = {}, memory: MemoryPairOptions = {},
): Pair<S, C> {
  const [a, b] = createMemoryPair(memory)
  const client = new Session<S>(a, { logger: silent, ...clientOptions })
  const server = new Session<C>(b, { logger: silent, ...serverOptions })
  open.push(client as Session<unknown>, server as Session<unknown>)
  return { client, server, clientTransport: a, serverTransport: b }
}

/** Let queued microtasks and zero-delay timers run. */
export const settle = (ms = 0) => new Promise((r) => setTimeout(r, ms))

afterEach(async () => {
  await settle()
  const sessions = open.splice(0)
  for (const s of sessions) {
    const stats = s.stats()
    if (!s.closed) {
      expect(stats.pendingCalls, 'pending calls left').toBe(0)
      expect(stats.inFlightCalls, 'handlers still running').toBe(0)
    }
  }
  await Promise.all(sessions.map((s) => s.close()))
  for (const s of sessions) {
    const stats = s.stats()
    expect(stats.pendingCalls).toBe(0)
    expect(stats.exportedRefs).toBe(0)
    expect(stats.importedRefs).toBe(0)
  }
  silent.warnings.length = 0
  silent.errors.length = 0
})
