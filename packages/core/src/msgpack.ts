/**
 * A small msgpack encoder and decoder (https://github.com/msgpack/msgpack/blob/master/spec.md),
 * written for wirecall's needs instead of depending on @msgpack/msgpack:
 *
 * - size: the browser bundle budget (12 KB gz with the codec) leaves ~2 KB gz
 *   for msgpack; a general-purpose library costs ~6 KB gz;
 * - zero-copy: large binaries can be left out of the frame and sent as
 *   separate parts (see `Writer.extract`);
 * - hostile input: every length is checked against the bytes actually left
 *   before anything is allocated, depth is bounded (through extension
 *   payloads too), the memory a frame decodes into is bounded by a multiple
 *   of its size, `__proto__` keys refused.
 *
 * Extension values (references, Map, Set, user types...) are delegated to
 * hooks; this file knows only the msgpack format itself and timestamps.
 */

import { pauseStacks, resumeStacks } from './stackless.js'
import { MAX_CACHED_STRING, cachedString } from './string-cache.js'

/** An extension value of a type nobody here understands; re-encoded untouched. */
export class ExtData {
  /**
   * Wrap an extension value to send it as it is.
   * @param type The msgpack extension type number (-128 to 127).
   * @param data The extension's payload bytes, as received.
   */
  constructor(
    /** The msgpack extension type number (-128 to 127). */
    readonly type: number,
    /** The extension's payload bytes, as received. */
    readonly data: Uint8Array,
  ) {}
}

/** Thrown on input that is not valid msgpack or breaks a limit. Carries no stack trace (see stackless.ts). */
export class DecodeError extends Error {
  /** A decoding failure; `message` says what is wrong with the input. */
  constructor(message: string) {
    const saved = pauseStacks()
    super(message)
    resumeStacks(saved)
  }
}

/** Deepest nesting accepted when encoding or decoding. */
export const MAX_DEPTH = 100

/**
 * Turns non-msgpack values into extensions; returns null for "encode as a
 * plain value". `depth` is the value's nesting depth: a payload that is itself
 * msgpack is encoded one level deeper (`Writer.encode(payload, depth + 1)`),
 * so nesting through extensions is bounded like nesting through arrays.
 */
export type ExtEncoder<C = unknown> = (value: object | bigint | symbol | Function, depth: number, context: C | undefined) => ExtData | null
/** Builds the value of an extension; `payload` decodes its data when that is msgpack. */
export type ExtDecoder<C = unknown> = (type: number, data: Uint8Array, payload: PayloadReader<C>) => unknown

/** What an extension decoder may do with its data, within the limits of the frame it came in. */
export interface PayloadReader<C = unknown> {
  /** The context the frame is decoded for (what `decode` was given), e.g. the connection that received it. */
  readonly context: C | undefined
  /**
   * Decode `data` (the extension's payload, itself one msgpack value) one
   * level deeper than the extension, against the same expansion budget as
   * the rest of the frame.
   */
  decode(data: Uint8Array): unknown
  /** Charge the frame's expansion budget for memory the extension's value holds beyond what was charged for its payload. */
  spend(units: number): void
}

const textEncoder = new TextEncoder()
// ignoreBOM: a string that starts with U+FEFF keeps it (the default strips it as a byte-order mark).
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true })

/** Int64 and uint64 values outside the safe-integer range travel as themselves (see `decode`). */
const MIN_INT64 = -(2n ** 63n)
const MAX_UINT64 = 2n ** 64n - 1n
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

// ------------------------------------------------------------------- encode

/** A writer's buffer above this size is given back once it has gone unused (see `Writer`). */
const KEEP_BYTES = 64 * 1024
/** How many frames in a row must use under 1/16 of a buffer above `KEEP_BYTES` before it is given back. */
const SHRINK_AFTER_FRAMES = 256

/**
 * One growable output buffer, reused across frames by its owner. While an
 * `encode` runs, its `context` is handed to every call of the extension hook
 * (the hook may need to know whose frame it is encoding, e.g. to export a
 * reference on the right connection).
 *
 * The buffer is kept at the size the largest recent frame needed: a stream of
 * 1 MiB frames reuses one buffer instead of growing a fresh one per frame.
 * It is given back (replaced by a small one) only after `SHRINK_AFTER_FRAMES`
 * frames in a row used under a sixteenth of it, so one huge frame does not
 * stay pinned for long once the traffic is small again. Writers are per codec
 * (one per options object), not per connection.
 */
export class Writer<C = unknown> {
  private bytes = new Uint8Array(256)
  private view = new DataView(this.bytes.buffer)
  private pos = 0
  private context: C | undefined
  /** Frames in a row that used under a sixteenth of a buffer larger than `KEEP_BYTES`. */
  private smallFrames = 0
  /** True while `encode` runs: an extension hook that must encode a payload needs a writer of its own. */
  busy = false
  /** When set, binaries of at least `threshold` bytes are recorded here (position, bytes) instead of copied. */
  extracted: (number | Uint8Array)[] | undefined
  threshold = Infinity

  constructor(private readonly ext: ExtEncoder<C>) {}

  /**
   * Encode `value`, found at nesting `depth` (an extension's payload: one
   * below it), for `context`; the result is a copy, safe to keep. Not
   * re-entrant: check `busy` first.
   */
  encode(value: unknown, depth = 0, context?: C): Uint8Array {
    // A copy straight from the buffer: no intermediate view object per frame.
    // (The length first: writing may replace `this.bytes`.)
    const length = this.writeFrame(value, depth, context)
    const frame = this.bytes.slice(0, length)
    this.maybeShrink()
    return frame
  }

  /**
   * Like `encode`, but returns a view of the writer's own buffer, without a
   * copy: valid only until this writer encodes again. For a consumer that is
   * done with the bytes before that (one that copies them synchronously, as
   * the browser's `WebSocket.send` does); anything that keeps them needs
   * `encode`.
   */
  encodeView(value: unknown, depth = 0, context?: C): Uint8Array {
    const length = this.writeFrame(value, depth, context)
    const frame = this.bytes.subarray(0, length)
    this.maybeShrink()
    return frame
  }

  /**
   * Write one frame at the start of the buffer; returns its length. The
   * caller takes its view or copy, then calls `maybeShrink` (which may
   * replace the buffer).
   */
  private writeFrame(value: unknown, depth: number, context: C | undefined): number {
    if (this.busy) throw new Error('Writer.encode called while the writer is busy')
    this.busy = true
    this.context = context
    this.pos = 0
    try {
      this.write(value, depth)
      return this.pos
    } finally {
      this.busy = false
      this.context = undefined
    }
  }

  private maybeShrink(): void {
    const size = this.bytes.length
    if (size <= KEEP_BYTES || this.pos * 16 >= size) {
      this.smallFrames = 0
      return
    }
    // The view handed out last stays valid: a new buffer is allocated, the old one is not touched.
    if (++this.smallFrames >= SHRINK_AFTER_FRAMES) {
      this.smallFrames = 0
      this.reset(256)
    }
  }

  private reset(size: number): void {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
  }

  private ensure(n: number): void {
    const need = this.pos + n
    if (need <= this.bytes.length) return
    const old = this.bytes
    this.reset(Math.max(need, old.length * 2))
    this.bytes.set(old.subarray(0, this.pos))
  }

  private u8(b: number): void {
    this.ensure(1)
    this.bytes[this.pos++] = b
  }

  private head(code: number, size: 1 | 2 | 4, n: number): void {
    this.ensure(1 + size)
    this.bytes[this.pos++] = code
    if (size === 1) this.bytes[this.pos] = n
    else if (size === 2) this.view.setUint16(this.pos, n)
    else this.view.setUint32(this.pos, n)
    this.pos += size
  }

  /** A length-prefixed header: fixed form below `fixMax`, then 8/16/32-bit forms. */
  private sized(n: number, fix: number, fixMax: number, c8: number, c16: number, c32: number): void {
    if (n <= fixMax) this.u8(fix | n)
    else if (c8 && n < 0x100) this.head(c8, 1, n)
    else if (n < 0x10000) this.head(c16, 2, n)
    else this.head(c32, 4, n)
  }

  private write(value: unknown, depth: number): void {
    if (depth > MAX_DEPTH) throw new RangeError(`value nested deeper than ${MAX_DEPTH}`)
    switch (typeof value) {
      case 'number':
        return this.number(value)
      case 'string':
        return this.string(value)
      case 'boolean':
        return this.u8(value ? 0xc3 : 0xc2)
      case 'undefined':
        return this.u8(0xc0)
      case 'object':
        if (value === null) return this.u8(0xc0)
        break
      case 'bigint':
        // Beyond a double's exact range but within 64 bits: msgpack's own int 64 / uint 64,
        // which decode back to a bigint. Other bigints are left to the extension hook.
        if ((value < MIN_SAFE || value > MAX_SAFE) && value >= MIN_INT64 && value <= MAX_UINT64) return this.int64(value)
        break
    }
    const ext = this.ext(value as object, depth, this.context)
    if (ext) return this.extension(ext)
    if (Array.isArray(value)) {
      this.sized(value.length, 0x90, 15, 0, 0xdc, 0xdd)
      for (let i = 0; i < value.length; i++) this.write(value[i], depth + 1)
      return
    }
    if (ArrayBuffer.isView(value)) return this.binary(value)
    if (typeof value !== 'object') throw new TypeError(`cannot encode a ${typeof value}`)
    const keys = Object.keys(value as object)
    this.sized(keys.length, 0x80, 15, 0, 0xde, 0xdf)
    for (const key of keys) {
      this.string(key)
      this.write((value as Record<string, unknown>)[key], depth + 1)
    }
  }

  private number(n: number): void {
    if (Number.isSafeInteger(n)) {
      if (n >= 0) {
        if (n < 0x80) return this.u8(n)
        if (n < 0x100) return this.head(0xcc, 1, n)
        if (n < 0x10000) return this.head(0xcd, 2, n)
        if (n < 0x100000000) return this.head(0xce, 4, n)
        this.ensure(9)
        this.bytes[this.pos] = 0xcf
        this.view.setUint32(this.pos + 1, Math.floor(n / 0x100000000))
        this.view.setUint32(this.pos + 5, n >>> 0)
        this.pos += 9
        return
      }
      if (n >= -32) return this.u8(n & 0xff)
      this.ensure(9)
      if (n >= -0x80000000) {
        this.bytes[this.pos] = n >= -0x80 ? 0xd0 : n >= -0x8000 ? 0xd1 : 0xd2
        if (n >= -0x80) this.view.setInt8(this.pos + 1, n)
        else if (n >= -0x8000) this.view.setInt16(this.pos + 1, n)
        else this.view.setInt32(this.pos + 1, n)
        this.pos += n >= -0x80 ? 2 : n >= -0x8000 ? 3 : 5
        return
      }
      this.bytes[this.pos] = 0xd3
      this.view.setBigInt64(this.pos + 1, BigInt(n))
      this.pos += 9
      return
    }
    this.ensure(9)
    this.bytes[this.pos] = 0xcb
    this.view.setFloat64(this.pos + 1, n)
    this.pos += 9
  }

  private int64(n: bigint): void {
    this.ensure(9)
    this.bytes[this.pos] = n < 0n ? 0xd3 : 0xcf
    if (n < 0n) this.view.setBigInt64(this.pos + 1, n)
    else this.view.setBigUint64(this.pos + 1, n)
    this.pos += 9
  }

  private string(s: string): void {
    const n = s.length
    // Short strings (method names, keys) are encoded inline; a char takes at most 3 UTF-8 bytes.
    if (n < 64) {
      this.ensure(2 + n * 3)
      const start = this.pos
      let p = start + 1
      const b = this.bytes
      for (let i = 0; i < n; i++) {
        let c = s.charCodeAt(i)
        if (c < 0x80) b[p++] = c
        else if (c < 0x800) {
          b[p++] = 0xc0 | (c >> 6)
          b[p++] = 0x80 | (c & 0x3f)
        } else {
          if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
            const d = s.charCodeAt(i + 1)
            if (d >= 0xdc00 && d < 0xe000) {
              i++
              c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
              b[p++] = 0xf0 | (c >> 18)
              b[p++] = 0x80 | ((c >> 12) & 0x3f)
              b[p++] = 0x80 | ((c >> 6) & 0x3f)
              b[p++] = 0x80 | (c & 0x3f)
              continue
            }
          }
          if (c >= 0xd800 && c < 0xe000) c = 0xfffd // lone surrogate, as TextEncoder does
          b[p++] = 0xe0 | (c >> 12)
          b[p++] = 0x80 | ((c >> 6) & 0x3f)
          b[p++] = 0x80 | (c & 0x3f)
        }
      }
      const len = p - start - 1
      if (len < 32) {
        b[start] = 0xa0 | len
        this.pos = p
        return
      }
      // str8 needs one more header byte: shift the encoded text right by one.
      b.copyWithin(start + 2, start + 1, p)
      b[start] = 0xd9
      b[start + 1] = len
      this.pos = p + 1
      return
    }
    const encoded = textEncoder.encode(s)
    this.sized(encoded.length, 0xa0, 31, 0xd9, 0xda, 0xdb)
    this.raw(encoded)
  }

  private binary(value: ArrayBufferView): void {
    const data = new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    this.sized(data.length, 0, -1, 0xc4, 0xc5, 0xc6)
    if (this.extracted && data.length >= this.threshold) this.extracted.push(this.pos, data)
    else this.raw(data)
  }

  private extension(ext: ExtData): void {
    const n = ext.data.length
    const fixed = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0
    if (fixed) this.u8(fixed)
    else this.sized(n, 0, -1, 0xc7, 0xc8, 0xc9)
    this.ensure(1)
    this.view.setInt8(this.pos++, ext.type)
    this.raw(ext.data)
  }

  private raw(data: Uint8Array): void {
    this.ensure(data.length)
    this.bytes.set(data, this.pos)
    this.pos += data.length
  }
}

// ------------------------------------------------------------------- decode

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
      out[key] = this.read(depth + 1)
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
    // A view, not a copy: large payloads pass through untouched.
    return this.bytes.subarray(at, at + n)
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

// --------------------------------------------------------------- timestamps

/** msgpack's timestamp extension (type -1), in its 32, 64 or 96-bit form. */
export const TIMESTAMP = -1

export function encodeTimestamp(date: Date): Uint8Array {
  const ms = date.getTime()
  const sec = Math.floor(ms / 1000)
  const nsec = (ms - sec * 1000) * 1e6
  if (sec >= 0 && sec < 0x400000000) {
    if (nsec === 0 && sec < 0x100000000) {
      const out = new Uint8Array(4)
      new DataView(out.buffer).setUint32(0, sec)
      return out
    }
    const out = new Uint8Array(8)
    const v = new DataView(out.buffer)
    v.setUint32(0, nsec * 4 + Math.floor(sec / 0x100000000))
    v.setUint32(4, sec >>> 0)
    return out
  }
  const out = new Uint8Array(12)
  const v = new DataView(out.buffer)
  v.setUint32(0, nsec)
  v.setBigInt64(4, BigInt(sec))
  return out
}

export function decodeTimestamp(data: Uint8Array): Date {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let sec: number
  let nsec = 0
  if (data.length === 4) sec = v.getUint32(0)
  else if (data.length === 8) {
    const hi = v.getUint32(0)
    nsec = hi >>> 2
    sec = (hi & 0x3) * 0x100000000 + v.getUint32(4)
  } else if (data.length === 12) {
    nsec = v.getUint32(0)
    sec = Number(v.getBigInt64(4))
  } else throw new DecodeError('malformed timestamp')
  return new Date(sec * 1000 + nsec / 1e6)
}
