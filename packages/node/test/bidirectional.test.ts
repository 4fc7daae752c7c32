/**
 * Bidirectional RPC over real sockets: the server calls back into
 * the client's service and into callbacks passed by reference; references
 * live and die by the documented rules; handlers see their call context.
 */
import { describe, expect, test } from 'vitest'
import {
  ConnectionClosedError, OverloadedError, ReferenceReleasedError, RemoteError, expose, release, service, withContext,
  type CallContext, type Remote,
} from '@wirecall/core'
import type { Connection } from '../src/index.js'
import {
  RawClient, connectTo, deferred, outcomeNow, skipReferenceCheck, startServer, until, urlOf, within,
} from './helpers.js'

/** What the server knows of a client-side service: its methods may answer with promises. */
interface ClientApi {
  getClientName(): string | Promise<string>
}

class ClientService {
  calls = 0
  constructor(private readonly name: string) {}
  @expose
  getClientName(): string {
    this.calls++
    return this.name
  }
}

describe('the aiomas bi-directional example', () => {
  test('the client passes its own service to a server method; the server calls getClientName() on it', async () => {
    class ServerService {
      @expose
      async greet(client: ClientApi): Promise<string> {
        try {
          return `hello ${await client.getClientName()}`
        } finally {
          release(client)
        }
      }
    }
    const server = await startServer({ service: new ServerService() })
    const remote = await connectTo<ServerService>(server)
    const mine = new ClientService('ann')
    expect(await remote.remote.greet(mine)).toBe('hello ann')
    expect(await remote.remote.greet(new ClientService('bob'))).toBe('hello bob')
    expect(mine.calls).toBe(1)
    // Released by the server: both tables are empty again (the helper re-checks after the test).
    await until(() => remote.stats().exportedRefs === 0, 2000, 'client exports released')
    expect([...server.connections][0]!.stats().importedRefs).toBe(0)
  })

  test("the service registered with connect(url, { service }) is callable through conn.remote", async () => {
    const ready = deferred<Connection<ClientService>>()
    const api = service({
      // Re-entrant: while the client awaits this call, the server calls the client.
      whoCalls: withContext(async (ctx: CallContext<Connection<ClientService>>) => `called by ${await ctx.connection.remote.getClientName()}`),
    })
    const server = await startServer<ClientService>({ service: api, onConnection: (conn) => ready.resolve(conn) })
    const page = new ClientService('page-1')
    const client = await connectTo<typeof api>(server, { service: page })
    const conn = await within(ready.promise, 2000, 'onConnection')
    expect(await conn.remote.getClientName()).toBe('page-1')
    expect(await client.remote.whoCalls()).toBe('called by page-1')
    expect(page.calls).toBe(2)
    // The client's service is as closed to the server as the server's is to the client.
    await expect((conn.remote as any).calls()).rejects.toMatchObject({ code: 'WIRECALL_NOT_FOUND' })
  })
})

describe('callbacks by reference', () => {
  test('a callback nested in an options object is called many times, results flowing back', async () => {
    const api = service({
      countdown: async (options: { from: number; label: string; onTick: (n: number, label: string) => number | Promise<number> }) => {
        let sum = 0
        try {
          for (let n = options.from; n > 0; n--) sum += await options.onTick(n, options.label)
          // And a burst of concurrent calls on the same reference.
          const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => options.onTick(-i, 'burst')))
          return { sum, burst: burst.length }
        } finally {
          release(options.onTick)
        }
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const ticks: string[] = []
    const result = await client.remote.countdown({
      from: 200,
      label: 'go',
      onTick: (n, label) => (ticks.push(`${label}${n}`), n * 2),
    })
    expect(result).toEqual({ sum: 200 * 201, burst: 50 })
    expect(ticks.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => `go${200 - i}`))
    expect(ticks).toHaveLength(250)
  })

  test('a reference passed back to its owner arrives as the original object', async () => {
    let held: unknown
    const api = service({
      keep: (fn: () => void, svc: object) => {
        held = { fn, svc }
      },
      giveBack: () => held,
      drop: () => {
        const { fn, svc } = held as { fn: object; svc: object }
        release(fn)
        release(svc)
        held = undefined
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const fn = () => 'mine'
    const svc = service({ ping: () => 'pong' })
    await client.remote.keep(fn, svc)
    const back = (await client.remote.giveBack()) as { fn: unknown; svc: unknown }
    expect(back.fn).toBe(fn)
    expect(back.svc).toBe(svc)
    await client.remote.drop()
  })

  test('a service returned as a result is a typed Remote; disposing it releases the server entry', async () => {
    const api = service({
      openCounter: (start: number) => {
        let value = start
        return service({ inc: (by = 1) => (value += by), value: () => value })
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    // Remote<T> types a returned service as its plain type (service() keeps the type): view it as the Remote it is.
    const counter = (await client.remote.openCounter(10)) as unknown as Remote<{ inc(by?: number): number; value(): number }>
    expect(await counter.inc()).toBe(11)
    expect(await counter.inc(5)).toBe(16)
    expect(await counter.value()).toBe(16)
    const conn = [...server.connections][0]!
    expect(conn.stats().exportedRefs).toBe(1)
    ;(counter as unknown as Disposable)[Symbol.dispose]()
    await until(() => conn.stats().exportedRefs === 0, 2000, 'server export released')
    const outcome = await outcomeNow(counter.value())
    expect((outcome as { error: unknown }).error).toBeInstanceOf(ReferenceReleasedError)
  })

  test('a callback that throws: the server sees the error with the client as its origin', async () => {
    const api = service({
      run: async (cb: () => unknown) => {
        try {
          await cb()
          return 'no error'
        } catch (err) {
          const e = err as RemoteError
          return { name: e.name, message: e.message, origin: e.origin, stack: e.remoteStack?.includes('clientSideFailure') }
        } finally {
          release(cb)
        }
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    await until(() => server.connections.size === 1)
    const conn = [...server.connections][0]!
    const result = await client.remote.run(function clientSideFailure() {
      throw new TypeError('bad input on the page')
    })
    expect(result).toEqual({
      name: 'TypeError',
      message: 'bad input on the page',
      origin: `${conn.peer?.address}:${conn.peer?.port}`,
      stack: true,
    })
  })

  test('10,000 callbacks passed and released leave both tables at zero', async () => {
    const api = service({
      invoke: async (cb: (n: number) => number, n: number) => {
        try {
          return await cb(n)
        } finally {
          release(cb)
        }
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    let calls = 0
    const total = 10_000
    for (let start = 0; start < total; start += 500) {
      const batch = Array.from({ length: 500 }, (_, i) => client.remote.invoke((n) => (calls++, n + 1), start + i))
      const results = await within(Promise.all(batch), 10_000, 'a batch')
      expect(results[0]).toBe(start + 1)
      expect(results[499]).toBe(start + 500)
    }
    expect(calls).toBe(total)
    const conn = [...server.connections][0]!
    await until(() => client.stats().exportedRefs === 0, 2000, 'client exports released')
    expect(conn.stats().importedRefs).toBe(0)
    expect(conn.stats().exportedRefs).toBe(0)
    expect(client.stats().importedRefs).toBe(0)
  })

  test('a proxy dropped without release is released when garbage-collected', async () => {
    const gc = (globalThis as { gc?: () => void }).gc
    expect(gc, 'vitest.config.ts runs tests with --expose-gc').toBeTypeOf('function')
    let weak: WeakRef<object> | undefined
    const api = service({
      peek: (cb: () => void) => {
        weak = new WeakRef(cb) // held weakly only: nothing keeps the proxy alive
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    await client.remote.peek(() => {})
    expect(client.stats().exportedRefs).toBe(1)
    for (let i = 0; i < 100 && client.stats().exportedRefs !== 0; i++) {
      gc!()
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(weak?.deref()).toBeUndefined()
    expect(client.stats().exportedRefs).toBe(0)
  })

  test('calling a released reference, or one of a closed connection, rejects at once', async () => {
    const gotIt = deferred<(n: number) => Promise<number>>()
    const api = service({
      hold: (cb: (n: number) => Promise<number>) => void gotIt.resolve(cb),
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    await connectTo<typeof api>(server) // another client, unaffected
    await client.remote.hold(async (n) => n)
    const cb = await gotIt.promise
    expect(await cb(5)).toBe(5)
    await client.close()
    await until(() => server.connections.size === 1, 2000, 'connection gone')
    const outcome = await outcomeNow(cb(6))
    expect(outcome).not.toBe('pending')
    expect((outcome as { error: unknown }).error).toBeInstanceOf(ConnectionClosedError)
    expect(release(cb)).toBe(false) // already dead

    // Released explicitly on a live connection.
    const again = deferred<(n: number) => Promise<number>>()
    const api2 = service({ hold: (cb: (n: number) => Promise<number>) => void again.resolve(cb) })
    const server2 = await startServer({ service: api2 })
    const c2 = await connectTo<typeof api2>(server2)
    await c2.remote.hold(async (n) => n * 10)
    const cb2 = await again.promise
    expect(release(cb2)).toBe(true)
    const outcome2 = await outcomeNow(cb2(1))
    expect((outcome2 as { error: unknown }).error).toBeInstanceOf(ReferenceReleasedError)
    await until(() => c2.stats().exportedRefs === 0, 2000, 'release reached the client')
  })

  test('past maxExportedRefs the sending call fails with OverloadedError and nothing leaks', async () => {
    skipReferenceCheck() // the server holds references until the connection closes, by design of this test
    const held: unknown[] = []
    const api = service({ hold: (cb: unknown) => void held.push(cb) })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server, { limits: { maxExportedRefs: 5 } })
    const fns = Array.from({ length: 5 }, (_, i) => () => i)
    for (const fn of fns) await client.remote.hold(fn)
    await expect(client.remote.hold(() => 5)).rejects.toBeInstanceOf(OverloadedError)
    expect(client.stats().exportedRefs).toBe(5)
    expect(client.stats().pendingCalls).toBe(0)
    // Passing an already-exported callback again needs no new entry.
    await client.remote.hold(fns[0])
    expect(client.stats().exportedRefs).toBe(5)
    const conn = [...server.connections][0]!
    expect(conn.stats().importedRefs).toBe(5)
    expect(held[0]).toBe(held[5]) // one proxy per reference id
    await client.close()
    expect(client.stats().exportedRefs).toBe(0)
  })
})

describe('call context', () => {
  test('gives the peer address and port, the connection, the path and the identity slot', async () => {
    const conns: Connection[] = []
    const seen: CallContext<Connection>[] = []
    const api = service({
      net: {
        whoami: withContext((ctx: CallContext<Connection>) => {
          seen.push(ctx)
          return { address: ctx.peer?.address, port: ctx.peer?.port, conn: ctx.connection.id, path: ctx.path, identity: ctx.identity ?? null }
        }),
      },
    })
    const server = await startServer({ service: api, onConnection: (conn) => void conns.push(conn) })
    const raw = await RawClient.open(urlOf(server))
    const reply = await raw.call(1, 'net.whoami', [])
    await until(() => conns.length === 1)
    expect(reply).toEqual([1, 1, null, {
      address: '127.0.0.1',
      port: raw.socket.localPort,
      conn: conns[0]!.id,
      path: 'net.whoami',
      identity: null,
    }])
    expect(seen[0]!.connection).toBe(conns[0])

    // A wirecall client: the context's connection is the one onConnection saw, and calls back into this client.
    const client = await connectTo<typeof api>(server)
    await until(() => conns.length === 2)
    const answer = await client.remote.net.whoami()
    expect(answer.conn).toBe(conns[1]!.id)
    expect(seen[1]!.connection).toBe(conns[1])
    expect(seen[1]!.connection.peer).toEqual({ address: '127.0.0.1', port: answer.port })
  })

  test('@expose({ context: true }) on a class method, across awaits', async () => {
    class Api {
      @expose({ context: true })
      async slowEcho(ctx: CallContext<Connection<ClientService>>, text: string): Promise<string> {
        await new Promise((r) => setTimeout(r, 5))
        const name = await ctx.connection.remote.getClientName()
        await new Promise((r) => setTimeout(r, 5))
        return `${text} from ${name} at ${ctx.peer?.address} (aborted: ${ctx.signal.aborted})`
      }
    }
    const server = await startServer({ service: new Api() })
    const client = await connectTo<Api>(server, { service: new ClientService('zed') })
    expect(await client.remote.slowEcho('hi')).toBe('hi from zed at 127.0.0.1 (aborted: false)')
  })
})
