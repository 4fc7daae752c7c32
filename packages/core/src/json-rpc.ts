/**
 * JSON-RPC 2.0 over text frames: how clients in any language (or a plain
 * `JSON.stringify` over a WebSocket) call a wirecall service. A pluggable
 * `TextProtocol`: the Node adapter installs `jsonRpc`; browsers leave it out.
 * JSON frames carry JSON values only (no references, no binary).
 */
import { ErrorCode, NotFoundError, OverloadedError, toWireError, WirecallError, type ErrorPolicy, type WireError } from './errors.js'
import { discardSource, isStreamSource } from './stream-source.js'
import { STREAM_RESULT_ERROR } from './stream-wire.js'

/** What a text protocol may do with the session that received the frame. */
export interface TextPeer {
  /** Largest frame the session accepts (`Limits.maxFrameBytes`). */
  readonly maxFrameBytes: number
  /** Longest batch answered; a longer one is refused whole (`Limits.maxBatchLength`). */
  readonly maxBatchLength: number
  /** How errors sent back are redacted (the session's `ErrorPolicyOptions`, resolved). */
  readonly errorPolicy: ErrorPolicy
  /**
   * Run an incoming call; rejects with what the handler threw (or `NotFoundError`, `OverloadedError`).
   * `named`: `params` holds one by-name params object, accepted only by a method whose parameters are one schema.
   */
  call(method: string, params: unknown[], named?: boolean): Promise<unknown>
  /** Dispatch an incoming notification (errors are logged, never answered); `named` as for `call`. */
  notify(method: string, params: unknown[], named?: boolean): void
  /** Send a text frame to the peer (a response, or a batch of them). */
  sendText(text: string): void
  /** Count a malformed frame in the session's stats. */
  malformed(): void
  /** Report a failure nobody else can see (logged, rate-limited). */
  failed(err: unknown): void
}

/** Understands text frames for a session (`SessionOptions.textFrames`). */
export interface TextProtocol {
  /** Handle one text frame received by the session `peer`. */
  receive(text: string, peer: TextPeer): void
}


/** The JSON-RPC 2.0 code for text that is not JSON at all. */
export const JSON_PARSE_ERROR = -32700
/** The JSON-RPC 2.0 code for a frame or entry that is not a valid request. */
const JSON_INVALID_REQUEST = -32600

/** JSON-RPC 2.0 error codes for our error codes; anything else is -32000 (server error). */
const JSON_RPC_CODES: Readonly<Record<string, number>> = {
  WIRECALL_PROTOCOL_ERROR: -32600,
  WIRECALL_NOT_FOUND: -32601,
  WIRECALL_BAD_PARAMETERS: -32602,
  WIRECALL_BAD_RESULT: -32603,
}

/** A JSON-RPC request or notification, normalised. `id` is absent for notifications. */
export interface JsonRequest {
  readonly method: string
  readonly params: unknown[]
  readonly id?: string | number | null
  readonly isNotification: boolean
  /** The params were by-name (an object), passed as the only argument. */
  readonly named?: boolean
}

/**
 * An entry that is not a valid request. A plain object, not an Error: a
 * batch may hold a thousand of them, and each Error would capture a stack.
 */
export interface InvalidRequest {
  readonly invalid: string
  /** The wirecall error code to answer with (`WIRECALL_PROTOCOL_ERROR` or `WIRECALL_BAD_PARAMETERS`). */
  readonly code: string
  readonly id?: string | number | null
}

/** A whole frame that cannot be answered entry by entry: one JSON-RPC error answers it. */
export class JsonFrameError extends Error {
  constructor(message: string, readonly jsonCode: number) {
    super(message)
  }
}

/**
 * Parse one text frame (a single request or a batch array). Throws
 * `JsonFrameError` for a frame that is not JSON, an empty batch, or a batch
 * longer than `maxBatchLength` (refused before any entry is looked at).
 */
export function parseJsonFrame(text: string, maxBatchLength = Infinity): { batch: boolean; requests: (JsonRequest | InvalidRequest)[] } {
  const counted = countBatchEntries(text, maxBatchLength)
  if (counted > maxBatchLength) {
    throw new JsonFrameError(`Invalid Request: batch of more than ${maxBatchLength} entries exceeds maxBatchLength (${maxBatchLength})`, JSON_INVALID_REQUEST)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new JsonFrameError('Parse error', JSON_PARSE_ERROR)
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new JsonFrameError('Invalid Request: empty batch', JSON_INVALID_REQUEST)
    if (value.length > maxBatchLength) {
      throw new JsonFrameError(`Invalid Request: batch of ${value.length} entries exceeds maxBatchLength (${maxBatchLength})`, JSON_INVALID_REQUEST)
    }
    const requests: (JsonRequest | InvalidRequest)[] = []
    for (const entry of value) if (!isJsonResponse(entry)) requests.push(parseJsonRequest(entry))
    return { batch: true, requests }
  }
  return { batch: false, requests: isJsonResponse(value) ? [] : [parseJsonRequest(value)] }
}

/**
 * A JSON-RPC response (`result` or `error`, no `method`) is skipped, never answered: answering it
 * with "Invalid Request" would make two peers bounce error objects at each other forever.
 */
function isJsonResponse(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !('method' in value) && ('result' in value || 'error' in value)
}

/**
 * Entries of a batch (top-level array) counted from the text, stopping once
 * past `max`: an over-long batch is refused without building it (a 16 MiB
 * frame of `[1,1,...]` would be an array of 8.4 million values). Returns 0
 * for a frame that is not an array; a malformed one is left to `JSON.parse`.
 */
function countBatchEntries(text: string, max: number): number {
  let i = 0
  while (i < text.length && (text.charCodeAt(i) <= 32)) i++
  if (text.charCodeAt(i) !== 91 /* [ */ || max === Infinity) return 0
  let depth = 0
  let entries = 1
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      // Skip the string, escapes included.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i)
        if (d === 92 /* \ */) i++
        else if (d === 34) break
      }
    } else if (c === 91 || c === 123 /* { */) depth++
    else if (c === 93 || c === 125) depth--
    else if (c === 44 /* , */ && depth === 1 && ++entries > max) return entries
  }
  return entries
}

const invalid = (message: string, id?: string | number | null): InvalidRequest =>
  id === undefined ? { invalid: message, code: ErrorCode.PROTOCOL } : { invalid: message, code: ErrorCode.BAD_PARAMETERS, id }

function parseJsonRequest(value: unknown): JsonRequest | InvalidRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid('Invalid Request')
  const v = value as Record<string, unknown>
  const hasId = Object.prototype.hasOwnProperty.call(v, 'id')
  const id = v.id
  if (hasId && id !== null && typeof id !== 'string' && typeof id !== 'number') return invalid('Invalid Request: bad id')
  if (v.jsonrpc !== '2.0' || typeof v.method !== 'string' || !v.method) return invalid('Invalid Request')
  let params: unknown[]
  let named = false
  if (v.params === undefined) params = []
  else if (Array.isArray(v.params)) params = v.params
  else if (typeof v.params === 'object' && v.params !== null) {
    // By-name params: one object argument, for methods declared with one object schema (see `validated`).
    params = [v.params]
    named = true
  } else return invalid('Invalid params: params must be an array or an object', hasId ? (id as string | number | null) : null)
  return hasId
    ? { method: v.method, params, id: id as string | number | null, isNotification: false, named }
    : { method: v.method, params, isNotification: true, named }
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

/** The wire form of an error the library itself raises: no stack, no data (cheap to build by the thousand). */
function libraryError(name: string, code: string, message: string): WireError {
  return { name, message, code }
}

/** JSON-RPC 2.0 requests, notifications and batches; by-name params for methods declared with one object schema. */
export const jsonRpc: TextProtocol = {
  receive(text, peer) {
    // A UTF-16 length over the limit means at least as many UTF-8 bytes.
    if (text.length > peer.maxFrameBytes) {
      return send(peer, jsonError(null, libraryError('ProtocolError', ErrorCode.PROTOCOL, 'frame exceeds maxFrameBytes')))
    }
    let parsed
    try {
      parsed = parseJsonFrame(text, peer.maxBatchLength)
    } catch (err) {
      peer.malformed()
      const failure = err as JsonFrameError
      return send(peer, jsonError(null, libraryError('ProtocolError', ErrorCode.PROTOCOL, failure.message), failure.jsonCode))
    }
    if (!parsed.batch) {
      const request = parsed.requests[0]
      // None: it was a response, skipped.
      if (request) void Promise.resolve(answer(peer, request)).then((a) => a && send(peer, a), logged(peer))
      return
    }
    // Entries answered at once (invalid ones, synchronous handlers) need no promise each.
    const answers: (object | undefined | Promise<object | undefined>)[] = parsed.requests.map((request) => answer(peer, request))
    void Promise.all(answers).then((list) => {
      const present = list.filter((a): a is object => a !== undefined)
      if (present.length) send(peer, present)
    }, logged(peer))
  },
}

/** The last resort of a promise chain that nobody else holds: log, never leave a rejection unhandled. */
const logged = (peer: TextPeer) => (err: unknown) => peer.failed(err)

function answer(peer: TextPeer, request: JsonRequest | InvalidRequest): object | undefined | Promise<object | undefined> {
  if ('invalid' in request) {
    peer.malformed()
    const name = request.code === ErrorCode.BAD_PARAMETERS ? 'ParameterError' : 'ProtocolError'
    return jsonError(request.id, libraryError(name, request.code, request.invalid))
  }
  if (request.isNotification) {
    peer.notify(request.method, request.params, request.named)
    return undefined
  }
  const id = request.id ?? null
  return peer.call(request.method, request.params, request.named).then(
    (result) => jsonResult(id, result),
    (err: unknown) => {
      const library = err instanceof NotFoundError || err instanceof OverloadedError || WirecallError.is(err)
      return jsonError(id, toWireError(err, library ? false : peer.errorPolicy))
    },
  )
}

/** A stream met while encoding JSON: JSON-RPC cannot carry it (docs/protocol.md, Streams). */
class StreamInJson extends Error {}

function replacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && isStreamSource(v)) {
    // Never to be read: stop it, so a ReadableStream's source or a generator holds nothing.
    discardSource(v)
    throw new StreamInJson()
  }
  return v
}

/** One response (or batch) as text; a response that cannot be encoded is answered with an error under its own id. */
function send(peer: TextPeer, value: unknown): void {
  let text: string
  try {
    text = JSON.stringify(value, replacer)
  } catch (err) {
    if (Array.isArray(value)) {
      // A batch: only the responses that cannot be encoded are replaced.
      text = `[${value.map((response) => encodeOrRefuse(response)).join(',')}]`
    } else {
      text = JSON.stringify(unencodable(value, err))
    }
  }
  peer.sendText(text)
}

function encodeOrRefuse(response: unknown): string {
  try {
    return JSON.stringify(response, replacer)
  } catch (err) {
    return JSON.stringify(unencodable(response, err))
  }
}

/** The error answering a response that could not be encoded, under the request's id (a client must not wait for it). */
function unencodable(response: unknown, err: unknown): object {
  const id = typeof response === 'object' && response !== null ? (response as { id?: string | number | null }).id ?? null : null
  if (err instanceof StreamInJson) return jsonError(id, { ...STREAM_RESULT_ERROR, message: 'the result of this call holds a stream, which JSON-RPC cannot carry; call it from a wirecall peer over msgpack (see docs/protocol.md, Streams)' })
  return jsonError(id, toWireError(new TypeError(`result could not be encoded as JSON: ${(err as Error).message}`), false))
}
