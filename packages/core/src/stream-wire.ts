/**
 * How a response whose result holds streams is marked on the wire
 * (docs/protocol.md, Streams): its error slot carries `STREAM_RESULT_ERROR`,
 * which a wirecall peer reads as a success and a plain msgpack-rpc peer as a
 * clear error.
 */
import type { WireError } from './errors.js'
import { MessageType } from './protocol.js'
import { STREAM_RESULT_CODE } from './stream-support.js'

/** What a peer that does not speak streams reads in the error slot of a response whose result holds one. */
export const STREAM_RESULT_ERROR: Readonly<WireError> = Object.freeze({
  name: 'StreamError',
  code: STREAM_RESULT_CODE,
  message: 'the result of this call holds a stream (msgpack ext type 73), which only a wirecall peer can read; see docs/protocol.md, Streams',
})

/**
 * `[1, msgid, nil, ...]` becomes `[1, msgid, STREAM_RESULT_ERROR, ...]`
 * (only the first part of a frame in parts is rewritten).
 */
export function markStreamResult(frame: Uint8Array | Uint8Array[], id: number, marker: Uint8Array): Uint8Array | Uint8Array[] {
  const head = Array.isArray(frame) ? frame[0]! : frame
  const at = 2 + (id < 0x80 ? 1 : id < 0x100 ? 2 : id < 0x10000 ? 3 : 5)
  if (head[0] !== 0x94 || head[1] !== MessageType.RESPONSE || head[at] !== 0xc0) throw new Error('not a success response frame')
  const out = new Uint8Array(head.byteLength - 1 + marker.byteLength)
  out.set(head.subarray(0, at))
  out.set(marker, at)
  out.set(head.subarray(at + 1), at + marker.byteLength)
  if (!Array.isArray(frame)) return out
  return [out, ...frame.slice(1)]
}
