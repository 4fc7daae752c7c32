/**
 * Connection loss: every pending call rejects at once with
 * ConnectionClosedError, onClose listeners run exactly once, calls on a
 * closed session reject immediately, and nothing is left running.
 */
import { expect, test, vi } from 'vitest'
import { ConnectionClosedError, ErrorCode, service, withContext } from '../src/index.js'
import { pair, settle, settlesAtOnce, silent, until } from './harness.js'

const hanging = () => {
  const signals: AbortSignal[] = []
  const api = service({
    hang: () => new Promise<never>(() => {}),
    watch: withContext((ctx) => {
      signals.push(ctx.signal)
      return new Promise<never>(() => {})
    }),
    quick: () => 1,
  })
  return { api, signals }
}

test.each(['client', 'server'] as const)('closing the %s rejects every pending call at once', async (who) => {
  const { api } = hanging()
  const p = pair<typeof api>({ service: api }, { timeout: 0 })
  const calls = Array.from({ length: 50 }, () => p.client.remote.hang().catch((e: unknown) => e as Error))
  await until(() => p.server.stats().inFlightCalls === 50, 'the handlers to start')
  await p[who].close()
  expect(await settlesAtOnce(Promise.all(calls))).toBe(true) // timeout 0: they would hang otherwise
  const errors = await Promise.all(calls)
  for (const err of errors) {
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect((err as ConnectionClosedError).code).toBe(ErrorCode.CONNECTION_CLOSED)
  }
  expect(p.client.stats().pendingCalls).toBe(0)
  expect(p.client.closed).toBe(true)
  expect(p.server.closed).toBe(true)
})

test('a link failure rejects pending calls with the reason in the message', async () => {
  const { api } = hanging()
  const { client, clientTransport } = pair<typeof api>({ service: api }, { timeout: 0 })
  const call = client.remote.hang()
  clientTransport.fail(new Error('cable cut'))
  const err = await call.catch((e: unknown) => e as Error)
  expect(err).toBeInstanceOf(ConnectionClosedError)
  expect(err.message).toContain('cable cut')
})

test('the server\'s handlers see their signal fire when the client goes away', async () => {
  const { api, signals } = hanging()
  const { client, server } = pair<typeof api>({ service: api }, { timeout: 0 })
  const calls = [client.remote.watch().catch(() => {}), client.remote.watch().catch(() => {})]
  await until(() => signals.length === 2, 'the handlers to start')
  await client.close()
  await Promise.all(calls)
  expect(signals.every((s) => s.aborted)).toBe(true)
  expect(signals[0]!.reason).toBeInstanceOf(ConnectionClosedError)
  expect(server.closed).toBe(true)
})

test('calls and references on a closed session reject immediately and send nothing', async () => {
  const { api } = hanging()
  const { client, clientTransport } = pair<typeof api>({ service: api })
  await client.close()
  clientTransport.log = true
  const calls = [client.remote.quick(), client.with({ timeout: 0 }).remote.quick()]
  expect(await settlesAtOnce(Promise.allSettled(calls))).toBe(true)
  for (const call of calls) await expect(call).rejects.toBeInstanceOf(ConnectionClosedError)
  // Notify on a closed session is a silent no-op, never a throw.
  expect(() => client.notify.quick()).not.toThrow()
  expect(clientTransport.sent).toHaveLength(0)
})

test('onClose listeners run exactly once, with the reason, however often close is called', async () => {
  const { api } = hanging()
  const { client, server, clientTransport } = pair<typeof api>({ service: api })
  const onClient = vi.fn()
  const onServer = vi.fn()
  client.onClose(onClient)
  server.onClose(onServer)
  const reason = new Error('bye')
  clientTransport.fail(reason)
  await Promise.all([client.close(), server.close(), client.close()])
  clientTransport.fail(new Error('again'))
  await settle()
  expect(onClient).toHaveBeenCalledTimes(1)
  expect(onClient).toHaveBeenCalledWith(reason)
  expect(onServer).toHaveBeenCalledTimes(1)
})

test('onClose after the close runs once, asynchronously; unsubscribe works; a throwing listener is isolated', async () => {
  const { client } = pair()
  const removed = vi.fn()
  const after = vi.fn()
  const unsubscribe = client.onClose(removed)
  client.onClose(() => {
    throw new Error('listener bug')
  })
  const second = vi.fn()
  client.onClose(second)
  unsubscribe()
  await client.close()
  expect(removed).not.toHaveBeenCalled()
  expect(second).toHaveBeenCalledTimes(1)
  expect(silent.errors.some((args) => String(args[0]).includes('onClose'))).toBe(true)
  client.onClose(after)
  expect(after).not.toHaveBeenCalled()
  await settle()
  expect(after).toHaveBeenCalledTimes(1)
})

test('close() resolves, and is idempotent', async () => {
  const { client, server } = pair()
  const first = client.close()
  const second = client.close()
  await expect(first).resolves.toBeUndefined()
  await expect(second).resolves.toBeUndefined()
  await expect(server.close()).resolves.toBeUndefined()
  expect(client.closed && server.closed).toBe(true)
})

test('closing clears the timeout timer of pending calls', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  const { api } = hanging()
  const { client, server } = pair<typeof api>({ service: api }, { timeout: 30_000 })
  const call = client.remote.hang().catch((e: unknown) => e)
  expect(vi.getTimerCount()).toBe(1)
  const closing = server.close()
  await vi.advanceTimersByTimeAsync(0)
  await closing
  expect(await call).toBeInstanceOf(ConnectionClosedError)
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

test('a handler that finishes after the close sends nothing and throws nothing', async () => {
  let finish: (v: number) => void = () => {}
  const api = service({ later: () => new Promise<number>((r) => (finish = r)) })
  const { client, server, serverTransport } = pair<typeof api>({ service: api })
  const call = client.remote.later().catch((e: unknown) => e)
  await until(() => server.stats().inFlightCalls === 1, 'the handler to start')
  await client.close()
  serverTransport.log = true
  finish(5)
  await settle()
  expect(await call).toBeInstanceOf(ConnectionClosedError)
  expect(serverTransport.sent).toHaveLength(0)
  expect(server.stats().inFlightCalls).toBe(0)
})
