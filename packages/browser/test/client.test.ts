/**
 * The browser client's connection lifecycle, in Node: `ws` stands in for the
 * browser's WebSocket, against a real @wirecall/node server on 127.0.0.1.
 * State, reconnect with capped backoff, at-most-once delivery across drops,
 * `whileDisconnected`, listeners across reconnects, `close()`, `connect()`
 * timeouts. Every test ends with a leak check (no timers, no sockets).
 * (The RPC behaviours themselves are the conformance suite's, e2e/conformance.)
 */
import { describe, expect, test } from 'vitest'
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws'
import { AbortError, ConnectionClosedError, TimeoutError, connect, createClient, resume, service, type BrowserConnectOptions, type CallScope, type ConnectionState, type WebSocketConstructor } from '../src/index.js'
import { TestServer, closeLater, countingWebSocket, deadPort, onCleanup, sleep, until, useLeakCheck, type ClientSide, type TestApi } from './helpers.js'

useLeakCheck()

/** Fast, deterministic backoff for tests (no jitter). */
const FAST = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 } as const

function client(server: TestServer, options: BrowserConnectOptions<TestApi> = {}) {
  const { WebSocket, attempts } = countingWebSocket()
  const c = closeLater(createClient<TestApi>(server.url, { WebSocket, reconnect: FAST, ...options }))
  // Not assigned onto the client: it has private fields of its own.
  return Object.defineProperty(c, 'socketsOpened', { get: () => attempts }) as typeof c & { readonly socketsOpened: number[] }
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    (v) => { throw new Error(`expected a rejection, got ${String(v)}`) },
    (e: unknown) => e as Error & { code?: string },
  )
}

describe('state', () => {
  test('connecting -> open -> reconnecting -> open -> closed, seen by onStateChange', async () => {
    const server = await TestServer.start()
    const fromOption: ConnectionState[] = []
    const fromMethod: ConnectionState[] = []
    const c = client(server, { onStateChange: (s, who) => { fromOption.push(s); expect(who).toBe(c) } })
    c.onStateChange((s) => fromMethod.push(s))
    expect(c.state).toBe('connecting')
    await c.ready
    expect(c.state).toBe('open')

    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting after the server went away')
    await server.start()
    await until(() => c.state === 'open', 'open again after the restart')
    expect(await c.remote.add(1, 2)).toBe(3)

    await c.close()
    expect(c.state).toBe('closed')
    expect(fromOption).toEqual(['open', 'reconnecting', 'open', 'closed'])
    expect(fromMethod).toEqual(fromOption)
  })

  test('a first connection that fails stays "connecting" (never "reconnecting") until the server appears', async () => {
    const server = await TestServer.start()
    await server.stop()
    const states: ConnectionState[] = []
    const c = client(server, { onStateChange: (s) => states.push(s) })
    await until(() => c.socketsOpened.length >= 3, 'a few failed attempts')
    expect(c.state).toBe('connecting')
    await server.start()
    await c.ready
    expect(states).toEqual(['open'])
    expect(await c.remote.add(2, 2)).toBe(4)
  })
})

describe('reconnect', () => {
  test('after a server restart on the same port the client reconnects by itself; onReconnect runs; remote works again', async () => {
    const server = await TestServer.start()
    const reconnects: number[] = []
    const c = client(server, {
      service: service<ClientSide>({ greet: (n) => `hi ${n}` }),
      onReconnect: async (who) => {
        reconnects.push(await who.remote.add(reconnects.length, 100))
      },
    })
    await c.ready
    const remote = c.remote
    expect(await remote.askClient('one')).toBe('hi one')
    expect(reconnects).toEqual([]) // not on the first connection

    await server.stop()
    await until(() => c.state === 'reconnecting', 'the drop')
    await server.start()
    await until(() => reconnects.length === 1, 'onReconnect after the first restart')
    expect(reconnects).toEqual([100])
    expect(c.remote).toBe(remote) // the same remote, still valid
    expect(await remote.askClient('two')).toBe('hi two') // the page-side service is registered again

    await server.stop()
    await server.start()
    await until(() => reconnects.length === 2, 'onReconnect after the second restart')
    expect(reconnects).toEqual([100, 101])
    expect(await remote.add(20, 22)).toBe(42)
    expect(server.server.connections.size).toBe(1)
  })

  test('backoff grows exponentially and is capped at maxDelayMs', async () => {
    const server = await TestServer.start()
    const c = client(server, { reconnect: { initialDelayMs: 20, factor: 2, maxDelayMs: 80, jitter: 0 } })
    await c.ready
    await server.stop()
    await until(() => c.socketsOpened.length >= 8, 'eight connection attempts', 5_000)
    const first = c.socketsOpened.slice(0, 8)
    await server.start()
    await until(() => c.state === 'open', 'reconnected')

    // attempts[0] is the first connection; then the reconnects, after 20, 40, 80, 80, 80... ms.
    const gaps = first.slice(2).map((t, i) => t - first[i + 1]!)
    const expected = [40, 80, 80, 80, 80, 80]
    gaps.forEach((gap, i) => {
      expect(gap, `gap ${i} of ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(expected[i]! - 5)
      expect(gap, `gap ${i} of ${JSON.stringify(gaps)} (capped at 80 ms)`).toBeLessThan(expected[i]! + 60)
    })
  })

  test('jitter only shortens the delay, by at most its fraction', async () => {
    const server = await TestServer.start()
    const c = client(server, { reconnect: { initialDelayMs: 60, factor: 1, maxDelayMs: 60, jitter: 0.5 } })
    await c.ready
    await server.stop()
    await until(() => c.socketsOpened.length >= 12, 'eleven reconnect attempts', 5_000)
    const gaps = c.socketsOpened.slice(2, 12).map((t, i) => t - c.socketsOpened[i + 1]!)
    for (const gap of gaps) {
      expect(gap, JSON.stringify(gaps)).toBeGreaterThanOrEqual(30 - 5)
      expect(gap, JSON.stringify(gaps)).toBeLessThan(60 + 40)
    }
    expect(new Set(gaps).size, `delays are randomised: ${JSON.stringify(gaps)}`).toBeGreaterThan(1)
  })
})

/** A server that accepts every WebSocket and closes it after `keepMs` (0: at once), as a crash-looping backend behind a proxy does. */
async function droppingServer(keepMs: number): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  wss.on('connection', (ws) => {
    if (keepMs === 0) ws.close()
    else setTimeout(() => ws.close(), keepMs)
  })
  onCleanup(async () => {
    for (const ws of wss.clients) ws.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  })
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}`
}

describe('reconnect after links that do not stay up', () => {
  test('a server that accepts and drops at once is retried at a growing delay, not every initialDelayMs', async () => {
    const url = await droppingServer(0)
    const { WebSocket, attempts } = countingWebSocket()
    closeLater(createClient<TestApi>(url, { WebSocket, reconnect: { initialDelayMs: 20, factor: 2, maxDelayMs: 5000, jitter: 0 } }))
    await sleep(1300)
    // 20, 40, 80, 160, 320, 640 ms: about seven dials in 1.3 s. Reset on every open, it dialled every 20 ms (dozens).
    expect(attempts.length, JSON.stringify(attempts.map((t) => t - attempts[0]!))).toBeLessThanOrEqual(9)
    expect(attempts.length).toBeGreaterThanOrEqual(4)
  })

  test('a link that stayed open stableAfterMs was a recovery: the next attempt comes after initialDelayMs again', async () => {
    const url = await droppingServer(200)
    const { WebSocket, attempts } = countingWebSocket()
    closeLater(createClient<TestApi>(url, { WebSocket, reconnect: { initialDelayMs: 20, factor: 2, maxDelayMs: 5000, jitter: 0, stableAfterMs: 100 } }))
    await until(() => attempts.length >= 6, 'six dials', 5000)
    // Each link lives 200 ms, then 20 ms to the next dial: never the 40, 80, 160... of failed attempts.
    const gaps = attempts.slice(1, 6).map((t, i) => t - attempts[i]!)
    for (const gap of gaps) expect(gap, JSON.stringify(gaps)).toBeLessThan(200 + 20 + 150)
  })
})

describe('giving up', () => {
  test('after maxAttempts failed reconnects in a row: state closed, waiting calls reject, no more attempts', async () => {
    const server = await TestServer.start()
    const states: ConnectionState[] = []
    const c = client(server, { reconnect: { ...FAST, maxAttempts: 3 }, onStateChange: (s) => states.push(s) })
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const waiting = rejection(c.remote.add(1, 2))
    await until(() => c.state === 'closed', 'giving up', 3_000)
    expect(await waiting).toBeInstanceOf(ConnectionClosedError)
    expect(c.socketsOpened, 'the first connection, then maxAttempts reconnects').toHaveLength(4)
    await server.start()
    await sleep(250)
    expect(c.socketsOpened).toHaveLength(4)
    expect(server.server.connections.size).toBe(0)
    expect(states).toEqual(['open', 'reconnecting', 'closed'])
  })
})

describe('at most once', () => {
  test('calls pending at an abrupt drop reject with ConnectionClosedError and are not re-sent', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    const pending = [c.remote.hang(), c.remote.slow(5_000)]
    await until(() => server.counts.hang === 1 && server.counts.slow === 1, 'both calls reached the server')

    server.terminateAll()
    for (const p of pending) {
      const err = await rejection(p)
      expect(err).toBeInstanceOf(ConnectionClosedError)
      expect(err.code).toBe('WIRECALL_CONNECTION_CLOSED')
    }
    await until(() => c.state === 'open' && server.server.connections.size === 1, 'reconnected')
    expect(await c.remote.add(1, 1)).toBe(2)
    await sleep(100)
    expect(server.counts).toMatchObject({ hang: 1, slow: 1, add: 1 })
  })

  test('calls pending when the server shuts down are not re-sent to the restarted server', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    const pending = rejection(c.remote.hang())
    await until(() => server.counts.hang === 1, 'the call reached the server')
    await server.stop()
    expect(await pending).toBeInstanceOf(ConnectionClosedError)
    await server.start()
    await until(() => c.state === 'open', 'reconnected')
    expect(await c.remote.add(0, 0)).toBe(0)
    expect(server.counts.hang).toBe(1)
  })
})

describe('whileDisconnected', () => {
  test("'wait' (the default): a call made while reconnecting is sent once, after the reconnect", async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const call = c.remote.add(40, 2)
    let settled = false
    void call.finally(() => (settled = true))
    await sleep(100)
    expect(settled).toBe(false)
    expect(server.counts.add).toBe(0)
    await server.start()
    expect(await call).toBe(42)
    expect(server.counts.add).toBe(1)
  })

  test('with() has the shape of Session.with(): remote with the options, and notify', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    const scope: CallScope<TestApi> = c.with({ timeout: 1_000 })
    expect(scope.notify).toBe(c.notify)
    expect(await scope.remote.add(2, 3)).toBe(5)
    const session: CallScope<TestApi> = c.session!.with({ timeout: 1_000 })
    expect(Object.keys(session).sort()).toEqual(Object.keys(scope).sort())
  })

  test("'wait': the call's timeout runs while waiting, and is never sent afterwards", async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const started = Date.now()
    const err = await rejection(c.with({ timeout: 150 }).remote.add(1, 2))
    const elapsed = Date.now() - started
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('WIRECALL_TIMEOUT')
    expect(elapsed).toBeGreaterThanOrEqual(140)
    expect(elapsed).toBeLessThan(1_000)
    // The session-wide timeout applies too.
    const c2 = client(server, { timeout: 120 })
    expect(await rejection(c2.remote.add(1, 2))).toBeInstanceOf(TimeoutError)

    await server.start()
    await until(() => c.state === 'open' && c2.state === 'open', 'reconnected')
    await sleep(50)
    expect(server.counts.add).toBe(0)
  })

  test("'wait': the time spent waiting counts against the timeout after the reconnect", async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const started = Date.now()
    // 400 ms in all; about 200 are spent waiting, so a 300 ms handler cannot make it.
    const call = rejection(c.with({ timeout: 400 }).remote.slow(300))
    await sleep(200)
    await server.start()
    const err = await call
    const elapsed = Date.now() - started
    expect(err).toBeInstanceOf(TimeoutError)
    expect(elapsed).toBeGreaterThanOrEqual(390)
    expect(elapsed).toBeLessThan(560) // not 200+ ms of waiting + a fresh 400
    expect(server.counts.slow).toBe(1)
    await until(() => server.counts.slowCancelled === 1, "the timeout cancelled the server's handler")
  })

  test("'wait': aborting a waiting call rejects it with AbortError and it is never sent", async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const ac = new AbortController()
    const call = rejection(c.with({ signal: ac.signal }).remote.add(1, 2))
    await sleep(20)
    ac.abort()
    expect(await call).toBeInstanceOf(AbortError)
    await server.start()
    await until(() => c.state === 'open', 'reconnected')
    await sleep(50)
    expect(server.counts.add).toBe(0)
  })

  test("'fail': a call made while reconnecting (or still connecting) rejects at once", async () => {
    const server = await TestServer.start()
    const c = client(server, { whileDisconnected: 'fail' })
    expect(await rejection(c.remote.add(1, 2))).toBeInstanceOf(ConnectionClosedError) // still connecting
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const started = Date.now()
    const err = await rejection(c.remote.add(1, 2))
    expect(Date.now() - started).toBeLessThan(50)
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(err.code).toBe('WIRECALL_CONNECTION_CLOSED')
    await server.start()
    await until(() => c.state === 'open', 'reconnected')
    expect(await c.remote.add(2, 3)).toBe(5)
    expect(server.counts.add).toBe(1)
  })
})

describe('client.on', () => {
  /** Push `tick(n)` to every connection, then a round trip: the notification, sent first on the same socket, has arrived. */
  async function tick(server: TestServer, c: { remote: { add(a: number, b: number): Promise<number> } }, n: number) {
    ;(server.server.all.notify as unknown as { tick(n: number): void }).tick(n)
    await c.remote.add(0, 0)
  }
  async function dropAndReconnect(server: TestServer, c: { state: ConnectionState }) {
    server.terminateAll()
    await until(() => c.state === 'reconnecting', 'the drop')
    await until(() => c.state === 'open' && server.server.connections.size === 1, 'reconnected')
  }

  test('a listener survives reconnects, and one added while disconnected applies from the next connection', async () => {
    const server = await TestServer.start()
    const c = client(server)
    const got: unknown[] = []
    c.on('tick', (n: number) => got.push(n)) // before the first connection
    await c.ready
    await tick(server, c, 1)
    expect(got).toEqual([1])

    await dropAndReconnect(server, c)
    await tick(server, c, 2)
    expect(got).toEqual([1, 2])

    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const late: unknown[] = []
    c.on('tick', (n: number) => late.push(n))
    await server.start()
    await until(() => c.state === 'open' && server.server.connections.size === 1, 'reconnected after the restart')
    await tick(server, c, 3)
    expect(got).toEqual([1, 2, 3])
    expect(late).toEqual([3])
  })

  test('unsubscribing on the connection it was added on stops delivery, now and after reconnects', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    const got: unknown[] = []
    const off = c.on('tick', (n: number) => got.push(n))
    await tick(server, c, 1)
    off()
    await tick(server, c, 2)
    await dropAndReconnect(server, c)
    await tick(server, c, 3)
    expect(got).toEqual([1])
  })

  test('unsubscribing after a reconnect stops delivery', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    const got: unknown[] = []
    const off = c.on('tick', (n: number) => got.push(n))
    await dropAndReconnect(server, c)
    await tick(server, c, 1)
    expect(got).toEqual([1])
    off()
    await tick(server, c, 2)
    expect(got, 'no delivery after unsubscribing').toEqual([1])
  })

  test('unsubscribing a listener added while disconnected stops delivery', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting', 'reconnecting')
    const got: unknown[] = []
    const off = c.on('tick', (n: number) => got.push(n))
    await server.start()
    await until(() => c.state === 'open' && server.server.connections.size === 1, 'reconnected')
    await tick(server, c, 1)
    expect(got).toEqual([1])
    off()
    await tick(server, c, 2)
    expect(got, 'no delivery after unsubscribing').toEqual([1])
  })
})

describe('close()', () => {
  test('is final: pending calls reject, no reconnect attempt follows, later calls reject', async () => {
    const server = await TestServer.start()
    const c = client(server)
    await c.ready
    const pending = rejection(c.remote.hang())
    await until(() => server.counts.hang === 1, 'the call reached the server')
    await c.close()
    expect(await pending).toBeInstanceOf(ConnectionClosedError)
    expect(c.state).toBe('closed')
    const attempts = c.socketsOpened.length
    await sleep(200) // several backoff periods
    expect(c.socketsOpened.length).toBe(attempts)
    expect(server.server.connections.size).toBe(0)
    expect(await rejection(c.remote.add(1, 2))).toBeInstanceOf(ConnectionClosedError)
    await c.close() // idempotent
  })

  test('while reconnecting: waiting calls reject, and the client stays down when the server returns', async () => {
    const server = await TestServer.start()
    const states: ConnectionState[] = []
    const c = client(server, { onStateChange: (s) => states.push(s) })
    await c.ready
    await server.stop()
    await until(() => c.state === 'reconnecting' && c.socketsOpened.length >= 3, 'a few reconnect attempts')
    const waiting = rejection(c.remote.add(1, 2))
    await c.close()
    const err = await waiting
    expect(err).toBeInstanceOf(ConnectionClosedError)
    const attempts = c.socketsOpened.length
    await server.start()
    await sleep(300)
    expect(c.socketsOpened.length).toBe(attempts)
    expect(server.server.connections.size).toBe(0)
    expect(server.counts.add).toBe(0)
    expect(states).toEqual(['open', 'reconnecting', 'closed'])
  })

  test('before the first connection: ready rejects and nothing is left behind', async () => {
    const port = await deadPort()
    const { WebSocket, attempts } = countingWebSocket()
    const c = createClient(`ws://127.0.0.1:${port}`, { WebSocket, reconnect: FAST })
    const ready = rejection(c.ready)
    await c.close()
    expect(await ready).toBeInstanceOf(ConnectionClosedError)
    const n = attempts.length
    await sleep(150)
    expect(attempts.length).toBe(n)
  })
})

describe('connect()', () => {
  test('to a dead port rejects with TimeoutError within its timeout, then stops trying', async () => {
    const port = await deadPort()
    const { WebSocket, attempts } = countingWebSocket()
    const started = Date.now()
    const err = await rejection(connect(`ws://127.0.0.1:${port}`, { WebSocket, timeout: 300, reconnect: FAST }))
    const elapsed = Date.now() - started
    expect(err).toBeInstanceOf(TimeoutError)
    expect(elapsed).toBeGreaterThanOrEqual(290)
    expect(elapsed).toBeLessThan(1_000)
    expect(attempts.length, 'it retried while waiting').toBeGreaterThan(2)
    const n = attempts.length
    await sleep(200)
    expect(attempts.length, 'no attempt after giving up').toBe(n)
  })

  test('to a dead port with reconnect: false rejects at once with ConnectionClosedError', async () => {
    const port = await deadPort()
    const { WebSocket, attempts } = countingWebSocket()
    const started = Date.now()
    const err = await rejection(connect(`ws://127.0.0.1:${port}`, { WebSocket, timeout: 5_000, reconnect: false }))
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(attempts).toHaveLength(1)
  })

  test('resolves once open, with a working remote', async () => {
    const server = await TestServer.start()
    const { WebSocket } = countingWebSocket()
    const c = closeLater(await connect<TestApi>(server.url, { WebSocket, timeout: 2_000 }))
    expect(c.state).toBe('open')
    expect(await c.remote.add(3, 4)).toBe(7)
  })
})

describe('resumable sessions (server with resume: true)', () => {
  test('with `resume` the client resumes: the same session, a call in flight answered, no onReconnect', async () => {
    const server = await TestServer.start({ resume: true })
    let reconnects = 0
    const resumes: unknown[] = []
    const offered: (string | string[] | undefined)[] = []
    const c = client(server, {
      resume,
      WebSocket: recordingProtocols(offered),
      onReconnect: () => void reconnects++, onResume: (r) => void resumes.push(r),
      reconnect: { initialDelayMs: 1000, maxDelayMs: 1000, jitter: 0 }, // back after the answer was produced
    })
    await c.ready
    const session = c.session
    expect(await c.remote.add(1, 2)).toBe(3)
    const slow = c.remote.slow(100)
    await until(() => server.counts.slow === 1, 'the call to run')
    server.cutAll()
    await until(() => server.server.stats().parkedBytes > 0, 'the answer kept while parked') // the answer, kept while the link is down
    expect(await slow).toBe(100) // answered after the drop, delivered on resume
    expect(resumes).toEqual([{ resumed: true }])
    expect(c.session).toBe(session)
    expect(reconnects).toBe(0)
    expect(server.server.stats()).toMatchObject({ resumes: 1, parkedSessions: 0 })
    expect(server.counts.slow).toBe(1)
    expect(offered).toEqual([['wirecall.v1', 'wirecall.batch.v1', 'wirecall.resume.v1'], ['wirecall.v1', 'wirecall.batch.v1', 'wirecall.resume.v1']])
  })

  for (const [name, options] of [['without `resume` (the default)', {}], ['resume: false', { resume: false }]] as const) {
    test(`${name}: resume is not offered, a drop starts a fresh session and onReconnect runs`, async () => {
      const server = await TestServer.start({ resume: true })
      let reconnects = 0
      const resumes: unknown[] = []
      const offered: (string | string[] | undefined)[] = []
      const c = client(server, { ...options, WebSocket: recordingProtocols(offered), onReconnect: () => void reconnects++, onResume: (r) => void resumes.push(r) })
      await c.ready
      const session = c.session
      const pending = rejection(c.remote.hang())
      await until(() => server.counts.hang === 1, 'the call to run')
      server.cutAll()
      expect((await pending).code).toBe('WIRECALL_CONNECTION_CLOSED') // a plain link: the call in flight is lost
      await until(() => reconnects === 1, 'onReconnect')
      expect(c.session).not.toBe(session)
      expect(resumes).toEqual([])
      expect(offered).toEqual([['wirecall.v1', 'wirecall.batch.v1'], ['wirecall.v1', 'wirecall.batch.v1']])
      expect(server.server.stats()).toMatchObject({ resumes: 0, parkedSessions: 0 })
    })
  }

  test('resume: true (the option was a boolean once) fails at once rather than leaving resume off unnoticed', () => {
    const offered: (string | string[] | undefined)[] = []
    expect(() => createClient('ws://127.0.0.1:1/', { WebSocket: recordingProtocols(offered), resume: true as unknown as typeof resume })).toThrow(TypeError)
    expect(offered).toEqual([]) // no connection attempt either
  })
})

/** A WebSocket that records the subprotocols each connection offers. */
function recordingProtocols(offered: (string | string[] | undefined)[]): WebSocketConstructor {
  class Recording extends WsWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      offered.push(protocols)
      super(url, protocols)
    }
  }
  return Recording as unknown as WebSocketConstructor
}
