/**
 * Endpoint pools, in Node with `ws` against real @wirecall/node servers on
 * 127.0.0.1: calls spread over the open endpoints; one endpoint killed and
 * restarted mid-traffic: no call hangs, in-flight calls on the lost endpoint
 * reject with ConnectionClosedError (at most once), later calls go to the
 * others, and calls spread again after it recovers. `least-pending` steers
 * away from a slow endpoint; with every endpoint down, calls wait (bounded)
 * or fail fast. Every test ends with the leak check.
 */
import { describe, expect, test } from 'vitest'
import { ConnectionClosedError, TimeoutError, connectPool, createPool, type PoolOptions } from '../src/index.js'
import { TestServer, countingWebSocket, onCleanup, sleep, until, useLeakCheck, type TestApi } from './helpers.js'

useLeakCheck()

const FAST = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 } as const

async function servers(n: number): Promise<TestServer[]> {
  return Promise.all(Array.from({ length: n }, () => TestServer.start()))
}

function pool(urls: string[], options: PoolOptions<TestApi> = {}) {
  const { WebSocket } = countingWebSocket()
  const p = createPool<TestApi>(urls, { WebSocket, reconnect: FAST, ...options })
  onCleanup(() => p.close())
  return p
}

const adds = (all: TestServer[]) => all.map((s) => s.counts.add)

describe('an endpoint pool', () => {
  test('spreads calls over every open endpoint, round robin', async () => {
    const all = await servers(3)
    const p = pool(all.map((s) => s.url))
    await until(() => p.openEndpoints().length === 3, 'every endpoint to open')
    expect(p.state).toBe('open')
    for (let i = 0; i < 30; i++) expect(await p.remote.add(i, 1)).toBe(i + 1)
    expect(adds(all)).toEqual([10, 10, 10])
  })

  test('one endpoint killed and restarted mid-traffic: no call hangs, calls spread again after recovery', async () => {
    const all = await servers(3)
    const p = pool(all.map((s) => s.url), { timeout: 5_000 })
    await until(() => p.openEndpoints().length === 3, 'every endpoint to open')

    // Traffic that keeps 30 calls outstanding while endpoint 1 goes away.
    const outcomes = { ok: 0, closed: 0, other: [] as unknown[] }
    let stop = false
    const worker = async () => {
      while (!stop) {
        try {
          await p.remote.slow(5)
          outcomes.ok++
        } catch (err) {
          if (err instanceof ConnectionClosedError) outcomes.closed++
          else outcomes.other.push(err)
        }
      }
    }
    const workers = Array.from({ length: 30 }, worker)
    await sleep(100)
    all[1]!.terminateAll()
    await all[1]!.stop()
    const slowAtStop = all[1]!.counts.slow
    await sleep(300)
    // While it is down, its calls stopped arriving and the others took everything.
    expect(all[1]!.counts.slow).toBe(slowAtStop)
    expect(p.openEndpoints()).toEqual([all[0]!.url, all[2]!.url])
    await all[1]!.start()
    await until(() => p.openEndpoints().length === 3, 'the restarted endpoint to rejoin')
    const before = all[1]!.counts.slow
    await sleep(200)
    stop = true
    await Promise.all(workers) // bounded: every call has a 5 s timeout and none may hang
    expect(outcomes.other).toEqual([])
    expect(outcomes.ok).toBeGreaterThan(100)
    // At most the calls that were in flight on the lost endpoint failed (30 workers, at most 30).
    expect(outcomes.closed).toBeLessThanOrEqual(30)
    expect(all[1]!.counts.slow, 'the recovered endpoint takes calls again').toBeGreaterThan(before)
  })

  test('least-pending sends fewer calls to a slow endpoint', async () => {
    const all = await servers(2)
    const p = pool(all.map((s) => s.url), { strategy: 'least-pending' })
    await until(() => p.openEndpoints().length === 2, 'both endpoints to open')
    // Endpoint 0 is busy with 20 long calls (least-pending keeps the next ones off it).
    const busy = Array.from({ length: 20 }, () => all[0]!.url).map(() => p.endpoints[0]!.remote.slow(300))
    for (let i = 0; i < 20; i++) await p.remote.add(i, i)
    expect(all[1]!.counts.add).toBe(20)
    expect(all[0]!.counts.add).toBe(0)
    await Promise.all(busy)
  })

  test('with every endpoint down, calls wait for the first to come back (within their timeout)', async () => {
    const all = await servers(2)
    const p = pool(all.map((s) => s.url))
    await until(() => p.openEndpoints().length === 2, 'both endpoints to open')
    await Promise.all(all.map((s) => s.stop()))
    await until(() => p.state === 'reconnecting', 'the pool to notice')

    await expect(p.with({ timeout: 100 }).remote.add(1, 1)).rejects.toBeInstanceOf(TimeoutError)
    const waiting = p.with({ timeout: 5_000 }).remote.add(2, 3)
    await sleep(50)
    await all[1]!.start()
    expect(await waiting).toBe(5)
    expect(all[1]!.counts.add).toBe(1)
  })

  test("whileDisconnected: 'fail' rejects at once when no endpoint is open", async () => {
    const all = await servers(1)
    const p = pool(all.map((s) => s.url), { whileDisconnected: 'fail' })
    await expect(p.remote.add(1, 1)).rejects.toBeInstanceOf(ConnectionClosedError) // still connecting
    await p.ready
    expect(await p.remote.add(1, 1)).toBe(2)
  })

  test('connectPool resolves with one endpoint up and rejects when none can connect', async () => {
    const [up] = await servers(1)
    const { WebSocket } = countingWebSocket()
    const p = await connectPool<TestApi>([up!.url, 'ws://127.0.0.1:1'], { WebSocket, reconnect: { ...FAST, maxAttempts: 2 } })
    onCleanup(() => p.close())
    expect(await p.remote.add(2, 2)).toBe(4)
    await expect(connectPool<TestApi>(['ws://127.0.0.1:1'], { WebSocket, reconnect: { ...FAST, maxAttempts: 1 } }))
      .rejects.toBeInstanceOf(ConnectionClosedError)
  })

  test('connectPool rejects with TimeoutError after options.timeout when no endpoint opens (endpoints retrying forever), and closes the pool', async () => {
    const { WebSocket, attempts } = countingWebSocket()
    const started = Date.now()
    const outcome = await Promise.race([
      connectPool<TestApi>(['ws://127.0.0.1:1'], { WebSocket, reconnect: FAST, timeout: 300 }).then(() => 'connected', (e: unknown) => e),
      new Promise((r) => setTimeout(() => r('still waiting'), 3000)),
    ])
    expect(outcome).toBeInstanceOf(TimeoutError)
    expect(Date.now() - started).toBeLessThan(2000)
    // The pool was closed: its endpoint dials no more.
    const dialled = attempts.length
    await new Promise((r) => setTimeout(r, 400))
    expect(attempts.length).toBe(dialled)
  })

  test('close() rejects waiting calls and closes every endpoint', async () => {
    const p = pool(['ws://127.0.0.1:1'])
    const waiting = p.remote.add(1, 1)
    await p.close()
    await expect(waiting).rejects.toBeInstanceOf(ConnectionClosedError)
    expect(p.state).toBe('closed')
    expect(p.endpoints.every((e) => e.state === 'closed')).toBe(true)
    expect(() => createPool([])).toThrow(TypeError)
  })
})
