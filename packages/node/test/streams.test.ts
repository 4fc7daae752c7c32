/**
 * Streams over real sockets (127.0.0.1): results and uploads between the
 * Node client and server, large binary chunks written without copies,
 * every way a stream ends, a slow consumer, calls during a fast stream; and
 * hostile raw clients against a server in a child process (endless credit,
 * credit and data for streams that do not exist, more streams than the
 * limit, a client that never reads): the server must not crash or grow
 * without bound.
 */
import { describe, expect, test } from 'vitest'
import { ExtData as RawExt, decode as decodeRaw, encode as encodeRaw } from '@msgpack/msgpack'
import { AbortError, ConnectionClosedError, ErrorCode, RemoteStream, service, withContext, type CallContext } from '@wirecall/core'
import { MessageType } from '@wirecall/core/internal'
import { WebSocketTransport } from '../src/transport.js'
import { startChildServer, type ChildServer } from './child-harness.js'
import { RawClient, connectTo, sleep, startServer, until } from './helpers.js'

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of stream) out.push(item)
  return out
}

function endlessProducer(size = 0) {
  const state = { pulled: 0, finallyRan: false, reason: undefined as unknown }
  const chunk = new Uint8Array(size)
  const generate = withContext(async function* (ctx: CallContext) {
    ctx.signal.addEventListener('abort', () => (state.reason = ctx.signal.reason))
    try {
      for (;;) {
        state.pulled++
        yield size ? chunk : state.pulled - 1
      }
    } finally {
      state.finallyRan = true
    }
  })
  return { state, generate }
}

describe('streams between the Node client and server', () => {
  test('1,000,000 items arrive in order, none lost', async () => {
    const api = service({
      count: async function* (n: number) {
        for (let i = 0; i < n; i++) yield i
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    let expected = 0
    for await (const n of await client.remote.count(1_000_000)) {
      if (n !== expected) throw new Error(`item ${expected} arrived as ${n}`)
      expected++
    }
    expect(expected).toBe(1_000_000)
  }, 60_000)

  test('64 MiB of 64 KiB chunks: intact, in order, written by the server without copying them', async () => {
    const CHUNK = 64 * 1024
    const COUNT = 1024
    const chunks = Array.from({ length: 8 }, (_, k) => new Uint8Array(CHUNK).fill(k + 1))
    const api = service({
      blob: async function* () {
        for (let i = 0; i < COUNT; i++) yield chunks[i % 8]!
      },
    })
    // Count the parts that are the producer's own buffers: passed through, not copied into a frame.
    const passed = new Set<ArrayBufferLike>(chunks.map((c) => c.buffer))
    let passedThrough = 0
    const original = WebSocketTransport.prototype.sendParts
    WebSocketTransport.prototype.sendParts = function (this: WebSocketTransport, parts: readonly Uint8Array[]) {
      for (const part of parts) if (passed.has(part.buffer)) passedThrough++
      return original.call(this, parts)
    }
    try {
      const server = await startServer({ service: api })
      const client = await connectTo<typeof api>(server)
      let i = 0
      for await (const chunk of await client.remote.blob()) {
        if (chunk.byteLength !== CHUNK || chunk[0] !== (i % 8) + 1 || chunk[CHUNK - 1] !== (i % 8) + 1) throw new Error(`chunk ${i} is wrong`)
        i++
      }
      expect(i).toBe(COUNT)
      expect(passedThrough).toBe(COUNT)
    } finally {
      WebSocketTransport.prototype.sendParts = original
    }
  }, 60_000)

  test('an upload from the client: 16 MiB in 1 MiB chunks, and 10,000 small items', async () => {
    const api = service({
      size: async (chunks: AsyncIterable<Uint8Array>) => {
        let n = 0
        let sum = 0
        for await (const c of chunks) {
          n += c.byteLength
          sum = (sum + c[0]! + c[c.byteLength - 1]!) >>> 0
        }
        return [n, sum]
      },
      sum: async (items: AsyncIterable<number>) => {
        let total = 0
        for await (const n of items) total += n
        return total
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    async function* file() {
      for (let i = 0; i < 16; i++) yield new Uint8Array(1 << 20).fill(i)
    }
    expect(await client.remote.size(file())).toEqual([16 << 20, 2 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15)])
    async function* numbers() {
      for (let i = 1; i <= 10_000; i++) yield i
    }
    expect(await client.remote.sum(numbers())).toBe(50_005_000)
  })

  test('break after 10 items runs the server generator\'s finally; abort and errors reach the reader', async () => {
    const a = endlessProducer()
    const b = endlessProducer()
    const api = service({
      a: a.generate,
      b: b.generate,
      failing: async function* () {
        yield 1
        throw new RangeError('out of range at item 2')
      },
    })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const got: unknown[] = []
    for await (const n of await client.remote.a()) if (got.push(n) === 10) break
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    await until(() => a.state.finallyRan, 2000, 'the generator\'s finally')
    expect(a.state.reason).toBeInstanceOf(AbortError)

    const controller = new AbortController()
    const stream = await client.with({ signal: controller.signal }).remote.b()
    await stream.next()
    controller.abort()
    const aborted = await (async () => {
      try {
        for (;;) if ((await stream.next()).done) return 'done'
      } catch (err) {
        return err
      }
    })()
    expect(aborted).toBeInstanceOf(AbortError)
    await until(() => b.state.finallyRan, 2000, 'the aborted generator\'s finally')

    const items: number[] = []
    const failure = await (async () => {
      try {
        for await (const n of await client.remote.failing()) items.push(n)
      } catch (err) {
        return err as Error
      }
    })()
    expect(items).toEqual([1])
    expect(failure).toBeInstanceOf(RangeError)
    expect(failure?.message).toBe('out of range at item 2')
  })

  test('a dropped connection ends both sides with ConnectionClosedError', async () => {
    const { state, generate } = endlessProducer()
    const api = service({ generate })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const stream = await client.remote.generate()
    await stream.next()
    ;[...server.connections][0]!.terminate()
    const err = await (async () => {
      try {
        for (;;) if ((await stream.next()).done) return 'done'
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(ConnectionClosedError)
    await until(() => state.finallyRan, 2000, 'the producer to stop')
    expect(state.reason).toBeInstanceOf(ConnectionClosedError)
  })

  test('a consumer that stops reading: the producer stops within the credit, and the server writes no more than it', async () => {
    const { state, generate } = endlessProducer(1024)
    const api = service({ generate })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const stream = await client.remote.generate()
    for (let i = 0; i < 10; i++) await stream.next()
    await sleep(100)
    const pulled = state.pulled
    const conn = [...server.connections][0]!
    const written = conn.stats().bytesOut
    await sleep(300)
    expect(state.pulled).toBe(pulled)
    expect(pulled).toBeLessThanOrEqual(10 + 256)
    // What went onto the socket is the credit's worth of 1 KiB items (plus frame headers and the
    // call's answer), and nothing more while the reader stalls.
    expect(written).toBeLessThan((10 + 256) * 1100 + 16 * 1024)
    expect(conn.stats().bytesOut).toBe(written)
    expect(conn.stats().outgoingStreams).toBe(1)
    await stream.return()
    await until(() => state.finallyRan, 2000, 'the producer to stop')
  })

  test('calls stay quick while a fast 64 KiB stream fills the connection', async () => {
    const { state, generate } = endlessProducer(64 * 1024)
    const api = service({ generate, ping: () => 'pong' })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const stream = await client.remote.generate()
    let received = 0
    const reader = (async () => {
      for await (const _ of stream) if (++received >= 3000) break
    })()
    const latencies: number[] = []
    while (received < 2500) {
      const t = performance.now()
      expect(await client.remote.ping()).toBe('pong')
      latencies.push(performance.now() - t)
      await sleep(2)
    }
    await reader
    await until(() => state.finallyRan, 2000, 'the producer to stop')
    latencies.sort((x, y) => x - y)
    const p50 = latencies[Math.floor(latencies.length * 0.5)]!
    expect(latencies.length).toBeGreaterThan(10)
    // Starved calls would wait for the stream (seconds); these wait behind at most the transport's share
    // of queued stream data. Bounds loose enough for a busy 2-CPU machine.
    expect(p50).toBeLessThan(50)
    expect(latencies.at(-1)!).toBeLessThan(500)
  }, 30_000)

  test('a RemoteStream arrives as one, nested in a result', async () => {
    const api = service({ report: () => ({ title: 't', rows: (async function* () { yield 'r1'; yield 'r2' })() }) })
    const server = await startServer({ service: api })
    const client = await connectTo<typeof api>(server)
    const report = await client.remote.report()
    expect(report.rows).toBeInstanceOf(RemoteStream)
    expect(await collect(report.rows)).toEqual(['r1', 'r2'])
  })
})

// ------------------------------------------------------------------ hostile clients

/** The stream id of the ext 73 in a raw response's result. */
function streamIdOf(frameBytes: Uint8Array): number {
  const value = decodeRaw(frameBytes) as unknown[]
  const ext = value[3] as RawExt
  if (!(ext instanceof RawExt) || ext.type !== 73) throw new Error(`no stream in ${JSON.stringify(value)}`)
  const data = ext.data as Uint8Array
  return new DataView(data.buffer, data.byteOffset, 4).getUint32(0)
}

/** Call `method` raw and return the response frame's bytes. */
async function rawCall(raw: RawClient, id: number, method: string, params: unknown[]): Promise<Uint8Array> {
  raw.sendBytes(encodeRaw([0, id, method, params]))
  for (;;) {
    const frame = await raw.next(5000)
    if (!frame.binary) continue
    const value = decodeRaw(frame.bytes) as unknown[]
    if (value[0] === 1 && value[1] === id) return frame.bytes
  }
}

const MiB = 1024 * 1024

async function heapOf(child: ChildServer): Promise<number> {
  const stats = await child.gc()
  return stats.memory.heapUsed + stats.memory.external + stats.memory.arrayBuffers
}

interface StreamCounters { pulled: number; running: number; finished: number; stalledUploads: number }

async function counters(raw: RawClient, id: number): Promise<StreamCounters> {
  return (decodeRaw(await rawCall(raw, id, 'streamCounters', [])) as unknown[])[3] as StreamCounters
}

/** Ask the child for its stream counters until `ready` holds (5 s at most). */
async function untilCounters(observer: RawClient, ready: (c: StreamCounters) => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (ready(await counters(observer, 5000 + i))) return
    await sleep(20)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The messages of one kind the server sent `raw` so far, decoded. */
function received(raw: RawClient, type: number): unknown[][] {
  return raw.frames.flatMap((f) => (f.binary ? [decodeRaw(f.bytes) as unknown[]] : [])).filter((m) => m[0] === type)
}

describe('hostile clients against a server in a child process', () => {
  test('a client that grants endless credit and never reads: the producer stops at the congested socket; the server stays bounded', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const observer = await RawClient.open(child.url)
    const raw = await RawClient.open(child.url)
    const baseline = await heapOf(child)
    const sid = streamIdOf(await rawCall(raw, 1, 'endless', [1024]))
    // Stop reading the socket, then grant without end.
    raw.socket.pause()
    for (let i = 0; i < 10_000; i++) raw.sendBytes(encodeRaw([MessageType.STREAM_CREDIT, sid, 0xffff_ffff, 0xffff_ffff]))
    await sleep(1000)
    const first = await counters(observer, 100)
    await sleep(500)
    const second = await counters(observer, 101)
    // Stalled: the producer waits for a socket that does not drain.
    expect(second.pulled).toBe(first.pulled)
    expect(second.running).toBe(1)
    // What it pulled is what the socket and the kernel took (2 MiB pause threshold + kernel buffers), not more.
    expect(first.pulled * 1024).toBeLessThan(64 * MiB)
    expect(child.isAlive()).toBe(true)
    expect((await heapOf(child)) - baseline).toBeLessThan(48 * MiB)
    const conn = (await child.stats()).connectionStats.find((c) => c.outgoingStreams === 1)
    expect(conn).toBeDefined()
    // The client goes away: the producer's finally runs, nothing is left.
    await raw.terminate()
    for (let i = 0; i < 100; i++) {
      if ((await counters(observer, 200 + i)).running === 0) break
      await sleep(20)
    }
    expect((await counters(observer, 400)).finished).toBe(1)
    expect((await child.stats()).connectionStats.every((c) => c.outgoingStreams === 0 && c.incomingStreams === 0)).toBe(true)
  }, 30_000)

  test('a client that stops reading, then reads again: the stalled producer goes on once the socket drains', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const observer = await RawClient.open(child.url)
    const raw = await RawClient.open(child.url)
    const sid = streamIdOf(await rawCall(raw, 1, 'endless', [1024]))
    raw.socket.pause()
    for (let i = 0; i < 10_000; i++) raw.sendBytes(encodeRaw([MessageType.STREAM_CREDIT, sid, 0xffff_ffff, 0xffff_ffff]))
    await sleep(500)
    const stalled = await counters(observer, 100)
    await sleep(200)
    expect((await counters(observer, 101)).pulled).toBe(stalled.pulled)
    // Reading again drains the server's socket: its 'drain' wakes the stream's turn.
    raw.socket.resume()
    let pulled = stalled.pulled
    for (let i = 0; i < 100 && pulled <= stalled.pulled; i++) {
      await sleep(20)
      pulled = (await counters(observer, 200 + i)).pulled
    }
    expect(pulled).toBeGreaterThan(stalled.pulled)
    expect(child.isAlive()).toBe(true)
    await raw.terminate()
  }, 30_000)

  test('credit for unknown streams, data and ends for streams never opened: ignored, nothing grows', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const raw = await RawClient.open(child.url)
    const baseline = await heapOf(child)
    const big = new Uint8Array(60_000)
    for (let i = 0; i < 20_000; i++) {
      raw.sendBytes(encodeRaw([MessageType.STREAM_CREDIT, 1 + (i * 7919) % 0xfffff, 0xffff_ffff, 0xffff_ffff]))
      raw.sendBytes(encodeRaw([MessageType.STREAM_END, i, { name: 'Error', message: 'x', code: 'X' }]))
      raw.sendBytes(encodeRaw([MessageType.STREAM_CANCEL, i]))
      if (i % 20 === 0) raw.sendBytes(encodeRaw([MessageType.STREAM_DATA, i, [big, 'x', { y: 1 }]]))
    }
    expect((decodeRaw(await rawCall(raw, 1, 'add', [3, 4])) as unknown[])[3]).toBe(7)
    const stats = await child.stats()
    expect(stats.connectionStats[0]).toMatchObject({ outgoingStreams: 0, incomingStreams: 0, malformedFrames: 0 })
    expect((await heapOf(child)) - baseline).toBeLessThan(16 * MiB)
    expect(child.isAlive()).toBe(true)
  }, 30_000)

  test('more streams than maxOpenStreams, both ways: refused with OverloadedError, the connection goes on', async () => {
    const child = await startChildServer({ logger: 'silent', limits: { maxOpenStreams: 8 } })
    const raw = await RawClient.open(child.url)
    // Results: the server produces at most 8 streams for this client (none read), the ninth call is refused.
    for (let i = 1; i <= 8; i++) streamIdOf(await rawCall(raw, i, 'endless', [16]))
    const ninth = decodeRaw(await rawCall(raw, 9, 'endless', [16])) as [number, number, { name: string; code: string; message: string }, unknown]
    expect(ninth[2]).toMatchObject({ name: 'OverloadedError', code: ErrorCode.OVERLOADED })
    expect(ninth[2].message).toMatch(/maxOpenStreams = 8/)
    // Uploads: a request carrying more streams than the server reads at once is refused whole.
    const uploads = Array.from({ length: 9 }, (_, k) => new RawExt(73, new Uint8Array([0, 0, 0, k + 1])))
    const refused = decodeRaw(await rawCall(raw, 10, 'drain', [uploads])) as [number, number, { name: string; message: string }, unknown]
    expect(refused[2]).toMatchObject({ name: 'OverloadedError' })
    expect(refused[2].message).toMatch(/too many open streams from the peer \(limit maxOpenStreams = 8\)/)
    // The refused streams were cancelled back to us.
    const cancelled = () => raw.frames.flatMap((f) => (f.binary ? [decodeRaw(f.bytes) as unknown[]] : [])).filter((m) => m[0] === MessageType.STREAM_CANCEL).map((m) => m[1])
    await until(() => cancelled().length === 9, 2000, 'cancels for the refused uploads')
    expect(cancelled().sort((x, y) => Number(x) - Number(y))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect((decodeRaw(await rawCall(raw, 11, 'add', [1, 1])) as unknown[])[3]).toBe(2)
    const stats = await child.stats()
    expect(stats.connectionStats[0]).toMatchObject({ outgoingStreams: 8, incomingStreams: 0 })
    expect(child.isAlive()).toBe(true)
  }, 30_000)

  test('uploads to handlers that stopped reading: the server holds at most the credit per stream, data past it fails the stream', async () => {
    const WINDOW_BYTES = 256 * 1024
    const UPLOADS = 32
    const child = await startChildServer({ logger: 'silent', limits: { maxStreamBufferBytes: WINDOW_BYTES } })
    const observer = await RawClient.open(child.url)
    const raw = await RawClient.open(child.url)
    const baseline = await heapOf(child)
    // 32 calls, each uploading a stream whose handler reads one item, then stops reading.
    const sids = Array.from({ length: UPLOADS }, (_, i) => i + 1)
    for (const sid of sids) raw.sendBytes(encodeRaw([0, sid, 'stallUpload', [new RawExt(73, new Uint8Array([0, 0, 0, sid]))]]))
    await until(() => received(raw, MessageType.STREAM_CREDIT).length === UPLOADS, 5000, 'credit for every upload')
    for (const credit of received(raw, MessageType.STREAM_CREDIT)) expect(credit.slice(2)).toEqual([256, WINDOW_BYTES])
    const chunk = new Uint8Array(64 * 1024).fill(7)
    // Per upload: the item the handler reads, then the whole byte credit (the last frame overshoots it, as allowed).
    for (const sid of sids) {
      raw.sendBytes(encodeRaw([MessageType.STREAM_DATA, sid, ['first']]))
      for (let i = 0; i < WINDOW_BYTES / chunk.length; i++) raw.sendBytes(encodeRaw([MessageType.STREAM_DATA, sid, [chunk]]))
    }
    await untilCounters(observer, (c) => c.stalledUploads === UPLOADS, 'every handler to read its first item')
    await sleep(200)
    const held = (await heapOf(child)) - baseline
    // What the server holds is the credit it granted (32 x 256 KiB = 8 MiB), plus one frame each at most.
    expect(held).toBeLessThan(UPLOADS * (WINDOW_BYTES + chunk.length) + 8 * MiB)
    expect(received(raw, MessageType.STREAM_CANCEL)).toEqual([])
    // Past the credit: each stream fails (the server cancels it) and its queue is dropped.
    for (const sid of sids) for (let i = 0; i < 8; i++) raw.sendBytes(encodeRaw([MessageType.STREAM_DATA, sid, [chunk]]))
    await until(() => received(raw, MessageType.STREAM_CANCEL).length === UPLOADS, 5000, 'a cancel for every upload')
    expect(received(raw, MessageType.STREAM_CANCEL).map((m) => m[1]).sort((x, y) => Number(x) - Number(y))).toEqual(sids)
    expect((await child.stats()).connectionStats.every((c) => c.incomingStreams === 0)).toBe(true)
    expect((await heapOf(child)) - baseline).toBeLessThan(8 * MiB)
    // The calls go on until cancelled; the connection still answers.
    expect((decodeRaw(await rawCall(raw, 1000, 'add', [2, 3])) as unknown[])[3]).toBe(5)
    for (const sid of sids) raw.sendBytes(encodeRaw([MessageType.CANCEL, sid]))
    await untilCounters(observer, (c) => c.stalledUploads === 0, 'the handlers to see their cancel')
    expect(child.isAlive()).toBe(true)
  }, 30_000)

  test('a client that opens many streams, grants credit for all and never reads: bounded, and all end when it leaves', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const observer = await RawClient.open(child.url)
    const raw = await RawClient.open(child.url)
    const baseline = await heapOf(child)
    const sids: number[] = []
    for (let i = 1; i <= 100; i++) sids.push(streamIdOf(await rawCall(raw, i, 'endless', [4096])))
    raw.socket.pause()
    for (const sid of sids) raw.sendBytes(encodeRaw([MessageType.STREAM_CREDIT, sid, 256, MiB]))
    await sleep(1000)
    const stalled = await counters(observer, 1000)
    await sleep(300)
    expect((await counters(observer, 1001)).pulled).toBe(stalled.pulled)
    expect(stalled.running).toBe(100)
    expect((await heapOf(child)) - baseline).toBeLessThan(64 * MiB)
    await raw.terminate()
    for (let i = 0; i < 100; i++) {
      if ((await counters(observer, 1100 + i)).running === 0) break
      await sleep(20)
    }
    expect((await counters(observer, 1300)).running).toBe(0)
    expect(child.isAlive()).toBe(true)
  }, 30_000)
})

// A client session without the `streams` option (what a page that does not pass it is) against a server
// that streams: the call fails with a clear error, and the server's producer is cancelled at once.
describe('a client without stream support, against a server in a child process', () => {
  test('500 stream results (100 at a time): each call rejects with STREAMS_NOT_ENABLED, no producer is pulled or kept, the server goes on', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const observer = await RawClient.open(child.url)
    const client = await connectTo<{ endless(size: number): Promise<AsyncIterable<Uint8Array>>; add(a: number, b: number): Promise<number> }>(
      child.url, { streams: undefined },
    )
    const before = await counters(observer, 1)
    // Five rounds of 100 concurrent calls: 500 streams in all, past the server's maxOpenStreams (256),
    // so the later rounds are refused with OverloadedError unless the cancels freed the earlier ones.
    const refusals: (Error & { code?: string } | undefined)[] = []
    for (let round = 0; round < 5; round++) {
      refusals.push(...await Promise.all(Array.from({ length: 100 }, () => client.remote.endless(1024).then(
        () => undefined,
        (err: unknown) => err as Error & { code?: string },
      ))))
      await sleep(50)
    }
    for (const err of refusals) {
      expect(err?.code).toBe(ErrorCode.STREAMS_NOT_ENABLED)
      expect(err?.message).toMatch(/pass `streams`/)
    }
    // The cancels reached the server: it forgets every stream, and none of the generators ever ran.
    for (let i = 0; i < 100; i++) {
      if ((await child.stats()).connectionStats.every((c) => c.outgoingStreams === 0)) break
      await sleep(20)
    }
    expect((await child.stats()).connectionStats.every((c) => c.outgoingStreams === 0)).toBe(true)
    expect(await counters(observer, 2)).toEqual(before)
    expect(await client.remote.add(2, 3)).toBe(5)
    expect(client.stats()).toMatchObject({ pendingCalls: 0, incomingStreams: 0 })
    expect(child.isAlive()).toBe(true)
  }, 30_000)
})

// A JSON-RPC client and a plain msgpack-rpc client calling a streaming method against a real server.
describe('peers that do not speak streams, over a real socket', () => {
  test('msgpack-rpc: a clear error in the error slot; JSON-RPC: -32000 with data.code', async () => {
    const api = service({ count: async function* () { yield 1 } })
    const server = await startServer({ service: api })
    const raw = await RawClient.open(`ws://127.0.0.1:${server.port}`)
    const response = decodeRaw(await rawCall(raw, 1, 'count', [])) as [number, number, { code: string; message: string }, unknown]
    expect(response[2].code).toBe('WIRECALL_STREAM_RESULT')
    expect(response[2].message).toMatch(/only a wirecall peer can read/)
    raw.sendText(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'count', params: [] }))
    let text: { id: number; error: { code: number; data: { code: string } } } | undefined
    for (;;) {
      const frame = await raw.next()
      if (!frame.binary) {
        text = frame.value as typeof text
        break
      }
    }
    expect(text).toMatchObject({ id: 7, error: { code: -32000, data: { code: 'WIRECALL_STREAM_RESULT' } } })
  })
})
