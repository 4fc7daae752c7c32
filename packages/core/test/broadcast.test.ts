/**
 * Fan-out of one notification to many sessions: the frame is encoded once,
 * closed or slow members are skipped and counted, never waited for.
 */
import { expect, test, vi } from 'vitest'
import { Session, service } from '../src/index.js'
import { MsgpackCodec, createBroadcast } from '../src/internal.js'
import { pair, until } from './harness.js'

interface Page {
  ticker: { tick(n: number, at: Date): void }
}

function room(size: number) {
  const received: unknown[][] = Array.from({ length: size }, () => [])
  const pairs = received.map((inbox) =>
    pair<unknown, Page>({}, { service: service({ ticker: service({ tick: (n: number, at: Date) => void inbox.push([n, at]) }) }) }),
  )
  return { received, pairs, servers: pairs.map((p) => p.server) }
}

test('createBroadcast encodes once and every member receives', async () => {
  const { received, servers } = room(50)
  const encode = vi.spyOn(MsgpackCodec.prototype, 'encode')
  const group = createBroadcast<Page>(() => servers)
  const at = new Date(1234)
  group.notify.ticker.tick(1, at)
  expect(encode).toHaveBeenCalledTimes(1)
  expect(encode).toHaveBeenCalledWith([2, 'ticker.tick', [1, at]], undefined)
  await until(() => received.every((inbox) => inbox.length === 1), 'every member')
  expect(received[49]![0]).toEqual([1, at])
  const result = group.send('ticker.tick', [2, at])
  expect(result).toEqual({ delivered: 50, dropped: 0 })
  expect(encode).toHaveBeenCalledTimes(2)
  await until(() => received.every((inbox) => inbox.length === 2), 'every member, twice')
})

test('the same bytes are handed to every member', async () => {
  const { servers, pairs } = room(5)
  for (const p of pairs) p.serverTransport.log = true
  createBroadcast<Page>(() => servers).notify.ticker.tick(3, new Date(0))
  const frames = pairs.map((p) => p.serverTransport.sent[0])
  for (const f of frames) expect(f).toBe(frames[0])
})

test('closed and slow members are skipped and counted; the others still get it at once', async () => {
  const { received, servers, pairs } = room(10)
  await pairs[3]!.client.close()
  ;(pairs[7]!.serverTransport as { bufferedAmount: number }).bufferedAmount = 1e12 // over sendHighWaterMark
  const dropped: Session<Page>[] = []
  const group = createBroadcast<Page>(() => servers, (s) => dropped.push(s))
  const result = group.send('ticker.tick', [9, new Date(0)])
  expect(result).toEqual({ delivered: 8, dropped: 2 })
  expect(dropped).toEqual([servers[3], servers[7]])
  await until(() => received.filter((inbox) => inbox.length === 1).length === 8, 'the eight healthy members')
  expect(received[3]).toEqual([])
  expect(received[7]).toEqual([])
  ;(pairs[7]!.serverTransport as { bufferedAmount: number }).bufferedAmount = 0
})

test('members are read at send time', async () => {
  const { received, servers } = room(3)
  const members: Session<Page>[] = [servers[0]!]
  const group = createBroadcast<Page>(() => members)
  expect(group.send('ticker.tick', [1, new Date(0)]).delivered).toBe(1)
  members.push(servers[1]!, servers[2]!)
  expect(group.send('ticker.tick', [2, new Date(0)]).delivered).toBe(3)
  await until(() => received[2]!.length === 1, 'the late joiner')
  expect(received[0]!.length).toBe(2)
})

test('broadcasts carry data only: a callback argument throws and nothing is sent', () => {
  const { servers, pairs } = room(2)
  for (const p of pairs) p.serverTransport.log = true
  const group = createBroadcast<Page>(() => servers)
  expect(() => group.send('ticker.tick', [() => 1])).toThrow(/references/)
  for (const p of pairs) expect(p.serverTransport.sent).toHaveLength(0)
  for (const s of servers) expect(s.stats().exportedRefs).toBe(0)
})

test('an empty group is fine', () => {
  expect(createBroadcast(() => []).send('x', [])).toEqual({ delivered: 0, dropped: 0 })
})
