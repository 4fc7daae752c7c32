/**
 * Hostile and broken input from a raw `ws` client: the server answers with
 * a ProtocolError when it can read a request id, ignores (and counts) the
 * rest, keeps serving the same client where the socket survives, and never
 * lets one client's garbage reach another.
 */
import { describe, expect, test } from 'vitest'
import { LOG_RATE, service } from '@wirecall/core'
import type { Connection, WirecallServer } from '../src/index.js'
import { RawClient, capture, connectTo, encode, startServer, until, urlOf, within, type CapturingLogger } from './helpers.js'

const api = service({
  add: (a: number, b: number) => a + b,
  len: (bytes: Uint8Array) => bytes.byteLength,
})

async function setup(limits?: { maxFrameBytes: number }): Promise<{ server: WirecallServer; raw: RawClient; conn: Connection; logger: CapturingLogger }> {
  const logger = capture()
  const server = await startServer({ service: api, logger, ...(limits ? { limits } : {}) })
  const raw = await RawClient.open(urlOf(server))
  await until(() => server.connections.size === 1)
  const conn = [...server.connections][0]!
  return { server, raw, conn, logger }
}

/** Send a sentinel request and return every frame that arrived before its reply (the server handles frames in order). */
async function repliesUntilSentinel(raw: RawClient, sentinelId = 4_000_000_000): Promise<unknown[][]> {
  raw.send([0, sentinelId, 'add', [3, 4]])
  const before: unknown[][] = []
  for (let i = 0; i < 10_000; i++) {
    const value = await raw.nextValue()
    if (!Array.isArray(value)) throw new Error(`non-array frame from the server: ${String(value)}`)
    if (value[0] === 1 && value[1] === sentinelId) {
      expect(value).toEqual([1, sentinelId, null, 7]) // the same socket is still served
      return before
    }
    before.push(value)
  }
  throw new Error('sentinel reply never came')
}

function expectProtocolErrorReply(reply: unknown[], id: number): void {
  expect(reply[0]).toBe(1)
  expect(reply[1]).toBe(id)
  expect(reply[2]).toMatchObject({ name: 'ProtocolError', code: 'WIRECALL_PROTOCOL_ERROR' })
  expect(reply[3]).toBe(null)
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('malformed frames', () => {
  test('random bytes: only ProtocolError replies, counted, logs capped, socket still served', async () => {
    const { raw, conn, logger } = await setup()
    const random = prng(42)
    const count = 300
    for (let i = 0; i < count; i++) {
      const bytes = new Uint8Array((i % 4 === 0 ? 3 : 1) + Math.floor(random() * 48))
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256)
      // Every fourth frame looks like the start of a request, to exercise the id peek.
      if (i % 4 === 0) bytes.set([0x94, 0x00, i & 0x7f], 0)
      raw.sendBytes(bytes)
    }
    const replies = await repliesUntilSentinel(raw)
    expect(replies.length).toBeGreaterThan(0)
    for (const reply of replies) expectProtocolErrorReply(reply, reply[1] as number)
    expect(conn.stats().malformedFrames).toBeGreaterThan(count / 2)
    expect(conn.stats().inFlightCalls).toBe(0)
    // Logs are rate-limited per connection (LOG_RATE: 20 lines per 10 s); the rest are only counted.
    expect(logger.warnings.filter((w) => String(w[0]).includes('malformed')).length).toBe(LOG_RATE.lines)
  })

  test('wrong array shapes: answered when the id is readable, otherwise ignored and counted', async () => {
    const { raw, conn } = await setup()
    const answered: [number, unknown][] = [
      [5, [0, 5, 'add']], // too short
      [6, [0, 6, 'add', 'not-an-array']], // params not an array
      [7, [0, 7, 42, []]], // method not a string
      [8, [0, 8, '', []]], // empty method
    ]
    const ignored: unknown[] = [
      [0, 'nine', 'add', [1, 2]], // id not a number
      [0, -1, 'add', [1, 2]], // negative id
      [0, 1.5, 'add', [1, 2]], // fractional id
      [], // empty array
      { a: 1 }, // a map
      'just a string',
      null,
      [1, 5], // response too short
      [2, 'add'], // notification without params
      [2, 42, []], // notification method not a string
      [3], // cancel without id
      [4, 'x'], // release list not an array
      [4, [1]], // release list of odd length
    ]
    for (const [, frame] of answered) raw.send(frame)
    for (const frame of ignored) raw.send(frame)
    const replies = await repliesUntilSentinel(raw)
    expect(replies.map((r) => r[1])).toEqual(answered.map(([id]) => id))
    replies.forEach((reply, i) => expectProtocolErrorReply(reply, answered[i]![0]))
    expect(conn.stats().malformedFrames).toBe(answered.length + ignored.length)
  })

  test('unknown message types: ProtocolError when a msgid sits at position 1, else ignored', async () => {
    const { raw, conn } = await setup()
    raw.send([9, 11, 'x']) // 5 to 8 are stream messages (docs/protocol.md)
    raw.send([99])
    raw.send(['zero', 12, 'add', [1, 2]])
    raw.send([5, 'no-id'])
    raw.send([-1, 13])
    const replies = await repliesUntilSentinel(raw)
    expect(replies.map((r) => r[1])).toEqual([11, 12, 13])
    for (const reply of replies) expectProtocolErrorReply(reply, reply[1] as number)
    expect(conn.stats().malformedFrames).toBe(5)
  })

  test('huge ids: uint32 max is a valid id, anything above is ignored', async () => {
    const { raw, conn } = await setup()
    raw.send([0, 0xffff_ffff, 'add', [1, 2]])
    expect(await raw.nextValue()).toEqual([1, 0xffff_ffff, null, 3])
    raw.send([0, 0x1_0000_0000, 'add', [1, 2]])
    raw.send([0, Number.MAX_SAFE_INTEGER, 'add', [1, 2]])
    // uint64 and int64 ids written by hand: 0xcf / 0xd3 markers.
    const tail = [0xa3, 0x61, 0x64, 0x64, 0x92, 0x01, 0x02] // "add", [1, 2]
    raw.sendBytes([0x94, 0x00, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...tail])
    raw.sendBytes([0x94, 0x00, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, ...tail])
    // A response to an id this server never used is dropped (counted as late).
    raw.send([1, 0xffff_ffff, null, 1])
    expect(await repliesUntilSentinel(raw)).toEqual([])
    expect(conn.stats().malformedFrames).toBe(4)
    expect(conn.stats().lateReplies).toBe(1)
  })

  test('length headers claiming billions of elements are refused without allocating', async () => {
    const { raw, conn } = await setup()
    const before = process.memoryUsage().rss
    raw.sendBytes([0xdd, 0xff, 0xff, 0xff, 0xff]) // array32 of 4,294,967,295 elements, nothing else
    raw.sendBytes([0xdf, 0xff, 0xff, 0xff, 0xff]) // map32
    raw.sendBytes([0xdb, 0xff, 0xff, 0xff, 0xff]) // str32
    raw.sendBytes([0xc6, 0xff, 0xff, 0xff, 0xff]) // bin32
    raw.sendBytes([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x2a]) // array32 header, then "0, msgid 42"
    raw.sendBytes([0xdc, 0xff, 0xff, 0x00, 0x2b]) // array16 of 65535, then "0, msgid 43"
    // A well-formed request head whose params claim 4 billion elements.
    raw.sendBytes([0x94, 0x00, 0x2c, 0xa3, 0x61, 0x64, 0x64, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])
    // The same with a uint32 msgid.
    raw.sendBytes([0x94, 0x00, 0xce, 0x00, 0x01, 0x00, 0x00, 0xa3, 0x61, 0x64, 0x64, 0xdd, 0xff, 0xff, 0xff, 0xff])
    const replies = await repliesUntilSentinel(raw)
    expect(replies.map((r) => r[1])).toEqual([42, 43, 44, 0x10000])
    for (const reply of replies) expectProtocolErrorReply(reply, reply[1] as number)
    expect(conn.stats().malformedFrames).toBe(8)
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024)
  })

  test('undecodable extension values and dangling references', async () => {
    const { raw, conn } = await setup()
    // [0, 60, "add", [<ext 66: "your own reference #999">]]: it was never exported.
    raw.sendBytes([0x94, 0x00, 0x3c, 0xa3, 0x61, 0x64, 0x64, 0x91, 0xd6, 66, 0, 0, 0x03, 0xe7])
    // A reference id of the wrong width.
    raw.sendBytes([0x94, 0x00, 0x3d, 0xa3, 0x61, 0x64, 0x64, 0x91, 0xd5, 64, 0, 1])
    // A malformed BigInt.
    raw.sendBytes([0x94, 0x00, 0x3e, 0xa3, 0x61, 0x64, 0x64, 0x91, 0xc7, 0x03, 67, 0xa2, 0x31, 0x78])
    // Calls to references that do not exist.
    raw.send([0, 63, '#999', []])
    raw.send([0, 64, '#abc.add', [1, 2]])
    raw.send([0, 65, '#', []])
    // Cancel and release for things that do not exist: ignored silently.
    raw.send([3, 12345])
    raw.send([4, [999, 1]])
    const replies = await repliesUntilSentinel(raw)
    expect(replies.map((r) => r[1])).toEqual([60, 61, 62, 63, 64, 65])
    // A handed-back reference that was never exported is refused as what it is.
    expect(replies[0]![2]).toMatchObject({ name: 'ReferenceReleasedError', code: 'WIRECALL_REFERENCE_RELEASED' })
    for (const reply of replies.slice(1, 3)) expectProtocolErrorReply(reply, reply[1] as number)
    for (const reply of replies.slice(3)) expect(reply[2]).toMatchObject({ code: 'WIRECALL_REFERENCE_RELEASED' })
    expect(conn.stats().malformedFrames).toBe(3)
    expect(conn.stats().exportedRefs + conn.stats().importedRefs).toBe(0)
  })

  test('garbage on one connection never disturbs another client', async () => {
    const { server, raw } = await setup()
    const client = await connectTo<typeof api>(server)
    const random = prng(7)
    const calls: Promise<number>[] = []
    for (let i = 0; i < 200; i++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 32))
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256)
      raw.sendBytes(bytes)
      raw.sendText('{ not json')
      calls.push(client.remote.add(i, 1))
    }
    const results = await within(Promise.all(calls), 5000, 'the good client')
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    // The garbage sender is still served too: each bad text frame got a JSON-RPC error, then the sentinel.
    raw.send([0, 999, 'add', [3, 4]])
    let textErrors = 0
    for (let i = 0; i < 1000; i++) {
      const frame = await raw.next()
      if (!frame.binary) {
        expect(frame.value).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { code: 'WIRECALL_PROTOCOL_ERROR' } } })
        textErrors++
      } else if ((frame.value as unknown[])[1] === 999) {
        expect(frame.value).toEqual([1, 999, null, 7])
        break
      }
    }
    expect(textErrors).toBe(200)
    expect(client.stats().malformedFrames).toBe(0)
  })
})

describe('frames beyond limits.maxFrameBytes', () => {
  const maxFrameBytes = 100_000

  test('a frame of exactly maxFrameBytes is served; one byte more closes that socket with 1009', async () => {
    const { server, raw } = await setup({ maxFrameBytes })
    const overhead = encode([0, 1, 'len', [new Uint8Array(70_000)]]).byteLength - 70_000
    const fits = maxFrameBytes - overhead
    const exact = encode([0, 1, 'len', [new Uint8Array(fits)]])
    expect(exact.byteLength).toBe(maxFrameBytes)
    raw.sendBytes(exact)
    expect(await raw.nextValue()).toEqual([1, 1, null, fits])

    const other = await connectTo<typeof api>(server)
    raw.sendBytes(encode([0, 2, 'len', [new Uint8Array(fits + 1)]]))
    const closed = await within(raw.closed, 2000, 'close of the offending socket')
    expect(closed.code).toBe(1009)
    await until(() => server.connections.size === 1, 2000, 'offending connection removed')
    // Everyone else is still served.
    expect(await other.remote.add(3, 4)).toBe(7)
  })

  test('an oversize text frame closes that socket with 1009 too', async () => {
    const { server, raw } = await setup({ maxFrameBytes })
    raw.sendText(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'add', params: ['x'.repeat(maxFrameBytes), 1] }))
    expect((await within(raw.closed, 2000, 'close')).code).toBe(1009)
    const other = await connectTo<typeof api>(server)
    expect(await other.remote.add(1, 1)).toBe(2)
  })

  test('a wirecall client sending too much gets ConnectionClosedError naming the cause', async () => {
    const server = await startServer({ service: api, limits: { maxFrameBytes } })
    const client = await connectTo<typeof api>(server)
    const err = await client.remote.len(new Uint8Array(maxFrameBytes)).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'WIRECALL_CONNECTION_CLOSED' })
    expect((err as Error).message).toMatch(/1009/)
    const again = await connectTo<typeof api>(server)
    expect(await again.remote.len(new Uint8Array(1000))).toBe(1000)
  })
})
