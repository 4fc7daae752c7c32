/**
 * Cancellation by AbortSignal per call: the caller rejects at once with
 * AbortError, a cancel crosses the wire, and the handler's own signal fires.
 */
import { expect, test, vi } from 'vitest'
import { AbortError, ErrorCode, service, withContext } from '../src/index.js'
import { MessageType } from '../src/internal.js'
import { encodeRaw, pair, rejection, sentMessages, settle, until } from './harness.js'

function cancellable() {
  const seen: { aborted: boolean; reason: unknown }[] = []
  let release: () => void = () => {}
  const api = service({
    wait: withContext(async (ctx) => {
      await new Promise<void>((resolve) => {
        release = resolve
        ctx.signal.addEventListener('abort', () => resolve(), { once: true })
      })
      seen.push({ aborted: ctx.signal.aborted, reason: ctx.signal.reason })
      return 'finished'
    }),
    plain: async () => {
      await new Promise<void>((resolve) => (release = resolve))
      return 'plain finished'
    },
    quick: () => 'quick',
  })
  return { api, seen, finish: () => release() }
}

test('aborting rejects at once with AbortError and the reason, and the handler sees its signal fire', async () => {
  const { api, seen } = cancellable()
  const { client, server, clientTransport, serverTransport } = pair<typeof api>({ service: api })
  clientTransport.log = true
  serverTransport.log = true
  const controller = new AbortController()
  const call = client.with({ signal: controller.signal }).remote.wait()
  await until(() => server.stats().inFlightCalls === 1, 'the handler to start')
  controller.abort(new Error('user pressed stop'))
  const err = await rejection(call)
  expect(err).toBeInstanceOf(AbortError)
  expect(err.code).toBe(ErrorCode.ABORTED)
  expect(err.message).toContain('user pressed stop')
  expect((err.cause as Error).message).toBe('user pressed stop')
  expect(client.stats().pendingCalls).toBe(0)
  await until(() => seen.length === 1, 'the handler to see the abort')
  expect(seen[0]!.aborted).toBe(true)
  expect(seen[0]!.reason).toBeInstanceOf(AbortError)
  const request = sentMessages(clientTransport).find((m) => m[0] === MessageType.REQUEST)!
  expect(sentMessages(clientTransport)).toContainEqual([MessageType.CANCEL, request[1]])
  await settle()
  // A cancelled contextual handler sends no response at all.
  expect(sentMessages(serverTransport).filter((m) => m[0] === MessageType.RESPONSE)).toHaveLength(0)
  expect(client.stats().lateReplies).toBe(0)
})

test('an already-aborted signal rejects before anything is sent', async () => {
  const { api } = cancellable()
  const { client, clientTransport } = pair<typeof api>({ service: api })
  clientTransport.log = true
  const err = await rejection(client.with({ signal: AbortSignal.abort('too late') }).remote.quick())
  expect(err).toBeInstanceOf(AbortError)
  expect(err.message).toContain('too late')
  expect(clientTransport.sent).toHaveLength(0)
})

test('aborting a non-contextual handler: the caller still rejects at once; the reply is a late one', async () => {
  const { api, finish } = cancellable()
  const { client, server } = pair<typeof api>({ service: api })
  const controller = new AbortController()
  const call = client.with({ signal: controller.signal }).remote.plain()
  await until(() => server.stats().inFlightCalls === 1, 'the handler to start')
  controller.abort()
  await expect(call).rejects.toBeInstanceOf(AbortError)
  finish()
  await until(() => client.stats().lateReplies === 1, 'the late reply')
})

test('aborting after the call settled does nothing: no cancel, no listener left', async () => {
  const { api } = cancellable()
  const { client, clientTransport } = pair<typeof api>({ service: api })
  const controller = new AbortController()
  const add = vi.spyOn(controller.signal, 'addEventListener')
  const remove = vi.spyOn(controller.signal, 'removeEventListener')
  clientTransport.log = true
  expect(await client.with({ signal: controller.signal }).remote.quick()).toBe('quick')
  expect(add).toHaveBeenCalledTimes(1)
  expect(remove).toHaveBeenCalledTimes(1)
  expect(remove.mock.calls[0]![1]).toBe(add.mock.calls[0]![1])
  controller.abort()
  await settle()
  expect(sentMessages(clientTransport).filter((m) => m[0] === MessageType.CANCEL)).toHaveLength(0)
})

test('one signal shared by several calls cancels all of them, and only them', async () => {
  const { api, seen } = cancellable()
  const { client, server } = pair<typeof api>({ service: api })
  const controller = new AbortController()
  const cancelled = [1, 2, 3].map(() => client.with({ signal: controller.signal }).remote.wait())
  const other = new AbortController()
  const survivor = client.with({ signal: other.signal }).remote.wait()
  await until(() => server.stats().inFlightCalls === 4, 'the handlers to start')
  controller.abort()
  for (const p of cancelled) await expect(p).rejects.toBeInstanceOf(AbortError)
  await until(() => seen.length === 3, 'three handlers to see the abort')
  expect(server.stats().inFlightCalls).toBe(1)
  other.abort()
  await expect(survivor).rejects.toBeInstanceOf(AbortError)
  await until(() => server.stats().inFlightCalls === 0, 'the last handler')
})

test('a cancel for an unknown or finished call id is ignored', async () => {
  const { api } = cancellable()
  const { client, serverTransport } = pair<typeof api>({ service: api })
  expect(await client.remote.quick()).toBe('quick') // id 1, finished
  serverTransport.inject(encodeRaw([MessageType.CANCEL, 12345]))
  serverTransport.inject(encodeRaw([MessageType.CANCEL, 1]))
  await settle()
  expect(await client.remote.quick()).toBe('quick')
})
