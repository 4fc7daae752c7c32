/**
 * Observers: metrics counts after a scripted workload match exactly, the
 * metadata slot crosses (and hostile or foreign slots are ignored), and an
 * observer that throws never breaks a call.
 */
import { describe, expect, it } from 'vitest'
import {
  ErrorCode, NotFoundError, createMetrics, service, withContext, type Observer, type Metadata,
} from '../src/index.js'
import { MessageType, sendEncoded } from '../src/internal.js'
import { allowLiveRefs, decodeRaw, encodeRaw, pair, rejection, silent, until } from './harness.js'

class Refused extends Error {
  code = 'E_REFUSED'
}

const api = service({
  add: (a: number, b: number) => a + b,
  fail: () => { throw new Refused('no') },
  slow: withContext(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))),
  hold: (fn: () => void) => { void fn },
  log: (_line: string) => {},
})

describe('createMetrics', () => {
  it('counts a scripted workload exactly, on both sides', async () => {
    const serverMetrics = createMetrics()
    const clientMetrics = createMetrics()
    const { client, server } = pair<typeof api, { ping(): string }>(
      { service: api, observer: serverMetrics },
      { service: service({ ping: () => 'pong' }), observer: clientMetrics },
    )
    for (let i = 0; i < 5; i++) expect(await client.remote.add(i, 1)).toBe(i + 1)
    for (let i = 0; i < 3; i++) expect((await rejection(client.remote.fail())).code).toBe('E_REFUSED')
    expect((await rejection((client.remote as unknown as { nope(): Promise<void> }).nope())).code).toBe(ErrorCode.NOT_FOUND)
    expect((await rejection(client.with({ timeout: 20 }).remote.slow())).code).toBe(ErrorCode.TIMEOUT)
    const controller = new AbortController()
    const aborted = client.with({ signal: controller.signal }).remote.slow()
    controller.abort()
    expect((await rejection(aborted)).code).toBe(ErrorCode.ABORTED)
    for (let i = 0; i < 4; i++) client.notify.log('x')
    expect(await server.remote.ping()).toBe('pong')
    await until(() => serverMetrics.snapshot().notificationsIn[0]?.count === 4, 'notifications')
    // The server-side handlers of the timed-out and aborted calls end when the cancel arrives.
    await until(() => serverMetrics.snapshot().callsIn.every((m) => m.inFlight === 0), 'handlers to end')

    const s = serverMetrics.snapshot()
    const byMethod = Object.fromEntries(s.callsIn.map((m) => [m.method, m]))
    expect(byMethod.add).toMatchObject({ count: 5, errors: 0, inFlight: 0, outcomes: { ok: 5 } })
    expect(byMethod.fail).toMatchObject({ count: 3, errors: 3, outcomes: { E_REFUSED: 3 } })
    expect(byMethod.nope).toMatchObject({ count: 1, errors: 1, outcomes: { [ErrorCode.NOT_FOUND]: 1 } })
    expect(byMethod.slow).toMatchObject({ count: 2, errors: 2, outcomes: { [ErrorCode.ABORTED]: 2 } })
    expect(byMethod.add!.latency.counts.reduce((a, b) => a + b, 0)).toBe(5)
    expect(s.notificationsIn).toEqual([expect.objectContaining({ method: 'log', count: 4, outcomes: { ok: 4 } })])
    expect(s.callsOut).toEqual([expect.objectContaining({ method: 'ping', count: 1, outcomes: { ok: 1 } })])

    const c = clientMetrics.snapshot()
    const out = Object.fromEntries(c.callsOut.map((m) => [m.method, m]))
    expect(out.add).toMatchObject({ count: 5, outcomes: { ok: 5 } })
    expect(out.fail).toMatchObject({ count: 3, outcomes: { E_REFUSED: 3 } })
    expect(out.slow).toMatchObject({ count: 2, outcomes: { [ErrorCode.TIMEOUT]: 1, [ErrorCode.ABORTED]: 1 } })
    expect(c.notificationsOut).toEqual([expect.objectContaining({ method: 'log', count: 4 })])

    // Bytes: every message one side sent, the other received.
    expect(s.bytesIn).toBe(c.bytesOut)
    expect(s.bytesOut).toBe(c.bytesIn)
    expect(s.bytesIn).toBeGreaterThan(0)
    expect(s.sessions).toBe(1)
    expect(s.perSession).toHaveLength(1)
    expect(s.perSession[0]).toMatchObject({ callsIn: 11, errorsIn: 6, callsOut: 1, errorsOut: 0, bytesIn: s.bytesIn, bytesOut: s.bytesOut })
    expect(c.perSession[0]).toMatchObject({ callsOut: 11, errorsOut: 6, callsIn: 1 })
  })

  it('lists references held per session (the leak inspector) and forgets closed sessions', async () => {
    const metrics = createMetrics()
    const { client, server } = pair<typeof api>({ service: api, observer: metrics })
    allowLiveRefs(client, server)
    await client.remote.hold(() => {})
    await until(() => metrics.snapshot().perSession[0]?.importedRefs === 1, 'the reference to be counted')
    expect(metrics.snapshot()).toMatchObject({ sessions: 1, sessionsOpened: 1 })
    await client.close()
    await until(() => server.closed, 'server side to close')
    expect(metrics.snapshot()).toMatchObject({ sessions: 0, sessionsOpened: 1, perSession: [] })
  })

  it('counts notifications dropped for a slow peer, and reports it as a slow consumer once', async () => {
    const metrics = createMetrics()
    const { server } = pair({ observer: metrics })
    // A closed member is dropped like a slow one (the node adapter's topics count both).
    await server.close()
    expect(sendEncoded(server, new Uint8Array([0x93, 2, 0xa1, 0x78]))).toBe(false)
    const s = metrics.snapshot()
    expect(s.dropped).toBe(1)
  })

  it('bounds the method table: a peer calling endless names is counted under "(other)"', async () => {
    const metrics = createMetrics()
    const { client } = pair({ service: api, observer: metrics })
    const remote = client.remote as unknown as Record<string, () => Promise<unknown>>
    await Promise.all(Array.from({ length: 300 }, (_, i) => rejection(remote[`m${i}`]!())))
    const s = metrics.snapshot()
    expect(s.callsIn.length).toBeLessThanOrEqual(257)
    expect(s.callsIn.find((m) => m.method === '(other)')!.count).toBe(300 - 256)
    expect(s.callsIn.reduce((n, m) => n + m.count, 0)).toBe(300)
  })

  it('counts bytes from the sessions themselves: a closed session\'s stay in the totals, reset() starts again from 0', async () => {
    const metrics = createMetrics()
    const first = pair<typeof api>({ service: api, observer: metrics })
    await first.client.remote.add(1, 2)
    const firstIn = first.server.stats().bytesIn
    expect(firstIn).toBe(first.client.stats().bytesOut)
    expect(metrics.snapshot()).toMatchObject({ bytesIn: firstIn, bytesOut: first.server.stats().bytesOut })
    await first.client.close()
    await until(() => first.server.closed, 'server side to close')
    const second = pair<typeof api>({ service: api, observer: metrics })
    await second.client.remote.add(3, 4)
    expect(metrics.snapshot().bytesIn).toBe(firstIn + second.server.stats().bytesIn)
    metrics.reset()
    expect(metrics.snapshot()).toMatchObject({ bytesIn: 0, bytesOut: 0 })
    await second.client.remote.add(5, 6)
    const after = metrics.snapshot()
    // One request in, one response out: the same sizes as the previous call's.
    expect(after.bytesIn).toBe(second.server.stats().bytesIn / 2)
    expect(after.perSession[0]).toMatchObject({ bytesIn: after.bytesIn, bytesOut: after.bytesOut })
  })

  it('times a synchronous handler by its own clock read, and a call across turns of the event loop', async () => {
    const busy = (ms: number) => {
      const until = performance.now() + ms
      while (performance.now() < until) { /* a handler that computes for `ms` */ }
      return ms
    }
    const serverMetrics = createMetrics()
    const clientMetrics = createMetrics()
    const { client } = pair<{ busy(ms: number): number; later(ms: number): Promise<number> }>(
      { service: service({ busy, later: (ms: number) => new Promise<number>((r) => setTimeout(() => r(ms), ms)) }), observer: serverMetrics },
      { observer: clientMetrics },
    )
    await client.remote.busy(8)
    await client.remote.later(30)
    const latencyOf = (list: readonly { method: string; p50Ms: number }[], method: string) => list.find((m) => m.method === method)!.p50Ms
    // p50 is the upper bound of the bucket: 8 ms lands in (6.4, 12.8], 30 ms in (25.6, 51.2] or above on a slow machine.
    expect(latencyOf(serverMetrics.snapshot().callsIn, 'busy')).toBeGreaterThanOrEqual(12.8)
    expect(latencyOf(serverMetrics.snapshot().callsIn, 'later')).toBeGreaterThanOrEqual(51.2)
    expect(latencyOf(clientMetrics.snapshot().callsOut, 'busy')).toBeGreaterThanOrEqual(12.8)
    expect(latencyOf(clientMetrics.snapshot().callsOut, 'later')).toBeGreaterThanOrEqual(51.2)
  })

  it('times each call of a burst begun in one turn by the turn it ended in, and counts each outcome', async () => {
    // Calls of one method begun in one turn share their observation (metrics.ts, `Cohort`):
    // those ending in different turns, or failing, must still be counted and timed one by one.
    // A negative `ms` returns at once: several calls then end in the turn they began in.
    const wait = (ms: number, fail: boolean) => ms < 0 ? ms :
      new Promise<number>((resolve, reject) => setTimeout(() => (fail ? reject(new Refused('no')) : resolve(ms)), ms))
    const serverMetrics = createMetrics()
    const clientMetrics = createMetrics()
    const { client } = pair<{ wait(ms: number, fail: boolean): Promise<number> }>(
      { service: service({ wait }), observer: serverMetrics },
      { observer: clientMetrics },
    )
    const burst = [[-1, false], [0, false], [-1, false], [0, true], [-1, false], [0, false], [150, false], [150, true], [150, false], [150, false]] as const
    const settled = await Promise.allSettled(burst.map(([ms, fail]) => client.remote.wait(ms, fail)))
    expect(settled.map((r) => r.status)).toEqual(burst.map(([, fail]) => (fail ? 'rejected' : 'fulfilled')))
    await until(() => serverMetrics.snapshot().callsIn[0]?.inFlight === 0, 'handlers to end')
    // Buckets: index 10 is (25.6, 51.2] ms, index 12 is (102.4, 204.8].
    const fast = (counts: readonly number[]) => counts.slice(0, 11).reduce((a, b) => a + b, 0)
    const slow = (counts: readonly number[]) => counts.slice(12).reduce((a, b) => a + b, 0)
    for (const m of [serverMetrics.snapshot().callsIn[0]!, clientMetrics.snapshot().callsOut[0]!]) {
      expect(m).toMatchObject({ method: 'wait', count: 10, errors: 2, inFlight: 0, outcomes: { ok: 8, E_REFUSED: 2 } })
      expect(fast(m.latency.counts)).toBe(6)
      expect(slow(m.latency.counts)).toBe(4)
    }
    expect(serverMetrics.snapshot().perSession[0]).toMatchObject({ callsIn: 10, errorsIn: 2 })
    expect(clientMetrics.snapshot().perSession[0]).toMatchObject({ callsOut: 10, errorsOut: 2 })
  })

  it('reset() zeroes the counters', async () => {
    const metrics = createMetrics()
    const { client } = pair<typeof api>({ service: api, observer: metrics })
    await client.remote.add(1, 2)
    metrics.reset()
    expect(metrics.snapshot()).toMatchObject({ callsIn: [], bytesIn: 0, sessions: 1 })
  })
})

describe('the metadata slot', () => {
  it('carries what the outgoing observation gives to the incoming observer, for calls and notifications', async () => {
    const seen: [string, string, Metadata | undefined][] = []
    const sender: Observer = { session: () => ({ outgoing: (method) => ({ metadata: { traceparent: `tp-${method}` }, end() {} }) }) }
    const receiver: Observer = {
      session: () => ({
        incoming: (method, kind, metadata) => {
          seen.push([method, kind, metadata])
          return { end() {} }
        },
      }),
    }
    const { client } = pair<typeof api>({ service: api, observer: receiver }, { observer: sender })
    await client.remote.add(1, 2)
    client.notify.log('x')
    await until(() => seen.length === 2, 'both messages')
    expect(seen).toEqual([['add', 'call', { traceparent: 'tp-add' }], ['log', 'notification', { traceparent: 'tp-log' }]])
  })

  it('is not sent when nothing observes (plain msgpack-rpc shape)', async () => {
    const { client, clientTransport } = pair<typeof api>({ service: api })
    clientTransport.log = true
    await client.remote.add(1, 2)
    expect(decodeRaw(clientTransport.sent[0] as Uint8Array)).toEqual([0, 1, 'add', [1, 2]])
  })

  it('ignores slots of another shape, and keeps at most 8 string entries of a map', async () => {
    const seen: (Metadata | undefined)[] = []
    const receiver: Observer = { session: () => ({ incoming: (_m, _k, metadata) => (seen.push(metadata), { end() {} }) }) }
    const { server, serverTransport } = pair({ service: api, observer: receiver })
    const big = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']))
    const slots: unknown[] = ['text', 7, [1, 2], new Uint8Array(3), null, { a: 1, b: 'ok' }, big]
    for (const [i, slot] of slots.entries()) {
      serverTransport.inject(encodeRaw([MessageType.REQUEST, i + 1, 'add', [1, 2], slot]))
    }
    await until(() => seen.length === slots.length, 'every request')
    expect(seen.slice(0, 5)).toEqual([undefined, undefined, undefined, undefined, undefined])
    expect(seen[5]).toEqual({ b: 'ok' })
    expect(Object.keys(seen[6]!)).toHaveLength(8)
    expect(server.stats().malformedFrames).toBe(0)
  })
})

describe('a failing observer', () => {
  it('is logged and never breaks calls, notifications or the connection', async () => {
    const boom = () => { throw new Error('observer bug') }
    const broken: Observer = { session: boom }
    const brokenHooks: Observer = { session: () => ({ bytes: boom, dropped: boom, closed: boom, outgoing: boom, incoming: boom }) }
    const endsBadly: Observer = {
      session: () => ({
        outgoing: () => ({ end: boom }),
        incoming: () => ({ run: (h) => h(), end: boom }),
      }),
    }
    const logger = { ...silent, errors: [] as unknown[][], error(...args: unknown[]) { this.errors.push(args) } }
    const { client } = pair<typeof api>({ service: api, observer: [broken, endsBadly], logger }, { observer: [brokenHooks, endsBadly], logger })
    expect(await client.remote.add(2, 3)).toBe(5)
    expect((await rejection(client.remote.fail())).code).toBe('E_REFUSED')
    client.notify.log('x')
    expect(await client.remote.add(1, 1)).toBe(2)
    expect(logger.errors.length).toBeGreaterThan(0)
    expect(String(logger.errors[0]![0])).toContain('observer hook')
  })

  it('a NotFoundError for an unknown method reaches the observer as its code', async () => {
    const outcomes: unknown[] = []
    const observer: Observer = { session: () => ({ incoming: () => ({ end: (e) => outcomes.push(e) }) }) }
    const { client } = pair({ service: api, observer })
    await rejection((client.remote as unknown as { x(): Promise<void> }).x())
    expect(outcomes[0]).toBeInstanceOf(NotFoundError)
  })
})
