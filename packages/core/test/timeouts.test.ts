/**
 * Timeouts: the session default, per call through `session.with({ timeout })`,
 * late replies dropped and counted, and every timer cleared once calls settle.
 */
import { expect, test, vi } from 'vitest'
import { ErrorCode, TimeoutError, service, type Session } from '../src/index.js'
import { MessageType } from '../src/internal.js'
import { pair, rejection, sentMessages, settle, until } from './harness.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Wait until no handler runs on these sessions: a timed-out call's handler
 * goes on running (it is not contextual, so the cancel cannot stop it), and
 * the leak check after each test expects none in flight.
 */
const handlersDone = (...servers: Session<unknown>[]) =>
  until(() => servers.every((s) => s.stats().inFlightCalls === 0), 'the handlers to finish', 5000)

function slowService() {
  const finished: number[] = []
  const api = service({
    after: async (ms: number) => {
      await sleep(ms)
      finished.push(ms)
      return ms
    },
    fast: () => 'fast',
  })
  return { api, finished }
}

test('the session default timeout rejects with TimeoutError naming the path', async () => {
  const { api } = slowService()
  const { client, server } = pair<typeof api>({ service: api }, { timeout: 20 })
  const err = await rejection(client.remote.after(200)) // a TimeoutError, not the handler's 200
  expect(err).toBeInstanceOf(TimeoutError)
  expect(err.code).toBe(ErrorCode.TIMEOUT)
  expect(err.message).toContain('after')
  expect(err.message).toContain('20 ms')
  await handlersDone(server)
})

test('a per-call timeout overrides the session default, both ways', async () => {
  const { api } = slowService()
  const { client, server } = pair<typeof api>({ service: api }, { timeout: 500 })
  await expect(client.with({ timeout: 15 }).remote.after(80)).rejects.toBeInstanceOf(TimeoutError)
  // Longer than the default: succeeds.
  const short = pair<typeof api>({ service: api }, { timeout: 15 })
  expect(await short.client.with({ timeout: 500 }).remote.after(40)).toBe(40)
  // 0 disables the timeout for this call.
  expect(await short.client.with({ timeout: 0 }).remote.after(40)).toBe(40)
  // The plain remote still uses the default.
  await expect(short.client.remote.after(60)).rejects.toBeInstanceOf(TimeoutError)
  await handlersDone(server, short.server)
})

test('a session timeout of 0 means calls never time out', async () => {
  const { api } = slowService()
  const { client } = pair<typeof api>({ service: api }, { timeout: 0 })
  expect(await client.remote.after(40)).toBe(40)
})

test('a late reply after a timeout is dropped and counted in stats().lateReplies', async () => {
  const { api, finished } = slowService()
  const { client, serverTransport } = pair<typeof api>({ service: api }, { timeout: 10 })
  serverTransport.log = true
  const outcome = client.remote.after(40).then(() => 'resolved', (e: unknown) => e)
  expect(await outcome).toBeInstanceOf(TimeoutError)
  expect(client.stats().lateReplies).toBe(0)
  await until(() => finished.length === 1, 'the handler to finish')
  await settle()
  // The server did answer (the handler is not contextual, so the cancel could not stop it)...
  expect(sentMessages(serverTransport).filter((m) => m[0] === MessageType.RESPONSE)).toHaveLength(1)
  // ...and the client dropped it.
  expect(client.stats().lateReplies).toBe(1)
  expect(client.stats().pendingCalls).toBe(0)
  expect(await outcome).toBeInstanceOf(TimeoutError)
})

test('a timeout sends a cancel for that call id', async () => {
  const { api } = slowService()
  const { client, server, clientTransport } = pair<typeof api>({ service: api }, { timeout: 10 })
  clientTransport.log = true
  await expect(client.remote.after(30)).rejects.toBeInstanceOf(TimeoutError)
  const messages = sentMessages(clientTransport)
  const request = messages.find((m) => m[0] === MessageType.REQUEST)!
  expect(messages).toContainEqual([MessageType.CANCEL, request[1]])
  await handlersDone(server)
})

test('calls with different timeouts expire in deadline order, others are untouched', async () => {
  const { api } = slowService()
  const { client, server } = pair<typeof api>({ service: api }, { timeout: 0 })
  const order: string[] = []
  const track = (label: string, p: Promise<unknown>) =>
    p.then((v) => order.push(`${label}:ok:${String(v)}`), (e: unknown) => order.push(`${label}:${(e as Error).name}`))
  const all = Promise.all([
    track('long', client.with({ timeout: 60 }).remote.after(120)),
    track('short', client.with({ timeout: 15 }).remote.after(120)),
    track('none', client.remote.after(90)),
    track('fits', client.with({ timeout: 100 }).remote.after(5)),
  ])
  await all
  expect(order).toEqual(['fits:ok:5', 'short:TimeoutError', 'long:TimeoutError', 'none:ok:90'])
  await handlersDone(server)
})

test('sequential calls share the session timer: armed once, not per call; it stops when it fires with nothing pending', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  const api = service({ now: () => 'now' })
  const { client } = pair<typeof api>({ service: api }, { timeout: 30_000 })
  const arms: number[] = []
  // Counted by hand, not with vi.spyOn: restoring a spy after useRealTimers would put the fake back.
  const fakeSetTimeout = globalThis.setTimeout
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    arms.push(ms ?? 0)
    return fakeSetTimeout(fn, ms)
  }) as typeof setTimeout
  try {
    for (let i = 0; i < 10; i++) expect(await client.remote.now()).toBe('now')
  } finally {
    globalThis.setTimeout = fakeSetTimeout
  }
  expect(arms).toEqual([30_000])
  expect(vi.getTimerCount()).toBe(1)
  // The first call's deadline passes with nothing pending: the timer fires, times out nothing, stops.
  await vi.advanceTimersByTimeAsync(30_000)
  expect(vi.getTimerCount()).toBe(0)
  expect(client.stats().pendingCalls).toBe(0)
  vi.useRealTimers()
})

test('a pending call whose deadline is later than the armed one still times out on its own deadline', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  const api = service({ now: () => 'now', hang: () => new Promise<never>(() => {}) })
  const { client, server } = pair<typeof api>({ service: api }, { timeout: 1000 })
  expect(await client.remote.now()).toBe('now') // arms the timer for t = 1000
  await vi.advanceTimersByTimeAsync(600)
  const hung = client.remote.hang().catch((e: unknown) => e) // deadline t = 1600
  await vi.advanceTimersByTimeAsync(500) // t = 1100: the timer fired for nothing and re-armed
  expect(client.stats().pendingCalls).toBe(1)
  await vi.advanceTimersByTimeAsync(499) // t = 1599: not yet
  expect(client.stats().pendingCalls).toBe(1)
  await vi.advanceTimersByTimeAsync(1) // t = 1600
  expect(await hung).toBeInstanceOf(TimeoutError)
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
  await server.close()
})

test('closing the session disarms its timer', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  const api = service({ now: () => 'now' })
  const { client } = pair<typeof api>({ service: api }, { timeout: 30_000 })
  expect(await client.remote.now()).toBe('now')
  expect(vi.getTimerCount()).toBe(1)
  await client.close()
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

test('timeouts under pipelining: many calls, one timer, all expire', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  const never = service({ hang: () => new Promise<never>(() => {}), quick: () => 1 })
  const { client, server } = pair<typeof never>({ service: never }, { timeout: 1000 })
  const calls = Array.from({ length: 100 }, (_, i) => client.with({ timeout: 100 + i }).remote.hang().catch((e: unknown) => e))
  expect(vi.getTimerCount()).toBe(1)
  await vi.advanceTimersByTimeAsync(250)
  const results = await Promise.all(calls)
  expect(results.every((r) => r instanceof TimeoutError)).toBe(true)
  expect(client.stats().pendingCalls).toBe(0)
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
  // The hung handlers never finish; closing the pair is the only way out.
  await server.close()
})
