/**
 * Topics and broadcast: join/leave (and leave on close), explicit
 * receiver lists, broadcast to all, and a slow member that must never hold
 * back the others.
 */
import { describe, expect, test, vi } from 'vitest'
import { OverloadedError, Session, service, withContext, type CallContext } from '@wirecall/core'
import { MsgpackCodec } from '@wirecall/core/internal'
import type { Connection } from '../src/index.js'
import { RawClient, connectTo, outcomeNow, startServer, until, urlOf, within } from './helpers.js'

interface Page {
  news(text: string): void
}

const isTick = (value: unknown, n: number) =>
  Array.isArray(value) && value[0] === 2 && value[1] === 'tick' && Array.isArray(value[2]) && value[2][0] === n

describe('fan-out', () => {
  test('200 members, one with a paused socket: the other 199 get it promptly, the slow one is skipped and counted', async () => {
    const byName = new Map<string, Connection>()
    const server = await startServer({
      service: service({ ping: () => 'pong' }),
      limits: { sendHighWaterMark: 256 * 1024 },
      onConnection: (conn, request) => {
        byName.set(String(request.headers['x-member']), conn)
        conn.join('feed')
      },
    })
    const members: RawClient[] = []
    for (let batch = 0; batch < 4; batch++) {
      members.push(...await Promise.all(Array.from({ length: 50 }, (_, i) =>
        RawClient.open(urlOf(server), { headers: { 'x-member': `m${batch * 50 + i}` } }))))
    }
    await until(() => server.topic('feed').size === 200, 5000, '200 members joined')
    const slowIndex = 137
    const slow = members[slowIndex]!
    const slowConn = byName.get(`m${slowIndex}`)!
    const others = members.filter((m) => m !== slow)
    slow.socket.pause() // stops reading: the kernel buffers fill, then the server's send buffer grows

    // Push bulk data at the slow member alone until it counts as slow (bounded).
    const chunk = new Uint8Array(64 * 1024)
    let bulkDelivered = 0
    for (let i = 0; i < 2000; i++) {
      const r = server.to([slowConn]).send('bulk', [chunk])
      if (r.dropped === 1) break
      bulkDelivered += r.delivered
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(bulkDelivered).toBeLessThan(2000) // it did become slow
    // Calls to a slow consumer fail fast rather than queueing more.
    expect((await outcomeNow((slowConn.remote as any).anything()) as { error: unknown }).error).toBeInstanceOf(OverloadedError)

    const dropsBefore = server.droppedNotifications
    const encode = vi.spyOn(MsgpackCodec.prototype, 'encode')
    const started = Date.now()
    let result
    try {
      result = server.topic('feed').send('tick', [1])
      ;(server.topic('feed').notify as any).tick(2)
      expect(encode).toHaveBeenCalledTimes(2) // once per fan-out, not once per member
    } finally {
      encode.mockRestore()
    }
    expect(result).toEqual({ delivered: 199, dropped: 1 })
    expect(server.droppedNotifications).toBe(dropsBefore + 2)
    await within(until(() => others.every((m) => m.frames.some((f) => isTick(f.value, 2))), 3000, 'ticks at 199 members'), 4000)
    expect(Date.now() - started).toBeLessThan(3000)
    for (const m of others) {
      expect(m.frames.map((f) => f.value).filter((v) => isTick(v, 1) || isTick(v, 2))).toEqual([[2, 'tick', [1]], [2, 'tick', [2]]])
    }

    // Once it reads again it drains what was queued and is reached again; the dropped ticks stay dropped.
    slow.socket.resume()
    await until(() => slow.frames.length === bulkDelivered, 10_000, 'the slow member to drain')
    expect(server.topic('feed').send('tick', [3])).toEqual({ delivered: 200, dropped: 0 })
    await until(() => members.every((m) => m.frames.some((f) => isTick(f.value, 3))), 3000, 'tick 3 everywhere')
    expect(slow.frames.some((f) => isTick(f.value, 1) || isTick(f.value, 2))).toBe(false)
  }, 20_000)
})

describe('membership', () => {
  async function setup() {
    const api = service({
      subscribe: withContext((ctx: CallContext<Connection<Page>>, topic: string) => ctx.connection.join(topic)),
      unsubscribe: withContext((ctx: CallContext<Connection<Page>>, topic: string) => ctx.connection.leave(topic)),
      topics: withContext((ctx: CallContext<Connection<Page>>) => [...ctx.connection.topics]),
    })
    const conns = new Map<string, Connection<Page>>()
    const server = await startServer<Page>({ service: api, onConnection: (conn, request) => void conns.set(String(request.headers['x-name']), conn) })
    const got: Record<string, string[]> = {}
    const clients: Record<string, Awaited<ReturnType<typeof connectTo<typeof api>>>> = {}
    for (const name of ['a', 'b', 'c']) {
      got[name] = []
      clients[name] = await connectTo<typeof api>(server, {
        headers: { 'x-name': name },
        service: service({ news: (text: string) => void got[name]!.push(text) }),
      })
    }
    await until(() => conns.size === 3)
    /** Send a marker to everyone and wait for it: every earlier notification has then arrived (one socket, in order). */
    let markers = 0
    const sync = async () => {
      const marker = `marker${++markers}`
      server.all.notify.news(marker)
      const live = Object.keys(got).filter((n) => !clients[n]!.closed)
      await until(() => live.every((n) => got[n]!.includes(marker)), 2000, marker)
      for (const n of Object.keys(got)) got[n] = got[n]!.filter((t) => !t.startsWith('marker'))
    }
    return { server, conns, got, clients, sync }
  }

  test('join and leave from a handler (ctx.connection) and from the server side', async () => {
    const { server, conns, got, clients, sync } = await setup()
    await clients.a!.remote.subscribe('sports')
    await clients.b!.remote.subscribe('sports')
    await clients.c!.remote.subscribe('weather')
    await clients.a!.remote.subscribe('sports') // twice is once
    expect(server.topics().sort()).toEqual(['sports', 'weather'])
    expect(server.topic('sports').size).toBe(2)
    expect(server.topic('sports').members().map((c) => c.id).sort()).toEqual([conns.get('a')!.id, conns.get('b')!.id].sort())
    expect(await clients.a!.remote.topics()).toEqual(['sports'])

    server.topic('sports').notify.news('goal')
    server.topic('weather').notify.news('rain')
    await sync()
    expect(got).toEqual({ a: ['goal'], b: ['goal'], c: ['rain'] })

    await clients.b!.remote.unsubscribe('sports')
    server.topic('sports').leave(conns.get('a')!)
    server.topic('weather').join(conns.get('a')!)
    server.topic('sports').notify.news('second')
    server.topic('weather').notify.news('sun')
    await sync()
    expect(got).toEqual({ a: ['goal', 'sun'], b: ['goal'], c: ['rain', 'sun'] })
    expect(server.topics()).toEqual(['weather'])
    expect(server.topic('sports').send('news', ['nobody'])).toEqual({ delivered: 0, dropped: 0 })
  })

  test('a closed connection leaves all its topics; joining after close is a no-op', async () => {
    const { server, conns, clients, got, sync } = await setup()
    await clients.a!.remote.subscribe('x')
    await clients.a!.remote.subscribe('y')
    await clients.b!.remote.subscribe('y')
    const connA = conns.get('a')!
    await clients.a!.close()
    await until(() => connA.closed, 2000, 'server side closed')
    expect(connA.topics.size).toBe(0)
    expect(server.topics()).toEqual(['y'])
    expect(server.topic('y').members()).toEqual([conns.get('b')])
    connA.join('z')
    expect(server.topics()).toEqual(['y'])
    server.topic('y').notify.news('after')
    await sync()
    expect(got.b).toEqual(['after'])
  })

  test('server.to([a, b]) and server.all; closed receivers are skipped and counted', async () => {
    const { server, conns, clients, got, sync } = await setup()
    const [a, b, c] = ['a', 'b', 'c'].map((n) => conns.get(n)!)
    server.to([a!, c!]).notify.news('to a and c')
    const list = new Set([b!])
    const group = server.to(list)
    group.notify.news('to b')
    list.add(c!) // the list is read afresh at every send
    group.notify.news('to b and c')
    server.all.notify.news('to all')
    await sync()
    expect(got).toEqual({
      a: ['to a and c', 'to all'],
      b: ['to b', 'to b and c', 'to all'],
      c: ['to a and c', 'to b and c', 'to all'],
    })

    await clients.c!.close()
    await until(() => c!.closed)
    const dropsBefore = server.droppedNotifications
    expect(server.to([a!, c!]).send('news', ['a only'])).toEqual({ delivered: 1, dropped: 1 })
    expect(server.droppedNotifications).toBe(dropsBefore + 1)
    expect(server.all.send('news', ['live ones'])).toEqual({ delivered: 2, dropped: 0 })
    await sync()
    expect(got.a).toEqual(['to a and c', 'to all', 'a only', 'live ones'])
    expect(got.b).toEqual(['to b', 'to b and c', 'to all', 'live ones'])
  })

  test('broadcasts carry data only: a callback argument throws before anything is sent', async () => {
    const { server, got, sync } = await setup()
    expect(() => server.all.notify.news((() => 'fn') as unknown as string)).toThrow(TypeError)
    await sync()
    expect(got).toEqual({ a: [], b: [], c: [] })
  })
})
