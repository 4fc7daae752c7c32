/**
 * Message shapes on the wire (docs/protocol.md) and their validation.
 *
 * Binary frames are msgpack-rpc arrays, so any msgpack-rpc client can call a
 * wirecall peer; types 3 to 8 are wirecall extensions a plain peer never
 * needs (5 to 8 carry streams, see streams.ts). Text frames (JSON-RPC 2.0)
 * are handled by `json-rpc.ts`.
 */
import { pauseStacks, resumeStacks } from './stackless.js'

/**
 * The reserved method that answers a `ServiceDescription` when reflection is on
 * (JSON-RPC 2.0 reserves the `rpc.` prefix for such extensions; see docs/protocol.md).
 */
export const DESCRIBE_METHOD = 'rpc.describe'

export const MessageType = {
  /** `[0, msgid, method, params]`, or `[0, msgid, method, params, metadata]` */
  REQUEST: 0,
  /** `[1, msgid, error, result]` */
  RESPONSE: 1,
  /** `[2, method, params]`, or `[2, method, params, metadata]` */
  NOTIFICATION: 2,
  /** `[3, msgid]`: the caller gave up on request msgid (abort or timeout); the handler's signal fires. */
  CANCEL: 3,
  /** `[4, [id, count, id, count, ...]]`: the holder dropped `count` imports of each exported reference. */
  RELEASE: 4,
  /** `[5, sid, [item, ...]]`: items of the sender's stream `sid`, in order. */
  STREAM_DATA: 5,
  /** `[6, sid, items, bytes]`: the peer's stream `sid` may send this many more items and bytes (the first credit starts it). */
  STREAM_CREDIT: 6,
  /** `[7, sid, error]`: the sender's stream `sid` is over; `error` nil when it finished. */
  STREAM_END: 7,
  /** `[8, sid]`: the sender stops reading the peer's stream `sid`. */
  STREAM_CANCEL: 8,
} as const

/** Largest msgid: msgpack-rpc ids are uint32. */
export const MAX_MSGID = 0xffff_ffff

/**
 * The optional trailing element of a request or notification: string keys to
 * string values (W3C trace context: `traceparent`, `tracestate`). A plain
 * msgpack-rpc peer never sends it and ignores it; a value of any other shape
 * is ignored here too.
 */
export type Metadata = Readonly<Record<string, string>>

export type Message =
  | { type: 0; id: number; method: string; params: unknown[]; metadata: Metadata | undefined }
  | { type: 1; id: number; error: unknown; result: unknown }
  | { type: 2; method: string; params: unknown[]; metadata: Metadata | undefined }
  | { type: 3; id: number }
  | { type: 4; releases: number[] }
  | StreamMessage

/**
 * Messages 5 to 8 (streams): only the stream id is checked here; the rest of
 * the frame is read by the stream table (stream-table.ts), so that a session
 * without the `streams` option carries no stream code.
 */
export interface StreamMessage {
  readonly type: 5 | 6 | 7 | 8
  readonly sid: number
  /** The whole decoded frame, `[type, sid, ...]`. */
  readonly frame: readonly unknown[]
}

/** One line about a message, for debug logs: `request #7 math.add`. */
export function describeMessage(message: Message): string {
  switch (message.type) {
    case 0: return `request #${message.id} ${message.method}`
    case 1: return `response #${message.id}${message.error == null ? '' : ' (error)'}`
    case 2: return `notification ${message.method}`
    case 3: return `cancel #${message.id}`
    case 4: return `release ${message.releases.length / 2} reference(s)`
    default: return `stream #${message.sid} message ${message.type}`
  }
}

/** Why a frame was rejected, and the request id to answer when one could be read. No stack trace (see stackless.ts). */
export class FrameError extends Error {
  readonly replyTo: number | undefined
  constructor(message: string, replyTo?: number) {
    const saved = pauseStacks()
    super(message)
    resumeStacks(saved)
    this.replyTo = replyTo
  }
}

/** A msgpack-rpc id (msgid, stream id, credit): a uint32. */
export const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_MSGID

/** Validate a decoded msgpack frame. Throws `FrameError` on anything else. */
export function parseMessage(frame: unknown): Message {
  if (!Array.isArray(frame)) throw new FrameError('frame is not an array')
  const type = frame[0]
  switch (type) {
    // Index reads, not destructuring: this runs for every frame.
    case 0: {
      const id: unknown = frame[1], method: unknown = frame[2], params: unknown = frame[3]
      if (!isId(id)) throw new FrameError('request id must be a uint32')
      if (frame.length < 4) throw new FrameError('request must be [0, msgid, method, params]', id)
      if (typeof method !== 'string' || method.length === 0) throw new FrameError('method must be a non-empty string', id)
      if (!Array.isArray(params)) throw new FrameError('params must be an array', id)
      return { type: 0, id, method, params, metadata: frame.length > 4 ? metadataOf(frame[4]) : undefined }
    }
    case 1: {
      const id: unknown = frame[1], error: unknown = frame[2], result: unknown = frame[3]
      if (!isId(id) || frame.length < 4) throw new FrameError('response must be [1, msgid, error, result]')
      return { type: 1, id, error, result }
    }
    case 2: {
      const method: unknown = frame[1], params: unknown = frame[2]
      if (typeof method !== 'string' || method.length === 0 || !Array.isArray(params) || frame.length < 3) {
        throw new FrameError('notification must be [2, method, params]')
      }
      return { type: 2, method, params, metadata: frame.length > 3 ? metadataOf(frame[3]) : undefined }
    }
    case 3: {
      const id = frame[1]
      if (!isId(id)) throw new FrameError('cancel must be [3, msgid]')
      return { type: 3, id }
    }
    case 4: {
      const list = frame[1]
      if (!Array.isArray(list) || list.length % 2 !== 0 || !list.every(isId)) {
        throw new FrameError('release must be [4, [id, count, ...]]')
      }
      return { type: 4, releases: list as number[] }
    }
    case 5:
    case 6:
    case 7:
    case 8: {
      const sid: unknown = frame[1]
      if (!isId(sid)) throw new FrameError(`stream message ${type} must be [${type}, sid, ...]`)
      return { type, sid, frame }
    }
    default:
      throw new FrameError(`unknown message type ${typeof type === 'number' ? type : typeof type}`, isId(frame[1]) ? frame[1] : undefined)
  }
}

/** Most metadata entries read from one message; the rest are ignored (a peer cannot make us copy a huge map). */
export const MAX_METADATA_ENTRIES = 8

/** The metadata slot if it has the documented shape (string keys to strings), else undefined. Also read from Redis relay messages. */
export function metadataOf(value: unknown): Metadata | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) return undefined
  let metadata: Record<string, string> | undefined
  let taken = 0
  for (const key in value) {
    const entry: unknown = (value as Record<string, unknown>)[key]
    if (typeof entry !== 'string') continue
    ;(metadata ??= Object.create(null) as Record<string, string>)[key] = entry
    if (++taken === MAX_METADATA_ENTRIES) break
  }
  return metadata
}

/**
 * The type (request or response) and msgid at the start of a frame that
 * failed to decode: `[0|1, msgid, ...]` with at least 3 elements, read from
 * the raw bytes.
 */
export function peekMessageId(frame: Uint8Array): { type: 0 | 1; id: number } | undefined {
  let pos: number
  const head = frame[0]
  if (head === undefined) return undefined
  if (head >= 0x93 && head <= 0x9f) pos = 1
  else if (head === 0xdc) pos = 3
  else if (head === 0xdd) pos = 5
  else return undefined
  const type = frame[pos]
  if (type !== 0x00 && type !== 0x01) return undefined
  pos++
  const b = frame[pos]
  if (b === undefined) return undefined
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  let id: number | undefined
  if (b <= 0x7f) id = b
  else if (b === 0xcc && pos + 1 < frame.length) id = view.getUint8(pos + 1)
  else if (b === 0xcd && pos + 2 < frame.length) id = view.getUint16(pos + 1)
  else if (b === 0xce && pos + 4 < frame.length) id = view.getUint32(pos + 1)
  return id === undefined ? undefined : { type, id }
}
