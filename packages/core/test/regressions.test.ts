/**
 * Regression tests for the defects of the code review (one `describe` per
 * item; the numbers are the review's). Each test fails on the code before
 * the fix: it hangs (bounded here by `within`), throws, or asserts on the
 * behaviour that was wrong.
 */
import { describe, expect, test, vi } from 'vitest'
import { ErrorCode, NotFoundError, OverloadedError, ProtocolError, expose, release, service, withContext, type CallContext, type Logger } from '../src/index.js'
import { jsonRpc } from '../src/index.js'
import { whenIdle } from '../src/internal.js'
import { allowLiveRefs, encodeRaw, pair, rejection, sentMessages, settle, until } from './harness.js'

/** Reject if `p` does not settle within `ms` (so a regression fails the test instead of hanging it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

function recordingLogger(): Logger & { warnings: unknown[][]; errors: unknown[][] } {
  const warnings: unknown[][] = []
  const errors: unknown[][] = []
  return { warnings, errors, warn: (...a: unknown[]) => void warnings.push(a), error: (...a: unknown[]) => void errors.push(a) }
}

/** Is `value`, or anything reachable from it through plain objects and arrays, a function? */
function hasFunction(value: unknown, seen = new Set<unknown>()): boolean {
  if (typeof value === 'function') return true
  if (typeof value !== 'object' || value === null || seen.has(value)) return false
  seen.add(value)
  return Object.values(value).some((v) => hasFunction(v, seen))
}

describe('2: a registered error class with getter-only `code` and `status` is rebuilt without throwing', () => {
  // Getter-only members: assigning to them (as the old rebuild did) throws a TypeError in strict mode.
  class HttpError extends Error {
    get code(): string {
      return 'HTTP_ERROR'
    }
    get status(): number {
      return 500
    }
  }

  test('the call rejects with an instance of the class carrying the peer\'s status; the session keeps working', async () => {
    const api = service({
      fail: () => {
        throw Object.assign(new Error('not found here'), { name: 'HttpError', status: 404 })
      },
      ok: () => 'still fine',
    })
    const { client } = pair<typeof api>({ service: api }, { errors: { HttpError } })
    const err = await within(rejection(client.remote.fail()), 500, 'the failing call')
    expect(err).toBeInstanceOf(HttpError)
    expect(err.message).toBe('not found here')
    expect((err as unknown as HttpError).status).toBe(404)
    expect(err.code).toBe(ErrorCode.REMOTE)
    expect(err.data).toEqual({ status: 404 })
    expect(await client.remote.ok()).toBe('still fine')
  })

  test('also when the thrower\'s error has a string `code` of its own', async () => {
    class ServerHttpError extends Error {
      constructor(message: string, readonly status: number, readonly code: string) {
        super(message)
        this.name = 'HttpError'
      }
    }
    const api = service({
      fail: () => {
        throw new ServerHttpError('teapot', 418, 'E_TEAPOT')
      },
    })
    const { client } = pair<typeof api>({ service: api }, { errors: { HttpError } })
    const err = await within(rejection(client.remote.fail()), 500, 'the failing call')
    expect(err).toBeInstanceOf(HttpError)
    expect((err as unknown as HttpError).status).toBe(418)
    expect(err.code).toBe('E_TEAPOT')
    expect(await within(rejection(client.remote.fail()), 500, 'a second failing call')).toBeInstanceOf(HttpError)
  })
})

describe('3: functions inside an error\'s fields never become callable references', () => {
  const makeError = (ran: () => string) => Object.assign(new Error('x'), { config: { headers: { a: 1 }, adapter: ran } })

  test('a thrown error: the caller sees no callable anywhere in err.data; the thrower exports nothing', async () => {
    const ran = vi.fn(() => 'ran')
    const api = service({
      fail: () => {
        throw makeError(ran)
      },
    })
    const { client, server } = pair<typeof api>({ service: api })
    allowLiveRefs(client, server) // the bug leaves a reference behind; checked here instead
    const err = await rejection(client.remote.fail())
    expect(err.message).toBe('x')
    try {
      expect(hasFunction(err.data)).toBe(false)
      expect(server.stats().exportedRefs).toBe(0)
      expect(client.stats().importedRefs).toBe(0)
    } finally {
      const adapter = (err.data?.config as { adapter?: unknown } | undefined)?.adapter
      if (typeof adapter === 'function') release(adapter)
    }
    expect((err.data?.config as { headers?: unknown } | undefined)?.headers).toEqual({ a: 1 })
    expect(ran).not.toHaveBeenCalled()
  })

  test('an error returned as a value: no callable reaches the caller; the thrower exports nothing', async () => {
    const ran = vi.fn(() => 'ran')
    const api = service({ give: () => makeError(ran) })
    const { client, server } = pair<typeof api>({ service: api })
    // Delivered (functions dropped) or refused as unencodable: either way nothing callable crosses.
    const outcome: unknown = await client.remote.give().catch((e: unknown) => e)
    expect(outcome).toBeInstanceOf(Error)
    expect(hasFunction(outcome)).toBe(false)
    expect(hasFunction((outcome as { data?: unknown }).data)).toBe(false)
    expect(server.stats().exportedRefs).toBe(0)
    expect(client.stats().importedRefs).toBe(0)
    expect(ran).not.toHaveBeenCalled()
  })

  test('an error passed as an argument: nothing callable reaches the handler; the caller exports nothing', async () => {
    let received: unknown
    const api = service({ take: (e: unknown) => void (received = e) })
    const { client, server } = pair<typeof api>({ service: api })
    await client.remote.take(makeError(() => 'ran')).catch(() => {})
    expect(hasFunction(received)).toBe(false)
    expect(hasFunction((received as { data?: unknown } | undefined)?.data)).toBe(false)
    expect(client.stats().exportedRefs).toBe(0)
    expect(server.stats().importedRefs).toBe(0)
  })

  test('an error returned as a value still arrives, its data fields kept and its functions dropped', async () => {
    const api = service({ give: () => makeError(() => 'ran') })
    const { client } = pair<typeof api>({ service: api })
    const value = (await client.remote.give()) as Error & { data?: Record<string, unknown> }
    expect(value).toBeInstanceOf(Error)
    expect(value.message).toBe('x')
    expect((value.data?.config as { headers?: unknown } | undefined)?.headers).toEqual({ a: 1 })
    expect(hasFunction(value.data)).toBe(false)
  })
})

describe('4: limits.maxImportedRefs bounds the proxies a peer can make us build', () => {
  function receiver() {
    const seen: number[] = []
    const api = service({
      take: async (...callbacks: (() => number | Promise<number>)[]) => {
        seen.push(server.stats().importedRefs)
        const results = await Promise.all(callbacks.map((f) => f()))
        for (const f of callbacks) release(f)
        return results
      },
      ping: () => 'pong',
    })
    const { client, server } = pair<typeof api>({ service: api, limits: { maxImportedRefs: 5 } })
    return { client, server, seen }
  }
  const callbacks = (n: number) => Array.from({ length: n }, (_, i) => () => i)

  test('5 distinct callbacks work; 6 are refused with OverloadedError; nothing beyond the limit is held', async () => {
    const { client, server, seen } = receiver()
    expect(await client.remote.take(...callbacks(5))).toEqual([0, 1, 2, 3, 4])
    expect(seen).toEqual([5])
    await until(() => client.stats().exportedRefs === 0 && server.stats().importedRefs === 0, 'references released')
    seen.length = 0

    const err = await within(rejection(client.remote.take(...callbacks(6))), 500, 'the refused call')
    expect(err).toBeInstanceOf(OverloadedError)
    expect(err.code).toBe('WIRECALL_OVERLOADED')
    expect(seen).toEqual([]) // the handler never ran
    expect(server.stats().importedRefs).toBeLessThanOrEqual(5)
    // The proxies decoded before the refusal were given back at once.
    await until(() => server.stats().importedRefs === 0, 'the receiver\'s proxies given back')
    expect(await client.remote.ping()).toBe('pong')
  })

  test('6 distinct callbacks: every export of the refused frame is released on the caller', async () => {
    const { client } = receiver()
    allowLiveRefs(client)
    await rejection(client.remote.take(...callbacks(6)))
    await until(() => client.stats().exportedRefs === 0, 'the caller\'s exports released', 200)
  })

})

describe('5: a response that cannot be decoded settles its call at once with ProtocolError', () => {
  test('a BigInt beyond 10,000 digits as the result, with timeout: 0', async () => {
    const api = service({ huge: () => 2n ** 40000n, small: () => 2n ** 10n })
    const logger = recordingLogger()
    const { client } = pair<typeof api>({ service: api }, { timeout: 0, logger })
    const err = await within(rejection(client.remote.huge()), 500, 'the call answered with an undecodable response')
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.code).toBe('WIRECALL_PROTOCOL_ERROR')
    expect(client.stats().pendingCalls).toBe(0)
    expect(client.stats().malformedFrames).toBe(1)
    expect(await client.remote.small()).toBe(1024n)
  })

  test('a foreign short response [1, id, null] for a pending id', async () => {
    // Requests never reach the server: only the injected response can settle the call.
    const { client, clientTransport } = pair<{ anything(): string }>({}, { timeout: 0 }, { filter: (_frame, from) => from !== 'a' })
    clientTransport.log = true
    const call = client.remote.anything()
    const request = sentMessages(clientTransport)[0]!
    expect(request[0]).toBe(0)
    const id = request[1] as number
    clientTransport.inject(encodeRaw([1, id, null]))
    const err = await within(rejection(call), 500, 'the call answered with a short response')
    expect(err).toBeInstanceOf(ProtocolError)
    expect(client.stats().pendingCalls).toBe(0)
  })

})

describe('6: notifications count against maxInFlightCalls', () => {
  function gated() {
    const gate = deferred()
    let running = 0
    let peak = 0
    let started = 0
    const api = service({
      work: async () => {
        started++
        running++
        peak = Math.max(peak, running)
        try {
          await gate.promise
        } finally {
          running--
        }
      },
    })
    return { api, gate, counts: () => ({ running, peak, started }) }
  }

  test('10 notifications with maxInFlightCalls 2: 2 run, 8 are dropped and logged; inFlightCalls follows', async () => {
    const { api, gate, counts } = gated()
    const logger = recordingLogger()
    const { client, server } = pair<typeof api>({ service: api, limits: { maxInFlightCalls: 2 }, logger })
    for (let i = 0; i < 10; i++) client.notify.work()
    await until(() => counts().started >= 2 && logger.warnings.length >= 8, 'two handlers running and eight drops logged')
    await settle(5)
    expect(counts()).toEqual({ running: 2, peak: 2, started: 2 })
    expect(logger.warnings.filter((w) => String(w[0]).includes('dropped'))).toHaveLength(8)
    expect(String(logger.warnings[0]![0])).toContain('maxInFlightCalls')
    expect(server.stats().inFlightCalls).toBe(2)
    gate.resolve()
    await until(() => server.stats().inFlightCalls === 0, 'handlers finished')
    expect(counts().running).toBe(0)
  })

  test('calls and notifications share the bound', async () => {
    const { api, gate, counts } = gated()
    const logger = recordingLogger()
    const { client, server } = pair<typeof api>({ service: api, limits: { maxInFlightCalls: 2 }, logger })
    client.notify.work()
    client.notify.work()
    await until(() => counts().running === 2, 'two notification handlers running')
    const err = await within(rejection(client.remote.work()), 500, 'the call past the bound')
    expect(err).toBeInstanceOf(OverloadedError)
    gate.resolve()
    await until(() => server.stats().inFlightCalls === 0, 'handlers finished')
    await within(client.remote.work(), 500, 'a call once there is room again')
  })

  test('whenIdle() waits for a running notification handler', async () => {
    const { api, gate, counts } = gated()
    const { client, server } = pair<typeof api>({ service: api })
    client.notify.work()
    await until(() => counts().running === 1, 'the notification handler running')
    let idle = false
    const idled = whenIdle(server).then(() => (idle = true))
    await settle(5)
    expect(idle).toBe(false)
    gate.resolve()
    await within(idled, 500, 'whenIdle')
    expect(counts().running).toBe(0)
    expect(server.stats().inFlightCalls).toBe(0)
  })
})

describe('7: JSON-RPC calls to a withContext handler see ctx.signal fire when the connection closes', () => {
  function waiting() {
    const seen = { started: 0, aborted: 0, settled: 0, reason: undefined as unknown }
    const api = service({
      wait: withContext((ctx: CallContext) => {
        seen.started++
        return new Promise<never>((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            seen.aborted++
            seen.reason = ctx.signal.reason
            reject(ctx.signal.reason)
          }, { once: true })
        }).finally(() => void seen.settled++)
      }),
    })
    return { api, seen }
  }

  test('a JSON-RPC request: the signal fires on close, the handler settles, nothing stays in flight', async () => {
    const { api, seen } = waiting()
    const { client, server, serverTransport } = pair({ service: api, textFrames: jsonRpc }, { textFrames: jsonRpc })
    serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'wait', params: [], id: 1 }))
    await until(() => seen.started === 1, 'the handler started')
    expect(server.stats().inFlightCalls).toBe(1)
    await client.close()
    await within(until(() => seen.aborted === 1 && seen.settled === 1, 'the signal fired and the handler settled'), 1000, 'abort')
    expect((seen.reason as Error).name).toBe('ConnectionClosedError')
    await settle()
    expect(server.stats().inFlightCalls).toBe(0)
  })

  test('a JSON-RPC notification and a binary notification: the same', async () => {
    const { api, seen } = waiting()
    const { client, server, serverTransport } = pair<typeof api>({ service: api, textFrames: jsonRpc }, { textFrames: jsonRpc })
    serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'wait', params: [] }))
    client.notify.wait()
    await until(() => seen.started === 2, 'both handlers started')
    await client.close()
    await within(until(() => seen.aborted === 2 && seen.settled === 2, 'both signals fired'), 1000, 'abort')
    await settle()
    expect(server.stats().inFlightCalls).toBe(0)
  })

})

describe('8: arrow-function fields and inherited methods can be exposed', () => {
  test('@expose add = (a, b) => a + b is callable; @expose({ context: true }) on such a field gets the context', async () => {
    class Calculator {
      factor = 10
      @expose add = (a: number, b: number) => a + b
      @expose({ context: true }) where = (ctx: CallContext, x: string) => `${ctx.path}:${x}:${this.factor}`
      notExposed = () => 'secret'
    }
    const { client } = pair<Calculator>({ service: new Calculator() })
    const remote = client.remote as unknown as {
      add(a: number, b: number): Promise<number>
      where(x: string): Promise<string>
      notExposed(): Promise<string>
      factor(): Promise<number>
    }
    expect(await remote.add(3, 4)).toBe(7)
    expect(await remote.where('x')).toBe('where:x:10')
    expect(await rejection(remote.notExposed())).toBeInstanceOf(NotFoundError)
    expect(await rejection(remote.factor())).toBeInstanceOf(NotFoundError)
  })

  test('expose(Child, [\'baseMethod\']) makes an inherited method callable; an unexposed base method stays NotFoundError', async () => {
    class Base {
      baseMethod(x: number) {
        return `base ${x} from ${this.constructor.name}`
      }
      otherBaseMethod() {
        return 'not exposed'
      }
    }
    class Child extends Base {
      own() {
        return 'own'
      }
    }
    expose(Child, ['baseMethod', 'own'])
    const { client } = pair({ service: new Child() })
    const remote = client.remote as unknown as { baseMethod(x: number): Promise<string>; own(): Promise<string>; otherBaseMethod(): Promise<string> }
    expect(await remote.baseMethod(1)).toBe('base 1 from Child')
    expect(await remote.own()).toBe('own')
    const err = await rejection(remote.otherBaseMethod())
    expect(err).toBeInstanceOf(NotFoundError)
    expect(err.code).toBe('WIRECALL_NOT_FOUND')
  })
})

describe('11: a timeout beyond 2^31-1 ms does not make the timer fire over and over', () => {
  test('timeout: 1e10: only a handful of timers in ~50 ms; the call completes when answered', async () => {
    const answer = deferred<string>()
    const api = service({ later: () => answer.promise })
    const { client } = pair<typeof api>({ service: api })
    const spy = vi.spyOn(globalThis, 'setTimeout')
    const call = client.with({ timeout: 1e10 }).remote.later()
    const start = Date.now()
    // A bounded busy-wait on macrotasks (setImmediate: not counted by the spy).
    while (Date.now() - start < 50) await new Promise((r) => setImmediate(r))
    const timers = spy.mock.calls.length
    spy.mockRestore()
    expect(timers).toBeLessThanOrEqual(3)
    answer.resolve('answered')
    expect(await within(call, 500, 'the answered call')).toBe('answered')
    expect(client.stats().pendingCalls).toBe(0)
  })
})
