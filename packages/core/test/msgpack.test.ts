/**
 * Our msgpack codec against an independent implementation (@msgpack/msgpack):
 * what we encode, it decodes to the same value, and the other way round;
 * plus hostile input. The randomized comparison is msgpack-differential.test.ts.
 */
import { decode as refDecode, encode as refEncode, ExtData as RefExtData } from '@msgpack/msgpack'
import { describe, expect, test } from 'vitest'
import { decodeTimestamp, encodeTimestamp, DecodeError, ExtData, MAX_DEPTH } from '../src/msgpack.js'
import { Writer } from '../src/msgpack-encode.js'
import { decode } from '../src/msgpack-decode.js'

const noExt = () => null
const writer = new Writer(noExt)
const ours = (v: unknown) => writer.encode(v)
const read = (bytes: Uint8Array, max = 1 << 20) => decode(bytes, (type, data) => new ExtData(type, data), max)

const ints = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
  -1, -31, -32, -33, -127, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53 - 1)]
const floats = [0.5, -0.25, 1e300, -1e-300, Math.PI, Infinity, -Infinity]
const strings = ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(256),
  'x'.repeat(70_000), 'héllo', 'é'.repeat(40), '日本語テキスト', '😀 emoji', '😀'.repeat(20), 'mixed é 😀 日本 a'.repeat(10)]

describe('round trips through the reference implementation', () => {
  test.each([...ints, ...floats])('number %s', (n) => {
    expect(refDecode(ours(n))).toBe(n)
    expect(read(refEncode(n))).toBe(n)
  })

  test('NaN', () => {
    expect(refDecode(ours(NaN))).toBeNaN()
  })

  test.each(strings.map((s) => [s.slice(0, 20), s]))('string %s', (_label, s) => {
    expect(refDecode(ours(s))).toBe(s)
    expect(read(refEncode(s))).toBe(s)
    expect(ours(s)).toEqual(refEncode(s))
  })

  test('short strings through the decoder\'s cache: thousands of distinct keys (sharing slots), each read back exactly, again and again', () => {
    // Deterministic pseudo-random ASCII keys of 1 to 16 bytes (the cached lengths) and a few just past them:
    // far more keys than the cache has slots, so many share a slot and replace each other.
    let seed = 7
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0)
    const keys: string[] = []
    for (let i = 0; i < 5000; i++) {
      const length = 1 + (next() % 18)
      let key = ''
      for (let j = 0; j < length; j++) key += String.fromCharCode(32 + (next() % 95))
      keys.push(key)
    }
    // Same length and nearly the same bytes: a cached neighbour must never be taken for them.
    keys.push('tick', 'tock', 'tic', 'ticks', 'Tick', 'tick\u0000', 'é', 'éé', 'ab\u00ff', 'caf\u00e9')
    for (let round = 0; round < 3; round++) {
      for (const key of keys) {
        expect(read(refEncode(key))).toBe(key)
        const decoded = read(refEncode({ [key]: round, nested: { [key]: [key] } })) as Record<string, unknown>
        expect(Object.keys(decoded)).toEqual(key === 'nested' ? ['nested'] : [key, 'nested'])
        expect((decoded.nested as Record<string, unknown>)[key]).toEqual([key])
      }
    }
  })

  test('lone surrogates become U+FFFD, as TextEncoder does', () => {
    for (const s of ['\ud800', 'a\udc00b', '\ud800\ud800x']) {
      expect(refDecode(ours(s))).toBe(new TextDecoder().decode(new TextEncoder().encode(s)))
    }
  })

  test('a leading U+FEFF is part of the string, not a byte-order mark to drop', () => {
    for (const s of ['\uFEFFhello', '\uFEFF', '\uFEFF\uFEFF', '\uFEFFé', '\uFEFF' + 'x'.repeat(40), '\uFEFF' + 'é'.repeat(200), 'a\uFEFF']) {
      expect(read(ours(s))).toBe(s)
      expect(read(refEncode(s))).toBe(s)
      // @msgpack/msgpack 3.1 drops it too from strings over 200 bytes (its TextDecoder path).
      if (new TextEncoder().encode(s).length <= 200) expect(refDecode(ours(s))).toBe(s)
    }
  })

  test('nested structures, nil, booleans, binaries', () => {
    const value = {
      a: [1, 2, [3, [4, { deep: true }]]], b: null, c: false, d: true,
      bin: new Uint8Array([1, 2, 3]), big: new Uint8Array(70_000).fill(7),
      empty: {}, list: Array.from({ length: 20 }, (_, i) => i), map: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    }
    const back = refDecode(ours(value)) as typeof value
    expect(back).toEqual({ ...value, bin: new Uint8Array([1, 2, 3]), big: new Uint8Array(70_000).fill(7) })
    expect(read(refEncode(value))).toEqual(back)
  })

  test('undefined is nil', () => {
    expect(refDecode(ours([undefined, { x: undefined }]))).toEqual([null, { x: null }])
  })

  test('extensions, fixed and variable sizes', () => {
    const hook = (v: unknown) => (v instanceof ExtData ? v : null)
    const w = new Writer(hook as never)
    for (const size of [1, 2, 4, 8, 16, 0, 3, 300, 70_000]) {
      const data = new Uint8Array(size).fill(9)
      const back = refDecode(w.encode(new ExtData(5, data))) as RefExtData
      expect(back.type).toBe(5)
      expect(back.data).toEqual(data)
      const ours2 = read(refEncode(new RefExtData(-7, data))) as ExtData
      expect(ours2.type).toBe(-7)
      expect(ours2.data).toEqual(data)
    }
  })

  test('timestamps in their 32, 64 and 96-bit forms', () => {
    for (const ms of [0, 1000, 1_700_000_000_000, 1_700_000_000_123, 2 ** 34 * 1000 + 5, -1, -86_400_000 * 365 * 100]) {
      const date = new Date(ms)
      const ref = refDecode(refEncode(date)) as Date
      expect(ref.getTime()).toBe(ms)
      const w = new Writer(((v: unknown) => (v instanceof Date ? new ExtData(-1, encodeTimestamp(v)) : null)) as never)
      expect((refDecode(w.encode(date)) as Date).getTime()).toBe(ms)
      const ext = read(refEncode(date)) as ExtData
      expect(decodeTimestamp(ext.data).getTime()).toBe(ms)
    }
  })
})

describe('64-bit integers are never rounded', () => {
  const big = { useBigInt64: true }
  const beyond = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n, -(2n ** 53n), -(2n ** 53n) - 1n, -(2n ** 63n)]

  test.each(beyond)('%s, beyond a double, is a bigint on both sides', (n) => {
    const wire = refEncode(n, big)
    expect(read(wire)).toBe(n)
    expect(ours(n)).toEqual(wire)
    expect(refDecode(ours(n), big)).toBe(n)
  })

  test('int 64 and uint 64 values in the safe range decode to numbers', () => {
    for (const n of [0, 1, 127, 2 ** 32, 2 ** 53 - 1, -1, -(2 ** 31) - 1, -(2 ** 53 - 1)]) {
      const back = read(refEncode(BigInt(n), big))
      expect(back).toBe(n)
      expect(typeof back).toBe('number')
    }
  })

  test('numbers beyond 2^53 stay doubles, as before', () => {
    expect(ours(2 ** 60)[0]).toBe(0xcb)
    expect(read(ours(2 ** 60))).toBe(2 ** 60)
  })

  test('bigints a 64-bit integer cannot carry as themselves are left to the extension hook', () => {
    const seen: unknown[] = []
    const w = new Writer(((v: unknown) => (seen.push(v), new ExtData(1, new Uint8Array(0)))) as never)
    for (const n of [0n, 5n, -(2n ** 53n) + 1n, 2n ** 53n - 1n, 2n ** 64n, -(2n ** 63n) - 1n, 2n ** 60n]) w.encode(n)
    expect(seen).toEqual([0n, 5n, -(2n ** 53n) + 1n, 2n ** 53n - 1n, 2n ** 64n, -(2n ** 63n) - 1n])
  })
})

describe('hostile input', () => {
  const bad = (bytes: number[], max?: number) => () => read(new Uint8Array(bytes), max)

  test('truncated values', () => {
    for (const bytes of [[0xcd, 0x01], [0xa5, 0x61], [0x92, 0x01], [0xc4, 0x05, 1, 2], [0xd9], [0xcb, 0, 0]]) {
      expect(bad(bytes)).toThrow(DecodeError)
    }
  })

  test('a 4-billion-element array header is refused without allocating', () => {
    expect(bad([0xdd, 0xff, 0xff, 0xff, 0xff])).toThrow(/cannot hold it/)
    expect(bad([0xdf, 0xff, 0xff, 0xff, 0xff])).toThrow(/cannot hold it/)
    expect(bad([0xdb, 0xff, 0xff, 0xff, 0xff])).toThrow(DecodeError)
    expect(bad([0xc6, 0xff, 0xff, 0xff, 0xff])).toThrow(DecodeError)
  })

  test('lengths above the limit are refused even when the bytes are there', () => {
    expect(bad([0xa5, 0x61, 0x62, 0x63, 0x64, 0x65], 4)).toThrow(/limit/)
  })

  test('too deep nesting', () => {
    expect(bad(Array.from({ length: MAX_DEPTH + 5 }, () => 0x91).concat([0x01]))).toThrow(/deeper/)
    const deep: unknown[] = []
    let cursor = deep
    for (let i = 0; i < MAX_DEPTH + 5; i++) cursor.push((cursor = []))
    expect(() => ours(deep)).toThrow(/deeper/)
  })

  test('__proto__ keys are refused; other keys stay own data', () => {
    expect(() => read(refEncode(JSON.parse('{"__proto__": {"polluted": 1}}')))).toThrow(/__proto__/)
    const back = read(refEncode({ constructor: 1, toString: 2 })) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(back.constructor).toBe(1)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('map keys must be strings or numbers', () => {
    expect(bad([0x81, 0x90, 0x01])).toThrow(/map key/)
  })

  test('invalid bytes and trailing garbage', () => {
    expect(bad([0xc1])).toThrow(/invalid byte/)
    expect(bad([0x01, 0x02])).toThrow(/extra bytes/)
  })

  test('random bytes never throw anything but DecodeError/RangeError-free errors, and never hang', () => {
    let seed = 7
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256)
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(Array.from({ length: 1 + (i % 40) }, rnd))
      try {
        read(bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError)
      }
    }
  })
})

test('binaries decode as views of the frame (no copy) and large ones can be extracted', () => {
  const frame = refEncode([1, new Uint8Array([5, 6, 7])]).slice() // a buffer of its own, as a message is
  const [, bin] = read(frame) as [number, Uint8Array]
  expect(bin.buffer).toBe(frame.buffer)
  const w = new Writer(noExt)
  w.threshold = 4
  w.extracted = []
  const big = new Uint8Array([1, 2, 3, 4, 5])
  const head = w.encode(['x', big, 'y'])
  expect(w.extracted).toEqual([head.length - 2, big])
})

test('a small binary lost in a much larger buffer (a batch of frames) is copied, so keeping it keeps only itself', () => {
  const batch = new Uint8Array(1 << 20)
  const frame = refEncode([1, new Uint8Array([5, 6, 7])])
  batch.set(frame, 4096)
  const [, bin] = read(batch.subarray(4096, 4096 + frame.byteLength)) as [number, Uint8Array]
  expect([...bin]).toEqual([5, 6, 7])
  expect(bin.buffer).not.toBe(batch.buffer)
  expect(bin.buffer.byteLength).toBeLessThan(64)
  // A Node Buffer stays a Buffer (a copy of its own class, not Buffer#slice's view).
  const nodeBatch = Buffer.alloc(1 << 20)
  nodeBatch.set(frame, 10)
  const [, nodeBin] = read(nodeBatch.subarray(10, 10 + frame.byteLength)) as [number, Uint8Array]
  expect(Buffer.isBuffer(nodeBin)).toBe(true)
  expect(nodeBin.buffer).not.toBe(nodeBatch.buffer)
  // A frame that is an eighth of its buffer or more: its binaries are views.
  const share = new Uint8Array(1024)
  const big = refEncode(new Uint8Array(200))
  share.set(big, 100)
  expect((read(share.subarray(100, 100 + big.byteLength)) as Uint8Array).buffer).toBe(share.buffer)
})

test('the shared writer gives a huge buffer back once traffic is small again (see encode-buffer.test.ts)', () => {
  const w = new Writer(noExt)
  const huge = w.encodeView(new Uint8Array(3 << 20)).buffer
  expect(huge.byteLength).toBeGreaterThanOrEqual(3 << 20)
  for (let i = 0; i < 256; i++) w.encodeView(i)
  expect(w.encodeView(1).buffer.byteLength).toBeLessThan(1 << 20)
})
