/**
 * Callbacks and services by reference, both directions: nesting, sub-services,
 * round trips back to the owner, lifetime (release, dispose, close) and the
 * export limit. The harness checks after every test that both reference
 * tables are back to zero before the sessions close.
 */
import { describe, expect, test, vi } from 'vitest'
import * as z from 'zod'
import {
  ConnectionClosedError, ErrorCode, NotFoundError, OverloadedError, ReferenceReleasedError, callScoped, expose, release, service, validated, withContext,
  type CallContext, type Remote, type Session,
} from '../src/index.js'
import { ExtData as RawExt } from '@msgpack/msgpack'
import { ExtType, MessageType } from '../src/internal.js'
import { allowLiveRefs, encodeRaw, pair, rejection, sentMessages, settle, settlesAtOnce, until } from './harness.js'

type Fn = (...args: never[]) => unknown
type RemoteFn<A extends unknown[] = unknown[], R = unknown> = ((...args: A) => Promise<R>) & Disposable
/**
 * A service returned by reference. `Remote<T>` types a returned service as its plain type `T`
 * (the type level cannot tell a `service({...})` from a data object), so tests say what it is.
 */
const asRef = <T>(value: T) => value as unknown as Remote<T> & Disposable

describe('callbacks and services cross by reference', () => {
  test('aiomas bi-directional: the client passes its own service, the server calls getClientName()', async () => {
    const clientService = service({ getClientName: () => 'ClientA' })
    const serverApi = service({
      register: async (client: { getClientName(): Promise<string> } & Disposable) => {
        const name = await client.getClientName()
        client[Symbol.dispose]()
        return `registered ${name}`
      },
    })
    const { client, server } = pair<typeof serverApi, typeof clientService>({ service: serverApi }, { service: clientService })
    expect(await client.remote.register(clientService as never)).toBe('registered ClientA')
    // The same service is also what the server reaches through its session's remote.
    expect(await server.remote.getClientName()).toBe('ClientA')
  })

  test('a callback nested in an options object is called many times', async () => {
    const serverApi = service({
      subscribe: async (options: { topic: string; onEvent: RemoteFn<[string, number], void> }) => {
        for (let i = 0; i < 100; i++) await options.onEvent(options.topic, i)
        release(options.onEvent)
        return 'done'
      },
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const events: [string, number][] = []
    const onEvent = (topic: string, i: number) => void events.push([topic, i])
    expect(await client.remote.subscribe({ topic: 'prices', onEvent } as never)).toBe('done')
    expect(events).toHaveLength(100)
    expect(events[99]).toEqual(['prices', 99])
  })

  test('callbacks inside arrays and deep structures, with results coming back', async () => {
    const serverApi = service({
      runAll: async (input: { jobs: { fns: RemoteFn<[number], number>[] }[] }) => {
        const out: number[] = []
        for (const job of input.jobs) for (const fn of job.fns) out.push(await fn(10))
        for (const job of input.jobs) for (const fn of job.fns) release(fn)
        return out
      },
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const input = { jobs: [{ fns: [(x: number) => x + 1, (x: number) => x * 2] }, { fns: [async (x: number) => x - 3] }] }
    expect(await client.remote.runAll(input as never)).toEqual([11, 20, 7])
  })

  test('a function returned as a result is a callable, disposable reference', async () => {
    const serverApi = service({
      makeCounter: (start: number) => {
        let n = start
        return (step: number) => (n += step)
      },
    })
    const { client, server } = pair<typeof serverApi>({ service: serverApi })
    const counter = await client.remote.makeCounter(10)
    expect(typeof counter).toBe('function')
    expect(await counter(1)).toBe(11)
    expect(await counter(5)).toBe(16)
    expect(server.stats().exportedRefs).toBe(1)
    expect(client.stats().importedRefs).toBe(1)
    counter[Symbol.dispose]()
  })

  test('a service returned as a result, with sub-services reachable through it', async () => {
    const serverApi = service({
      open: (name: string) => service({
        name: () => name,
        files: service({ list: () => ['a', 'b'], stat: service({ size: (f: string) => f.length }) }),
      }),
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const handle = await client.remote.open('vol1')
    expect(await handle.name()).toBe('vol1')
    expect(await handle.files.list()).toEqual(['a', 'b'])
    expect(await handle.files.stat.size('abc')).toBe(3)
    release(handle)
  })

  test('a service passed as an argument: sub-services work, exposure rules still apply', async () => {
    const touched = vi.fn()
    class Widget {
      @expose ping(): string {
        return 'pong'
      }
      @expose parts = service({ count: () => 3 })
      secret(): void {
        touched()
      }
    }
    const serverApi = service({
      inspect: async (w: Record<string, any> & Disposable) => { // eslint-disable-line @typescript-eslint/no-explicit-any
        const results = [await w.ping(), await w.parts.count()]
        const refused = await Promise.all(['secret', 'hidden.deeper'].map((m) => w[m]().catch((e: Error) => e)))
        // Language protocol names are never sent at all (they read as absent on a proxy).
        const local = [w.constructor, w.__proto__, w.valueOf]
        release(w)
        return { results, refused: refused.map((e: Error) => e.name), local }
      },
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const out = await client.remote.inspect(new Widget() as never)
    expect(out.results).toEqual(['pong', 3])
    expect(out.refused).toEqual(['NotFoundError', 'NotFoundError'])
    expect(out.local).toEqual([null, null, null])
    expect(touched).not.toHaveBeenCalled()
  })

  test('a sub-service of a hierarchy can be handed over on its own', async () => {
    const tree = service({ a: service({ b: service({ leaf: () => 'leaf' }) }) })
    const serverApi = service({ use: async (b: { leaf(): Promise<string> } & Disposable) => { const r = await b.leaf(); release(b); return r } })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    expect(await client.remote.use(tree.a.b as never)).toBe('leaf')
  })

  test('a callback that throws rejects the call that invoked it', async () => {
    const serverApi = service({
      tryIt: async (fn: RemoteFn) => {
        try {
          await fn()
          return 'no error'
        } catch (e) {
          return `${(e as Error).name}: ${(e as Error).message}`
        } finally {
          release(fn)
        }
      },
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    expect(await client.remote.tryIt((() => { throw new RangeError('from the client') }) as never)).toBe('RangeError: from the client')
  })

  test('a contextual callback gets the context of the connection that calls it', async () => {
    const contexts: CallContext[] = []
    const serverApi = service({ call: async (fn: RemoteFn<[number], number>) => { const r = await fn(2); release(fn); return r } })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const cb = withContext((ctx, n: number) => {
      contexts.push(ctx)
      return n * 21
    })
    expect(await client.remote.call(cb as never)).toBe(42)
    expect(contexts[0]!.connection).toBe(client)
    expect(contexts[0]!.path).toMatch(/^#\d+$/)
  })
})

describe('passed back to the owner', () => {
  test('a callback handed back arrives as the original function, not a proxy of a proxy', async () => {
    let serverHeld: RemoteFn | undefined
    const clientApi = service({ isMine: (fn: unknown) => fn === original })
    const serverApi = service({
      echo: (fn: RemoteFn) => {
        serverHeld = fn
        return fn
      },
      bounce: async (fn: RemoteFn) => {
        const answer = await server.remote.isMine(fn as never)
        release(fn)
        return answer
      },
      nested: (x: { fn: RemoteFn }) => {
        serverHeld = x.fn
        return { deep: [x.fn] }
      },
    })
    const original = () => 'original'
    const { client, server } = pair<typeof serverApi, typeof clientApi>({ service: serverApi }, { service: clientApi })
    expect(await client.remote.echo(original as never)).toBe(original)
    release(serverHeld)
    expect(await client.remote.bounce(original as never)).toBe(true)
    const back = (await client.remote.nested({ fn: original } as never)) as unknown as { deep: unknown[] }
    expect(back.deep[0]).toBe(original)
    release(serverHeld)
  })

  test('a service handed back arrives as the original object', async () => {
    const mine = service({ hello: () => 'hi' })
    let held: object | undefined
    const serverApi = service({ keep: (s: object) => (held = s) })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    expect(await client.remote.keep(mine as never)).toBe(mine)
    release(held)
  })

  test('a reference the server got from the client, returned from a client call, is the client\'s own original', async () => {
    const original = () => 1
    const clientApi = service({ identity: (x: unknown) => x })
    let ok: boolean | undefined
    const serverApi = service({
      check: async (fn: RemoteFn) => {
        // The server sends the client's function to the client, which sends it back: the server
        // must get its proxy again (the very same one), not a new proxy of a client-side proxy.
        const again = await server.remote.identity(fn as never)
        ok = again === fn
        release(fn)
      },
    })
    const { client, server } = pair<typeof serverApi, typeof clientApi>({ service: serverApi }, { service: clientApi })
    await client.remote.check(original as never)
    expect(ok).toBe(true)
  })
})

describe('lifetime', () => {
  test('one proxy per id on the receiver; repeated sends are counted and released together', async () => {
    const proxies: RemoteFn[] = []
    const serverApi = service({ keep: (fn: RemoteFn) => void proxies.push(fn) })
    const { client, server, serverTransport } = pair<typeof serverApi>({ service: serverApi })
    const cb = () => 1
    await client.remote.keep(cb as never)
    await client.remote.keep(cb as never)
    await client.remote.keep(cb as never)
    expect(proxies[0]).toBe(proxies[1])
    expect(proxies[1]).toBe(proxies[2])
    expect(client.stats().exportedRefs).toBe(1)
    expect(server.stats().importedRefs).toBe(1)
    serverTransport.log = true
    release(proxies[0])
    await settle()
    const releases = sentMessages(serverTransport).filter((m) => m[0] === MessageType.RELEASE)
    expect(releases).toHaveLength(1)
    expect((releases[0]![1] as number[])[1]).toBe(3) // gives back all three sends
    expect(client.stats().exportedRefs).toBe(0)
  })

  test('a release racing a fresh send of the same callback never drops the live entry', async () => {
    const held: RemoteFn[] = []
    const serverApi = service({
      dropIt: (fn: RemoteFn) => void release(fn),
      keep: (fn: RemoteFn) => void held.push(fn),
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const cb = vi.fn(() => 'still alive')
    // Both sends leave before the release of the first comes back.
    await Promise.all([client.remote.dropIt(cb as never), client.remote.keep(cb as never)])
    await settle()
    expect(client.stats().exportedRefs).toBe(1)
    expect(await held[0]!()).toBe('still alive')
    release(held[0])
  })

  test('release() and Symbol.dispose both release; a second release is a no-op', async () => {
    const serverApi = service({ make: () => () => 'x', makeService: () => service({ x: () => 'x' }) })
    const { client, server } = pair<typeof serverApi>({ service: serverApi })
    const a = await client.remote.make()
    const b = asRef(await client.remote.makeService())
    expect(server.stats().exportedRefs).toBe(2)
    expect(release(a)).toBe(true)
    expect(release(a)).toBe(false)
    b[Symbol.dispose]()
    expect(release(b)).toBe(false)
    expect(client.stats().importedRefs).toBe(0)
    await settle()
    expect(server.stats().exportedRefs).toBe(0)
    // Not references: false, no throw.
    expect(release(() => 1)).toBe(false)
    expect(release({})).toBe(false)
    expect(release(null)).toBe(false)
    expect(release(client.remote)).toBe(false)
  })

  test('releases made in one tick travel in one frame', async () => {
    const proxies: RemoteFn[] = []
    const serverApi = service({ keep: (fns: RemoteFn[]) => void proxies.push(...fns) })
    const { client, server, serverTransport } = pair<typeof serverApi>({ service: serverApi })
    await client.remote.keep(Array.from({ length: 100 }, (_, i) => () => i) as never)
    expect(server.stats().importedRefs).toBe(100)
    serverTransport.log = true
    for (const p of proxies) release(p)
    await settle()
    const releases = sentMessages(serverTransport).filter((m) => m[0] === MessageType.RELEASE)
    expect(releases).toHaveLength(1)
    expect(releases[0]![1]).toHaveLength(200)
    expect(client.stats().exportedRefs).toBe(0)
  })

  test('calling a released reference rejects at once with ReferenceReleasedError and sends nothing', async () => {
    const serverApi = service({ make: () => () => 'x', makeService: () => service({ sub: service({ x: () => 'x' }) }) })
    const { client, clientTransport } = pair<typeof serverApi>({ service: serverApi })
    const fn = await client.remote.make()
    const svc = asRef(await client.remote.makeService())
    release(fn)
    svc[Symbol.dispose]()
    clientTransport.log = true
    const calls = [fn(), svc.sub.x()]
    expect(await settlesAtOnce(Promise.allSettled(calls))).toBe(true)
    for (const call of calls) {
      const err = await rejection(call)
      expect(err).toBeInstanceOf(ReferenceReleasedError)
      expect(err.code).toBe(ErrorCode.REFERENCE_RELEASED)
    }
    // No round trip: nothing but the release itself went out.
    expect(sentMessages(clientTransport).filter((m) => m[0] === MessageType.REQUEST)).toHaveLength(0)
  })

  test('a released proxy stays dead even after the same callback is sent again', async () => {
    const held: RemoteFn[] = []
    const serverApi = service({
      first: (fn: RemoteFn) => {
        held.push(fn)
        release(fn)
      },
      second: (fn: RemoteFn) => void held.push(fn),
    })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const cb = vi.fn(() => 'called')
    await Promise.all([client.remote.first(cb as never), client.remote.second(cb as never)])
    const [dead, live] = held
    expect(dead).not.toBe(live)
    await expect(dead!()).rejects.toBeInstanceOf(ReferenceReleasedError)
    expect(cb).not.toHaveBeenCalled()
    expect(await live!()).toBe('called')
    release(live)
  })

  test('a peer calling a reference that is not exported gets ReferenceReleasedError', async () => {
    const { client, server } = pair()
    await expect(client.call('#1', [])).rejects.toBeInstanceOf(ReferenceReleasedError)
    await expect(client.call('#99.some.method', [])).rejects.toBeInstanceOf(ReferenceReleasedError)
    await expect(client.call('#abc', [])).rejects.toBeInstanceOf(ReferenceReleasedError)
    await expect(client.call('#', [])).rejects.toBeInstanceOf(ReferenceReleasedError)
    expect(server.closed).toBe(false)
  })

  test('a service reference\'s root is not callable; a function reference has no members', async () => {
    const serverApi = service({ makeService: () => service({ x: () => 'x' }), make: () => () => 'f' })
    const { client } = pair<typeof serverApi>({ service: serverApi })
    const svc = asRef(await client.remote.makeService())
    const fn = await client.remote.make()
    await expect((svc as unknown as () => Promise<unknown>)()).rejects.toBeInstanceOf(NotFoundError)
    await expect((fn as unknown as { call2(): Promise<unknown> }).call2()).rejects.toBeInstanceOf(NotFoundError)
    release(svc)
    release(fn)
  })

  test('references of a closed session reject at once, both kinds and both directions', async () => {
    const serverApi = service({ make: () => () => 'x', makeService: () => service({ x: () => 'x' }) })
    let held: RemoteFn | undefined
    const clientCalls = service({ give: (fn: RemoteFn) => void (held = fn) })
    const { client, server } = pair<typeof serverApi, typeof clientCalls>({ service: serverApi }, { service: clientCalls })
    const fn = await client.remote.make()
    const svc = asRef(await client.remote.makeService())
    await server.remote.give((() => 'from server') as never)
    await client.close()
    const calls = [fn(), svc.x(), held!()]
    expect(await settlesAtOnce(Promise.allSettled(calls))).toBe(true)
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(ConnectionClosedError)
    // Closing dropped both tables on both sides.
    for (const s of [client, server] as Session<unknown>[]) {
      expect(s.stats().exportedRefs).toBe(0)
      expect(s.stats().importedRefs).toBe(0)
    }
    // Releasing after close is harmless.
    expect(release(fn)).toBe(false)
  })

  test('10,000 callbacks passed and released leave both tables at zero', async () => {
    const serverApi = service({
      takeMany: async (fns: RemoteFn<[], number>[]) => {
        const sum = (await Promise.all(fns.slice(0, 10).map((f) => f()))).reduce((a, b) => a + b, 0)
        for (const f of fns) release(f)
        return sum
      },
      takeOne: (fn: RemoteFn) => void release(fn),
      hold: () => {},
    })
    const { client, server } = pair<typeof serverApi>({ service: serverApi })
    // In one call, as an array...
    const fns = Array.from({ length: 10_000 }, (_, i) => () => i)
    expect(await client.remote.takeMany(fns as never)).toBe(45)
    await settle()
    expect(client.stats().exportedRefs).toBe(0)
    expect(server.stats().importedRefs).toBe(0)
    // ...and in 10,000 calls with one fresh callback each.
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => client.remote.takeOne((() => i) as never)))
    await settle()
    expect(client.stats().exportedRefs).toBe(0)
    expect(server.stats().importedRefs).toBe(0)
  }, 30_000) // 10,000 round trips: not a timing test; loaded CI machines need more than the default 5 s

  describe('references nobody will ever see are given back at once, not left for GC', () => {
    test('a call to a missing method', async () => {
      const { client, server } = pair({ service: service({}) })
      await expect(client.call('missing', [() => 1, { nested: () => 2 }])).rejects.toBeInstanceOf(NotFoundError)
      await settle()
      expect(server.stats().importedRefs).toBe(0)
      expect(client.stats().exportedRefs).toBe(0)
    })

    test('a call refused by maxInFlightCalls', async () => {
      let open: () => void = () => {}
      const api = service({ hold: () => new Promise<void>((r) => (open = r)), take: (fn: RemoteFn) => void release(fn) })
      const { client, server } = pair<typeof api>({ service: api, limits: { maxInFlightCalls: 1 } })
      const held = client.remote.hold()
      await until(() => server.stats().inFlightCalls === 1, 'the handler')
      await expect(client.remote.take((() => 1) as never)).rejects.toBeInstanceOf(OverloadedError)
      await settle()
      expect(server.stats().importedRefs).toBe(0)
      expect(client.stats().exportedRefs).toBe(0)
      open()
      await held
    })

    test('a late reply carrying a function', async () => {
      const api = service({ slowMake: async () => { await new Promise((r) => setTimeout(r, 30)); return () => 'late' } })
      const { client, server } = pair<typeof api>({ service: api }, { timeout: 5 })
      await expect(client.remote.slowMake()).rejects.toThrow(/timed out/)
      await until(() => client.stats().lateReplies === 1, 'the late reply')
      await settle()
      expect(client.stats().importedRefs).toBe(0)
      expect(server.stats().exportedRefs).toBe(0)
    })

    test('a notification nobody handles', async () => {
      const { client, server } = pair({ service: service({}) })
      client.sendNotification('missing', [() => 1])
      await settle()
      expect(client.stats().exportedRefs).toBe(0)
      expect(server.stats().importedRefs).toBe(0)
    })

    test('a malformed frame that decoded a reference before failing', async () => {
      const { server, serverTransport } = pair({ service: service({ f: () => 1 }) })
      serverTransport.log = true
      // [0, 5, "f", [<function ref #77>]] followed by a stray byte.
      const frame = [0x94, 0x00, 0x05, 0xa1, 0x66, 0x91, 0xd6, 64, 0, 0, 0, 77, 0xc0]
      serverTransport.inject(Uint8Array.from(frame))
      await settle()
      expect(server.stats().malformedFrames).toBe(1)
      expect(server.stats().importedRefs).toBe(0)
      expect(sentMessages(serverTransport).filter((m) => m[0] === MessageType.RELEASE)).toEqual([[MessageType.RELEASE, [77, 1]]])
    })

    test('a proxy still held from earlier sends survives, with one copy fewer', async () => {
      const held: RemoteFn[] = []
      const api = service({ keep: (fn: RemoteFn) => void held.push(fn) })
      const { client, server } = pair<typeof api>({ service: api })
      const cb = vi.fn(() => 'alive')
      await client.remote.keep(cb as never)
      await expect(client.call('missing', [cb])).rejects.toBeInstanceOf(NotFoundError)
      await settle()
      expect(server.stats().importedRefs).toBe(1)
      expect(client.stats().exportedRefs).toBe(1)
      expect(await held[0]!()).toBe('alive')
      release(held[0])
    })
  })
})

describe('export limit', () => {
  test('past maxExportedRefs the sending call fails with OverloadedError, and nothing leaks', async () => {
    const held: RemoteFn[] = []
    const serverApi = service({ keep: (...fns: RemoteFn[]) => void held.push(...fns) })
    const { client, clientTransport } = pair<typeof serverApi>({ service: serverApi }, { limits: { maxExportedRefs: 3 } })
    await client.remote.keep((() => 1) as never, (() => 2) as never)
    clientTransport.log = true
    // One more fits; two more do not: the whole call fails and its first export is undone.
    const err = await rejection(client.remote.keep((() => 3) as never, (() => 4) as never))
    expect(err).toBeInstanceOf(OverloadedError)
    expect(err.code).toBe(ErrorCode.OVERLOADED)
    expect(err.message).toContain('maxExportedRefs')
    expect(client.stats().exportedRefs).toBe(2)
    expect(clientTransport.sent).toHaveLength(0)
    // Re-sending an already exported callback needs no new entry, so it still works at the limit.
    await client.remote.keep((() => 3) as never)
    await expect(client.remote.keep((() => 5) as never)).rejects.toBeInstanceOf(OverloadedError)
    // After a release there is room again.
    for (const f of held.splice(0)) release(f)
    await settle()
    expect(client.stats().exportedRefs).toBe(0)
    await client.remote.keep((() => 6) as never)
    for (const f of held.splice(0)) release(f)
  })

  test('a handler returning a reference past the limit gives the caller OverloadedError', async () => {
    const serverApi = service({ make: () => () => 'x' })
    const { client, server } = pair<typeof serverApi>({ service: serverApi, limits: { maxExportedRefs: 2 } })
    const a = await client.remote.make()
    const b = await client.remote.make()
    const err = await client.remote.make().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OverloadedError)
    expect(server.stats().exportedRefs).toBe(2)
    release(a)
    release(b)
  })
})

describe('callScoped: argument references given back when the handler settles', () => {
  test('a fresh callback per call: 2,000 calls, 32 at a time, under maxExportedRefs = 64; nothing is left', async () => {
    // Without callScoped only garbage collection would give these back, and it does not keep up: at
    // 64 exports the calls would be refused (the handler keeps nothing either way).
    const api = service({ run: callScoped(async (n: number, cb: (x: number) => Promise<number>) => (await cb(n)) + 1) })
    const { client, server } = pair<typeof api>({ service: api }, { limits: { maxExportedRefs: 64 } })
    let next = 0
    let sum = 0
    const worker = async () => {
      while (next < 2000) {
        const n = next++
        const result = await client.remote.run(n, async (x) => x * 2)
        sum += result
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker))
    // The sum of 2n + 1 for n < 2000.
    expect(sum).toBe(2000 * 1999 + 2000)
    await until(() => client.stats().exportedRefs === 0, 'the last releases')
    expect(server.stats().importedRefs).toBe(0)
  })

  test('a callback the handler keeps rejects with ReferenceReleasedError once the call settled', async () => {
    let kept: ((n: number) => Promise<number>) | undefined
    const api = service({
      keep: callScoped(async (cb: (n: number) => Promise<number>) => {
        kept = cb
        return cb(1)
      }),
    })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.keep(async (n) => n + 1)).toBe(2)
    await until(() => client.stats().exportedRefs === 0, 'the release')
    const err = await rejection(kept!(2))
    expect(err).toBeInstanceOf(ReferenceReleasedError)
  })

  test('the same callback also held by a subscription stays alive for it (one copy given back)', async () => {
    let subscriber: ((n: number) => Promise<number>) | undefined
    const api = service({
      subscribe: (cb: (n: number) => Promise<number>) => void (subscriber = cb),
      once: callScoped((cb: (n: number) => Promise<number>) => cb(10)),
    })
    const { client } = pair<typeof api>({ service: api })
    const onEvent = async (n: number) => n * 3
    await client.remote.subscribe(onEvent)
    expect(await client.remote.once(onEvent)).toBe(30)
    await settle()
    expect(client.stats().exportedRefs).toBe(1)
    expect(await subscriber!(2)).toBe(6)
    release(subscriber)
  })

  test('given back when the handler throws, returns synchronously, or hands the callback back', async () => {
    const api = service({
      fails: callScoped(async (cb: () => Promise<void>) => {
        await cb()
        throw new RangeError('no')
      }),
      sync: callScoped((_cb: () => void) => 'sync'),
      echo: callScoped((cb: () => void) => cb),
    })
    const { client, server } = pair<typeof api>({ service: api })
    expect(await rejection(client.remote.fails(async () => {}))).toBeInstanceOf(RangeError)
    expect(await client.remote.sync(() => {})).toBe('sync')
    const mine = () => {}
    // Handed back, it arrives as the caller's own function (not a proxy).
    expect(await client.remote.echo(mine)).toBe(mine)
    await until(() => client.stats().exportedRefs === 0, 'the releases')
    expect(server.stats().importedRefs).toBe(0)
  })

  test('works through withContext, validated (either order) and @expose({ callScoped: true })', async () => {
    const num = z.number()
    const fnSchema = z.custom<(n: number) => Promise<number>>((v) => typeof v === 'function')
    class Jobs {
      @expose({ callScoped: true })
      async run(cb: (n: number) => Promise<number>) {
        return cb(4)
      }
    }
    const api = service({
      ctx: callScoped(withContext((ctx: CallContext, cb: (s: string) => Promise<string>) => cb(ctx.path))),
      v1: callScoped(validated([num, fnSchema], async (n, cb) => cb(n))),
      v2: validated([num, fnSchema], callScoped(async (n: number, cb: (n: number) => Promise<number>) => cb(n + 1))),
      jobs: new Jobs(),
    })
    const { client, server } = pair<typeof api>({ service: api })
    expect(await client.remote.ctx(async (s) => `<${s}>`)).toBe('<ctx>')
    expect(await client.remote.v1(5, async (n) => n * 10)).toBe(50)
    expect(await client.remote.v2(5, async (n) => n * 10)).toBe(60)
    expect(await client.remote.jobs.run(async (n) => n * n)).toBe(16)
    await until(() => client.stats().exportedRefs === 0, 'the releases')
    expect(server.stats().importedRefs).toBe(0)
  })

  test('a cancelled or timed-out call gives its references back when the handler settles', async () => {
    let finish!: () => void
    const api = service({
      slow: callScoped(withContext(async (ctx: CallContext, _cb: () => void) => {
        await new Promise<void>((resolve) => (finish = resolve))
        return ctx.signal.aborted
      })),
    })
    const { client } = pair<typeof api>({ service: api })
    const controller = new AbortController()
    const call = client.with({ signal: controller.signal }).remote.slow(() => {})
    await settle()
    controller.abort()
    await rejection(call)
    expect(client.stats().exportedRefs).toBe(1)
    finish()
    await until(() => client.stats().exportedRefs === 0, 'the release after the handler settled')
  })

  test('callScoped() refuses a non-function and a generator function; @expose refuses it on a field that is not a function', () => {
    expect(() => callScoped(42 as never)).toThrow(TypeError)
    expect(() => callScoped(async function* (_cb: () => void) { yield 1 })).toThrow(/generator/)
    class Odd {
      @expose({ callScoped: true })
      readonly settings = { a: 1 }
    }
    expect(() => new Odd()).toThrow(/callScoped applies to functions; settings holds a object/)
  })

  test('notifications: given back once the handler settles; kept when session.on listeners got them too', async () => {
    const seen: number[] = []
    let heard: ((n: number) => Promise<void>) | undefined
    const api = service({
      tell: callScoped(async (cb: (n: number) => Promise<void>) => {
        await cb(1)
        seen.push(1)
      }),
      tellSync: callScoped((_cb: () => void) => void seen.push(2)),
      shared: callScoped((_cb: (n: number) => Promise<void>) => void seen.push(3)),
    })
    const { client, server } = pair<typeof api>({ service: api })
    const stop = server.on('shared', (cb: (n: number) => Promise<void>) => void (heard = cb))
    client.notify.tell(async () => {})
    client.notify.tellSync(() => {})
    await until(() => seen.length === 2 && client.stats().exportedRefs === 0, 'both given back')
    client.notify.shared(async (n: number) => void seen.push(n))
    await until(() => seen.length === 3, 'the shared notification')
    await settle(5)
    // A listener received the callback too: it stays until that listener lets it go.
    expect(client.stats().exportedRefs).toBe(1)
    await heard!(10)
    expect(seen).toContain(10)
    release(heard)
    stop()
    await until(() => client.stats().exportedRefs === 0, 'the listener\'s release')
  })

  test('a thenable that settles twice is answered once and gives back once', async () => {
    let subscriber: ((n: number) => Promise<number>) | undefined
    const api = service({
      subscribe: (cb: (n: number) => Promise<number>) => void (subscriber = cb),
      twice: callScoped((_cb: (n: number) => Promise<number>) => ({
        then(ok: (v: string) => void, fail: (e: unknown) => void) {
          ok('first')
          fail(new Error('second'))
          ok('third')
        },
      }) as unknown as Promise<string>),
    })
    const { client, server, clientTransport } = pair<typeof api>({ service: api })
    const onEvent = async (n: number) => n + 100
    await client.remote.subscribe(onEvent)
    clientTransport.log = true
    expect(await client.remote.twice(onEvent)).toBe('first')
    await settle(5)
    expect(server.stats().inFlightCalls).toBe(0)
    expect(client.stats().lateReplies).toBe(0)
    // The subscription's copy is still there.
    expect(client.stats().exportedRefs).toBe(1)
    expect(await subscriber!(1)).toBe(101)
    release(subscriber)
  })
})

describe('hostile reference traffic', () => {
  test('a flood of references, repeated ids included, into a callScoped handler: every copy given back, nothing kept', async () => {
    const serverApi = service({ take: callScoped(async (...fns: unknown[]) => fns.length) })
    const { server, serverTransport } = pair<typeof serverApi>({ service: serverApi })
    serverTransport.log = true
    const ref = (id: number) => new RawExt(ExtType.FUNCTION_REF, new Uint8Array([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]))
    const FRAMES = 200
    for (let i = 0; i < FRAMES; i++) {
      // 100 copies of #7, and 50 ids of their own (all 200 frames arrive before any handler settles:
      // 10,000 live imports, under maxImportedRefs).
      const args = [...Array.from({ length: 100 }, () => ref(7)), ...Array.from({ length: 50 }, (_, k) => ref(1000 + i * 50 + k))]
      serverTransport.inject(encodeRaw([MessageType.REQUEST, i + 1, 'take', args]))
    }
    await until(() => server.stats().importedRefs === 0 && server.stats().inFlightCalls === 0, 'every handler to settle and give back')
    const given = new Map<number, number>()
    for (const m of sentMessages(serverTransport)) {
      if (m[0] !== MessageType.RELEASE) continue
      const pairs = m[1] as number[]
      for (let k = 0; k < pairs.length; k += 2) given.set(pairs[k]!, (given.get(pairs[k]!) ?? 0) + pairs[k + 1]!)
    }
    expect(given.get(7)).toBe(FRAMES * 100)
    expect(given.size).toBe(1 + FRAMES * 50)
    expect([...given.values()].filter((n) => n !== 1)).toEqual([FRAMES * 100])
    const answers = sentMessages(serverTransport).filter((m) => m[0] === MessageType.RESPONSE)
    expect(answers).toHaveLength(FRAMES)
    expect(answers.every((m) => m[2] === null && m[3] === 150)).toBe(true)
    expect(server.stats().malformedFrames).toBe(0)
  })


  test('a release for ids that were never exported, or with huge counts, is harmless', async () => {
    const serverApi = service({ keep: (fn: RemoteFn) => fn })
    const { client, server, serverTransport } = pair<typeof serverApi>({ service: serverApi })
    serverTransport.inject(encodeRaw([MessageType.RELEASE, [123, 1, 0xffff_fffe, 0xffff_ffff]]))
    await settle()
    expect(server.stats().malformedFrames).toBe(0)
    const cb = () => 'ok'
    expect(await client.remote.keep(cb as never)).toBe(cb)
    allowLiveRefs(client, server) // the server's proxy of cb is only dropped by GC or close
  })
})
