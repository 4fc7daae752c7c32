/**
 * @msgpack/msgpack is the reference for our codec. Random values (100,000 by
 * default), biased to every type boundary, are checked both ways:
 *
 * - encode: our bytes equal the reference encoder's bytes;
 * - decode: our decoding of the reference's bytes equals the reference's.
 *
 * The seed is random per run and printed on failure; replay a failure with
 * `WIRECALL_MSGPACK_SEED=<seed> npx vitest run test/msgpack-differential.test.ts`
 * (`WIRECALL_MSGPACK_VALUES` changes the count).
 *
 * Where we differ on purpose, the comparison says so:
 *
 * 1. 64-bit integers. The reference either rounds them (default) or makes
 *    every int 64 / uint 64 a bigint (`useBigInt64`), and with `useBigInt64`
 *    it writes safe integers of 2^32 and beyond as doubles. We decode int 64 /
 *    uint 64 to a number within ±(2^53 - 1) and to a bigint beyond it, and
 *    write only bigints beyond it as int 64 / uint 64 (others go to the
 *    extension hook). So: values holding bigints are compared with the
 *    reference in `useBigInt64` mode and hold no numbers outside 32 bits; a
 *    decode-only pass feeds it bigints of every size, and its small bigints
 *    are compared as numbers.
 * 2. Lone surrogates. We write U+FFFD, as TextEncoder does; the reference
 *    writes them as 3-byte sequences (not UTF-8) in strings of up to 50
 *    chars and U+FFFD in longer ones. Compared against the reference
 *    encoding the string with lone surrogates replaced by U+FFFD.
 * 3. A leading U+FEFF. We keep it; the reference 3.1 drops it from strings
 *    over 200 bytes (its TextDecoder strips a BOM). Such a string compares
 *    equal to ours without its first char.
 * 4. Extensions. At this level both sides see raw ExtData (types other than
 *    -1) and Date as the timestamp extension; wirecall's own extension types
 *    are the codec's business (codec.test.ts).
 */
import { Decoder, Encoder, ExtData as RefExtData } from '@msgpack/msgpack'
import { expect, test } from 'vitest'
import { decodeTimestamp, encodeTimestamp, ExtData } from '../src/msgpack.js'
import { Writer } from '../src/msgpack-encode.js'
import { decode } from '../src/msgpack-decode.js'

const SEED = process.env.WIRECALL_MSGPACK_SEED ? Number(process.env.WIRECALL_MSGPACK_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0
const COUNT = Number(process.env.WIRECALL_MSGPACK_VALUES ?? 100_000)

// ------------------------------------------------------------- our side, as the codec wires it

const writer = new Writer(((v: unknown) => {
  if (v instanceof ExtData) return v
  if (v instanceof Date) return new ExtData(-1, encodeTimestamp(v))
  return null
}) as never)
const ours = (v: unknown) => writer.encode(v)
const read = (bytes: Uint8Array) => decode(bytes, (type, data) => (type === -1 ? decodeTimestamp(data) : new ExtData(type, data)), 1 << 30)

// ------------------------------------------------------------- the reference, one instance per mode (building one per value costs more than the coding)

const refEncoder = new Encoder()
const refEncoderBig = new Encoder({ useBigInt64: true })
const refEncoderF32 = new Encoder({ forceFloat32: true })
const refDecoder = new Decoder()
const refDecoderBig = new Decoder({ useBigInt64: true })

// ------------------------------------------------------------- random values

/** mulberry32: small, fast, good enough to drive a fuzzer; replayable from its seed. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * - plain: no bigints; numbers of every size.
 * - big: bigints beyond ±(2^53 - 1), numbers within 32 bits (see 1. above).
 * - wide: decode only; bigints of every 64-bit size, numbers within 32 bits.
 */
type Mode = 'plain' | 'big' | 'wide'

const INT_EDGES = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
  -1, -31, -32, -33, -127, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53 - 1)]
const BIG_EDGES = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, -(2n ** 53n), -(2n ** 53n) - 1n, -(2n ** 63n)]
/** UTF-8 byte lengths (strings) and sizes (bin, array, map) where the header changes form. */
const SMALL_SIZES = [0, 1, 15, 16, 31, 32, 33]
const LARGE_SIZES = [255, 256, 65535, 65536]
const FLOAT_SPECIALS = [0.5, -0.25, Infinity, -Infinity, NaN, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, 2 ** 53, 2 ** 64, -(2 ** 63), 1e-310]

class Generator {
  constructor(private readonly rnd: () => number, private readonly mode: Mode) {}

  private int(n: number): number {
    return Math.floor(this.rnd() * n)
  }

  private pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!
  }

  /**
   * Sizes: mostly small, sometimes at a header boundary, rarely at a
   * 255/256/65535/65536 one (maps: 255/256 only; a map of 65536 distinct
   * keys takes ~0.3 s to decode on either side, and the boundary test has it).
   */
  private size(map = false): number {
    const r = this.rnd()
    if (r < 0.0001) return this.pick(map ? LARGE_SIZES.slice(0, 2) : LARGE_SIZES)
    if (r < 0.1) return this.pick(SMALL_SIZES)
    return this.int(6)
  }

  private integer(): number {
    const wide = this.mode === 'plain'
    const r = this.rnd()
    let n: number
    if (r < 0.4) {
      const edge = this.pick(INT_EDGES)
      n = edge + this.int(3) - 1
    } else {
      n = Math.floor((this.rnd() - 0.5) * 2 ** (1 + this.rnd() * 53))
    }
    if (!wide && (n > 2 ** 32 - 1 || n < -(2 ** 31))) n = n % 2 ** 31
    return Number.isSafeInteger(n) ? n : 0
  }

  private bigint(): bigint {
    const r = this.rnd()
    let n: bigint
    if (r < 0.4) n = this.pick(BIG_EDGES)
    else if (this.mode === 'wide' && r < 0.7) return BigInt(this.integer()) // safe ones, as int 64 / uint 64 on the wire
    else {
      const hi = BigInt(this.int(2 ** 32))
      const lo = BigInt(this.int(2 ** 32))
      n = (hi << 32n) | lo
      if (this.rnd() < 0.5) n = -(n >> 1n)
    }
    if (n >= -(2n ** 53n) + 1n && n <= 2n ** 53n - 1n) n = n < 0n ? n - 2n ** 53n : n + 2n ** 53n
    return n
  }

  private float(): number {
    const r = this.rnd()
    if (r < 0.2) return this.pick(FLOAT_SPECIALS)
    if (r < 0.4) return Math.fround((this.rnd() - 0.5) * 1e6) // float32-representable
    const view = new DataView(new ArrayBuffer(8))
    view.setUint32(0, this.int(2 ** 32))
    view.setUint32(4, this.int(2 ** 32))
    const f = view.getFloat64(0)
    if (Number.isNaN(f)) return NaN
    // Doubles of 2^52 and beyond are integers; in useBigInt64 mode the reference writes those over 32 bits as doubles (1. above).
    if (this.mode !== 'plain' && Number.isSafeInteger(f) && (f > 2 ** 32 - 1 || f < -(2 ** 31))) return 0.5
    return f
  }

  /** A string of exactly `bytes` UTF-8 bytes (lone surrogates counted as the U+FFFD they become). */
  string(bytes: number): string {
    let s = ''
    let left = bytes
    if (left >= 3 && this.rnd() < 0.05) {
      s += '\uFEFF'
      left -= 3
    }
    const ascii = this.rnd() < 0.5
    while (left > 0) {
      const r = ascii ? 0 : this.rnd()
      if (r < 0.6 || left < 2) {
        s += String.fromCharCode(0x20 + this.int(0x5f))
        left -= 1
      } else if (r < 0.75 || left < 3) {
        s += String.fromCharCode(0x80 + this.int(0x780))
        left -= 2
      } else if (r < 0.88 || left < 4) {
        const c = 0x800 + this.int(0xf800 - 0x800)
        // Surrogates are drawn below; U+FEFF, U+FFFE, U+FFFF included.
        s += String.fromCharCode(c >= 0xd800 && c < 0xe000 ? c + 0x800 + this.int(0x1800) : c)
        left -= 3
      } else if (r < 0.96) {
        const cp = 0x10000 + this.int(0x100000)
        s += String.fromCodePoint(cp)
        left -= 4
      } else {
        s += String.fromCharCode(this.rnd() < 0.5 ? 0xd800 + this.int(0x400) : 0xdc00 + this.int(0x400))
        left -= 3
      }
    }
    return s
  }

  private bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < Math.min(n, 64); i++) out[i] = this.int(256)
    return out
  }

  private date(): Date {
    const r = this.rnd()
    // 32-bit, 64-bit and 96-bit timestamp forms, before and after 1970.
    if (r < 0.3) return new Date(this.int(2 ** 32) * 1000)
    if (r < 0.6) return new Date(this.int(2 ** 34) * 1000 + this.int(1000))
    return new Date(Math.floor((this.rnd() - 0.5) * 8.64e15))
  }

  private extension(): ExtData {
    let type = this.int(256) - 128
    if (type === -1) type = 1
    const r = this.rnd()
    const n = r < 0.5 ? this.pick([1, 2, 4, 8, 16]) : r < 0.9 ? this.pick([0, 3, 5, 17, 255, 256]) : this.size()
    return new ExtData(type, this.bytes(n))
  }

  /** A leaf, or (above the bottom) a container of more values. */
  value(depth: number): unknown {
    const r = this.int(depth >= 4 ? 9 : 12)
    switch (r) {
      case 0: case 1: return this.integer()
      case 2: return this.mode === 'plain' ? this.float() : this.bigint()
      case 3: return this.float()
      case 4: return this.string(this.rnd() < 0.1 ? this.pick([...SMALL_SIZES, ...(this.rnd() < 0.002 ? LARGE_SIZES : [])]) : this.int(12))
      case 5: return this.pick([null, true, false, undefined])
      case 6: return this.bytes(this.size())
      case 7: return this.rnd() < 0.5 ? this.date() : this.extension()
      case 8: return this.string(this.int(4))
      case 9: case 10: {
        const n = this.size()
        const out: unknown[] = []
        for (let i = 0; i < n; i++) out.push(n > 64 ? this.integer() : this.value(depth + 1))
        return out
      }
      default: {
        const n = this.size(true)
        const out: Record<string, unknown> = {}
        for (let i = 0; i < n; i++) {
          const key = n > 64 ? `k${i}` : `${this.string(this.int(8))}${i}`
          out[key] = n > 64 ? this.integer() : this.value(depth + 1)
        }
        return out
      }
    }
  }
}

// ------------------------------------------------------------- comparing

/** `String.prototype.toWellFormed` (ES2024): lone surrogates become U+FFFD. */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')

/** The value the reference encoder is given for ours: well-formed strings, its own ExtData. */
function toRef(v: unknown): unknown {
  if (typeof v === 'string') return wellFormed(v)
  if (v instanceof ExtData) return new RefExtData(v.type, v.data)
  if (Array.isArray(v)) return v.map(toRef)
  if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[wellFormed(k)] = toRef(x)
    return out
  }
  return v
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length

/** Why `ours` and `theirs` (decoded values) differ, or undefined. Strict: types, key order, NaN, bytes. */
function difference(o: unknown, t: unknown, path = '$'): string | undefined {
  if (typeof t === 'bigint' && Number.isSafeInteger(Number(t)) && BigInt(Number(t)) === t) t = Number(t) // 1. above
  if (typeof o === 'string' && typeof t === 'string') {
    if (o === t || (o === `\uFEFF${t}` && utf8Length(o) > 200)) return undefined // 3. above
    return `${path}: string ${JSON.stringify(o.slice(0, 40))}… (${o.length}) != ${JSON.stringify(t.slice(0, 40))}… (${t.length})`
  }
  if (typeof o !== typeof t) return `${path}: ${typeof o} != ${typeof t}`
  if (typeof o === 'number') return Object.is(o, t) ? undefined : `${path}: ${o} != ${String(t)}`
  if (typeof o !== 'object' || o === null || t === null) return o === t ? undefined : `${path}: ${String(o)} != ${String(t)}`
  if (o instanceof Uint8Array || t instanceof Uint8Array) {
    if (!(o instanceof Uint8Array && t instanceof Uint8Array)) return `${path}: binary vs not`
    return Buffer.compare(o, t) === 0 ? undefined : `${path}: binaries differ`
  }
  if (o instanceof Date || t instanceof Date) {
    return o instanceof Date && t instanceof Date && Object.is(o.getTime(), t.getTime()) ? undefined : `${path}: dates differ`
  }
  if (o instanceof ExtData || t instanceof RefExtData) {
    if (!(o instanceof ExtData && t instanceof RefExtData)) return `${path}: extension vs not`
    if (o.type !== t.type) return `${path}: extension type ${o.type} != ${t.type}`
    return difference(o.data, t.data, `${path}.data`)
  }
  if (Array.isArray(o) !== Array.isArray(t)) return `${path}: array vs map`
  const ok = Object.keys(o)
  const tk = Object.keys(t as object)
  if (ok.length !== tk.length) return `${path}: ${ok.length} != ${tk.length} entries`
  for (let i = 0; i < ok.length; i++) {
    if (ok[i] !== tk[i]) return `${path}: key ${ok[i]} != ${tk[i]}`
    const d = difference((o as Record<string, unknown>)[ok[i]!], (t as Record<string, unknown>)[tk[i]!], `${path}[${JSON.stringify(ok[i])}]`)
    if (d) return d
  }
  return undefined
}

function firstByteDifference(a: Uint8Array, b: Uint8Array): string {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  const hex = (x: Uint8Array) => Buffer.from(x.subarray(Math.max(0, i - 4), i + 8)).toString('hex')
  return `bytes differ at offset ${i} of ${a.length}/${b.length}: ours …${hex(a)}… reference …${hex(b)}…`
}

const show = (v: unknown) => {
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x))
  return text === undefined ? String(v) : text.length > 400 ? `${text.slice(0, 400)}…` : text
}

/** Check one value both ways; returns what went wrong, or undefined. */
function check(value: unknown, mode: Mode, float32 = true): string | undefined {
  const ref = toRef(value)
  const big = mode !== 'plain'
  const theirBytes = (big ? refEncoderBig : refEncoder).encode(ref)
  if (mode !== 'wide') {
    const ourBytes = ours(value)
    if (Buffer.compare(ourBytes, theirBytes) !== 0) return `encode: ${firstByteDifference(ourBytes, theirBytes)}`
  }
  const d = difference(read(theirBytes), (big ? refDecoderBig : refDecoder).decode(theirBytes))
  if (d) return `decode: ${d}`
  // Float 32, which we never write but must read.
  if (mode === 'plain' && float32) {
    const f32 = refEncoderF32.encode(ref)
    const d32 = difference(read(f32), refDecoder.decode(f32))
    if (d32) return `decode (float 32): ${d32}`
  }
  return undefined
}

function failure(message: string, value: unknown, mode: Mode, index?: number): Error {
  return new Error(`msgpack differential: ${message}\n  value${index === undefined ? '' : ` #${index}`} (${mode}): ${show(value)}\n  replay with WIRECALL_MSGPACK_SEED=${SEED}`)
}

// ------------------------------------------------------------- the tests

test('every header boundary, both ways', { timeout: 30_000 }, () => {
  const g = new Generator(prng(SEED), 'plain')
  const values: [unknown, Mode][] = []
  for (const n of INT_EDGES) for (const d of [-1, 0, 1]) if (Number.isSafeInteger(n + d)) values.push([n + d, 'plain'])
  for (const n of BIG_EDGES) values.push([n, 'big'], [[n, 1, 'x', { n }], 'big'])
  for (const n of [-(2n ** 63n), -5n, 0n, 7n, 2n ** 53n - 1n, 2n ** 64n - 1n]) values.push([n, 'wide'])
  for (const f of FLOAT_SPECIALS) values.push([f, 'plain'], [Math.fround(f), 'plain'])
  // Large ones skip the float 32 pass (they hold no floats); maps with tens of thousands of keys are slow to build on both sides.
  const big = new Set<unknown>()
  for (const n of [...SMALL_SIZES, ...LARGE_SIZES, 65537]) {
    const sized: unknown[] = [g.string(n), new Uint8Array(n).fill(n & 0xff), Array.from({ length: n }, (_, i) => i & 0x7f), new ExtData(5, new Uint8Array(n).fill(1))]
    if (n <= 65536) sized.push(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i & 0x7f])))
    for (const value of sized) {
      values.push([value, 'plain'])
      if (n > 255) big.add(value)
    }
  }
  // Each lone surrogate and pair edge, alone and among others; BOMs.
  for (const s of ['\ud800', '\udbff', '\udc00', '\udfff', 'a\ud800', '\udc00a', '\ud800\ud800', '\udc00\ud800', '\ud83d\ude00', '\ud800'.repeat(60),
    '\uFEFF', '\uFEFFhello', '\uFEFF'.repeat(100), `\uFEFF${'x'.repeat(300)}`]) values.push([s, 'plain'])
  for (const ms of [0, 1000, -1, 2 ** 32 * 1000, 2 ** 32 * 1000 + 1, 2 ** 34 * 1000 - 1, 2 ** 34 * 1000, -(2 ** 40), 8.64e15, -8.64e15]) values.push([new Date(ms), 'plain'])
  // Nested through every container kind.
  values.push([[[[{ a: [{ b: [new Uint8Array(3), new ExtData(3, new Uint8Array(4)), new Date(5)] }] }]]], 'plain'])
  for (const [value, mode] of values) {
    const problem = check(value, mode, !big.has(value))
    if (problem) throw failure(problem, value, mode)
  }
})

test(`${COUNT} random values, both ways`, { timeout: 60_000 }, () => {
  const rnd = prng(SEED)
  for (let i = 0; i < COUNT; i++) {
    const r = rnd()
    const mode: Mode = r < 0.8 ? 'plain' : r < 0.93 ? 'big' : 'wide'
    const value = new Generator(rnd, mode).value(0)
    let problem: string | undefined
    try {
      problem = check(value, mode, i % 4 === 0)
    } catch (err) {
      problem = `threw ${(err as Error).stack ?? String(err)}`
    }
    if (problem) throw failure(problem, value, mode, i)
  }
  expect(COUNT).toBeGreaterThan(0)
})
