/**
 * The aiomas RPC walk-through, scenario by scenario, over real sockets:
 * basic calls on a class and on a service object, service hierarchies built
 * three ways, remote exceptions, the connection callback, and connection
 * loss seen from either side.
 */
import { describe, expect, test } from 'vitest'
import {
  ConnectionClosedError, NotFoundError, RemoteError, Router, expose, service, withContext, type CallContext,
} from '@wirecall/core'
import type { Connection } from '../src/index.js'
import { capture, connectTo, deferred, outcomeNow, startServer, until, urlOf, within } from './helpers.js'

describe('basics: add(3, 4)', () => {
  test('on a class with @expose', async () => {
    class Calculator {
      calls = 0
      @expose
      add(a: number, b: number): number {
        this.calls++
        return a + b
      }
      // Not exposed: must stay unreachable over the wire.
      reset(): void {
        this.calls = 0
      }
    }
    const calc = new Calculator()
    const server = await startServer({ service: calc })
    const client = await connectTo<Calculator>(server)
    expect(await client.remote.add(3, 4)).toBe(7)
    expect(calc.calls).toBe(1) // `this` is the instance
    await expect(client.remote.reset()).rejects.toBeInstanceOf(NotFoundError)
    expect(calc.calls).toBe(1)
  })

  test('on a class exposed without decorators (plain JS form)', async () => {
    class Calculator {
      add(a: number, b: number): number {
        return a + b
      }
      secret(): string {
        return 'no'
      }
    }
    expose(Calculator, ['add'])
    const server = await startServer({ service: new Calculator() })
    const client = await connectTo<Calculator>(server)
    expect(await client.remote.add(3, 4)).toBe(7)
    await expect(client.remote.secret()).rejects.toMatchObject({ code: 'WIRECALL_NOT_FOUND' })
  })

  test('on a service({...}) object, async handler included', async () => {
    const math = service({
      add: (a: number, b: number) => a + b,
      addLater: async (a: number, b: number) => {
        await new Promise((r) => setTimeout(r, 5))
        return a + b
      },
    })
    const server = await startServer({ service: math })
    const client = await connectTo<typeof math>(server)
    expect(await client.remote.add(3, 4)).toBe(7)
    expect(await client.remote.addLater(3, 4)).toBe(7)
    // Nothing but the service's own functions is reachable by name.
    for (const path of ['toString', 'constructor', 'hasOwnProperty', '__proto__.add', 'add.call', 'add.apply']) {
      await expect(client.call(path, [1, 2]), path).rejects.toBeInstanceOf(NotFoundError)
    }
  })
})

describe('service hierarchies: remote.addition.add(3, 4) and remote.subtraction.sub(4, 3)', () => {
  interface Calc {
    addition: { add(a: number, b: number): number }
    subtraction: { sub(a: number, b: number): number }
  }

  async function check(root: object): Promise<void> {
    const server = await startServer({ service: root })
    const client = await connectTo<Calc>(server)
    expect(await client.remote.addition.add(3, 4)).toBe(7)
    expect(await client.remote.subtraction.sub(4, 3)).toBe(1)
    await expect((client.remote as any).addition.sub(4, 3)).rejects.toBeInstanceOf(NotFoundError)
    await expect((client.remote as any).addition()).rejects.toBeInstanceOf(NotFoundError)
    await expect((client.remote as any).nothing.add(1, 1)).rejects.toBeInstanceOf(NotFoundError)
  }

  test('nested objects', async () => {
    await check(service({
      addition: { add: (a: number, b: number) => a + b },
      subtraction: service({ sub: (a: number, b: number) => a - b }),
    }))
  })

  test('a class with sub-service members exposed as fields', async () => {
    class Addition {
      @expose add(a: number, b: number) { return a + b }
    }
    class Subtraction {
      @expose sub(a: number, b: number) { return a - b }
    }
    class Calculator {
      @expose addition = new Addition()
      @expose subtraction = new Subtraction()
      hidden = service({ sub: (a: number, b: number) => a - b })
    }
    await check(new Calculator())
    // An unexposed field holding a service is not a way in.
    const server = await startServer({ service: new Calculator() })
    const client = await connectTo<Calculator>(server)
    await expect(client.remote.hidden.sub(4, 3)).rejects.toBeInstanceOf(NotFoundError)
  })

  test('a Router composed on the fly (add, mount, remove)', async () => {
    const root = new Router()
    root.add('addition', service({ add: (a: number, b: number) => a + b }))
    root.mount('subtraction', new Router().add('sub', (a: number, b: number) => a - b))
    await check(root)

    // Composition is live: entries added or removed later are seen by connected clients.
    const server = await startServer({ service: root })
    const client = await connectTo<Calc & { multiplication: { mul(a: number, b: number): number } }>(server)
    await expect(client.remote.multiplication.mul(3, 4)).rejects.toBeInstanceOf(NotFoundError)
    root.add('multiplication', service({ mul: (a: number, b: number) => a * b }))
    expect(await client.remote.multiplication.mul(3, 4)).toBe(12)
    root.remove('addition')
    await expect(client.remote.addition.add(3, 4)).rejects.toBeInstanceOf(NotFoundError)
  })
})

describe('remote exceptions', () => {
  class CalcError extends Error {
    override name = 'CalcError'
    constructor(message: string, readonly operand: number) {
      super(message)
    }
  }
  function failingDivision(a: number, b: number): number {
    if (b === 0) throw new CalcError(`cannot divide ${a} by zero`, a)
    return a / b
  }
  const api = service({
    div: failingDivision,
    parse: (text: string) => {
      if (!/^\d+$/.test(text)) throw new RangeError(`not a number: ${text}`)
      return Number(text)
    },
    throwString: () => {
      throw 'just a string'
    },
  })

  test('a thrown error reaches the caller with origin, remote stack and data', async () => {
    const server = await startServer({ service: api })
    const url = urlOf(server)
    const client = await connectTo<typeof api>(url)
    expect(await client.remote.div(8, 2)).toBe(4)
    const err = await client.remote.div(8, 0).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect(err).toMatchObject({
      name: 'CalcError',
      message: 'cannot divide 8 by zero',
      code: 'WIRECALL_REMOTE_ERROR',
      origin: url,
      data: { operand: 8 },
    })
    const remoteStack = (err as RemoteError).remoteStack
    expect(remoteStack).toContain('CalcError: cannot divide 8 by zero')
    expect(remoteStack).toContain('failingDivision')
    // The local stack is the caller's, not the server's.
    expect((err as Error).stack).not.toContain('failingDivision')
  })

  test('built-in errors come back as themselves; the errors table re-raises user classes', async () => {
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server, { errors: { CalcError } })
    const range = await client.remote.parse('x1').then(() => undefined, (e: unknown) => e)
    expect(range).toBeInstanceOf(RangeError)
    expect(range).toMatchObject({ message: 'not a number: x1', origin: urlOf(server) })
    expect((range as RemoteError).remoteStack).toContain('RangeError')
    const calc = await client.remote.div(1, 0).then(() => undefined, (e: unknown) => e)
    expect(calc).toBeInstanceOf(CalcError)
    expect(calc).toMatchObject({ message: 'cannot divide 1 by zero', operand: 1 })
    await expect(client.remote.throwString()).rejects.toMatchObject({ message: 'just a string', code: 'WIRECALL_REMOTE_ERROR' })
  })

  test('exposeErrorStacks: false keeps stacks home; logErrors logs handler exceptions', async () => {
    const logger = capture()
    const server = await startServer({ service: api, exposeErrorStacks: false, logErrors: { exclude: [RangeError] }, logger })
    const client = await connectTo<typeof api>(server)
    const err = await client.remote.div(1, 0).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ name: 'CalcError', message: 'cannot divide 1 by zero' })
    expect((err as RemoteError).remoteStack).toBeUndefined()
    await expect(client.remote.parse('y')).rejects.toBeInstanceOf(RangeError)
    expect(logger.errors).toHaveLength(1) // CalcError logged, RangeError excluded
    expect(logger.text()).toContain('cannot divide 1 by zero')
  })
})

describe('connections', () => {
  test("the server's onConnection callback sees each client", async () => {
    const seen: Connection[] = []
    const server = await startServer({ service: service({ ping: () => 'pong' }), onConnection: (conn) => void seen.push(conn) })
    const clients = []
    for (const name of ['ann', 'bob', 'cyd']) {
      clients.push(await connectTo<{ ping(): string }>(server, { service: service({ name: () => name }) }))
    }
    await until(() => seen.length === 3, 2000, 'three connections')
    expect(new Set(seen.map((c) => c.id)).size).toBe(3)
    expect([...server.connections]).toEqual(seen)
    for (const conn of seen) {
      expect(conn.peer).toMatchObject({ address: '127.0.0.1' })
      expect(conn.peer?.port).toBeGreaterThan(0)
    }
    // Each Connection talks to its own client, in connection order.
    const names = await Promise.all(seen.map((c) => (c as Connection<{ name(): string }>).remote.name()))
    expect(names).toEqual(['ann', 'bob', 'cyd'])
    expect(await clients[1]!.remote.ping()).toBe('pong')
  })

  test('an onConnection that throws is logged and the connection still works', async () => {
    const logger = capture()
    const server = await startServer({
      service: service({ ping: () => 'pong' }),
      logger,
      onConnection() {
        throw new Error('hook failed')
      },
    })
    const client = await connectTo<{ ping(): string }>(server)
    expect(await client.remote.ping()).toBe('pong')
    expect(logger.text()).toContain('hook failed')
  })

  test('the server closing a connection during a call rejects it with ConnectionClosedError', async () => {
    const started = deferred<Connection>()
    let handlerSignal: AbortSignal | undefined
    const api = service({
      slow: withContext((ctx: CallContext<Connection>) => {
        handlerSignal = ctx.signal
        started.resolve(ctx.connection)
        return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('late'), { once: true }))
      }),
    })
    // close() lets running handlers finish until closeTimeoutMs; this one never would.
    const server = await startServer({ service: api, limits: { closeTimeoutMs: 200 } })
    const client = await connectTo<typeof api>(server)
    const call = client.remote.slow().then(() => 'resolved', (e: unknown) => e)
    const conn = await within(started.promise, 2000, 'handler start')
    await conn.close()
    expect(await within(call, 2000, 'call')).toBeInstanceOf(ConnectionClosedError)
    expect(client.closed).toBe(true)
    expect(handlerSignal?.aborted).toBe(true)
    await until(() => server.connections.size === 0, 2000, 'connection removed')
    // Calls on the closed session fail at once.
    const outcome = await outcomeNow(client.remote.slow())
    expect(outcome).not.toBe('pending')
    expect((outcome as { error: unknown }).error).toBeInstanceOf(ConnectionClosedError)
  })

  test('server.close() during a call that outlives the shutdown deadline rejects it with ConnectionClosedError', async () => {
    const started = deferred()
    const api = service({
      slow: withContext((ctx) => {
        started.resolve()
        return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(0), { once: true }))
      }),
    })
    // close() lets running handlers finish until closeTimeoutMs; this one never would.
    const server = await startServer({ service: api, limits: { closeTimeoutMs: 200 } })
    const client = await connectTo<typeof api>(server)
    const call = client.remote.slow().then(() => 'resolved', (e: unknown) => e)
    await within(started.promise, 2000, 'handler start')
    const port = server.port
    await within(server.close(), 3000, 'server.close()')
    expect(await call).toBeInstanceOf(ConnectionClosedError)
    expect(server.connections.size).toBe(0)
    // No new connections once closed.
    await expect(connectTo(urlOf({ port }))).rejects.toBeInstanceOf(ConnectionClosedError)
  })

  test('the server notices a client disconnect through conn.onClose', async () => {
    const closes: { id: string; reason: Error | undefined }[] = []
    const server = await startServer({
      service: service({ ping: () => 'pong' }),
      onConnection: (conn) => void conn.onClose((reason) => closes.push({ id: conn.id, reason })),
    })
    const a = await connectTo(server)
    const b = await connectTo(server)
    await until(() => server.connections.size === 2)
    const [connA, connB] = [...server.connections]
    await a.close()
    await until(() => closes.length === 1, 2000, 'onClose after a clean close')
    expect(closes[0]).toEqual({ id: connA!.id, reason: undefined })
    expect(connA!.closed).toBe(true)

    // An abrupt drop (no closing handshake) is noticed too, with a reason.
    ;((b as any).transport as { terminate(): void }).terminate()
    await until(() => closes.length === 2, 2000, 'onClose after a dropped socket')
    expect(closes[1]!.id).toBe(connB!.id)
    expect(closes[1]!.reason?.message).toMatch(/1006/)
    expect(server.connections.size).toBe(0)
    // onClose registered on a closed connection still runs, once.
    const late = deferred<Error | undefined>()
    connB!.onClose((reason) => late.resolve(reason))
    await within(late.promise, 1000, 'late onClose')
  })
})
