/**
 * What a session knows of streams without carrying them: the `streams`
 * option's shape, the table it creates, and the error a session without it
 * gives when a stream crosses. Kept apart from the stream code itself
 * (stream-table.ts and the files it imports), so that a page that never
 * passes `streams` does not bundle it (docs/architecture.md, Streams).
 */
import { ErrorCode, WirecallError } from './errors.js'
import type { SessionConfig } from './options.js'
import type { FrameError, StreamMessage } from './protocol.js'

/**
 * The code a response whose result holds a stream carries in its error slot
 * (see `STREAM_RESULT_ERROR`): a wirecall peer reads that response as a
 * success, a plain msgpack-rpc peer as a clear error.
 */
export const STREAM_RESULT_CODE = 'WIRECALL_STREAM_RESULT'

/** Is this error slot the stream-result marker (the response is a success)? */
export function isStreamResult(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === STREAM_RESULT_CODE
}

/** What the stream table needs from its session. */
export interface StreamHost {
  readonly config: SessionConfig
  readonly closed: boolean
  readonly peerLabel: string | undefined
  /** Bytes the transport has queued and not yet written, when it knows. */
  readonly sendQueueBytes: number | undefined
  /** Call `wake` once the transport has written what it queued; false when it cannot tell (then poll `sendQueueBytes`). */
  whenDrained(wake: () => void): boolean
  /** Encode a message (exports counted, undone on failure); throws `OverloadedError` past `maxBytes`. */
  encodeFrame(message: unknown[], maxBytes?: number): Uint8Array | Uint8Array[]
  transmit(frame: Uint8Array | Uint8Array[]): void
  /** Send a message that carries no references. */
  sendControl(message: unknown[]): void
  log(level: 'warn' | 'error', message: string, ...details: unknown[]): void
  /** Count and log a frame that could not be used (a stream message of the wrong shape). */
  malformedFrame(reason: FrameError): void
}

/** The streams of one connection, as its session drives them (implemented by stream-table.ts). */
export interface StreamTable {
  /** Streams this side sends. */
  readonly producing: number
  /** Streams this side reads. */
  readonly consuming: number
  readonly exportMark: number
  readonly importMark: number
  /** A stream found in a frame being encoded: its stream id. */
  export(value: object): number
  /** A stream the peer sent (ext 73): the `RemoteStream` that reads it. */
  import(id: number): object
  /** A frame's encoding ended: the streams it exported are forgotten if it `failed`. */
  endEncode(mark: number, failed: boolean): void
  endDecode(mark: number): void
  /** Nobody will see the streams decoded since `mark`: cancel them. */
  dropSince(mark: number): void
  /** Did an import hit `maxOpenStreams` since the last call? */
  takeOverflow(): boolean
  /** Streams decoded from the current frame stop when `signal` fires. */
  bindDecoded(mark: number, signal: AbortSignal): void
  /**
   * After encoding a request: its upload streams stop when `signal` fires,
   * and are pulled `within` the call's outgoing observation (a tracer's
   * context), when given.
   */
  bindUploads(signal: AbortSignal | undefined, within?: <T>(run: () => T) => T): void
  /**
   * After encoding a success response: its streams get the handler's
   * `controller` and run `within` the call's observation; the frame gets the
   * stream-result marker when the result holds streams.
   */
  respond(frame: Uint8Array | Uint8Array[], id: number, controller: AbortController | undefined, within?: <T>(run: () => T) => T): Uint8Array | Uint8Array[]
  /** Messages 5 to 8 (their shape checked here); false when no stream of ours saw the values a data message carried. */
  receive(message: StreamMessage, bytes: number): boolean
  /** The connection closed: every stream ends, both directions. */
  closeAll(why: string): void
}

/**
 * Streams for a session (`SessionOptions.streams`): pass `streams` from
 * `@wirecall/core` (or `@wirecall/browser`). A value rather than a switch, so
 * that a page that never passes it does not bundle the stream code.
 */
export interface StreamSupport {
  /** Build the stream table of one session (when its first stream crosses). */
  table(host: StreamHost): StreamTable
}

/** The state behind each `RemoteStream` (kept here so that `release()` can stop one without importing streams). */
export const consumerOf = new WeakMap<object, { cancel(): void; readonly id: number }>()

/**
 * A stream crossed a session without the `streams` option: the call fails
 * with this (never a hang), and a stream that arrived is cancelled so the
 * peer's producer stops.
 */
export function streamsNotEnabled(what: string): WirecallError {
  return new WirecallError(
    `${what}, but this session has no stream support: pass \`streams\` (import { streams } from '@wirecall/browser' or '@wirecall/core') in its options, e.g. connect(url, { streams })`,
    ErrorCode.STREAMS_NOT_ENABLED,
  )
}
