/**
 * A small msgpack encoder and decoder (https://github.com/msgpack/msgpack/blob/master/spec.md),
 * written for wirecall's needs instead of depending on @msgpack/msgpack:
 *
 * - size: the browser bundle budget (12 KB gz with the codec) leaves ~2 KB gz
 *   for msgpack; a general-purpose library costs ~6 KB gz;
 * - zero-copy: large binaries can be left out of the frame and sent as
 *   separate parts (see `Writer.extracted` in msgpack-encode.ts);
 * - hostile input: every length is checked against the bytes actually left
 *   before anything is allocated, depth is bounded (through extension
 *   payloads too), the memory a frame decodes into is bounded by a multiple
 *   of its size, `__proto__` keys refused.
 *
 * Extension values (references, Map, Set, user types...) are delegated to
 * hooks; these files know only the msgpack format itself and timestamps.
 *
 * The format is in three files: this one (what both directions share: the
 * extension hooks' types, `ExtData`, `DecodeError`, `MAX_DEPTH`, and the
 * timestamp extension), msgpack-encode.ts (`Writer`) and msgpack-decode.ts
 * (`decode` and its bounds).
 */

import { pauseStacks, resumeStacks } from './stackless.js'

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
