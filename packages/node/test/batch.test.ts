/**
 * Batches between a client that offers `wirecall.batch.v1` and the server
 * (docs/protocol.md, "Batches"): negotiation, both directions, and hostile
 * batches from a raw client, in-process and against a server in a child
 * process (a crash or a stall there shows as an exit or a missing reply).
 */
import { describe, expect, test } from 'vitest'
import { WebSocket } from 'ws'
import { service } from '@wirecall/core'
import { BATCH_MARKER, BATCH_OFFER, BATCH_PROTOCOL, BatchWriter, deliverBatch, isBatch } from '@wirecall/core/internal'
import type { Connection } from '../src/index.js'
import { decode, encode, startServer, until, urlOf, within } from './helpers.js'
import { startChildServer } from './child-harness.js'

/** A raw `ws` client that offers `protocols` and splits batches it receives into their frames. */
class BatchClient {
  readonly values: unknown[] = []
  readonly messages: Buffer[] = []
  private wake: (() => void) | undefined

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages.push(data)
      if (this.ws.protocol === BATCH_PROTOCOL && isBatch(data)) {
        deliverBatch(data, 1, (f) => (this.values.push(decode(f)), true), (reason) => this.values.push(new Error(reason)))
      } else this.values.push(decode(data))
      this.wake?.()
    })
    ws.on('error', () => {})
  }

  static open(url: string, protocols: readonly string[] = BATCH_OFFER): Promise<BatchClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, [...protocols], { perMessageDeflate: false })
      ws.once('open', () => resolve(new BatchClient(ws)))
      ws.once('error', reject)
    })
  }

  /** Send frames as one batch message (written by the same BatchWriter the ends use). */
  sendBatch(values: unknown[]): void {
    const writer = new BatchWriter((m) => this.ws.send(m), true, false)
    for (const v of values) writer.add(encode(v))
    writer.flush()
  }

  /** Wait until `n` values arrived in all (bounded). */
  async waitFor(n: number, ms = 5000): Promise<unknown[]> {
    const deadline = Date.now() + ms
    while (this.values.length < n) {
      if (Date.now() > deadline) throw new Error(`waited for ${n} values, got ${this.values.length}`)
      await new Promise<void>((resolve) => {
        this.wake = resolve
        setTimeout(resolve, 50)
      })
    }
    return this.values
  }

  /** add(3, 4) with a sentinel id answered: the connection is still served, after everything sent before it. */
  async sentinel(id = 4_000_000_000): Promise<void> {
    this.ws.send(encode([0, id, 'add', [3, 4]]))
    const deadline = Date.now() + 10_000
    while (!this.values.some((v) => Array.isArray(v) && v[1] === id)) {
      if (Date.now() > deadline) throw new Error('sentinel reply never came')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    expect(this.values.find((v) => Array.isArray(v) && v[1] === id)).toEqual([1, id, null, 7])
  }

  close(): void {
    this.ws.terminate()
  }
}

const api = service({ add: (a: number, b: number) => a + b })

describe('batches', () => {
  test('negotiated only when offered: a batch client gets wirecall.batch.v1, others what they asked for', async () => {
    const server = await startServer({ service: api, logger: { warn() {}, error() {} } })
    const batch = await BatchClient.open(urlOf(server))
    const plain = await BatchClient.open(urlOf(server), [])
    const own = await BatchClient.open(urlOf(server), ['mine'])
    expect([batch.ws.protocol, plain.ws.protocol, own.ws.protocol]).toEqual([BATCH_PROTOCOL, '', 'mine'])
    // Without batches, a 0xc1 message is just an undecodable frame.
    plain.ws.send(Uint8Array.of(BATCH_MARKER, 0xc4, 1, 0xc0))
    await plain.sentinel()
    for (const c of [batch, plain, own]) c.close()
  })

  test('serve({ batch: false }) never selects batches: a client offering them gets one frame per message', async () => {
    const server = await startServer({ service: api, batch: false })
    const client = await BatchClient.open(urlOf(server))
    expect(client.ws.protocol).toBe('wirecall.v1')
    // Ten calls in one tick: ten replies, each a message of its own.
    for (let i = 1; i <= 10; i++) client.ws.send(encode([0, i, 'add', [i, 1]]))
    const values = await client.waitFor(10)
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => [1, i + 1, null, i + 2]))
    expect(client.messages.length).toBe(10)
    expect(client.messages.some((m) => isBatch(m))).toBe(false)
    client.close()
    await expect(startServer({ service: api, batch: false, resume: true })).rejects.toThrow(/resume needs batches/)
  })

  test('requests in one batch are all answered, and the replies of one tick come back as one batch', async () => {
    const server = await startServer({ service: api })
    const client = await BatchClient.open(urlOf(server))
    client.sendBatch(Array.from({ length: 50 }, (_, i) => [0, i + 1, 'add', [i, 1]]))
    const values = await client.waitFor(50)
    expect(values).toEqual(Array.from({ length: 50 }, (_, i) => [1, i + 1, null, i + 1]))
    expect(client.messages.length).toBe(1)
    expect(isBatch(client.messages[0]!)).toBe(true)
    // A lone call is answered by a lone frame, not a batch.
    client.ws.send(encode([0, 99, 'add', [1, 1]]))
    await client.waitFor(51)
    expect(isBatch(client.messages[1]!)).toBe(false)
    client.close()
  })

  test('server pushes of one tick (notifications, callbacks) leave as one batch', async () => {
    const server = await startServer({ service: api })
    const client = await BatchClient.open(urlOf(server))
    await until(() => server.connections.size === 1)
    const conn = [...server.connections][0] as Connection<{ tick(n: number): void }>
    for (let i = 0; i < 20; i++) conn.notify.tick(i)
    const values = await client.waitFor(20)
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => [2, 'tick', [i]]))
    expect(client.messages.length).toBe(1)
    client.close()
  })

  test('malformed batches are counted and logged, the frames before the fault are answered, the socket stays served', async () => {
    const warnings: string[] = []
    const server = await startServer({ service: api, logger: { warn: (m: string) => warnings.push(m), error() {} } })
    const client = await BatchClient.open(urlOf(server))
    await until(() => server.connections.size === 1)
    const conn = [...server.connections][0]!
    const good = encode([0, 1, 'add', [1, 2]])
    client.ws.send(Uint8Array.from([BATCH_MARKER, 0xc4, good.length, ...good, 0xc6, 0xff, 0xff, 0xff, 0xff, 0]))
    client.ws.send(Uint8Array.of(BATCH_MARKER))
    await client.sentinel()
    expect(client.values[0]).toEqual([1, 1, null, 3])
    expect(conn.stats().malformedFrames).toBe(2)
    expect(warnings.some((w) => /claims 4294967295 bytes/.test(w))).toBe(true)
    client.close()
  })
})

describe('hostile batches against a server in a child process', () => {
  test('bad headers, huge length claims, nested batches and floods neither crash nor stall it', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const client = await BatchClient.open(child.url)
    expect(client.ws.protocol).toBe(BATCH_PROTOCOL)
    const hostile: Uint8Array[] = [
      Uint8Array.of(BATCH_MARKER),
      Uint8Array.of(BATCH_MARKER, BATCH_MARKER, BATCH_MARKER),
      Uint8Array.of(BATCH_MARKER, 0xc4),
      Uint8Array.of(BATCH_MARKER, 0xc5, 0xff),
      Uint8Array.of(BATCH_MARKER, 0xc6, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(BATCH_MARKER, 0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3),
      Uint8Array.of(BATCH_MARKER, 0xc4, 0, 0xc4, 0),
      Uint8Array.of(BATCH_MARKER, 0xdd, 0xff, 0xff, 0xff, 0xff), // an array32 header claiming 4 billion items
    ]
    // Nesting: batches wrapped in batches, 50 levels deep.
    let nested: Uint8Array = Uint8Array.of(BATCH_MARKER, 0xc4, 1, 0xc0)
    for (let i = 0; i < 50; i++) {
      const w: Uint8Array[] = []
      const writer = new BatchWriter((m) => w.push(m), true, false)
      writer.add(nested)
      writer.add(nested)
      writer.flush()
      if (w[0]!.length > 60_000) break
      nested = w[0]!
    }
    hostile.push(nested)
    // Random bytes after the marker.
    let seed = 7
    for (let i = 0; i < 200; i++) {
      const bytes = new Uint8Array(1 + (i % 64))
      bytes[0] = BATCH_MARKER
      for (let j = 1; j < bytes.length; j++) bytes[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24
      hostile.push(bytes)
    }
    for (const m of hostile) client.ws.send(m)
    await client.sentinel(4_000_000_001)
    // A flood: 256 KiB of the smallest items (one byte each, nil: malformed, never answered), ~87,000 frames.
    const flood = new Uint8Array(1 + 3 * 87_000)
    flood[0] = BATCH_MARKER
    for (let i = 1; i < flood.length; i += 3) flood.set([0xc4, 1, 0xc0], i)
    client.ws.send(flood)
    await client.sentinel(4_000_000_002)
    // A flood of real requests, answered under backpressure.
    client.sendBatch(Array.from({ length: 5000 }, (_, i) => [0, i + 1, 'add', [i, 1]]))
    await client.sentinel()
    const answered = client.values.filter((v) => Array.isArray(v) && v[0] === 1 && typeof v[1] === 'number' && v[1] <= 5000 && v[2] === null)
    expect(answered.length).toBe(5000)
    expect(child.isAlive()).toBe(true)
    const stats = await within(child.stats(), 10_000, 'child stats')
    expect(stats.connectionStats[0]!.malformedFrames).toBeGreaterThan(hostile.length)
    // Another client is served normally.
    const other = await BatchClient.open(child.url)
    await other.sentinel()
    other.close()
    client.close()
    const exit = await child.stop()
    expect(exit.code).toBe(0)
  }, 60_000)
})

describe('the Node client with batch: true', () => {
  test('offers batches; the frames of one tick leave as one message and all calls settle', async () => {
    const { WebSocketServer } = await import('ws')
    const { connect } = await import('../src/index.js')
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p: Set<string>) => (p.has(BATCH_PROTOCOL) ? BATCH_PROTOCOL : false) })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    const received: Buffer[] = []
    // A stand-in server: splits batches, answers add(a, b) for every request, one reply batch per message.
    wss.on('connection', (ws) => ws.on('message', (data: Buffer) => {
      received.push(data)
      const writer = new BatchWriter((m) => ws.send(m), true, false)
      const answer = (frame: Uint8Array) => {
        const [, id, , [a, b]] = decode(frame) as [number, number, string, [number, number]]
        writer.add(encode([1, id, null, a + b]))
        return true
      }
      if (isBatch(data)) deliverBatch(data, 1, answer, () => {})
      else answer(data)
      writer.flush()
    }))
    const port = (wss.address() as { port: number }).port
    const session = await connect<{ add(a: number, b: number): number }>(`ws://127.0.0.1:${port}`, { batch: true })
    try {
      const sums = await within(Promise.all(Array.from({ length: 50 }, (_, i) => session.remote.add(i, 1))), 5000, '50 calls')
      expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      expect(received.length).toBe(1)
      expect(isBatch(received[0]!)).toBe(true)
    } finally {
      await session.close()
      await new Promise((resolve) => wss.close(resolve))
    }
  })

  test('against a wirecall server: batches both ways, results intact', async () => {
    const { connect } = await import('../src/index.js')
    const server = await startServer({ service: api })
    const session = await connect<typeof api>(urlOf(server), { batch: true })
    try {
      expect(await Promise.all(Array.from({ length: 300 }, (_, i) => session.remote.add(i, i)))).toEqual(Array.from({ length: 300 }, (_, i) => 2 * i))
      expect(session.stats().malformedFrames).toBe(0)
    } finally {
      await session.close()
    }
  })

  test('replies too large for a batch, several in one tick, arrive intact (each is copied off the reused encode buffer)', async () => {
    const { connect } = await import('../src/index.js')
    const big = service({ text: (c: string) => c.repeat(100_000) })
    const server = await startServer({ service: big })
    const session = await connect<typeof big>(urlOf(server), { batch: true })
    try {
      // The requests arrive in one batch; the server encodes the three replies in one tick.
      const replies = await Promise.all(['a', 'b', 'c'].map((c) => session.remote.text(c)))
      expect(replies.map((r) => [r.length, new Set(r).size, r[0]])).toEqual([[100_000, 1, 'a'], [100_000, 1, 'b'], [100_000, 1, 'c']])
    } finally {
      await session.close()
    }
  })
})
