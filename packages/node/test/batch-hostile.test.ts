/**
 * Batches (docs/protocol.md, "Batches") against hostile clients, beyond the
 * malformed ones of batch.test.ts: what a client that offers
 * `wirecall.batch.v1` can make the server hold, and how long one batch
 * message can keep the server's event loop.
 */
import { describe, expect, test } from 'vitest'
import type { Socket } from 'node:net'
import { WebSocket } from 'ws'
import { service } from '@wirecall/core'
import { BATCH_MARKER, BATCH_OFFER, BATCH_PROTOCOL } from '@wirecall/core/internal'
import type { Connection } from '../src/index.js'
import { decode, encode, sleep, startServer, until, urlOf, within } from './helpers.js'
import { startChildServer } from './child-harness.js'

const gc = (globalThis as { gc?: () => void }).gc!

/** A raw client offering batches; resolves once open, with the TCP socket under it (to pause it). */
async function openBatchClient(url: string): Promise<{ ws: WebSocket; socket: Socket }> {
  const ws = new WebSocket(url, [...BATCH_OFFER], { perMessageDeflate: false })
  let socket!: Socket
  ws.once('upgrade', (res) => (socket = res.socket as Socket))
  ws.on('error', () => {})
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  expect(ws.protocol).toBe(BATCH_PROTOCOL)
  return { ws, socket }
}

/** One message of `count` three-byte items (`c4 01 c0`: a one-byte frame, nil, malformed and never answered). */
function nilFlood(count: number): Uint8Array {
  const flood = new Uint8Array(1 + 3 * count)
  flood[0] = BATCH_MARKER
  for (let i = 1; i < flood.length; i += 3) {
    flood[i] = 0xc4
    flood[i + 1] = 1
    flood[i + 2] = 0xc0
  }
  return flood
}

describe('a batch client that never reads', () => {
  test('memory held for its unsent replies stays within a small factor of what backpressure counts', async () => {
    // 1.1 KiB replies, each flushed in a tick of its own (the handler awaits, as one doing I/O
    // would): each tick's message is at least 1 KiB, the size from which frames.ts hands an owned
    // frame to the socket uncopied.
    const reply = new Uint8Array(1100).fill(7)
    let conn: Connection | undefined
    let produced = 0
    const highWater = 1024 * 1024
    const server = await startServer({
      service: service({ blob: async () => (await new Promise((resolve) => setImmediate(resolve)), produced++, reply) }),
      limits: { sendHighWaterMark: highWater, maxSendBufferBytes: 512 * 1024 * 1024 },
      onConnection: (c) => void (conn = c),
    })
    const { ws, socket } = await openBatchClient(urlOf(server))
    await until(() => conn !== undefined)
    const transport = (conn as unknown as { transport: { bufferedAmount: number } }).transport
    socket.pause() // the client stops reading
    gc()
    const before = process.memoryUsage().arrayBuffers
    // 44 MiB of replies if the server kept answering: far past the kernel buffers and the mark.
    const requests = 40_000
    for (let i = 1; i <= requests; i++) ws.send(encode([0, i, 'blob', []]))
    // Wait until the server stopped answering (backpressure), then a little more.
    let last = -1
    for (let rounds = 0; rounds < 100 && produced !== last; rounds++) {
      last = produced
      await sleep(100)
    }
    gc()
    const held = process.memoryUsage().arrayBuffers - before
    const buffered = transport.bufferedAmount
    console.info(`client not reading: ${produced} of ${requests} replies produced; the transport counts ${(buffered / 2 ** 20).toFixed(2)} MiB buffered, array buffers grew ${(held / 2 ** 20).toFixed(2)} MiB (${(held / buffered).toFixed(1)}x)`)
    expect(produced).toBeLessThan(requests) // backpressure applied
    expect(buffered).toBeGreaterThan(highWater)
    // The queued replies themselves (plus the requests the server holds unread): not 64 KiB per reply.
    expect(held).toBeLessThan(3 * buffered + 4 * 1024 * 1024)
    ws.terminate()
  }, 30_000)
})

describe('one batch message of millions of tiny frames', () => {
  test('does not hold the event loop: timers keep firing and other connections are served while it is read', async () => {
    const server = await startServer({ service: service({ add: (a: number, b: number) => a + b }) })
    const attacker = await openBatchClient(urlOf(server))
    const other = await openBatchClient(urlOf(server))
    // 4 MiB, about 1.4 million frames: seconds of work in one turn if read without a break.
    const flood = nilFlood(1_400_000)
    let maxGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
    }, 5)
    // The other client calls add() in a loop, one call at a time, timing each.
    let slowest = 0
    let answered = 0
    let otherReply: ((v: unknown) => void) | undefined
    other.ws.on('message', (data: Buffer) => otherReply?.(decode(data)))
    const callOther = async (id: number): Promise<void> => {
      const t = performance.now()
      const got = new Promise((resolve) => (otherReply = resolve))
      other.ws.send(encode([0, id, 'add', [id, 1]]))
      expect(await within(got, 20_000, 'a reply to the other client')).toEqual([1, id, null, id + 1])
      slowest = Math.max(slowest, performance.now() - t)
      answered++
    }
    try {
      attacker.ws.send(flood)
      const started = performance.now()
      for (let id = 1; performance.now() - started < 1000; id++) await callOther(id)
    } finally {
      clearInterval(timer)
      maxGap = Math.max(maxGap, performance.now() - last)
    }
    console.info(`4 MiB batch of 1.4 million frames: event loop gap at most ${maxGap.toFixed(0)} ms; ${answered} calls of another client answered, the slowest in ${slowest.toFixed(0)} ms`)
    expect(maxGap).toBeLessThan(200)
    expect(slowest).toBeLessThan(200)
    expect(answered).toBeGreaterThan(10)
    attacker.ws.terminate()
    other.ws.terminate()
  }, 60_000)

  test('against a server in a child process: it neither crashes nor stalls, and the attacker is answered in order after it', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const attacker = await openBatchClient(child.url)
    const other = await openBatchClient(child.url)
    const replies: unknown[] = []
    attacker.ws.on('message', (data: Buffer) => replies.push(decode(data)))
    let otherReply: ((v: unknown) => void) | undefined
    other.ws.on('message', (data: Buffer) => otherReply?.(decode(data)))
    // 2 MiB, about 700,000 frames, then a request after them on the same connection.
    attacker.ws.send(nilFlood(700_000))
    attacker.ws.send(encode([0, 1, 'add', [3, 4]]))
    const started = performance.now()
    let slowest = 0
    for (let id = 1; replies.length === 0; id++) {
      if (performance.now() - started > 30_000) throw new Error('the request after the flood was never answered')
      const t = performance.now()
      const got = new Promise((resolve) => (otherReply = resolve))
      other.ws.send(encode([0, id, 'add', [id, 1]]))
      expect(await within(got, 30_000, 'a reply to the other client')).toEqual([1, id, null, id + 1])
      slowest = Math.max(slowest, performance.now() - t)
    }
    console.info(`child: 2 MiB batch read in ${(performance.now() - started).toFixed(0)} ms; another client's slowest call meanwhile ${slowest.toFixed(0)} ms`)
    expect(replies).toEqual([[1, 1, null, 7]])
    expect(slowest).toBeLessThan(300)
    expect(child.isAlive()).toBe(true)
    const stats = await within(child.stats(), 10_000, 'child stats')
    expect(stats.connectionStats.some((s) => s.malformedFrames >= 700_000)).toBe(true)
    attacker.ws.terminate()
    other.ws.terminate()
    const exit = await child.stop()
    expect(exit.code).toBe(0)
  }, 60_000)
})
