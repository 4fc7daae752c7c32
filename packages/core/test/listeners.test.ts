/**
 * Several listeners on one incoming notification (quickrpc's connected
 * listeners): `session.on(path, listener)` next to the registered service.
 */
import { expect, test, vi } from 'vitest'
import { NotFoundError, service } from '../src/index.js'
import { pair, settle, until } from './harness.js'

interface PageSide {
  ticker: { tick(n: number, label: string): void }
  status(s: string): void
}

test('several listeners and the service handler all receive one notification', async () => {
  const handler = vi.fn()
  const page = service({ ticker: service({ tick: handler }), status: () => {} })
  const { client, server } = pair<unknown, PageSide>({}, { service: page })
  const a = vi.fn()
  const b = vi.fn()
  const c = vi.fn()
  client.on('ticker.tick', a)
  client.on('ticker.tick', b)
  client.on('status', c)
  server.notify.ticker.tick(7, 'seven')
  await until(() => handler.mock.calls.length === 1, 'the handler')
  expect(a).toHaveBeenCalledExactlyOnceWith(7, 'seven')
  expect(b).toHaveBeenCalledExactlyOnceWith(7, 'seven')
  expect(handler).toHaveBeenCalledExactlyOnceWith(7, 'seven')
  expect(c).not.toHaveBeenCalled()
})

test('listeners work without any service, and without a "no such method" warning', async () => {
  const logger = { warn: vi.fn(), error: vi.fn() }
  const { client, server } = pair<unknown, PageSide>({}, { logger })
  const seen: string[] = []
  client.on('status', (s: string) => seen.push(`1:${s}`))
  client.on('status', (s: string) => seen.push(`2:${s}`))
  server.notify.status('up')
  server.notify.status('down')
  await until(() => seen.length === 4, 'four deliveries')
  expect(seen).toEqual(['1:up', '2:up', '1:down', '2:down'])
  expect(logger.warn).not.toHaveBeenCalled()
})

test('unsubscribing removes only that listener', async () => {
  const { client, server } = pair<unknown, PageSide>()
  const a = vi.fn()
  const b = vi.fn()
  const offA = client.on('status', a)
  const offB = client.on('status', b)
  offA()
  server.notify.status('x')
  await until(() => b.mock.calls.length === 1, 'b')
  expect(a).not.toHaveBeenCalled()
  offB()
  offB() // twice is harmless
  server.notify.status('y')
  await settle()
  expect(b).toHaveBeenCalledTimes(1)
})

test('a throwing or rejecting listener is logged and does not stop the others', async () => {
  const logger = { warn: vi.fn(), error: vi.fn() }
  const { client, server } = pair<unknown, PageSide>({}, { logger })
  const after = vi.fn()
  client.on('status', () => {
    throw new Error('sync listener bug')
  })
  client.on('status', async () => {
    throw new Error('async listener bug')
  })
  client.on('status', after)
  server.notify.status('x')
  await until(() => logger.warn.mock.calls.length === 2, 'two warnings')
  expect(after).toHaveBeenCalledOnce()
  const messages = logger.warn.mock.calls.map((c) => (c[1] as Error).message).sort()
  expect(messages).toEqual(['async listener bug', 'sync listener bug'])
})

test('listeners hear notifications only, not requests', async () => {
  const { client, server } = pair<unknown, PageSide>()
  const listener = vi.fn()
  client.on('status', listener)
  await expect(server.remote.status('x')).rejects.toBeInstanceOf(NotFoundError)
  expect(listener).not.toHaveBeenCalled()
})
