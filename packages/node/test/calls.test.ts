/**
 * Call semantics over real sockets: notify, timeouts, cancellation reaching
 * the handler, pipelining, calls on closed sessions, large binaries.
 */
import { describe, expect, test } from 'vitest'
import {
  AbortError, ConnectionClosedError, NotFoundError, OverloadedError, TimeoutError, service, withContext,
} from '@wirecall/core'
import { RawClient, capture, connectTo, deferred, outcomeNow, sleep, startServer, until, urlOf, within } from './helpers.js'

describe('notify', () => {
  test('runs the handler without a reply; errors and unknown methods are only logged on the receiver', async () => {
    const received: number[] = []
    const logger = capture()
    const api = service({
      record: (n: number) => void received.push(n),
      explode: () => {
        throw new Error('notification handler failed')
      },
      count: () => received.length,
    })
    const server = await startServer({ service: api, logger })
    const client = await connectTo<typeof api>(server)
    expect(client.notify.record(1)).toBeUndefined()
    client.notify.record(2)
    client.notify.explode()
    ;(client.notify as any).missing.method(3)
    client.notify.record(3)
    // Frames are ordered on one socket: a call after the notifications sees them all.
    expect(await client.remote.count()).toBe(3)
    expect(received).toEqual([1, 2, 3])
    expect(logger.text()).toContain('notification handler failed')
    expect(logger.text()).toContain('missing.method')
    expect(client.stats().pendingCalls).toBe(0)
  })

  test('a notification gets no frame back (checked on the wire)', async () => {
    const server = await startServer({ service: service({ add: (a: number, b: number) => a + b }) })
    const raw = await RawClient.open(urlOf(server))
    raw.send([2, 'add', [1, 2]])
    raw.send([2, 'nope', []])
    raw.send([0, 9, 'add', [3, 4]])
    expect(await raw.nextValue()).toEqual([1, 9, null, 7])
    await sleep(20)
    expect(raw.unread()).toEqual([])
  })

  test('the server notifies a client: service handler and several on() listeners', async () => {
    const got: string[] = []
    const page = service({ news: { headline: (text: string) => void got.push(`service:${text}`) } })
    const server = await startServer({ service: service({}) })
    const client = await connectTo(server, { service: page })
    const offA = client.on('news.headline', (text: string) => void got.push(`a:${text}`))
    client.on('news.headline', (text: string) => void got.push(`b:${text}`))
    await until(() => server.connections.size === 1)
    const [conn] = [...server.connections] as any[]
    conn.notify.news.headline('one')
    await until(() => got.length === 3, 2000, 'three deliveries')
    offA()
    conn.notify.news.headline('two')
    await until(() => got.length === 5, 2000, 'two more deliveries')
    expect(got.sort()).toEqual(['a:one', 'b:one', 'b:two', 'service:one', 'service:two'])
  })
})

describe('timeouts', () => {
  const slowApi = () => {
    const aborted: unknown[] = []
    const api = service({
      // Waits until cancelled, and records why.
      wait: withContext((ctx) => new Promise<string>((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          aborted.push(ctx.signal.reason)
          resolve('cancelled')
        }, { once: true })
      })),
      // Not cancellable: answers after `ms` whatever happens.
      sleepy: (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)),
    })
    return { api, aborted }
  }

  test('session default timeout: TimeoutError, and the handler is cancelled', async () => {
    const { api, aborted } = slowApi()
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server, { timeout: 50 })
    const started = Date.now()
    const err = await client.remote.wait().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as TimeoutError).code).toBe('WIRECALL_TIMEOUT')
    expect((err as Error).message).toContain('wait')
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(Date.now() - started).toBeLessThan(1000)
    await until(() => aborted.length === 1, 2000, 'handler signal after the timeout')
    expect(aborted[0]).toBeInstanceOf(AbortError)
  })

  test('per-call timeout overrides the default; a late reply is dropped and counted', async () => {
    const { api } = slowApi()
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server, { timeout: 10_000 })
    await expect(client.with({ timeout: 30 }).remote.sleepy(120)).rejects.toBeInstanceOf(TimeoutError)
    expect(client.stats().pendingCalls).toBe(0)
    await until(() => client.stats().lateReplies === 1, 2000, 'the late reply')
    // timeout 0 disables it; the default still applies elsewhere.
    expect(await client.with({ timeout: 0 }).remote.sleepy(20)).toBe(20)
    expect(await client.remote.sleepy(1)).toBe(1)
  })

  test('server-side timeout for calls into a client', async () => {
    const page = service({ never: () => new Promise(() => {}) })
    const server = await startServer({ service: service({}), timeout: 40 })
    const client = await connectTo(server, { service: page })
    await until(() => server.connections.size === 1)
    const [conn] = [...server.connections] as any[]
    await expect(conn.remote.never()).rejects.toBeInstanceOf(TimeoutError)
    // The client's handler is still running (it cannot be cancelled): close ends it.
    await client.close()
  })
})

describe('cancellation', () => {
  test("client.with({ signal }) abort rejects at once and fires the handler's ctx.signal", async () => {
    const started = deferred()
    const handlerAborted = deferred<unknown>()
    const api = service({
      work: withContext(async (ctx, label: string) => {
        started.resolve()
        ctx.signal.addEventListener('abort', () => handlerAborted.resolve(ctx.signal.reason), { once: true })
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
        return `${label} done`
      }),
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const controller = new AbortController()
    const call = client.with({ signal: controller.signal }).remote.work('job')
    await within(started.promise, 2000, 'handler start')
    controller.abort(new Error('user pressed stop'))
    const outcome = await outcomeNow(call)
    expect(outcome).not.toBe('pending')
    const err = (outcome as { error: unknown }).error
    expect(err).toBeInstanceOf(AbortError)
    expect((err as Error).message).toContain('user pressed stop')
    const reason = await within(handlerAborted.promise, 2000, 'handler abort')
    expect(reason).toBeInstanceOf(AbortError)
    // No reply comes for a cancelled call, and nothing is counted as late.
    await sleep(20)
    expect(client.stats().lateReplies).toBe(0)
    const conn = [...server.connections][0]!
    expect(conn.stats().inFlightCalls).toBe(0)
  })

  test('an already-aborted signal never sends the call', async () => {
    let calls = 0
    const api = service({ work: () => ++calls })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    await expect(client.with({ signal: AbortSignal.abort() }).remote.work()).rejects.toBeInstanceOf(AbortError)
    expect(await client.remote.work()).toBe(1)
  })

  test("a client disconnect fires the running handler's signal", async () => {
    const started = deferred()
    const aborted = deferred<unknown>()
    const api = service({
      work: withContext((ctx) => {
        started.resolve()
        return new Promise((resolve) => ctx.signal.addEventListener('abort', () => {
          aborted.resolve(ctx.signal.reason)
          resolve(0)
        }, { once: true }))
      }),
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const call = client.remote.work().then(() => 'resolved', (e: unknown) => e)
    await within(started.promise, 2000, 'handler start')
    await client.close()
    expect(await call).toBeInstanceOf(ConnectionClosedError)
    expect(await within(aborted.promise, 2000, 'handler abort')).toBeInstanceOf(ConnectionClosedError)
  })
})

describe('pipelining', () => {
  test('1,000 concurrent calls on one connection are answered correctly, in any order', async () => {
    const order: number[] = []
    const api = service({
      // Later calls finish first: replies come back out of order.
      square: async (n: number) => {
        await new Promise((r) => setTimeout(r, (999 - n) % 25))
        order.push(n)
        return { n, square: n * n }
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const calls = Array.from({ length: 1000 }, (_, n) => client.remote.square(n))
    expect(client.stats().pendingCalls).toBe(1000)
    const results = await within(Promise.all(calls), 10_000, '1000 calls')
    results.forEach((r, n) => expect(r).toEqual({ n, square: n * n }))
    expect(order).toHaveLength(1000)
    expect(order).not.toEqual([...order].sort((a, b) => a - b)) // really out of order
    expect(client.stats().pendingCalls).toBe(0)
  })

  test('past maxInFlightCalls the excess calls get OverloadedError, the rest succeed', async () => {
    const gate = deferred()
    const api = service({ held: async (n: number) => (await gate.promise, n) })
    const server = await startServer({ service: api, limits: { maxInFlightCalls: 8 } })
    const client = await connectTo<typeof api>(server)
    const calls = Array.from({ length: 12 }, (_, n) => client.remote.held(n).then((v) => v, (e: unknown) => e))
    await until(() => [...server.connections][0]?.stats().inFlightCalls === 8, 2000, '8 handlers running')
    gate.resolve()
    const results = await Promise.all(calls)
    expect(results.slice(0, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    for (const r of results.slice(8)) expect(r).toBeInstanceOf(OverloadedError)
  })
})

describe('closed sessions', () => {
  test('calls and notifications after close() settle at once', async () => {
    const api = service({ add: (a: number, b: number) => a + b })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    await client.close()
    expect(client.closed).toBe(true)
    const outcome = await outcomeNow(client.remote.add(1, 2))
    expect(outcome).not.toBe('pending')
    expect((outcome as { error: unknown }).error).toBeInstanceOf(ConnectionClosedError)
    expect(() => client.notify.add(1, 2)).not.toThrow()
    await client.close() // idempotent
    await until(() => server.connections.size === 0)
  })

  test('calls through a Connection whose client left reject at once', async () => {
    const server = await startServer({ service: service({}) })
    const client = await connectTo(server, { service: service({ hi: () => 'hi' }) })
    await until(() => server.connections.size === 1)
    const conn = [...server.connections][0]! as any
    expect(await conn.remote.hi()).toBe('hi')
    await client.close()
    await until(() => conn.closed, 2000, 'server side closed')
    const outcome = await outcomeNow(conn.remote.hi())
    expect((outcome as { error: unknown }).error).toBeInstanceOf(ConnectionClosedError)
  })

  test('connect() to a port nobody listens on rejects with ConnectionClosedError', async () => {
    const server = await startServer({ service: service({}) })
    const port = server.port
    await server.close()
    await expect(connectTo(`ws://127.0.0.1:${port}`)).rejects.toBeInstanceOf(ConnectionClosedError)
  })
})

describe('values', () => {
  test('large binaries (sent as fragments) and rich values cross intact both ways', async () => {
    const api = service({
      checksum: (bytes: Uint8Array) => bytes.reduce((sum, b) => (sum + b) % 65521, 0),
      reverse: (bytes: Uint8Array) => Uint8Array.from(bytes).reverse(),
      echo: <T>(value: T) => value,
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const big = new Uint8Array(1024 * 1024 + 7)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
    const expected = big.reduce((sum, b) => (sum + b) % 65521, 0)
    // Interleave large and small calls: fragments of one message must not mix with others.
    const [sum, reversed, small, sum2] = await Promise.all([
      client.remote.checksum(big),
      client.remote.reverse(big),
      client.remote.echo('small'),
      client.remote.checksum(big.subarray(100, 100 + 70_000)),
    ])
    expect(sum).toBe(expected)
    expect(reversed).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(reversed).equals(Buffer.from(Uint8Array.from(big).reverse()))).toBe(true)
    expect(small).toBe('small')
    expect(sum2).toBe(big.subarray(100, 100 + 70_000).reduce((s, b) => (s + b) % 65521, 0))
    const rich = { when: new Date(1_700_000_000_123), big: 2n ** 70n, map: new Map([[1, 'a']]), set: new Set(['x']), nested: [null, true, 1.5] }
    expect(await client.remote.echo(rich)).toEqual(rich)
  })

  test('a result holding several large binaries between other values arrives in order (one frame, many parts)', async () => {
    const a = new Uint8Array(200_000).fill(1)
    const b = new Uint8Array(300_000).fill(2)
    const api = service({ parts: () => ({ head: 'h', a, mid: [1, 'm'], b, tail: 't' }) })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([client.remote.parts(), client.remote.parts()])
      for (const r of results) {
        expect(r.head).toBe('h')
        expect(r.mid).toEqual([1, 'm'])
        expect(r.tail).toBe('t')
        expect(r.a.length).toBe(200_000)
        expect(r.a.every((x) => x === 1)).toBe(true)
        expect(r.b.length).toBe(300_000)
        expect(r.b.every((x) => x === 2)).toBe(true)
      }
    }
  })

  test('a call to a missing method is NotFoundError with the path in the message', async () => {
    const server = await startServer({ service: service({ a: { b: () => 1 } }) })
    const client = await connectTo(server)
    const err = await (client.remote as any).a.c().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as Error).message).toContain('a.c')
  })
})
