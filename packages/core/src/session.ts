/**
 * One peer: the same class on both ends of a connection. Sends requests and
 * matches responses, receives frames and hands the peer's calls to
 * incoming.ts, and owns the reference tables for callbacks.
 *
 * Idle connections stay small: everything a session may need is created on
 * first use (pending calls, reference tables, the maps of incoming-call
 * bookkeeping, the proxies), the options are resolved once per options object and shared
 * (`configOf`), and the objects a session hands to its transport, codec and
 * tables are one `SessionBridge` instead of a closure each. See
 * docs/architecture.md.
 */
import { describePeer, type PeerInfo } from './contextual.js'
import { debugLog } from './debug.js'
import {
  ConnectionClosedError, ErrorCode, OverloadedError, ParameterError, ProtocolError, ReferenceReleasedError, TimeoutError,
  WirecallError, abortError, clip, encodeFailure, fromWireError,
} from './errors.js'
import * as incoming from './incoming.js'
import { safely, safelyEnd, safelyObserveSession, safelyStartOutgoing, type SessionObserver } from './observe.js'
import type { Limits } from './limits.js'
import { LOG_RATE, LogLimiter } from './log-limiter.js'
import { configOf, type CallOptions, type Logger, type SessionConfig, type SessionOptions, type SessionStats } from './options.js'
import { PendingCalls } from './pending.js'
import { FrameError, MAX_MSGID, MessageType, describeMessage, parseMessage, peekMessageId, type Message } from './protocol.js'
import { createProxy, type Notify, type Remote } from './proxy.js'
import { References } from './references.js'
import { SessionBridge, SessionInvoker } from './session-bridge.js'
import { isStreamResult, streamsNotEnabled, type StreamTable } from './stream-support.js'
import type { Transport } from './transport.js'

export type { CallOptions, Logger, SessionOptions, SessionStats }

/** `session.with(options)`: the same remote and notify, with per-call options applied to calls. */
export interface CallScope<RemoteService> {
  /** The peer's service; calls made through it use the scope's options. */
  readonly remote: Remote<RemoteService>
  /** Notifications to the peer (they have no timeout or signal to apply). */
  readonly notify: Notify<RemoteService>
}

function ignore(): void {}

/** `DEBUG=wirecall:session`: every frame in and out, malformed frames, closes. */
const debug = debugLog('wirecall:session')

/**
 * One end of a wirecall connection, over any `Transport`: `remote` calls the
 * peer's service, `notify` sends it notifications, and the peer's calls reach
 * `SessionOptions.service`. The Node and browser adapters create sessions for
 * you (`serve`, `connect`); a `Connection` on a server is a `Session`.
 *
 * @example
 * ```ts
 * import { connect } from '@wirecall/node'
 *
 * type Api = { math: { add(a: number, b: number): number } }
 * const session = await connect<Api>('ws://127.0.0.1:8080')
 * const sum = await session.remote.math.add(1, 2)
 * await session.with({ timeout: 500 }).remote.math.add(3, 4)
 * console.log(session.stats())
 * await session.close()
 * ```
 */
export class Session<RemoteService = unknown> {
  /** The identity the server's authenticate hook gave this connection. */
  identity: unknown

  /** @internal Options resolved once and shared by the sessions built from the same options object. */
  readonly config: SessionConfig
  /** The link this session speaks over (subclasses may close or terminate it). */
  protected readonly transport: Transport
  private readonly peerInfo: PeerInfo | undefined
  /** Transport receiver, codec reference host and reference-table owner in one small object. */
  private readonly bridge: SessionBridge
  private pendingTable: PendingCalls | undefined
  /** @internal The reference tables, once a reference has crossed. */
  refsTable: References | undefined
  /** @internal The stream table, once a stream has crossed (stream-table.ts, with `SessionOptions.streams`). */
  streamsTable: StreamTable | undefined
  // Incoming-call bookkeeping (incoming.ts works on these; see IncomingState there).
  /** @internal */ inFlight = 0
  /** @internal */ running: Map<number, AbortController | undefined> | undefined
  /** @internal */ untracked: Set<AbortController> | undefined
  /** @internal */ listeners: Map<string, Set<(...args: unknown[]) => unknown>> | undefined
  /** @internal */ idleWaiters: (() => void)[] | undefined
  /** @internal */ draining = false
  private remoteProxy: Remote<RemoteService> | undefined
  private notifyProxy: Notify<RemoteService> | undefined
  private closeListeners: ((reason?: Error) => void)[] | undefined
  private closing: { promise: Promise<void>; resolve(): void } | undefined
  private logLimiter: LogLimiter | undefined
  private nextId = 0
  private lateReplies = 0
  /**
   * Bytes of frames received and sent, for `stats()`. Kept by the session
   * itself (an addition per frame), so that metrics need no hook call per
   * frame: they read these when they take a snapshot.
   */
  private bytesReceived = 0
  private bytesSent = 0
  /** @internal Frames that could not be used, for `stats()`. */
  malformedCount = 0
  /** @internal What observes this session (`SessionOptions.observer`), if anything. */
  observer: SessionObserver | undefined
  private isClosed = false

  /** Start a session over `transport` (which it starts at once); adapters do this for you. */
  constructor(transport: Transport, options: SessionOptions = {}) {
    this.transport = transport
    this.config = configOf(options)
    this.peerInfo = options.peer
    this.identity = options.identity
    this.bridge = new SessionBridge(this)
    transport.start(this.bridge)
    if (this.config.observer) this.observer = safelyObserveSession(this.config.observer, this, this.config.logger)
  }

  /** The peer's address, as far as the transport knows. */
  get peer(): PeerInfo | undefined {
    return this.peerInfo ?? this.transport.peer
  }

  /** This session's limits (`SessionOptions.limits` over `DEFAULT_LIMITS`). */
  protected get limits(): Limits {
    return this.config.limits
  }

  /** The peer's service; every method returns a promise. */
  get remote(): Remote<RemoteService> {
    return (this.remoteProxy ??= createProxy(new SessionInvoker(this, undefined, false)) as Remote<RemoteService>)
  }

  /** Fire-and-forget: `session.notify.path.method(args)` sends without waiting. */
  get notify(): Notify<RemoteService> {
    return (this.notifyProxy ??= createProxy(new SessionInvoker(this, undefined, true)) as Notify<RemoteService>)
  }

  /** True once the connection is gone; calls then reject at once. */
  get closed(): boolean {
    return this.isClosed
  }

  /** How errors from this peer name their origin. */
  get peerLabel(): string | undefined {
    return describePeer(this.peer)
  }

  /** Counters for debugging and leak checks. */
  stats(): SessionStats {
    return {
      pendingCalls: this.pendingTable?.size ?? 0,
      inFlightCalls: this.inFlight,
      exportedRefs: this.refsTable?.exportCount ?? 0,
      importedRefs: this.refsTable?.importCount ?? 0,
      outgoingStreams: this.streamsTable?.producing ?? 0,
      incomingStreams: this.streamsTable?.consuming ?? 0,
      lateReplies: this.lateReplies,
      malformedFrames: this.malformedCount,
      bytesIn: this.bytesReceived,
      bytesOut: this.bytesSent,
    }
  }

  /** The same remote and notify, with per-call options (timeout, signal) applied. */
  with(options: CallOptions): CallScope<RemoteService> {
    return {
      remote: createProxy(new SessionInvoker(this, options, false)) as Remote<RemoteService>,
      notify: this.notify,
    }
  }

  /** Call `path` on the peer by name; what `remote.a.b(...)` does. */
  call(path: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    if (this.isClosed) return Promise.reject(new ConnectionClosedError(`cannot call ${clip(path)}: connection is closed`))
    if (!path) return Promise.reject(new ParameterError('cannot call the remote root; call a method on it'))
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(abortError(path, signal))
    const buffered = this.transport.bufferedAmount
    if (buffered !== undefined && buffered > this.limits.sendHighWaterMark) {
      return Promise.reject(new OverloadedError(`cannot call ${clip(path)}: peer is not reading (${buffered} bytes queued)`))
    }
    const id = this.allocateId()
    const observer = this.observer
    const observation = observer ? safelyStartOutgoing(observer, path, 'call', this.config.logger) : undefined
    let frame: Uint8Array | Uint8Array[]
    try {
      frame = this.encodeFrame(observation?.metadata
        ? [MessageType.REQUEST, id, path, args, observation.metadata]
        : [MessageType.REQUEST, id, path, args])
    } catch (err) {
      const failure = encodeFailure(path, err)
      if (observation) safelyEnd(observation, failure, this.config.logger)
      return Promise.reject(failure)
    }
    const timeout = options?.timeout ?? this.config.defaultTimeout
    const promise = this.pending.add(id, path, timeout, signal, signal ? () => this.abortCall(id, path, signal) : undefined, observation)
    if (debug.enabled) debug(`${this.peerLabel ?? 'peer'} sent request #${id} ${path}`)
    // Sent before anything else may encode: `frame` may be a view of the codec's buffer (`Transport.copiesFrames`).
    this.transmit(frame)
    // Upload streams in the arguments stop when the call is aborted, and are pulled inside its observation
    // (their producers start on the peer's first credit, which comes after the request).
    const within = observation?.run
    if (signal || within) this.streamsTable?.bindUploads(signal, within?.bind(observation))
    return promise
  }

  /** Send a notification by name; what `notify.a.b(...)` does. Returns nothing; errors are thrown locally only for unencodable arguments. */
  sendNotification(path: string, args: unknown[]): void {
    if (this.isClosed) return
    if (debug.enabled) debug(`${this.peerLabel ?? 'peer'} sent notification ${path}`)
    const observer = this.observer
    const observation = observer ? safelyStartOutgoing(observer, path, 'notification', this.config.logger) : undefined
    if (!observation) return this.transmit(this.encodeFrame([MessageType.NOTIFICATION, path, args]))
    try {
      this.transmit(this.encodeFrame(observation.metadata
        ? [MessageType.NOTIFICATION, path, args, observation.metadata]
        : [MessageType.NOTIFICATION, path, args]))
    } catch (err) {
      safelyEnd(observation, err, this.config.logger)
      throw err
    }
    safelyEnd(observation, undefined, this.config.logger)
  }

  /**
   * Listen to incoming notifications of `path` next to the local service
   * (several listeners may share a path). Returns the unsubscribe function.
   */
  on(path: string, listener: (...args: never[]) => unknown): () => void {
    return incoming.listen(this, path, listener as (...args: unknown[]) => unknown)
  }

  /** Run `listener` once when the connection closes (at once if it already has). Returns the unsubscribe function. */
  onClose(listener: (reason?: Error) => void): () => void {
    if (this.isClosed) {
      queueMicrotask(() => listener())
      return () => {}
    }
    ;(this.closeListeners ??= []).push(listener)
    return () => {
      this.closeListeners = this.closeListeners?.filter((l) => l !== listener)
    }
  }

  /** Close the connection. Pending calls reject with `ConnectionClosedError`. Resolves once closed. */
  close(code?: number, reason?: string): Promise<void> {
    if (this.isClosed) return Promise.resolve()
    if (!this.closing) {
      let resolve!: () => void
      const promise = new Promise<void>((r) => (resolve = r))
      this.closing = { promise, resolve }
    }
    this.transport.close(code, reason)
    return this.closing.promise
  }

  /** For subclasses (adapters): runs once when the connection closes, before `onClose` listeners. */
  protected afterClose(): void {}

  // ------------------------------------------------------------------ sending

  private get pending(): PendingCalls {
    return (this.pendingTable ??= new PendingCalls({
      observed: (observation, error) => safelyEnd(observation, error, this.config.logger),
      timedOut: (id, ms, path) => {
        this.sendControl([MessageType.CANCEL, id])
        return new TimeoutError(`call to ${clip(path)} timed out after ${ms} ms`)
      },
    }))
  }

  /** @internal The reference tables, created when the first reference crosses. */
  get refs(): References {
    return (this.refsTable ??= new References(this.bridge, this.limits.maxExportedRefs, this.limits.maxImportedRefs, this.config.budget))
  }

  /** @internal The stream table, created when the first stream crosses; without `SessionOptions.streams`, a clear error. */
  get streams(): StreamTable {
    if (this.streamsTable) return this.streamsTable
    const support = this.config.streams
    if (!support) throw streamsNotEnabled('cannot send a stream (async iterable or ReadableStream)')
    return (this.streamsTable = support.table(this))
  }

  /** @internal Bytes the transport has queued (streams pause their data past a share of `sendHighWaterMark`). */
  get sendQueueBytes(): number | undefined {
    return this.transport.bufferedAmount
  }

  /** @internal Call `wake` once the transport has written what it queued (`Transport.whenDrained`); false when it cannot tell. */
  whenDrained(wake: () => void): boolean {
    return this.transport.whenDrained?.(wake) ?? false
  }

  private allocateId(): number {
    do {
      this.nextId = this.nextId >= MAX_MSGID ? 1 : this.nextId + 1
    } while (this.pendingTable?.has(this.nextId))
    return this.nextId
  }

  /**
   * @internal Encode, undoing reference and stream exports if the frame cannot be built
   * (or, with `maxBytes`, would be larger: `OverloadedError`). Returns parts (large
   * binaries passed through) when the transport can send them.
   */
  encodeFrame(message: unknown[], maxBytes = Infinity): Uint8Array | Uint8Array[] {
    const mark = this.refsTable?.exportMark ?? 0
    const streamMark = this.streamsTable?.exportMark ?? 0
    let failed = true
    try {
      const { codec } = this.config
      const transport = this.transport
      // A transport that copies on send gets a view of the codec's buffer: no copy per frame here.
      const frame = transport.sendParts
        ? codec.encodeParts(message, this.bridge, transport.copiesFrames)
        : transport.copiesFrames ? codec.encodeView(message, this.bridge) : codec.encode(message, this.bridge)
      if (maxBytes !== Infinity) {
        const size = Array.isArray(frame) ? frame.reduce((n, part) => n + part.byteLength, 0) : frame.byteLength
        if (size > maxBytes) throw new OverloadedError(`a frame of ${size} bytes exceeds maxFrameBytes (${maxBytes})`)
      }
      failed = false
      return frame
    } finally {
      // The tables may have been created by this very frame (its first reference or stream).
      this.refsTable?.endEncode(mark, failed)
      this.streamsTable?.endEncode(streamMark, failed)
    }
  }

  /** @internal Send an encoded frame (parts go out as one message). */
  transmit(frame: Uint8Array | Uint8Array[] | string): void {
    if (Array.isArray(frame)) {
      this.transport.sendParts!(frame)
      for (const part of frame) this.bytesSent += part.byteLength
    } else {
      this.transport.send(frame)
      this.bytesSent += typeof frame === 'string' ? frame.length : frame.byteLength // UTF-16 units for text: exact for the ASCII JSON-RPC mostly is
    }
  }

  /** @internal Send a message that carries no references (cancel, release). */
  sendControl(message: unknown[]): void {
    if (!this.isClosed) this.transmit(this.config.codec.encode(message, undefined))
  }

  private abortCall(id: number, path: string, signal: AbortSignal): void {
    if (this.pending.settle(id, abortError(path, signal))) this.sendControl([MessageType.CANCEL, id])
  }

  /** @internal Call a reference the peer gave us: `#id` or `#id.path`. */
  invokeReference(path: string, args: unknown[]): Promise<unknown> {
    const end = path.indexOf('.')
    const id = Number(path.slice(1, end === -1 ? undefined : end))
    const promise = this.isClosed
      ? Promise.reject(new ConnectionClosedError(`reference ${path}: its connection is closed`))
      : this.refs.isReleased(id)
        ? Promise.reject(new ReferenceReleasedError(`reference #${id} was released`))
        : this.call(path, args)
    // Callbacks are often called and forgotten (`setInterval(() => onTick(n))`): a rejection
    // nobody awaits (the page left) must not be an unhandled rejection that ends the process.
    // Whoever awaits the promise still sees the error.
    promise.catch(ignore)
    return promise
  }

  // ---------------------------------------------------------------- receiving

  /** @internal One frame from the transport. */
  receive(frame: Uint8Array | string): void {
    if (this.isClosed) return
    if (typeof frame === 'string') {
      this.bytesReceived += frame.length
      return this.receiveText(frame)
    }
    this.bytesReceived += frame.byteLength
    const limits = this.limits
    if (frame.byteLength > limits.maxFrameBytes) {
      return this.rejectFrame(frame, `frame of ${frame.byteLength} bytes exceeds maxFrameBytes (${limits.maxFrameBytes})`)
    }
    let message: Message
    const mark = this.refsTable?.importMark ?? 0
    const streamMark = this.streamsTable?.importMark ?? 0
    try {
      message = parseMessage(this.config.codec.decode(frame, this.bridge, limits.maxFrameBytes, limits.maxDecodeExpansion))
      if (this.refsTable?.takeOverflow()) {
        throw new OverloadedError(`too many references from the peer (limits maxImportedRefs = ${limits.maxImportedRefs}, maxServerRefs)`)
      }
      if (this.streamsTable?.takeOverflow()) throw new OverloadedError(`too many open streams from the peer (limit maxOpenStreams = ${limits.maxOpenStreams})`)
    } catch (err) {
      this.refsTable?.takeOverflow()
      this.refsTable?.giveBackSince(mark)
      this.streamsTable?.takeOverflow()
      this.streamsTable?.dropSince(streamMark)
      if (err instanceof FrameError) return this.rejectFrame(frame, err.message, undefined, err.replyTo)
      // A library error hit while decoding (maxImportedRefs, a released reference handed back) is answered as itself.
      return this.rejectFrame(frame, `undecodable frame: ${(err as Error).message}`, WirecallError.is(err) ? err : undefined)
    }
    if (debug.enabled) debug(`${this.peerLabel ?? 'peer'} received ${describeMessage(message)}`)
    try {
      // Proxies decoded from a frame whose values nobody sees are given back at once instead of
      // holding the peer's exports until GC.
      if (!this.dispatch(message, frame.byteLength, mark, streamMark)) {
        this.refsTable?.giveBackSince(mark)
        this.streamsTable?.dropSince(streamMark)
      }
    } catch (err) {
      // Dispatch runs user code (error class prototypes, listeners); nothing may escape into the transport.
      this.log('error', '[wirecall] failed to handle a frame:', err)
    } finally {
      this.refsTable?.endDecode(mark)
      this.streamsTable?.endDecode(streamMark)
    }
  }

  /**
   * Act on one message (a frame of `bytes` bytes, whose references and streams are logged from
   * `refsMark` and `streamMark` on); false when nobody saw the values it carried.
   */
  private dispatch(message: Message, bytes: number, refsMark: number, streamMark: number): boolean {
    switch (message.type) {
      case MessageType.REQUEST:
        return incoming.request(this, message.id, message.method, message.params, message.metadata, refsMark)
      case MessageType.RESPONSE: {
        // A reply nobody waits for (late, or made up) is dropped before its error is rebuilt.
        if (!this.pendingTable?.has(message.id)) {
          this.lateReplies++
          return false
        }
        // A result holding streams carries a marker in its error slot (protocol.md, Streams): a success.
        const error = message.error == null || isStreamResult(message.error) ? undefined : fromWireError(message.error, this.peerLabel, this.config.errorTable)
        // Streams in the result stop when the call's signal fires.
        const signal = this.streamsTable && this.pendingTable?.signalOf(message.id)
        if (signal) this.streamsTable!.bindDecoded(streamMark, signal)
        if (this.pendingTable?.settle(message.id, error, message.result)) return true
        this.lateReplies++
        return false
      }
      case MessageType.NOTIFICATION:
        return incoming.notification(this, message.method, message.params, message.metadata, false, refsMark)
      case MessageType.CANCEL:
        incoming.cancel(this, message.id)
        return true
      case MessageType.RELEASE:
        for (let i = 0; i < message.releases.length; i += 2) this.refsTable?.releaseExport(message.releases[i]!, message.releases[i + 1]!)
        return true
      default:
        // Messages 5 to 8 (streams): the table checks their shape (it is created here when the first
        // one arrives before any stream crossed). Without the `streams` option none of ours is open: ignored.
        return this.config.streams ? this.streams.receive(message, bytes) : false
    }
  }

  /**
   * A frame we cannot use: count and log it; answer a request whose msgid can
   * be read, and settle at once our call whose response it was (so a bad
   * response never turns into a timeout, or a hang with `timeout: 0`).
   */
  private rejectFrame(frame: Uint8Array, message: string, answer?: Error, replyTo?: number): void {
    const peeked = peekMessageId(frame)
    this.malformedFrame(new FrameError(message, replyTo ?? (peeked?.type === MessageType.REQUEST ? peeked.id : undefined)), answer)
    // A stream in the result of a session without the `streams` option: the caller gets that error as itself.
    const streamsOff = (answer as WirecallError | undefined)?.code === ErrorCode.STREAMS_NOT_ENABLED
    if (peeked?.type === MessageType.RESPONSE) this.pendingTable?.settle(peeked.id, streamsOff ? answer : new ProtocolError(`the response could not be used: ${message}`))
  }

  /** @internal Count and log a frame we cannot use, answering it when it names a request. */
  malformedFrame(reason: FrameError, answer?: Error): void {
    this.malformedCount++
    if (debug.enabled) debug(`${this.peerLabel ?? 'peer'} received malformed frame: ${reason.message}`)
    this.log('warn', `[wirecall] malformed frame from ${this.peerLabel ?? 'peer'}: ${reason.message}`)
    if (reason.replyTo !== undefined) incoming.reply(this, reason.replyTo, answer ?? new ProtocolError(reason.message), undefined, '')
  }

  private receiveText(text: string): void {
    const protocol = this.config.textFrames
    if (protocol) return protocol.receive(text, this.bridge)
    this.malformedFrame(new FrameError('text frame received, but this session has no text protocol (see SessionOptions.textFrames)'))
  }

  /** @internal A call from a text frame (JSON-RPC). */
  textCall(method: string, params: unknown[], named?: boolean): Promise<unknown> {
    return incoming.textCall(this, method, params, named)
  }

  /** @internal A notification from a text frame. */
  textNotification(method: string, params: unknown[], named?: boolean): void {
    incoming.notification(this, method, params, undefined, named)
  }

  // ------------------------------------------------------------------ logging

  /**
   * @internal Every log line about this connection goes through here:
   * rate-limited per connection (`LOG_RATE`), with what was suppressed
   * summarised, and a logger that throws never breaks dispatch.
   */
  log(level: 'warn' | 'error', message: string, ...details: unknown[]): void {
    const suppressed = (this.logLimiter ??= new LogLimiter()).take(Date.now())
    if (suppressed === false) return
    try {
      if (suppressed > 0) this.reportSuppressed(suppressed)
      this.config.logger[level](message, ...details)
    } catch {
      // The user's logger failed; there is nowhere left to report it.
    }
  }

  private reportSuppressed(count: number): void {
    this.config.logger.warn(`[wirecall] ${count} more log lines about ${this.peerLabel ?? 'a peer'} were suppressed (at most ${LOG_RATE.lines} per ${LOG_RATE.windowMs / 1000} s per connection)`)
  }

  // ------------------------------------------------------------------ closing

  /** @internal The transport is gone (it reports this exactly once). */
  transportClosed(reason?: Error): void {
    if (this.isClosed) return
    this.isClosed = true
    const why = reason ? `: ${reason.message}` : ''
    if (debug.enabled) debug(`${this.peerLabel ?? 'peer'} closed${why}`, this.stats())
    this.pendingTable?.rejectAll(() => new ConnectionClosedError(`connection closed before the call settled${why}`))
    incoming.abortAll(this, why)
    this.refsTable?.closeAll()
    this.streamsTable?.closeAll(why)
    const observer = this.observer
    if (observer?.closed) safely(this.config.logger, 'closed', () => observer.closed!())
    const logger: Logger = this.config.logger
    const suppressed = this.logLimiter?.takeSuppressed()
    if (suppressed) this.reportSuppressed(suppressed)
    try {
      this.afterClose()
    } catch (err) {
      logger.error('[wirecall] close hook threw:', err)
    }
    const listeners = this.closeListeners ?? []
    this.closeListeners = undefined
    const failed = (err: unknown) => logger.error('[wirecall] onClose listener failed:', err)
    for (const listener of listeners) {
      try {
        // An async listener's rejection is reported here, not left unhandled.
        const result: unknown = listener(reason)
        if (incoming.isThenable(result)) result.then(undefined, failed)
      } catch (err) {
        failed(err)
      }
    }
    this.closing?.resolve()
  }
}

/** A reconnecting client opened `session` after losing its previous connection: tell the observers (`Observer.reconnected`). */
export function noteReconnect(session: Session<unknown>): void {
  const { observer, logger } = session.config
  if (observer?.reconnected) safely(logger, 'reconnected', () => observer.reconnected!(session))
}

/** Resolves when no call from the peer is running (at once if none is), or when the session closes: a server's `Connection.whenIdle()`. */
export function whenIdle(session: Session<unknown>): Promise<void> {
  return incoming.whenIdle(session)
}

/** Refuse the peer's calls from now on (`ShuttingDownError`); resolves like `whenIdle`: a server's `Connection.drain()`. */
export function drain(session: Session<unknown>): Promise<void> {
  return incoming.drain(session)
}
