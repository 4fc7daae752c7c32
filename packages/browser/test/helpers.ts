/**
 * Helpers for the browser client's tests in Node: a real @wirecall/node
 * server on 127.0.0.1 that can be stopped and restarted on the same port,
 * `ws` as the WebSocket implementation (counting connection attempts), and a
 * leak check run after every test: no timer and no socket left behind.
 *
 * Why wrap the timer functions: `process.getActiveResourcesInfo()` does not
 * list unref'd timers, and the core unrefs its timeout timer in Node. Every
 * timer created through the global `setTimeout`/`setInterval` during a test
 * is recorded (with the stack that made it) until it fires or is cleared.
 */
import { afterEach, beforeEach, expect } from 'vitest'
import { createServer } from 'node:net'
import { WebSocket as WsWebSocket } from 'ws'
import { service, withContext, type CallContext, type Logger, type Session } from '@wirecall/core'
import { serve, type WirecallServer } from '@wirecall/node'
import type { BrowserClient, WebSocketConstructor } from '../src/index.js'

// ------------------------------------------------------------------ timers

type Handle = ReturnType<typeof setTimeout>
const liveTimers = new Map<Handle, string>()
const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout
const realSetInterval = globalThis.setInterval
const realClearInterval = globalThis.clearInterval

function forget(handle: unknown): void {
  if (handle === undefined || handle === null) return
  if (typeof handle === 'object') liveTimers.delete(handle as Handle)
  else for (const h of liveTimers.keys()) if (Number(h) === Number(handle)) liveTimers.delete(h)
}

function where(): string {
  return (new Error().stack ?? '').split('\n').slice(3, 9).join('\n')
}

globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const handle: Handle = realSetTimeout(() => {
    liveTimers.delete(handle)
    fn(...args)
  }, ms)
  liveTimers.set(handle, `setTimeout(${ms ?? 0} ms)\n${where()}`)
  return handle
}) as typeof setTimeout
globalThis.clearTimeout = ((handle: Handle | undefined) => {
  forget(handle)
  realClearTimeout(handle)
}) as typeof clearTimeout
globalThis.setInterval = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const handle = realSetInterval(fn, ms, ...args)
  liveTimers.set(handle, `setInterval(${ms ?? 0} ms)\n${where()}`)
  return handle
}) as typeof setInterval
globalThis.clearInterval = ((handle: Handle | undefined) => {
  forget(handle)
  realClearInterval(handle)
}) as typeof clearInterval

/** Sleep with the real timer (not tracked: it always fires). */
export const sleep = (ms: number) => new Promise<void>((r) => realSetTimeout(r, ms))

/** Wait (bounded) until `check()` holds; fails with `what` instead of hanging. */
export async function until(check: () => boolean, what: string, maxMs = 3_000): Promise<void> {
  const deadline = Date.now() + maxMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

// ---------------------------------------------------------- leak checking

const SOCKET_KINDS = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'ConnectWrap'])
const sockets = () => process.getActiveResourcesInfo().filter((r) => SOCKET_KINDS.has(r)).length

const cleanups: (() => Promise<unknown> | unknown)[] = []

/** Run at the end of the test (before the leak check), whatever happened. */
export function onCleanup(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn)
}

/** Register the per-test leak check: every timer cleared or fired, sockets back to the count before the test. */
export function useLeakCheck(): void {
  let baseline = 0
  beforeEach(() => {
    liveTimers.clear()
    baseline = sockets()
  })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    const deadline = Date.now() + 3_000
    while ((liveTimers.size > 0 || sockets() > baseline) && Date.now() < deadline) await sleep(10)
    const timers = [...liveTimers.values()]
    liveTimers.clear()
    expect(timers, 'timers left running after the test').toEqual([])
    expect(process.getActiveResourcesInfo().filter((r) => SOCKET_KINDS.has(r)), 'sockets left open after the test').toHaveLength(baseline)
  })
}

// -------------------------------------------------------------- WebSocket

/** `ws` as a browser-style WebSocket constructor that records when each connection attempt starts. */
export function countingWebSocket(): { WebSocket: WebSocketConstructor; attempts: number[] } {
  const attempts: number[] = []
  class Counting extends WsWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      attempts.push(Date.now())
      super(url, protocols)
    }
  }
  return { WebSocket: Counting as unknown as WebSocketConstructor, attempts }
}

// ----------------------------------------------------------------- server

/** Invocations seen by the server, across restarts. */
export interface Counts {
  add: number
  slow: number
  slowCancelled: number
  hang: number
}

export interface ClientSide {
  greet(name: string): string
}

export function testService(counts: Counts) {
  return service({
    add: (a: number, b: number) => {
      counts.add++
      return a + b
    },
    /** Answers after `ms`, unless cancelled. */
    slow: withContext((ctx: CallContext<Session<ClientSide>>, ms: number) => {
      counts.slow++
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          ctx.signal.removeEventListener('abort', onAbort)
          resolve(ms)
        }, ms)
        const onAbort = () => {
          clearTimeout(timer)
          counts.slowCancelled++
          reject(ctx.signal.reason)
        }
        ctx.signal.addEventListener('abort', onAbort, { once: true })
      })
    }),
    /** Never answers; gives up when its signal fires (cancel or disconnect). */
    hang: withContext((ctx: CallContext<Session<ClientSide>>) => {
      counts.hang++
      return new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }))
    }),
    /** Calls the page-side service of the caller. */
    askClient: withContext((ctx: CallContext<Session<ClientSide>>, name: string) => ctx.connection.remote.greet(name)),
  })
}

export type TestApi = ReturnType<typeof testService>

export const quiet: Logger & { lines: unknown[][] } = {
  lines: [],
  warn(...args: unknown[]) { this.lines.push(args) },
  error(...args: unknown[]) { this.lines.push(args) },
}

/** A wirecall server on 127.0.0.1 that can go away and come back on the same port. */
export class TestServer {
  readonly counts: Counts = { add: 0, slow: 0, slowCancelled: 0, hang: 0 }
  private current: WirecallServer<ClientSide> | undefined
  /** The TCP socket under each connection's current link, for `cutAll`. */
  private readonly sockets = new Set<import('node:stream').Duplex>()
  private constructor(private portNow: number, private readonly resume = false) {}

  /** Start on an ephemeral port (with resumable sessions when asked); stopped (if still running) at the end of the test. */
  static async start(options: { readonly resume?: boolean } = {}): Promise<TestServer> {
    const s = new TestServer(0, options.resume)
    await s.start()
    onCleanup(() => s.stop())
    return s
  }

  get port(): number {
    return this.portNow
  }
  get url(): string {
    return `ws://127.0.0.1:${this.portNow}`
  }
  get running(): WirecallServer<ClientSide> | undefined {
    return this.current
  }
  /** The running server (fails the test if it is stopped). */
  get server(): WirecallServer<ClientSide> {
    if (!this.current) throw new Error('the test server is stopped')
    return this.current
  }

  /** (Re)start on the same port; retries briefly if the port is still held. */
  async start(): Promise<void> {
    if (this.current) throw new Error('already running')
    for (let attempt = 1; ; attempt++) {
      try {
        this.current = await serve<ClientSide>({ host: '127.0.0.1', port: this.portNow, service: testService(this.counts), logger: quiet,
          // A shutdown is a drop for these tests: do not wait for running handlers (graceful close is tested in node).
          limits: { closeTimeoutMs: 50 }, resume: this.resume,
          onConnection: (_conn, req) => {
            this.sockets.add(req.socket)
            req.socket.once('close', () => this.sockets.delete(req.socket))
          } })
        this.portNow = this.current.port
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err
        await sleep(50)
      }
    }
  }

  /** Graceful close (connections get 1001 "going away"). */
  async stop(): Promise<void> {
    const s = this.current
    this.current = undefined
    await s?.close()
  }

  /**
   * Cut the network under every connection opened so far: destroy its TCP
   * socket (no close handshake). Unlike `terminateAll`, a resumable session
   * is parked, not ended. Links of resumed sessions are not tracked.
   */
  cutAll(): void {
    for (const socket of this.sockets) socket.destroy()
  }

  /** Drop every connection abruptly (no close handshake), keeping the server up. */
  terminateAll(): void {
    for (const conn of this.server.connections) conn.terminate()
  }
}

/** A port nothing listens on (bound, then released). */
export function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      const port = typeof address === 'object' && address ? address.port : 0
      s.close(() => resolve(port))
    })
  })
}

/** Close the client at the end of the test (a no-op if the test closed it). */
export function closeLater<T>(client: BrowserClient<T>): BrowserClient<T> {
  onCleanup(() => client.close())
  return client
}
