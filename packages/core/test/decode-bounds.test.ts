/**
 * What a hostile frame can make the decoder do: nesting is bounded through
 * every container and every extension (Map, Set, Error, user types), the
 * memory a frame decodes into is bounded by `maxDecodeExpansion` times its
 * size, and no declared length is ever allocated before its bytes are there.
 * Every refusal is a clean error (a `ProtocolError` for the peer), never a
 * stack overflow, a hang or a huge allocation.
 */
import { describe, expect, test } from 'vitest'
import { DecodeError, DEFAULT_LIMITS, ExtData, service, type ValueType } from '../src/index.js'
import { ExtType, MessageType, MsgpackCodec } from '../src/internal.js'
import { MAX_DEPTH } from '../src/msgpack.js'
import { Writer } from '../src/msgpack-encode.js'
import { EXPANSION_FLOOR_BYTES } from '../src/msgpack-decode.js'
import { encodeRaw, pair, sentMessages, settle } from './harness.js'

class Box {
  constructor(readonly inner: unknown) {}
}
const boxType: ValueType<Box, [unknown]> = { type: 7, class: Box, encode: (b) => [b.inner], decode: ([inner]) => new Box(inner) }
const codec = new MsgpackCodec([boxType as ValueType])
const MAX = 1 << 30
const decode = (frame: Uint8Array, maxExpansion?: number) => codec.decode(frame, undefined, MAX, maxExpansion)

/** Raw msgpack (extensions passed through as given), to write frames our encoder would refuse. */
const raw = new Writer(((v: unknown) => (v instanceof ExtData ? v : null)) as never)

/**
 * `levels` extensions of `type`, each one's payload `prefix` followed by the next,
 * down to the integer 1. Written top-down in one pass (ext 32 headers), so
 * 100,000 levels cost linear time to build.
 */
function nestedExtensions(type: number, prefix: number[], levels: number): Uint8Array {
  const out = new Uint8Array(levels * (6 + prefix.length) + 1)
  const view = new DataView(out.buffer)
  let at = 0
  for (let level = levels; level > 0; level--) {
    out[at] = 0xc9
    view.setUint32(at + 1, out.length - at - 6)
    view.setInt8(at + 5, type)
    out.set(prefix, at + 6)
    at += 6 + prefix.length
  }
  out[at] = 0x01
  return out
}

/** `[items...]` where `item` is repeated `count` times: an array 32 header and the items' bytes. */
function arrayOf(item: number[], count: number): Uint8Array {
  const out = new Uint8Array(5 + item.length * count)
  out[0] = 0xdd
  new DataView(out.buffer).setUint32(1, count)
  for (let i = 0; i < count; i++) out.set(item, 5 + i * item.length)
  return out
}

const str = (s: string) => [0xa0 | s.length, ...new TextEncoder().encode(s)]
const kinds: [string, number, number[]][] = [
  ['Map', ExtType.MAP, [0x92, 0x01]], // [1, <next>]
  ['Set', ExtType.SET, [0x91]], // [<next>]
  ['Error', ExtType.ERROR, [0x83, ...str('name'), ...str('E'), ...str('message'), ...str('m'), ...str('data')]], // {name, message, data: <next>}
  ['a user type', boxType.type, [0x91]], // Box([<next>])
]

describe('depth is bounded through extension payloads', () => {
  test.each(kinds)('%s nested 60 times (two levels each: extension and payload) is refused', (_name, type, prefix) => {
    expect(() => decode(nestedExtensions(type, prefix, 60))).toThrow(DecodeError)
    expect(() => decode(nestedExtensions(type, prefix, 60))).toThrow(`nested deeper than ${MAX_DEPTH}`)
  })

  test.each(kinds)('%s nested 100,000 times fails cleanly, not with a stack overflow', (_name, type, prefix) => {
    const frame = nestedExtensions(type, prefix, 100_000)
    expect(() => decode(frame)).toThrow(`nested deeper than ${MAX_DEPTH}`)
  })

  test('arrays and maps inside payloads count toward the same depth', () => {
    // 40 arrays, a Set, 40 arrays, a Set, 40 arrays: 120 levels with no run longer than 41.
    const arrays = (inner: unknown) => { let v = inner; for (let i = 0; i < 40; i++) v = [v]; return v }
    const set = (inner: unknown) => new ExtData(ExtType.SET, raw.encode([inner]))
    const frame = raw.encode(arrays(set(arrays(set(arrays(1))))))
    expect(() => decode(frame)).toThrow(`nested deeper than ${MAX_DEPTH}`)
  })

  test('map keys are read at depth too', () => {
    const frame = new Uint8Array([...Array.from({ length: MAX_DEPTH + 5 }, () => 0x81), 0x01, ...Array.from({ length: MAX_DEPTH + 5 }, () => 0x01)])
    expect(() => decode(frame)).toThrow(/nested deeper|map key/)
  })

  test('the encoder refuses what the decoder would refuse, and the decoder takes what the encoder writes', () => {
    const maps = (levels: number) => { let v: unknown = 1; for (let i = 0; i < levels; i++) v = new Map([[1, v]]); return v }
    // A Map at depth d holds its entries at d + 2; the innermost 1 of n Maps is at depth 2n.
    expect(decode(codec.encode(maps(MAX_DEPTH / 2), undefined))).toEqual(maps(MAX_DEPTH / 2))
    expect(() => codec.encode(maps(MAX_DEPTH / 2 + 1), undefined)).toThrow(/nested deeper/)
    expect(() => codec.encode(new Box(maps(1000)), undefined)).toThrow(/nested deeper/)
    const error = (levels: number) => { let e = new Error('leaf'); for (let i = 0; i < levels; i++) e = Object.assign(new Error('e'), { inner: e }); return e }
    expect(() => codec.encode(error(1000), undefined)).toThrow(/nested deeper/)
  })
})

describe('the memory a frame decodes into is bounded (maxDecodeExpansion)', () => {
  const size = 256 * 1024 // four times the floor
  const hostile: [string, number[]][] = [
    ['empty arrays', [0x90]],
    ['empty maps', [0x80]],
    ['empty binaries', [0xc4, 0x00]],
    ['one-byte extensions', [0xd4, 0x05, 0x00]],
    ['invalid Dates', [0xd4, ExtType.INVALID_DATE, 0x00]],
    ['empty Sets', [0xd4, ExtType.SET, 0x90]],
    // 14 bytes each, but an Error object with its stack holds ~800 bytes.
    ['Error values', [0xc7, 11, ExtType.ERROR, 0x81, ...str('message'), ...str('x')]],
  ]

  test.each(hostile)('a 256 KiB frame of %s is refused', (_name, item) => {
    const frame = arrayOf(item, Math.floor(size / item.length))
    expect(() => decode(frame)).toThrow(DecodeError)
    expect(() => decode(frame)).toThrow(/maxDecodeExpansion/)
  })

  test('extension payloads spend the same budget as the frame around them', () => {
    // One Set holding 256 Ki empty arrays: the payload alone is over budget.
    const payload = arrayOf([0x90], size)
    const frame = raw.encode([new ExtData(ExtType.SET, payload)])
    expect(() => decode(frame)).toThrow(/maxDecodeExpansion/)
    // Many small Sets, each well within any budget, add up.
    const small = raw.encode(Array.from({ length: 20_000 }, () => new ExtData(ExtType.SET, arrayOf([0x90], 8))))
    expect(() => decode(small)).toThrow(/maxDecodeExpansion/)
  })

  test('the limit is a multiple of the frame: a larger factor lets the same frame through', () => {
    const frame = arrayOf([0x90], size)
    expect((decode(frame, 64) as unknown[]).length).toBe(size)
  })

  test('a frame below the floor is budgeted as the floor: a short list of empty maps is an ordinary value', () => {
    // 20,000 empty maps: ~64 units per byte of this frame, but within 32 × 64 KiB.
    const frame = arrayOf([0x80], 20_000)
    expect((decode(frame) as unknown[]).length).toBe(20_000)
    expect(() => decode(arrayOf([0x80], EXPANSION_FLOOR_BYTES - 5))).toThrow(/maxDecodeExpansion/)
  })

  test('ordinary data well past the floor decodes under the default', () => {
    const values: unknown[] = [
      Array.from({ length: 200_000 }, (_, i) => [i % 100, i % 7]), // small-integer points: ~24 heap bytes per wire byte
      Array.from({ length: 200_000 }, (_, i) => [i % 100]), // one-item wrappers: ~32
      Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `n${i % 10}`, ok: i % 2 === 0, at: new Date(i) })),
      Array.from({ length: 300_000 }, (_, i) => i % 128), // fixints: 8
      Array.from({ length: 100_000 }, (_, i) => `s${i % 10}`),
      new Map(Array.from({ length: 100_000 }, (_, i) => [i, i])),
    ]
    for (const value of values) {
      const frame = codec.encode(value, undefined)
      expect(frame.length).toBeGreaterThan(EXPANSION_FLOOR_BYTES * 2)
      expect(() => decode(frame, DEFAULT_LIMITS.maxDecodeExpansion)).not.toThrow()
    }
  }, 30_000) // big frames: a correctness check, not a timing one (a loaded 2-core CI machine needs more than 5 s)
})

describe('hostile length headers', () => {
  const headers: [string, number[]][] = [
    ['str 8', [0xd9, 0xff]], ['str 16', [0xda, 0xff, 0xff]], ['str 32', [0xdb, 0xff, 0xff, 0xff, 0xff]],
    ['bin 8', [0xc4, 0xff]], ['bin 16', [0xc5, 0xff, 0xff]], ['bin 32', [0xc6, 0xff, 0xff, 0xff, 0xff]],
    ['ext 8', [0xc7, 0xff, 0x01]], ['ext 16', [0xc8, 0xff, 0xff, 0x01]], ['ext 32', [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['fixext 16', [0xd8, 0x01]],
    ['array 16', [0xdc, 0xff, 0xff]], ['array 32', [0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['map 16', [0xde, 0xff, 0xff]], ['map 32', [0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['Set payload claiming 4G members', [0xc7, 0x05, ExtType.SET, 0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['Map payload claiming 4G entries', [0xc7, 0x05, ExtType.MAP, 0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['user type payload claiming a 4 GiB string', [0xc7, 0x05, boxType.type, 0xdb, 0xff, 0xff, 0xff, 0xff]],
  ]

  test.each(headers)('%s with (almost) nothing after it: refused at once, nothing allocated', (_name, header) => {
    const before = process.memoryUsage()
    const started = performance.now()
    for (let i = 0; i < 1000; i++) {
      expect(() => decode(Uint8Array.from([...header, 0x01, 0x02]))).toThrow(DecodeError)
      expect(() => decode(Uint8Array.from([0x91, ...header]))).toThrow(DecodeError)
    }
    const after = process.memoryUsage()
    expect(performance.now() - started).toBeLessThan(2000)
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 << 20)
  })

  test('every truncation of a frame holding every kind of value is refused cleanly', () => {
    const value = [
      0, -1, 200, -200, 70_000, -70_000, 2 ** 40, -(2 ** 40), 2n ** 60n, -(2n ** 60n), 5n, 0.5, NaN, 'short', 'é😀'.repeat(20), '\uFEFFbom',
      new Uint8Array(300), [], {}, { a: [1, { b: 2 }] }, new Map<unknown, unknown>([[1, new Set([2, 'x'])]]), new Date(1234), new Date(NaN),
      new TypeError('t'), new Box([1, 2]), new ExtData(42, new Uint8Array(20)), new ArrayBuffer(3),
    ]
    const frame = codec.encode(value, undefined)
    expect(decode(frame)).toHaveLength(value.length)
    for (let end = 0; end < frame.length; end++) {
      expect(() => decode(frame.subarray(0, end)), `cut at ${end}`).toThrow(DecodeError)
    }
  })
})

describe('a hostile peer gets a ProtocolError, and the session keeps serving', () => {
  const api = service({ echo: (x: unknown) => x, add: (a: number, b: number) => a + b })
  const request = (id: number, param: Uint8Array) => {
    // [0, id, 'echo', [<param>]], with the param's bytes spliced in as they are.
    const head = encodeRaw([MessageType.REQUEST, id, 'echo'])
    return Uint8Array.from([0x94, ...head.subarray(1), 0x91, ...param])
  }

  test.each([
    ['Maps nested 10,000 deep', nestedExtensions(ExtType.MAP, [0x92, 0x01], 10_000), /nested deeper/],
    ['a 256 KiB array of empty arrays', arrayOf([0x90], 256 * 1024), /maxDecodeExpansion/],
  ])('%s', async (_name, param, message) => {
    const p = pair<typeof api>({ service: api })
    p.serverTransport.log = true
    p.serverTransport.inject(request(7, param))
    await settle()
    const [response] = sentMessages(p.serverTransport).filter((m) => m[0] === MessageType.RESPONSE)
    expect(response?.[1]).toBe(7)
    expect(response?.[2]).toMatchObject({ name: 'ProtocolError', message: expect.stringMatching(message) })
    expect(p.server.stats().malformedFrames).toBe(1)
    expect(await p.client.remote.add(20, 22)).toBe(42)
  })

  test('a session configured with a larger maxDecodeExpansion accepts the same frame', async () => {
    const p = pair<typeof api>({ service: api, limits: { maxDecodeExpansion: 64 } })
    p.serverTransport.log = true
    p.serverTransport.inject(request(8, arrayOf([0x90], 256 * 1024)))
    await settle()
    const [response] = sentMessages(p.serverTransport).filter((m) => m[0] === MessageType.RESPONSE)
    expect(response?.[2]).toBeNull()
    expect((response?.[3] as unknown[]).length).toBe(256 * 1024)
  })
})
