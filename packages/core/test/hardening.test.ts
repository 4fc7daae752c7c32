/**
 * Hardening over the in-memory pair: what a hostile or careless
 * peer could do to a session. The same attacks over real sockets, with the
 * server in a child process where a crash would show, are in
 * packages/node/test/hardening.test.ts.
 */
import { describe, expect, test } from 'vitest'
import { SharedBudget } from '../src/budget.js'
import { DEFAULT_LIMITS, ErrorCode, OverloadedError, ShuttingDownError, release, service, withContext, type CallContext, type Session } from '../src/index.js'
import { jsonRpc } from '../src/index.js'
import { drain } from '../src/internal.js'
import { allowLiveRefs, encodeRaw, pair, rejection, sentMessages, settle, silent, until } from './harness.js'

describe('1: a reference proxy never turns language protocol names into calls', () => {
  test('a + b with a callback as a, String(), JSON, valueOf, then, constructor: nothing is sent', async () => {
    const seen: unknown[] = []
    const api = service({
      add: (a: unknown, b: unknown) => {
        // What `add: (a, b) => a + b` does with a function reference as `a`.
        seen.push((a as number) + (b as number))
        const ref = a as Record<string, unknown>
        seen.push(String(a), JSON.stringify({ a }), ref.valueOf, ref.then, ref.constructor, ref.toLocaleString !== undefined)
        seen.push(ref[Symbol.toPrimitive as unknown as string], ref[Symbol.for('nodejs.util.inspect.custom') as unknown as string])
        release(a)
        return 'done'
      },
    })
    const { client, clientTransport } = pair<typeof api>({ service: api })
    clientTransport.log = true
    expect(await client.remote.add((() => 1) as never, 2 as never)).toBe('done')
    expect(seen[0]).toBe('[wirecall remote (root)]2')
    expect(seen.slice(1)).toEqual(['[wirecall remote (root)]', '{"a":"[wirecall remote (root)]"}', undefined, undefined, undefined, true, undefined, undefined])
    // The client received the request's response and one release; no call to `#1.valueOf` or the like.
    await settle()
    const requestsToClient = sentMessages(clientTransport).filter((m) => m[0] === 0)
    expect(requestsToClient).toHaveLength(1) // only the client's own call to add
  })

  test('a callback called and never awaited does not leave an unhandled rejection when the peer goes away', async () => {
    let callback: (() => Promise<unknown>) | undefined
    const api = service({ keep: (fn: () => Promise<unknown>) => void (callback = fn) })
    const { client } = pair<typeof api>({ service: api })
    await client.remote.keep((() => 1) as never)
    await client.close()
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      void callback!() // forgotten, as in setInterval(() => onTick(n))
      await settle(10)
      expect(unhandled).toEqual([])
      // Whoever awaits it still sees the error.
      expect((await rejection(callback!())).code).toBe(ErrorCode.CONNECTION_CLOSED)
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})

describe('2: JSON-RPC batches', () => {
  const api = service({ add: (a: number, b: number) => a + b, wait: () => new Promise((r) => setTimeout(r, 20)) })

  function jsonServer(limits = {}) {
    const p = pair({ service: api, textFrames: jsonRpc, limits }, {}, { filter: (frame, from) => !(typeof frame === 'string' && from === 'b') })
    p.serverTransport.log = true
    const send = async (text: string, ms = 5) => {
      const before = p.serverTransport.sent.length
      p.serverTransport.inject(text)
      await settle(ms)
      return p.serverTransport.sent.slice(before).map((f) => JSON.parse(f as string) as unknown)
    }
    return { ...p, send }
  }
  const call = (id: number, method = 'add', params: unknown[] = [id, 1]) => ({ jsonrpc: '2.0', method, params, id })

  test('a batch longer than maxBatchLength is refused whole with one error, and nothing runs', async () => {
    expect(DEFAULT_LIMITS.maxBatchLength).toBe(1000)
    const s = jsonServer({ maxBatchLength: 10 })
    const answers = await s.send(JSON.stringify(Array.from({ length: 11 }, (_, i) => call(i))))
    expect(answers).toEqual([{ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('maxBatchLength (10)'), data: expect.objectContaining({ code: ErrorCode.PROTOCOL }) } }])
    expect(s.server.stats().malformedFrames).toBe(1)
  })

  test('the 8-million-entry frame of the issue is refused at once, with one small answer', async () => {
    const s = jsonServer()
    const text = `[${'1,'.repeat(2_000_000)}1]` // 4 MB; the was 16 MiB
    const started = Date.now()
    const answers = await s.send(text)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(answers).toHaveLength(1)
    expect(JSON.stringify(answers).length).toBeLessThan(400)
  })

  test('a batch of synchronous calls is counted like the same calls as binary frames: no OverloadedError', async () => {
    const s = jsonServer({ maxInFlightCalls: 16 })
    const [answers] = (await s.send(JSON.stringify(Array.from({ length: 1000 }, (_, i) => call(i))))) as { result?: number; error?: unknown }[][]
    expect(answers).toHaveLength(1000)
    expect(answers!.filter((a) => a.error)).toEqual([])
    expect(answers![999]!.result).toBe(1000)
  })

  test('invalid entries are answered cheaply: no stack per entry, one small object each', async () => {
    const s = jsonServer()
    const [answers] = (await s.send(JSON.stringify(Array.from({ length: 1000 }, () => 1)))) as object[][]
    expect(answers).toHaveLength(1000)
    expect(answers![0]).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request', data: { name: 'ProtocolError', message: 'Invalid Request', code: ErrorCode.PROTOCOL } } })
    expect(JSON.stringify(answers)).not.toContain('stack')
    expect(JSON.stringify(answers).length).toBeLessThan(1000 * 200)
  })

  test('async calls past maxInFlightCalls in a batch get OverloadedError without a stack', async () => {
    const s = jsonServer({ maxInFlightCalls: 4 })
    const [answers] = (await s.send(JSON.stringify(Array.from({ length: 6 }, (_, i) => call(i, 'wait', []))), 40)) as { error?: { data: { code: string; stack?: string } } }[][]
    const overloaded = answers!.filter((a) => a.error?.data.code === ErrorCode.OVERLOADED)
    expect(overloaded).toHaveLength(2)
    expect(overloaded[0]!.error!.data.stack).toBeUndefined()
  })
})

describe('3: refusals are cheap to send', () => {
  test('an OverloadedError reply carries no stack, even with exposeErrorStacks', async () => {
    const api = service({ wait: () => new Promise((r) => setTimeout(r, 10)) })
    const { client } = pair<typeof api>({ service: api, exposeErrorStacks: true, limits: { maxInFlightCalls: 1 } })
    const [first, second] = await Promise.allSettled([client.remote.wait(), client.remote.wait()])
    expect(first.status).toBe('fulfilled')
    const err = (second as PromiseRejectedResult).reason as OverloadedError & { remoteStack?: string }
    expect(err).toBeInstanceOf(OverloadedError)
    expect(err.remoteStack).toBeUndefined()
  })
})

describe('4: server-wide limits, shared by the sessions of one server', () => {
  test('in-flight calls across connections stop at maxServerInFlightCalls', async () => {
    const budget = new SharedBudget(3, 1000)
    const gates: (() => void)[] = []
    const api = service({ hold: () => new Promise<void>((r) => gates.push(r)) })
    const options = { service: api, budget }
    const a = pair<typeof api>(options)
    const b = pair<typeof api>(options)
    const calls = [a.client.remote.hold(), a.client.remote.hold(), b.client.remote.hold(), b.client.remote.hold()]
    const refused = await rejection(calls[3]!)
    expect(refused).toBeInstanceOf(OverloadedError)
    expect(refused.message).toContain('maxServerInFlightCalls = 3')
    expect(budget.inFlight).toBe(3)
    for (const open of gates) open()
    await Promise.all(calls.slice(0, 3))
    expect(budget.inFlight).toBe(0)
    expect(await Promise.race([b.client.remote.hold(), settle(1).then(() => 'running')])).toBe('running')
    gates.at(-1)!()
  })

  test('references across connections stop at maxServerRefs, and closing gives them back', async () => {
    const budget = new SharedBudget(1000, 4)
    const api = service({ keep: (..._fns: unknown[]) => 'kept' })
    const options = { service: api, budget }
    const a = pair<typeof api>(options)
    const b = pair<typeof api>(options)
    allowLiveRefs(a.client, a.server, b.client, b.server)
    expect(await a.client.remote.keep((() => 1) as never, (() => 2) as never, (() => 3) as never)).toBe('kept')
    expect(budget.refs).toBe(3)
    const err = await rejection(b.client.remote.keep((() => 4) as never, (() => 5) as never))
    expect(err).toBeInstanceOf(OverloadedError)
    // A refused frame's references were given back; the server's table holds nothing of b.
    await settle()
    expect(b.server.stats().importedRefs).toBe(0)
    expect(budget.refs).toBe(3)
    await a.server.close()
    expect(budget.refs).toBe(0)
    expect(await b.client.remote.keep((() => 4) as never)).toBe('kept')
  })
})

describe('9: log flooding', () => {
  test('a client flooding a throwing notification handler gets at most LOG_RATE lines logged', async () => {
    const api = service({ bad: () => { throw new Error('nope') } })
    const { client, server } = pair<typeof api>({ service: api })
    for (let i = 0; i < 500; i++) client.notify.bad()
    await settle()
    expect(silent.warnings.length).toBe(20)
    await server.close()
    expect(String(silent.warnings.at(-1)![0])).toContain('480 more log lines')
  })
})

describe('10: duplicate request ids', () => {
  test('a request reusing the id of a running call gets ProtocolError; every started handler sees close', async () => {
    const signals: AbortSignal[] = []
    const api = service({ wait: withContext((ctx: CallContext) => new Promise<void>((resolve) => {
      signals.push(ctx.signal)
      ctx.signal.addEventListener('abort', () => resolve())
    })) })
    const { server, serverTransport, client } = pair({ service: api })
    serverTransport.log = true
    serverTransport.inject(encodeRaw([0, 7, 'wait', []]))
    serverTransport.inject(encodeRaw([0, 7, 'wait', []]))
    await settle()
    const answers = sentMessages(serverTransport).filter((m) => m[0] === 1)
    expect(answers).toEqual([[1, 7, expect.objectContaining({ name: 'ProtocolError', message: expect.stringContaining('already in use') }), null]])
    expect(signals).toHaveLength(1)
    expect(server.stats().inFlightCalls).toBe(1)
    await client.close()
    expect(signals.every((s) => s.aborted)).toBe(true)
    await settle()
    expect(server.stats().inFlightCalls).toBe(0)
  })

  test('an id may be reused once its call has finished', async () => {
    const api = service({ later: async (x: number) => x })
    const { serverTransport } = pair({ service: api })
    serverTransport.log = true
    serverTransport.inject(encodeRaw([0, 3, 'later', [1]]))
    await settle()
    serverTransport.inject(encodeRaw([0, 3, 'later', [2]]))
    await settle()
    expect(sentMessages(serverTransport).filter((m) => m[0] === 1)).toEqual([[1, 3, null, 1], [1, 3, null, 2]])
  })
})

describe('12: drain (graceful shutdown) refuses new calls with a distinguishable error', () => {
  test('running calls finish; new calls and JSON-RPC calls get ShuttingDownError; notifications are dropped', async () => {
    let release!: () => void
    const notes: unknown[] = []
    const api = service({
      hold: () => new Promise<string>((r) => (release = () => r('finished'))),
      add: (a: number, b: number) => a + b,
      note: (x: unknown) => void notes.push(x),
    })
    const { client, server }: { client: Session<typeof api>; server: Session } = pair<typeof api>({ service: api })
    const running = client.remote.hold()
    await until(() => server.stats().inFlightCalls === 1, 'the call to start')
    const drained = drain(server)
    const refused = await rejection(client.remote.add(1, 2))
    expect(refused).toBeInstanceOf(ShuttingDownError)
    expect(refused.code).toBe(ErrorCode.SHUTTING_DOWN)
    client.notify.note('late')
    await settle()
    expect(notes).toEqual([])
    release()
    expect(await running).toBe('finished')
    await drained
  })
})
