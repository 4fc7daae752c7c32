/**
 * Test harness: two sessions over the in-memory pair, and a leak check that
 * every test runs at the end (pending calls, in-flight handlers, reference
 * tables and open streams back to zero), in the spirit of Cap'n Web's harness.
 */
import { afterEach, expect, vi } from 'vitest'
import { decode as decodeRaw, encode as encodeRaw } from '@msgpack/msgpack'
import { Session, streams, type SessionOptions, type Logger } from '../src/index.js'
import { createMemoryPair, type MemoryPairOptions } from '../src/internal.js'

export { decodeRaw, encodeRaw }

export const silent: Logger & { warnings: unknown[][]; errors: unknown[][] } = {
  warnings: [],
  errors: [],
  warn(...args: unknown[]) { this.warnings.push(args) },
  error(...args: unknown[]) { this.errors.push(args) },
}

const open: Session<unknown>[] = []
/** Sessions whose test deliberately ends with live references (checked only after close). */
const liveRefsAllowed = new WeakSet<Session<unknown>>()

/** Opt a session out of the "no live references before close" check. */
export function allowLiveRefs(...sessions: Session<never>[]): void {
  for (const s of sessions) liveRefsAllowed.add(s as Session<unknown>)
}

/** Every binary frame a transport logged, decoded without extensions (refs show as ExtData). */
export function sentMessages(transport: { sent: (Uint8Array | string)[] }): unknown[][] {
  return transport.sent.filter((f): f is Uint8Array => typeof f !== 'string').map((f) => decodeRaw(f) as unknown[])
}

/** Wait (bounded) until `check()` is true; fails the test instead of hanging. */
export async function until(check: () => boolean, what: string, maxMs = 500): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > maxMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

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
  // Streams on, as the Node adapters have them; a test of a session without them passes `streams: undefined`.
  const client = new Session<S>(a, { logger: silent, streams, ...clientOptions })
  const server = new Session<C>(b, { logger: silent, streams, ...serverOptions })
  open.push(client as Session<unknown>, server as Session<unknown>)
  return { client, server, clientTransport: a, serverTransport: b }
}

/** The error a promise rejects with; fails the test if it resolves instead. */
export function rejection(p: Promise<unknown>): Promise<Error & { code?: string; origin?: string; remoteStack?: string; data?: Record<string, unknown> }> {
  return p.then(
    (value) => { throw new Error(`expected a rejection, got ${String(value)}`) },
    (err: unknown) => err as Error,
  )
}

/**
 * Does `p` settle before a zero-delay timer fires? Rejections that need no timeout (closed
 * connection, released reference, aborted signal) pass; a call left hanging does not.
 */
export async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => (done = true), () => (done = true))
  await new Promise((r) => setTimeout(r, 0))
  return done
}

/** Let queued microtasks and zero-delay timers run. */
export const settle = (ms = 0) => new Promise((r) => setTimeout(r, ms))

afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await settle()
  const sessions = open.splice(0)
  try {
    for (const s of sessions) {
      const stats = s.stats()
      if (!s.closed) {
        expect(stats.pendingCalls, 'pending calls left').toBe(0)
        expect(stats.inFlightCalls, 'handlers still running').toBe(0)
        expect(stats.outgoingStreams, 'streams still being sent').toBe(0)
        expect(stats.incomingStreams, 'streams still being read').toBe(0)
        // After close both tables are empty by construction; the real leak check is before it.
        if (!liveRefsAllowed.has(s)) {
          expect(stats.exportedRefs, 'exported references left').toBe(0)
          expect(stats.importedRefs, 'imported references left').toBe(0)
        }
      }
    }
  } finally {
    // Close even when a check failed, so one test's leftovers never leak into the next.
    await Promise.all(sessions.map((s) => s.close()))
    silent.warnings.length = 0
    silent.errors.length = 0
  }
  for (const s of sessions) {
    const stats = s.stats()
    expect(stats.pendingCalls).toBe(0)
    expect(stats.exportedRefs).toBe(0)
    expect(stats.importedRefs).toBe(0)
  }
})
