/**
 * Regression tests for the defects of the code review, Node side (one
 * `describe` per item; the numbers are the review's). Each test fails on the
 * code before the fix.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { service, withContext, type CallContext, type ValueType } from '@wirecall/core'
import type { Connection } from '../src/index.js'
import { RawClient, capture, connectTo, startServer, until, urlOf, within } from './helpers.js'

/** The error a promise rejects with; fails the test if it resolves instead. */
function refusal(p: Promise<unknown>): Promise<Error> {
  return p.then(
    (value) => { throw new Error(`expected a refusal, got ${String(value)}`) },
    (err: unknown) => err as Error,
  )
}

describe('1: an onConnection that rejects or throws is logged, never an unhandled rejection', () => {
  // Vitest reports unhandled rejections after the fact; record them here so the test itself fails.
  const unhandled: unknown[] = []
  const record = (reason: unknown) => void unhandled.push(reason)
  beforeEach(() => {
    unhandled.length = 0
    process.on('unhandledRejection', record)
  })
  afterEach(() => {
    process.off('unhandledRejection', record)
  })

  test('awaiting a method the client does not have: logged via logger; the server keeps serving', async () => {
    const logger = capture()
    const server = await startServer<{ missing(): void }>({
      service: service({ ping: () => 'pong' }),
      logger,
      onConnection: async (conn) => {
        await conn.remote.missing()
      },
    })
    const first = await connectTo<{ ping(): string }>(server)
    await until(() => logger.errors.length === 1, 1000, 'the rejection to be logged')
    expect(logger.text()).toContain('onConnection')
    expect(logger.text()).toContain('NotFoundError')
    expect(unhandled).toEqual([])
    expect(await first.remote.ping()).toBe('pong')
    const second = await connectTo<{ ping(): string }>(server)
    expect(await second.remote.ping()).toBe('pong')
    await until(() => logger.errors.length === 2, 1000, 'the second rejection to be logged')
    expect(unhandled).toEqual([])
  })

  test('a client that connects and leaves at once: the rejected call is logged; new clients are served', async () => {
    const logger = capture()
    const server = await startServer<{ hello(): string }>({
      service: service({ ping: () => 'pong' }),
      logger,
      onConnection: async (conn) => {
        await conn.remote.hello()
      },
    })
    const raw = await RawClient.open(urlOf(server))
    await raw.terminate()
    await until(() => logger.errors.length === 1, 1000, 'the rejection to be logged')
    expect(logger.text()).toContain('ConnectionClosedError')
    expect(unhandled).toEqual([])
    await until(() => server.connections.size === 0, 1000, 'the connection to be gone')
    const client = await connectTo<{ ping(): string }>(server, { service: service({ hello: () => 'hi' }) })
    expect(await client.remote.ping()).toBe('pong')
  })

  test('a synchronous throw is logged too', async () => {
    const logger = capture()
    const server = await startServer({
      service: service({ ping: () => 'pong' }),
      logger,
      onConnection: () => {
        throw new Error('sync onConnection bug')
      },
    })
    const client = await connectTo<{ ping(): string }>(server)
    await until(() => logger.errors.length === 1, 1000, 'the throw to be logged')
    expect(logger.text()).toContain('sync onConnection bug')
    expect(await client.remote.ping()).toBe('pong')
    expect(unhandled).toEqual([])
  })
})

describe('9: broadcasts carry user value types registered on the server', () => {
  class Point {
    constructor(readonly x: number, readonly y: number) {}
  }
  const types: ValueType[] = [{
    type: 7,
    class: Point,
    encode: (p) => [(p as Point).x, (p as Point).y],
    decode: (wire) => new Point(...(wire as [number, number])),
  }]

  test('topic, to([...]) and all: the client\'s handler receives a Point instance', async () => {
    const server = await startServer({
      service: service({ join: withContext((ctx: CallContext<Connection>) => ctx.connection.join('points')) }),
      types,
    })
    const received: unknown[] = []
    const listened: unknown[] = []
    const client = await connectTo<{ join(): void }>(server, {
      types,
      service: service({ onPoint: (p: unknown) => void received.push(p) }),
    })
    client.on('onPoint', (p: unknown) => void listened.push(p))
    await client.remote.join()
    const notify = server.topic('points').notify as unknown as { onPoint(p: Point): void }
    notify.onPoint(new Point(1, 2))
    ;(server.to(server.connections).notify as unknown as { onPoint(p: Point): void }).onPoint(new Point(3, 4))
    ;(server.all.notify as unknown as { onPoint(p: Point): void }).onPoint(new Point(5, 6))
    await until(() => received.length === 3 && listened.length === 3, 1000, 'three broadcasts')
    for (const value of [...received, ...listened]) expect(value).toBeInstanceOf(Point)
    expect(received).toEqual([new Point(1, 2), new Point(3, 4), new Point(5, 6)])
  })
})

describe('12: handshake checks: null identity, same-origin default, allowedOrigins \'*\'', () => {
  const api = service({ ping: () => 'pong' })

  test('authenticate returning null refuses with 401', async () => {
    let asked = 0
    const server = await startServer({ service: api, authenticate: () => (++asked, null) })
    const err = await refusal(RawClient.open(urlOf(server)))
    expect(err.message).toContain('401')
    expect(asked).toBe(1)
    expect(server.connections.size).toBe(0)
    const viaClient = await refusal(connectTo(server))
    expect(viaClient.message).toContain('401')
  })

  test('by default a foreign Origin is refused with 403; the same origin and no Origin are accepted', async () => {
    const logger = capture()
    const server = await startServer({ service: api, logger })
    const url = urlOf(server)
    const foreign = await refusal(RawClient.open(url, { headers: { origin: 'https://evil.example' } }))
    expect(foreign.message).toContain('403')
    // The server says why (the browser cannot).
    expect(logger.text()).toContain('refused a WebSocket from origin https://evil.example')
    // Same host, another port: another origin.
    const otherPort = await refusal(RawClient.open(url, { headers: { origin: `http://127.0.0.1:${server.port + 1}` } }))
    expect(otherPort.message).toContain('403')
    expect(server.connections.size).toBe(0)

    const sameOrigin = await RawClient.open(url, { headers: { origin: `http://127.0.0.1:${server.port}` } })
    expect(await sameOrigin.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
    const noOrigin = await RawClient.open(url)
    expect(await noOrigin.call(2, 'ping', [])).toEqual([1, 2, null, 'pong'])
    const client = await connectTo<typeof api>(server)
    expect(await client.remote.ping()).toBe('pong')
    await until(() => server.connections.size === 3, 1000, 'three connections')
  })

  test('allowedOrigins: \'*\' accepts a foreign Origin', async () => {
    const server = await startServer({ service: api, allowedOrigins: '*' })
    const raw = await within(RawClient.open(urlOf(server), { headers: { origin: 'https://evil.example' } }), 1000, 'the handshake')
    expect(await raw.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
  })
})
