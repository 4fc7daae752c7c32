/**
 * Notify: `session.notify.path.method(args)` sends without an id; no reply,
 * handler errors only logged on the receiver.
 */
import { expect, test, vi } from 'vitest'
import { service, withContext, type CallContext } from '../src/index.js'
import { MessageType } from '../src/internal.js'
import { pair, sentMessages, settle, until } from './harness.js'

function recorder() {
  const calls: unknown[][] = []
  const contexts: CallContext[] = []
  const api = service({
    log: (...args: unknown[]) => void calls.push(args),
    nested: service({ deeper: service({ log: (x: unknown) => void calls.push(['deep', x]) }) }),
    fails: () => {
      throw new Error('handler bug')
    },
    rejects: async () => {
      throw new Error('async handler bug')
    },
    ctx: withContext((ctx) => void contexts.push(ctx)),
  })
  return { api, calls, contexts }
}

test('a notification runs the handler, returns nothing and gets no reply', async () => {
  const { api, calls } = recorder()
  const { client, clientTransport, serverTransport } = pair<typeof api>({ service: api })
  clientTransport.log = true
  serverTransport.log = true
  const returned: unknown = client.notify.log('hello', 2, { x: [1] })
  expect(returned).toBeUndefined()
  expect(client.stats().pendingCalls).toBe(0)
  await until(() => calls.length === 1, 'the handler')
  expect(calls[0]).toEqual(['hello', 2, { x: [1] }])
  expect(sentMessages(clientTransport)).toEqual([[MessageType.NOTIFICATION, 'log', ['hello', 2, { x: [1] }]]])
  await settle()
  expect(serverTransport.sent).toHaveLength(0)
})

test('notifications nest and arrive in the order they were sent', async () => {
  const { api, calls } = recorder()
  const { client } = pair<typeof api>({ service: api })
  for (let i = 0; i < 100; i++) {
    if (i % 2) client.notify.nested.deeper.log(i)
    else client.notify.log(i)
  }
  await until(() => calls.length === 100, 'all notifications')
  expect(calls.map((c) => (c[0] === 'deep' ? c[1] : c[0]))).toEqual(Array.from({ length: 100 }, (_, i) => i))
  expect(calls[1]).toEqual(['deep', 1])
})

test('handler errors are logged on the receiver, never sent back', async () => {
  const { api } = recorder()
  const logger = { warn: vi.fn(), error: vi.fn() }
  const { client, serverTransport } = pair<typeof api>({ service: api, logger })
  serverTransport.log = true
  client.notify.fails()
  client.notify.rejects()
  await until(() => logger.warn.mock.calls.length === 2, 'two warnings')
  expect(logger.warn.mock.calls[0]![0]).toContain('fails')
  expect((logger.warn.mock.calls[0]![1] as Error).message).toBe('handler bug')
  expect((logger.warn.mock.calls[1]![1] as Error).message).toBe('async handler bug')
  await settle()
  expect(serverTransport.sent).toHaveLength(0)
})

test('an unknown or unexposed notification is logged and ignored', async () => {
  const { api } = recorder()
  const logger = { warn: vi.fn(), error: vi.fn() }
  const { client, serverTransport } = pair({ service: api, logger })
  serverTransport.log = true
  client.sendNotification('missing', [])
  client.sendNotification('constructor', [])
  client.sendNotification('log.call', [])
  await until(() => logger.warn.mock.calls.length === 3, 'three warnings')
  expect(logger.warn.mock.calls[0]![0]).toContain('missing')
  expect(serverTransport.sent).toHaveLength(0)
})

test('a contextual notification handler gets a context whose signal never fires', async () => {
  const { api, contexts } = recorder()
  const { client, server } = pair<typeof api>({ service: api })
  client.notify.ctx()
  await until(() => contexts.length === 1, 'the handler')
  expect(contexts[0]!.connection).toBe(server)
  expect(contexts[0]!.path).toBe('ctx')
  expect(contexts[0]!.signal.aborted).toBe(false)
})

test('unencodable arguments throw at the caller; nothing is sent', () => {
  const { api } = recorder()
  const { client, clientTransport } = pair<typeof api>({ service: api })
  clientTransport.log = true
  expect(() => client.notify.log(Symbol('x'))).toThrow()
  expect(clientTransport.sent).toHaveLength(0)
})

test('with(...).notify is the same fire-and-forget notify', async () => {
  const { api, calls } = recorder()
  const { client } = pair<typeof api>({ service: api })
  client.with({ timeout: 1 }).notify.log('via with')
  await until(() => calls.length === 1, 'the handler')
  expect(calls[0]).toEqual(['via with'])
})
