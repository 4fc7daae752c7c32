/**
 * JSON-RPC 2.0 over text frames: how clients in any language (or a plain
 * `JSON.stringify` over a WebSocket) call a wirecall service. A pluggable
 * `TextProtocol`: the Node adapter installs `jsonRpc`; browsers leave it out.
 * JSON frames carry JSON values only (no references, no binary).
 */
import { NotFoundError, OverloadedError, ParameterError, ProtocolError, toWireError, type WireError } from './errors.js'
import { FrameError } from './protocol.js'

/** What a text protocol may do with the session that received the frame. */
export interface TextPeer {
  readonly maxFrameBytes: number
  readonly exposeErrorStacks: boolean
  /** Run an incoming call; rejects with what the handler threw (or `NotFoundError`, `OverloadedError`). */
  call(method: string, params: unknown[]): Promise<unknown>
  /** Dispatch an incoming notification (errors are logged, never answered). */
  notify(method: string, params: unknown[]): void
  sendText(text: string): void
  /** Count a malformed frame in the session's stats. */
  malformed(): void
}

/** Understands text frames for a session (`SessionOptions.textFrames`). */
export interface TextProtocol {
  receive(text: string, peer: TextPeer): void
}


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

/** JSON-RPC 2.0 requests, notifications and batches, positional params only. */
export const jsonRpc: TextProtocol = {
  receive(text, peer) {
    if (text.length > peer.maxFrameBytes) return send(peer, jsonError(null, toWireError(new ProtocolError('frame exceeds maxFrameBytes'), false)))
    let parsed
    try {
      parsed = parseJsonFrame(text)
    } catch (err) {
      peer.malformed()
      const message = (err as Error).message
      const code = message === 'Parse error' ? JSON_PARSE_ERROR : undefined
      return send(peer, jsonError(null, toWireError(new ProtocolError(message), false), code))
    }
    const answers = parsed.requests.map((request) => answer(peer, request))
    if (parsed.batch) {
      void Promise.all(answers).then((list) => {
        const present = list.filter((a): a is object => a !== undefined)
        if (present.length) send(peer, present)
      })
    } else {
      void answers[0]?.then((a) => a && send(peer, a)) // none: it was a response, skipped
    }
  },
}

async function answer(peer: TextPeer, request: JsonRequest | FrameError): Promise<object | undefined> {
  if (request instanceof FrameError) {
    peer.malformed()
    const id = (request as FrameError & { jsonId?: string | number | null }).jsonId
    const error = request.message.startsWith('Invalid params') ? new ParameterError(request.message) : new ProtocolError(request.message)
    return jsonError(id, toWireError(error, false))
  }
  if (request.isNotification) {
    peer.notify(request.method, request.params)
    return undefined
  }
  const id = request.id ?? null
  try {
    return jsonResult(id, await peer.call(request.method, request.params))
  } catch (err) {
    const library = err instanceof NotFoundError || err instanceof OverloadedError
    return jsonError(id, toWireError(err, library ? false : peer.exposeErrorStacks))
  }
}

function send(peer: TextPeer, value: unknown): void {
  let text: string
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  } catch (err) {
    text = JSON.stringify(jsonError(null, toWireError(new TypeError(`result could not be encoded as JSON: ${(err as Error).message}`), false)))
  }
  peer.sendText(text)
}
