/**
 * The msgpack codec and its extension registry: how values beyond plain
 * msgpack cross the wire (the numbers are listed in docs/protocol.md). The
 * format itself is in msgpack.ts, msgpack-encode.ts and msgpack-decode.ts.
 *
 * One codec (and its one output buffer) serves every session that uses the
 * same options: a buffer per connection would stay alive for every idle
 * connection. Which session a frame belongs to is an explicit argument, the
 * `RefHost`, handed by the writer and the reader to the extension hooks that
 * export and import references.
 */
import { decodeTimestamp, encodeTimestamp, ExtData, TIMESTAMP, type PayloadReader } from './msgpack.js'
import { Writer } from './msgpack-encode.js'
import { decode } from './msgpack-decode.js'
import { fromWireError, toWireError, type ErrorPolicy, type ErrorTable, type WireError } from './errors.js'
import { isService } from './router.js'
import { DEFAULT_LIMITS } from './limits.js'
import { isStreamSource } from './stream-source.js'

/** Extension type numbers 64-127 are wirecall's; 0-63 are the user's. */
export const ExtType = {
  /** A function exported by the sender; payload: u32 id. */
  FUNCTION_REF: 64,
  /** A service exported by the sender; payload: u32 id. */
  SERVICE_REF: 65,
  /** One of the receiver's own exports handed back; payload: u32 id. */
  RETURNED_REF: 66,
  /**
   * A BigInt that msgpack's int 64 / uint 64 cannot carry as one, i.e. within
   * ±(2^53 - 1) (so it arrives as a bigint, not a number) or beyond 64 bits;
   * payload: msgpack string, decimal. Other bigints are plain msgpack integers.
   */
  BIGINT: 67,
  /** Map; payload: msgpack array [k0, v0, k1, v1, ...]. */
  MAP: 68,
  /** Set; payload: msgpack array of members. */
  SET: 69,
  /** An Error used as a value (not thrown); payload: the error's wire map. */
  ERROR: 70,
  /** An ArrayBuffer (arrives as an ArrayBuffer, not a Uint8Array); payload: its bytes. */
  ARRAY_BUFFER: 71,
  /** An invalid Date (`new Date(NaN)`), which the timestamp extension cannot carry; payload: empty. */
  INVALID_DATE: 72,
  /** A stream (async iterable, ReadableStream) exported by the sender; payload: u32 stream id (streams.ts). */
  STREAM: 73,
} as const

/** What the codec needs from a session to pass callbacks and services by reference. */
export interface RefHost {
  /** Export a local function or service to the peer; returns the id to send. */
  exportRef(value: object): number
  /** If `value` is a proxy of a reference this host imported from its peer, its id. */
  importedIdOf(value: object): number | undefined
  /** Build (or reuse) the local proxy for a reference the peer exported. */
  importRef(id: number): unknown
  /** The peer handed back one of our own exports: the original object. */
  ownExport(id: number): unknown
  /** Export a local stream (async iterable, ReadableStream) to the peer; returns its stream id. */
  exportStream(value: object): number
  /** Build the local reader of a stream the peer exported. */
  importStream(id: number): unknown
  /** Where errors decoded as values came from. */
  readonly peerLabel: string | undefined
  readonly errorTable: ErrorTable | undefined
  readonly errorPolicy: ErrorPolicy
}

/** The constructor of a class registered as a `ValueType`. */
export type ValueClass<T> = abstract new (...args: never[]) => T

/** A user value translator (aiozmq's): a class that crosses the wire as itself. */
export interface ValueType<T = unknown, W = unknown> {
  /** Extension type number, 0-63. */
  readonly type: number
  /** Instances of this class (and its subclasses) are encoded with `encode`. */
  readonly class: ValueClass<T>
  /** To something msgpack can carry (may itself contain registered types). */
  encode(value: T): W
  /** Back from that form. */
  decode(wire: W): T
}

/**
 * Binaries at least this large are not copied into the frame: the frame is
 * sent in parts (WebSocket fragments of one message) with the caller's bytes
 * passed through as they are. Below it, one contiguous frame is cheaper.
 */
export const ZERO_COPY_THRESHOLD = 64 * 1024


/** The msgpack codec of a session: built-in extensions plus user value types. */
export class MsgpackCodec {
  private readonly writer: Writer<RefHost>
  private readonly userTypes = new Map<Function, ValueType>()
  private readonly userDecoders = new Map<number, ValueType>()
  private readonly encodeExt = (value: unknown, depth: number, host: RefHost | undefined): ExtData | null =>
    this.tryToEncode(value, host, depth)
  private readonly decodeExtension = (type: number, data: Uint8Array, payload: PayloadReader<RefHost>): unknown =>
    this.decodeExt(data, type, payload)

  constructor(types: readonly ValueType[] = []) {
    for (const t of types) {
      if (!Number.isInteger(t.type) || t.type < 0 || t.type > 63) {
        throw new RangeError(`wirecall: value type numbers are 0-63 (64-127 are reserved), got ${t.type}`)
      }
      if (this.userDecoders.has(t.type)) throw new RangeError(`wirecall: value type ${t.type} registered twice`)
      this.userTypes.set(t.class, t)
      this.userDecoders.set(t.type, t)
    }
    this.writer = new Writer(this.encodeExt)
    this.writer.threshold = ZERO_COPY_THRESHOLD
  }

  /**
   * Encode one frame as a list of parts to be sent as fragments of one
   * WebSocket message: large binaries are passed through, not copied.
   * Returns a single array when there was nothing to pass through: with
   * `view`, a view of the codec's reused buffer (as `encodeView`, for a
   * transport that copies on send); the parts of a frame that has them are
   * always kept bytes.
   */
  encodeParts(value: unknown, host: RefHost | undefined, view = false): Uint8Array | Uint8Array[] {
    // A frame encoded from inside an extension hook (a user type's encode): no pass-through.
    if (this.writer.busy) return this.encode(value, host)
    const list: (number | Uint8Array)[] = []
    this.writer.extracted = list
    let head: Uint8Array
    try {
      head = view ? this.writer.encodeView(value, 0, host) : this.encode(value, host)
    } finally {
      this.writer.extracted = undefined
    }
    if (list.length === 0) return head
    // Parts are queued by reference: never a view of the buffer the next frame is written into.
    if (view) head = head.slice()
    const parts: Uint8Array[] = []
    let start = 0
    for (let i = 0; i < list.length; i += 2) {
      const at = list[i] as number
      if (at > start) parts.push(head.subarray(start, at))
      parts.push(list[i + 1] as Uint8Array)
      start = at
    }
    if (start < head.length) parts.push(head.subarray(start))
    return parts
  }

  /** Encode one frame. Throws on values that cannot cross (symbols, unexportable functions). */
  encode(value: unknown, host: RefHost | undefined): Uint8Array {
    return this.encodeAt(value, host, 0)
  }

  /**
   * Encode one frame into the codec's reused buffer and return a view of it,
   * without the copy `encode` makes: valid only until this codec encodes
   * again, so only for a transport that copies on send (`Transport.copiesFrames`).
   */
  encodeView(value: unknown, host: RefHost | undefined): Uint8Array {
    // From inside an extension hook the shared writer is busy: a fresh one, whose bytes are kept anyway.
    if (this.writer.busy) return this.encode(value, host)
    return this.writer.encodeView(value, 0, host)
  }

  /** Encode `value` found at nesting `depth`: an extension's payload counts toward the depth limit of its frame. */
  private encodeAt(value: unknown, host: RefHost | undefined, depth: number): Uint8Array {
    // Extension payloads are encoded while the shared writer is busy: they get a writer of their own.
    const writer = this.writer.busy ? new Writer(this.encodeExt) : this.writer
    return writer.encode(value, depth, host)
  }

  /**
   * Decode one frame. `maxBytes` bounds every length header (and the decoder
   * refuses any header claiming more items than bytes are left);
   * `maxExpansion` bounds the memory the decoded value takes, as a multiple
   * of the frame's size (`Limits.maxDecodeExpansion`). Depth and expansion
   * limits hold through extension payloads (Map, Set, Error, user types).
   */
  decode(frame: Uint8Array, host: RefHost | undefined, maxBytes: number, maxExpansion = DEFAULT_LIMITS.maxDecodeExpansion): unknown {
    return decode(frame, this.decodeExtension, maxBytes, maxExpansion, host)
  }

  private tryToEncode(value: unknown, host: RefHost | undefined, depth: number): ExtData | null {
    if (Array.isArray(value)) return null
    if (typeof value === 'function') return this.encodeRef(value, 'function', host)
    if (typeof value === 'bigint') return new ExtData(ExtType.BIGINT, this.encodeAt(value.toString(), host, depth + 1))
    if (typeof value !== 'object' || value === null) return null
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto === Object.prototype || proto === null) {
      if (isService(value)) return this.encodeRef(value, 'service', host)
      // A plain object with [Symbol.asyncIterator] is a stream like any other async iterable.
      return typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function' ? this.encodeStream(value, host) : null
    }
    if (ArrayBuffer.isView(value)) return null
    if (value instanceof Date) {
      return Number.isNaN(value.getTime()) ? new ExtData(ExtType.INVALID_DATE, EMPTY) : new ExtData(TIMESTAMP, encodeTimestamp(value))
    }
    // Unknown extensions decoded by a relay are passed on untouched.
    if (value instanceof ExtData) return value
    if (value instanceof ArrayBuffer) return new ExtData(ExtType.ARRAY_BUFFER, new Uint8Array(value))
    if (value instanceof Map) {
      const flat: unknown[] = []
      for (const [k, v] of value) flat.push(k, v)
      return new ExtData(ExtType.MAP, this.encodeAt(flat, host, depth + 1))
    }
    if (value instanceof Set) return new ExtData(ExtType.SET, this.encodeAt([...value], host, depth + 1))
    const user = this.findUserType(value)
    if (user) return new ExtData(user.type, this.encodeAt(user.encode(value), host, depth + 1))
    if (value instanceof Error) {
      const wire = toWireError(value, host?.errorPolicy ?? false)
      // No reference host: functions hidden in an error's fields must not become callable remotely.
      return new ExtData(ExtType.ERROR, this.encodeAt(wire, undefined, depth + 1))
    }
    if (isService(value)) return this.encodeRef(value, 'service', host)
    if (isStreamSource(value)) return this.encodeStream(value, host)
    return null
  }

  private encodeStream(value: object, host: RefHost | undefined): ExtData {
    if (!host) throw new TypeError('cannot send a stream here: streams need a connection (broadcasts carry data only)')
    return new ExtData(ExtType.STREAM, u32(host.exportStream(value)))
  }

  private findUserType(value: object): ValueType | undefined {
    if (this.userTypes.size === 0) return undefined
    for (let proto: unknown = Object.getPrototypeOf(value); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      const found = this.userTypes.get((proto as { constructor: Function }).constructor)
      if (found) return found
    }
    return undefined
  }

  private encodeRef(value: object, kind: 'function' | 'service', host: RefHost | undefined): ExtData {
    if (!host) throw new TypeError(`cannot send a ${kind} here: references need a connection (broadcasts carry data only)`)
    const returned = host.importedIdOf(value)
    if (returned !== undefined) return new ExtData(ExtType.RETURNED_REF, u32(returned))
    const id = host.exportRef(value)
    return new ExtData(kind === 'function' ? ExtType.FUNCTION_REF : ExtType.SERVICE_REF, u32(id))
  }

  private decodeExt(data: Uint8Array, type: number, payload: PayloadReader<RefHost>): unknown {
    const host = payload.context
    switch (type) {
      case TIMESTAMP:
        return decodeTimestamp(data)
      case ExtType.FUNCTION_REF:
      case ExtType.SERVICE_REF:
      case ExtType.RETURNED_REF: {
        if (!host) throw new TypeError('reference received outside a connection')
        const id = readU32(data)
        if (type === ExtType.RETURNED_REF) return host.ownExport(id)
        return host.importRef(id)
      }
      case ExtType.STREAM:
        if (!host) throw new TypeError('stream received outside a connection')
        return host.importStream(readU32(data))
      case ExtType.BIGINT: {
        const text = payload.decode(data)
        if (typeof text !== 'string' || !/^-?\d{1,10000}$/.test(text)) throw new TypeError('malformed bigint')
        return BigInt(text)
      }
      case ExtType.MAP: {
        const flat = payload.decode(data)
        if (!Array.isArray(flat) || flat.length % 2 !== 0) throw new TypeError('malformed map')
        const map = new Map<unknown, unknown>()
        for (let i = 0; i < flat.length; i += 2) map.set(flat[i], flat[i + 1])
        return map
      }
      case ExtType.SET: {
        const members = payload.decode(data)
        if (!Array.isArray(members)) throw new TypeError('malformed set')
        return new Set(members)
      }
      case ExtType.ARRAY_BUFFER:
        return data.slice().buffer
      case ExtType.INVALID_DATE:
        return new Date(NaN)
      case ExtType.ERROR: {
        const wire = payload.decode(data) as WireError
        // An Error object with its stack holds ~600 bytes more than its wire map (measured on V8).
        payload.spend(ERROR_VALUE_COST)
        return fromWireError(wire, host?.peerLabel, host?.errorTable)
      }
      default: {
        const user = this.userDecoders.get(type)
        if (user) return user.decode(payload.decode(data))
        // Unknown extensions stay inspectable rather than failing the whole frame.
        return new ExtData(type, data)
      }
    }
  }

}

const EMPTY = new Uint8Array(0)
/** What an Error decoded as a value costs against `maxDecodeExpansion`, beyond its payload. */
const ERROR_VALUE_COST = 640

function u32(id: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, id)
  return out
}

function readU32(data: Uint8Array): number {
  if (data.byteLength !== 4) throw new TypeError('malformed reference id')
  return new DataView(data.buffer, data.byteOffset, 4).getUint32(0)
}

/** The codec used when a session registers no value types. */
export const defaultCodec = new MsgpackCodec()
