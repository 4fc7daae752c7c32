/**
 * Message shapes on the wire (docs/protocol.md) and their validation.
 *
 * Binary frames are msgpack-rpc arrays, so any msgpack-rpc client can call a
 * wirecall peer; types 3 and 4 are wirecall extensions a plain peer never
 * needs. Text frames are JSON-RPC 2.0.
 */
import type { WireError } from './errors.js'

export const MessageType = {
  /** `[0, msgid, method, params]` */
  REQUEST: 0,
  /** `[1, msgid, error, result]` */
  RESPONSE: 1,
  /** `[2, method, params]` */
  NOTIFICATION: 2,
  /** `[3, msgid]`: the caller gave up on request msgid (abort or timeout); the handler's signal fires. */
  CANCEL: 3,
  /** `[4, [id, count, id, count, ...]]`: the holder dropped `count` imports of each exported reference. */
  RELEASE: 4,
} as const

/** Largest msgid: msgpack-rpc ids are uint32. */
export const MAX_MSGID = 0xffff_ffff

export type Message =
  | { type: 0; id: number; method: string; params: unknown[] }
  | { type: 1; id: number; error: unknown; result: unknown }
  | { type: 2; method: string; params: unknown[] }
  | { type: 3; id: number }
  | { type: 4; releases: number[] }

/** Why a frame was rejected, and the request id to answer when one could be read. */
export class FrameError extends Error {
  constructor(message: string, readonly replyTo?: number) {
    super(message)
  }
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_MSGID

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
      return { type: 0, id, method, params }
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
      return { type: 2, method, params }
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
    default:
      throw new FrameError(`unknown message type ${typeof type === 'number' ? type : typeof type}`, isId(frame[1]) ? frame[1] : undefined)
  }
}

// ---------------------------------------------------------------- JSON-RPC 2.0

/** The JSON-RPC 2.0 code for text that is not JSON at all. */
export const JSON_PARSE_ERROR = -32700

/** JSON-RPC 2.0 error codes for our error codes; anything else is -32000 (server error). */
const JSON_RPC_CODES: Readonly<Record<string, number>> = {
  WIRECALL_PROTOCOL_ERROR: -32600,
  WIRECALL_NOT_FOUND: -32601,
  WIRECALL_BAD_PARAMETERS: -32602,
}

/** A JSON-RPC request or notification, normalised. `id` is absent for notifications. */
export interface JsonRequest {
  readonly method: string
  readonly params: unknown[]
  readonly id?: string | number | null
  readonly isNotification: boolean
}

/** Parse one text frame (a single request or a batch array). Throws `FrameError` with a JSON-RPC-ready message. */
export function parseJsonFrame(text: string): { batch: boolean; requests: (JsonRequest | FrameError)[] } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new FrameError('Parse error')
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new FrameError('Invalid Request: empty batch')
    return { batch: true, requests: value.filter((v) => !isJsonResponse(v)).map(parseJsonRequest) }
  }
  return { batch: false, requests: isJsonResponse(value) ? [] : [parseJsonRequest(value)] }
}

/**
 * A JSON-RPC response (`result` or `error`, no `method`) is skipped, never answered: answering it
 * with "Invalid Request" made two peers bounce error objects at each other forever.
 */
function isJsonResponse(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !('method' in value) && ('result' in value || 'error' in value)
}

function parseJsonRequest(value: unknown): JsonRequest | FrameError {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return new FrameError('Invalid Request')
  const v = value as Record<string, unknown>
  const hasId = Object.prototype.hasOwnProperty.call(v, 'id')
  const id = v.id
  if (hasId && id !== null && typeof id !== 'string' && typeof id !== 'number') return new FrameError('Invalid Request: bad id')
  if (v.jsonrpc !== '2.0' || typeof v.method !== 'string' || !v.method) return new FrameError('Invalid Request')
  let params: unknown[]
  if (v.params === undefined) params = []
  else if (Array.isArray(v.params)) params = v.params
  else return Object.assign(new FrameError('Invalid params: wirecall takes positional (array) params'), { jsonId: id })
  return hasId
    ? { method: v.method, params, id: id as string | number | null, isNotification: false }
    : { method: v.method, params, isNotification: true }
}

/** JSON-RPC response object for a result. */
export function jsonResult(id: string | number | null, result: unknown): object {
  return { jsonrpc: '2.0', id, result: result === undefined ? null : result }
}

/** JSON-RPC response object for an error; our wire error rides in `data`. */
export function jsonError(id: string | number | null | undefined, error: WireError, jsonCode?: number): object {
  return {
    jsonrpc: '2.0',
    id: id ?? null,
    error: { code: jsonCode ?? JSON_RPC_CODES[error.code] ?? -32000, message: error.message, data: error },
  }
}
