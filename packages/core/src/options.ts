/**
 * Session options, their resolved (shared) form, and the counters a session reports.
 */
import { defaultCodec, MsgpackCodec, type ValueType } from './codec.js'
import type { SharedBudget } from './budget.js'
import type { PeerInfo } from './contextual.js'
import { errorPolicy, type ErrorClass, type ErrorPolicy, type ErrorPolicyOptions, type ErrorTable } from './errors.js'
import type { TextProtocol } from './json-rpc.js'
import { resolveLimits, type Limits } from './limits.js'
import { combineObservers, type Observer } from './observe.js'
import type { ServiceDescriber } from './reflection.js'
import type { StreamSupport } from './stream-support.js'

/** Where wirecall reports what it cannot send back to anyone. */
export interface Logger {
  /** Something a peer did wrong (refused handshakes, malformed frames); the process is fine. */
  warn(message: string, ...details: unknown[]): void
  /** A failure on this side (a handler or hook threw where no caller sees it). */
  error(message: string, ...details: unknown[]): void
}

/** Per-call options: `session.with({ timeout, signal }).remote.x()`. */
export interface CallOptions {
  /** Milliseconds before the call fails with `TimeoutError` (0 = never). */
  readonly timeout?: number
  /** Aborting it rejects the call with `AbortError` and fires the handler's signal on the peer. */
  readonly signal?: AbortSignal
  /**
   * The call may run twice without harm. A reconnecting `Client` then
   * re-sends it on the next connection when its connection (or its resumable
   * session) is lost before the answer came, instead of rejecting it with
   * `ConnectionClosedError`; within the same `timeout`. @default false
   */
  readonly idempotent?: boolean
}

/**
 * Options of a session: taken by `serve()` (for every connection), the Node
 * and browser `connect()`, and `new Session()`.
 *
 * @example
 * ```ts
 * import { service, type SessionOptions } from '@wirecall/core'
 * import { connect } from '@wirecall/node'
 *
 * class InsufficientFunds extends Error {}
 *
 * const options: SessionOptions = {
 *   service: service({ onPrice: (symbol: string, price: number) => console.log(symbol, price) }),
 *   timeout: 5_000,                         // default for every call; per call: session.with({ timeout })
 *   errors: { InsufficientFunds },          // re-raised as themselves when the peer throws them
 *   limits: { maxInFlightCalls: 64 },       // the rest keep DEFAULT_LIMITS
 *   logErrors: { exclude: [InsufficientFunds] },
 * }
 * const session = await connect<Api>('ws://127.0.0.1:8080', options)
 * ```
 */
export interface SessionOptions extends ErrorPolicyOptions {
  /** The local service the peer may call (`service({...})`, an exposed class instance, or a `Router`). */
  readonly service?: object
  /**
   * Default timeout of outgoing calls in ms; 0 disables it.
   * @default 30000: long enough for real work, short enough that a lost reply never hangs a UI.
   */
  readonly timeout?: number
  /** Limits, see `DEFAULT_LIMITS`. */
  readonly limits?: Readonly<Partial<Limits>>
  /** Error classes re-raised as themselves when the peer throws them, by name. */
  readonly errors?: ErrorTable
  /** Classes that cross the wire as themselves (msgpack extension types 0-63). */
  readonly types?: readonly ValueType[]
  /**
   * Send handler stack traces to the peer.
   * @default false: stacks reveal file paths and dependency versions. The Node
   * adapter turns it on when NODE_ENV is not "production".
   */
  readonly exposeErrorStacks?: boolean
  /**
   * Log exceptions thrown by handlers of incoming calls (they also reach the
   * caller). `exclude` lists classes not worth logging (aiozmq's exclude_log_exceptions).
   * @default false
   */
  readonly logErrors?: boolean | {
    /** Classes (and their subclasses) whose throws are not logged. */
    readonly exclude?: readonly ErrorClass[]
  }
  /** @default console */
  readonly logger?: Logger
  /**
   * How text frames are understood. `jsonRpc` (from this package) answers
   * JSON-RPC 2.0; the Node adapter installs it by default. Without one, text
   * frames are counted as malformed (browsers never need it, so it stays out
   * of their bundles).
   */
  readonly textFrames?: TextProtocol
  /**
   * Answer the reserved method `rpc.describe` with what this function
   * returns: pass `describeService` for the tree of exposed paths (per method
   * its argument count and, where schemas exist, their JSON Schema; see
   * `ServiceDescription`; hidden members stay hidden). The Node server takes
   * `reflection: true` instead. A function, like `textFrames`, so that
   * bundles that never answer it do not carry the describer.
   * @default undefined: off; a public server need not publish its surface.
   */
  readonly reflection?: ServiceDescriber
  /**
   * Stream support: pass `streams` (from `@wirecall/core`, re-exported by
   * `@wirecall/browser`) to send and receive async iterables and
   * `ReadableStream`s. The Node server and client pass it by default. A
   * value, like `textFrames`, so that a page that does not use streams does
   * not bundle them; without it a stream crossing fails the call with
   * `ErrorCode.STREAMS_NOT_ENABLED`, and one that arrived is cancelled.
   * @default undefined here; `streams` in `@wirecall/node`.
   */
  readonly streams?: StreamSupport
  /** Peer address; defaults to what the transport knows. */
  readonly peer?: PeerInfo
  /** Identity of the peer (set by the server's authenticate hook). */
  readonly identity?: unknown
  /**
   * Counters shared by every session of one server, for the server-wide
   * limits (`maxServerInFlightCalls`, `maxServerRefs`). Adapters create one
   * per server; a client session has none.
   */
  readonly budget?: SharedBudget
  /**
   * Told about every call, notification and byte (metrics, tracing): one
   * observer or several, e.g. `[createMetrics(), openTelemetry()]`.
   * @default none: nothing is measured and nothing is paid.
   */
  readonly observer?: Observer | readonly Observer[]
}

/** Counters for debugging and leak checks. */
export interface SessionStats {
  /** Our calls waiting for a response. */
  readonly pendingCalls: number
  /** Peer calls whose handlers are still running. */
  readonly inFlightCalls: number
  /** Our functions/services the peer holds references to. */
  readonly exportedRefs: number
  /** Live proxies of the peer's functions/services we hold. */
  readonly importedRefs: number
  /** Streams this side sends (results and uploads not yet ended, cancelled or closed; read or not). */
  readonly outgoingStreams: number
  /** Streams of the peer this side reads (not yet ended, cancelled or closed). */
  readonly incomingStreams: number
  /** Responses that arrived after their call timed out or was aborted (dropped). */
  readonly lateReplies: number
  /** Frames that could not be decoded or had the wrong shape. */
  readonly malformedFrames: number
  /** Bytes of frames received from the peer (UTF-16 units for JSON-RPC text frames). */
  readonly bytesIn: number
  /** Bytes of frames sent to the peer (fan-out frames included). */
  readonly bytesOut: number
}

/** Options resolved once and shared by every session built from the same options object (a server's connections). */
export interface SessionConfig {
  readonly service: object | undefined
  readonly defaultTimeout: number
  readonly limits: Limits
  readonly codec: MsgpackCodec
  readonly errorTable: ErrorTable | undefined
  readonly errorPolicy: ErrorPolicy
  readonly logErrors: SessionOptions['logErrors']
  readonly logger: Logger
  readonly textFrames: TextProtocol | undefined
  readonly reflection: ServiceDescriber | undefined
  readonly streams: StreamSupport | undefined
  readonly budget: SharedBudget | undefined
  /** The observers as one, or undefined when nothing observes. */
  readonly observer: Observer | undefined
}

/** Default timeout of outgoing calls (`SessionOptions.timeout`): long enough for real work, short enough that a lost reply never hangs a UI. */
export const DEFAULT_TIMEOUT_MS = 30_000

const hasObserver = (o: SessionOptions['observer']): o is Observer | readonly Observer[] =>
  o !== undefined && (!Array.isArray(o) || o.length > 0)

const configs = new WeakMap<SessionOptions, SessionConfig>()

export function configOf(options: SessionOptions): SessionConfig {
  let config = configs.get(options)
  if (!config) {
    config = {
      service: options.service,
      defaultTimeout: options.timeout ?? DEFAULT_TIMEOUT_MS,
      limits: resolveLimits(options.limits),
      codec: options.types?.length ? new MsgpackCodec(options.types) : defaultCodec,
      errorTable: options.errors,
      errorPolicy: errorPolicy(options),
      logErrors: options.logErrors ?? false,
      logger: options.logger ?? console,
      textFrames: options.textFrames,
      reflection: options.reflection,
      streams: options.streams,
      budget: options.budget,
      observer: hasObserver(options.observer)
        ? (Array.isArray(options.observer) ? combineObservers(options.observer) : options.observer as Observer)
        : undefined,
    }
    configs.set(options, config)
  }
  return config
}
