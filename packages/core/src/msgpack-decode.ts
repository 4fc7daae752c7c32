/**
 * The msgpack decoder: `decode`, with every length checked against the bytes
 * left, depth bounded and the memory a frame decodes into budgeted (msgpack.ts
 * says why wirecall has its own msgpack, and holds what both directions share).
 */

import { DecodeError, MAX_DEPTH, type ExtDecoder, type PayloadReader } from './msgpack.js'
import { MAX_CACHED_STRING, cachedString } from './string-cache.js'

// ignoreBOM: a string that starts with U+FEFF keeps it (the default strips it as a byte-order mark).
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true })

/**
 * What decoded values cost against the expansion budget, in units of about
 * one byte of JavaScript heap (V8, 64-bit, measured with `process.memoryUsage`).
 * Only allocations whose size does not follow from their bytes on the wire
 * are charged: a container's header and its slots, a binary's view, an
 * extension's value. Numbers, strings, nil and booleans are not charged
 * (no more than ~11 heap bytes per wire byte, and they are the hot path).
 */
const COST = {
  /** An array's header (32), plus its elements store's header (16) unless it is empty. */
  array: 40,
  /** A plain object with its four in-object property slots. */
  map: 56,
  /** One element (array item or map value) in its container. */
  slot: 8,
  /** A Uint8Array view of the frame. */
  binary: 96,
  /** An extension value: an ExtData and its view (a Date, Map or Set costs about as much). */
  extension: 136,
} as const

/**
 * Frames smaller than this are budgeted as if they were this large: a small
 * frame cannot hold much however it expands, and a short list of empty
 * arrays is an ordinary value.
 */
export const EXPANSION_FLOOR_BYTES = 64 * 1024

/**
 * Decode exactly one msgpack value filling `bytes`. Lengths above
 * `maxLength` are refused. The decoded value may cost at most
 * `maxExpansion` × max(bytes, `EXPANSION_FLOOR_BYTES`) units (about bytes of
 * heap, see `COST`); past it decoding stops with a `DecodeError`.
 *
 * Integers: int 64 and uint 64 values within ±(2^53 - 1) decode to numbers,
 * those beyond to bigints, so no integer is ever rounded.
 */
export function decode<C>(bytes: Uint8Array, ext: ExtDecoder<C>, maxLength: number, maxExpansion = Infinity, context?: C): unknown {
  const reader = new Reader(bytes, ext, maxLength, maxExpansion * Math.max(bytes.length, EXPANSION_FLOOR_BYTES), maxExpansion, context)
  const value = reader.read(0)
  if (reader.pos !== bytes.length) throw new DecodeError(`${bytes.length - reader.pos} extra bytes after the value`)
  return value
}

/** Decoded binaries are views of the frame when it is at least 1/8 of its buffer, else copies. */
const BINARY_VIEW_SHARE = 8
const sliceArray = Uint8Array.prototype.slice
/** A copy of `view` of its own class (a Node `Buffer` stays a `Buffer`; `Buffer#slice` would be a view). */
const copyOf = (view: Uint8Array): Uint8Array => sliceArray.call(view)

class Reader<C> implements PayloadReader<C> {
  pos = 0
  /** Made on first use: most frames of small calls never read a multi-byte number, and a DataView per frame showed in profiles. */
  private viewCache: DataView | undefined
  /** Depth of the extension whose hook is running, for `decode` (its payload is one level deeper). */
  private extDepth = 0

  constructor(
    private readonly bytes: Uint8Array, private readonly ext: ExtDecoder<C>, private readonly max: number,
    /** Cost units left before the frame's expansion budget is spent; shared with payload readers. */
    private left: number,
    private readonly maxExpansion: number,
    readonly context: C | undefined,
  ) {}

  private get view(): DataView {
    return (this.viewCache ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength))
  }

  /** Claim `n` bytes (or `n` items of at least one byte each) and return where they start. */
  private take(n: number): number {
    const at = this.pos
    if (n > this.max) throw new DecodeError(`length ${n} exceeds the limit ${this.max}`)
    if (at + n > this.bytes.length) throw new DecodeError('frame ends too early')
    this.pos = at + n
    return at
  }

  /** Charge `units` against the budget, before allocating what they stand for. */
  spend(units: number): void {
    if ((this.left -= units) < 0) {
      throw new DecodeError(`the frame decodes into more than ${this.maxExpansion} times its size in memory (limit maxDecodeExpansion)`)
    }
  }

  /** A big-endian unsigned integer, read from the bytes (no DataView: the common case of small frames needs none). */
  private uint(size: 1 | 2 | 4): number {
    const at = this.take(size)
    const b = this.bytes
    if (size === 1) return b[at]!
    if (size === 2) return (b[at]! << 8) | b[at + 1]!
    return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!)
  }

  read(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new DecodeError(`nested deeper than ${MAX_DEPTH}`)
    const b = this.bytes[this.take(1)]!
    if (b < 0x80) return b
    if (b < 0x90) return this.map(b & 0x0f, depth)
    if (b < 0xa0) return this.array(b & 0x0f, depth)
    if (b < 0xc0) return this.string(b & 0x1f)
    if (b >= 0xe0) return b - 0x100
    switch (b) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: return this.binary(this.uint(1))
      case 0xc5: return this.binary(this.uint(2))
      case 0xc6: return this.binary(this.uint(4))
      case 0xc7: return this.extension(this.uint(1), depth)
      case 0xc8: return this.extension(this.uint(2), depth)
      case 0xc9: return this.extension(this.uint(4), depth)
      case 0xca: return this.view.getFloat32(this.take(4))
      case 0xcb: return this.view.getFloat64(this.take(8))
      case 0xcc: return this.uint(1)
      case 0xcd: return this.uint(2)
      case 0xce: return this.uint(4)
      case 0xcf: {
        // Below 2^53 when the high word is below 2^21: a number; otherwise a bigint, never rounded.
        const at = this.take(8)
        const hi = this.view.getUint32(at)
        return hi < 0x200000 ? hi * 0x100000000 + this.view.getUint32(at + 4) : this.view.getBigUint64(at)
      }
      case 0xd0: return this.view.getInt8(this.take(1))
      case 0xd1: return this.view.getInt16(this.take(2))
      case 0xd2: return this.view.getInt32(this.take(4))
      case 0xd3: {
        // Within ±(2^53 - 1): a number; otherwise a bigint (-2^53 included: it is not a safe integer).
        const at = this.take(8)
        const hi = this.view.getInt32(at)
        const lo = this.view.getUint32(at + 4)
        return hi >= -0x200000 && hi < 0x200000 && (hi !== -0x200000 || lo !== 0) ? hi * 0x100000000 + lo : this.view.getBigInt64(at)
      }
      case 0xd4: return this.extension(1, depth)
      case 0xd5: return this.extension(2, depth)
      case 0xd6: return this.extension(4, depth)
      case 0xd7: return this.extension(8, depth)
      case 0xd8: return this.extension(16, depth)
      case 0xd9: return this.string(this.uint(1))
      case 0xda: return this.string(this.uint(2))
      case 0xdb: return this.string(this.uint(4))
      case 0xdc: return this.array(this.uint(2), depth)
      case 0xdd: return this.array(this.uint(4), depth)
      case 0xde: return this.map(this.uint(2), depth)
      case 0xdf: return this.map(this.uint(4), depth)
    }
    throw new DecodeError(`invalid byte 0x${b.toString(16)}`)
  }

  private array(n: number, depth: number): unknown[] {
    // Each item takes at least one byte: a header claiming more than is left is refused unallocated.
    if (n > this.bytes.length - this.pos || n > this.max) throw new DecodeError(`array of ${n} items in a frame that cannot hold it`)
    this.spend(COST.array + COST.slot * n)
    const out = new Array<unknown>(n)
    for (let i = 0; i < n; i++) out[i] = this.read(depth + 1)
    return out
  }

  private map(n: number, depth: number): Record<string, unknown> {
    if (n * 2 > this.bytes.length - this.pos || n > this.max) throw new DecodeError(`map of ${n} entries in a frame that cannot hold it`)
    this.spend(COST.map + COST.slot * n)
    const out: Record<string, unknown> = {}
    for (let i = 0; i < n; i++) {
      const key = this.read(depth + 1)
      if (typeof key !== 'string' && typeof key !== 'number') throw new DecodeError(`map key of type ${typeof key}`)
      if (key === '__proto__') throw new DecodeError('the key __proto__ is not allowed')
      const value = this.read(depth + 1)
      // A thenable (a `then` that is a function: a peer's reference) would be called by whatever
      // awaits or resolves with the value: a call to the peer that it need never answer.
      if (key === 'then' && typeof value === 'function') throw new DecodeError('a map whose then is a function (a thenable) is not allowed')
      out[key] = value
    }
    return out
  }

  private string(n: number): string {
    const at = this.take(n)
    const b = this.bytes
    if (n > 32) return textDecoder.decode(b.subarray(at, at + n))
    if (n <= MAX_CACHED_STRING && n > 0) return cachedString(b, at, n) ?? textDecoder.decode(b.subarray(at, at + n))
    // Short strings: ASCII inline, anything else through TextDecoder.
    let s = ''
    for (let i = at; i < at + n; i++) {
      const c = b[i]!
      if (c >= 0x80) return textDecoder.decode(b.subarray(at, at + n))
      s += String.fromCharCode(c)
    }
    return s
  }

  private binary(n: number): Uint8Array {
    const at = this.take(n)
    this.spend(COST.binary)
    const bytes = this.bytes
    const view = bytes.subarray(at, at + n)
    // A view, not a copy, when the frame is a good part (an eighth or more) of the memory it lies
    // in, as when it is a message of its own: large payloads pass through untouched, and what a
    // kept binary holds is at most BINARY_VIEW_SHARE times the frame, which is what limits charge
    // (stream credit counts frame bytes). A frame lost in a much larger buffer (one of a 16 MiB
    // batch of tiny frames) has its binaries copied, as the same kind of array, so that keeping
    // one (a stream item, an argument a handler stores) does not keep the whole message alive.
    return bytes.byteLength * BINARY_VIEW_SHARE >= bytes.buffer.byteLength ? view : copyOf(view)
  }

  private extension(n: number, depth: number): unknown {
    const type = (this.bytes[this.take(1)]! << 24) >> 24 // int8
    const at = this.take(n)
    this.spend(COST.extension)
    this.extDepth = depth
    return this.ext(type, this.bytes.subarray(at, at + n), this)
  }

  /** `PayloadReader.decode`: the payload stands one level below its extension and shares the frame's budget. */
  decode(data: Uint8Array): unknown {
    const inner = new Reader(data, this.ext, this.max, this.left, this.maxExpansion, this.context)
    const value = inner.read(this.extDepth + 1)
    if (inner.pos !== data.length) throw new DecodeError(`${data.length - inner.pos} extra bytes after an extension's payload`)
    this.left = inner.left
    return value
  }
}
