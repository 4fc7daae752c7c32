/**
 * The msgpack encoder: `Writer`, one reusable output buffer (msgpack.ts says
 * why wirecall has its own msgpack, and holds what encoding and decoding share).
 */

import { MAX_DEPTH, type ExtData, type ExtEncoder } from './msgpack.js'

const textEncoder = new TextEncoder()

/** Int64 and uint64 values outside the safe-integer range travel as themselves (see `decode`). */
const MIN_INT64 = -(2n ** 63n)
const MAX_UINT64 = 2n ** 64n - 1n
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

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
