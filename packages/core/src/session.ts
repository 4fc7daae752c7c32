/**
 * One peer: the same class on both ends of a connection. Sends requests and
 * matches responses, dispatches incoming calls to the local service, and
 * owns the reference tables for callbacks.
 */
import { defaultCodec, type MsgpackCodec, type RefHost } from './codec.js'
import type { CallContext, PeerInfo } from './context.js'
import {
  AbortError, ConnectionClosedError, NotFoundError, OverloadedError, ParameterError, ProtocolError,
  ReferenceReleasedError, ShuttingDownError, TimeoutError, WirecallError, abortError, clip, encodeFailure, fromWireError,
  toWireError, type ErrorPolicy, type ErrorTable,
} from './errors.js'
import type { Limits } from './limits.js'
import { LOG_RATE, LogLimiter } from './log-limiter.js'
import { configOf, type CallOptions, type Logger, type SessionConfig, type SessionOptions, type SessionStats } from './options.js'
import { PendingCalls } from './pending.js'
import { FrameError, MAX_MSGID, MessageType, parseMessage, peekMessageId } from './protocol.js'
import { createProxy, type Notify, type Remote } from './proxy.js'
import { References } from './references.js'
import { resolvePath, type Handler } from './router.js'
import { exportLog, importLog, SessionBridge, SessionInvoker } from './session-bridge.js'
import type { Transport } from './transport.js'

export type { CallOptions, Logger, SessionOptions, SessionStats }

/** A handler's result is a promise (or any thenable) when it has a callable `then`. */
const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'

function ignore(): void {}

export class Session<RemoteService = unknown> {
  /** The identity the server's authenticate hook gave this connection. */
  identity: unknown

  private readonly config: SessionConfig
  private readonly peerInfo: PeerInfo | undefined
  private readonly transport: Transport
  // Created on first use, so an idle connection costs little (see bench: memory per connection).
  private pendingTable: PendingCalls | undefined
  private refsTable: References | undefined
  /** Transport receiver, codec reference host and reference-table owner in one small object. */
  private readonly bridge: SessionBridge
  private remoteProxy: Remote<RemoteService> | undefined
  private notifyProxy: Notify<RemoteService> | undefined
  /**
   * Incoming calls still running after their frame was handled (async
   * handlers), by request id: the controller of a contextual handler (what a
   * cancel or the connection closing aborts), undefined otherwise. Also how a
   * request reusing a running id is recognised.
   */
  private running: Map<number, AbortController | undefined> | undefined
  private listeners: Map<string, Set<(...args: unknown[]) => unknown>> | undefined
  private closeListeners: ((reason?: Error) => void)[] | undefined
  private closing: { promise: Promise<void>; resolve(): void } | undefined
  private idleWaiters: (() => void)[] | undefined
  /** Signals of running handlers that only the connection closing can abort. */
  private untracked: Set<AbortController> | undefined
  private nextId = 0
  private inFlight = 0
  private lateReplies = 0
  private malformed = 0
  private isClosed = false
  /** Set by `drain()`: incoming calls are refused with `ShuttingDownError`. */
  private draining = false
  private logLimiter: LogLimiter | undefined

  constructor(transport: Transport, options: SessionOptions = {}) {
    this.transport = transport
    this.config = configOf(options)
    this.peerInfo = options.peer
    this.identity = options.identity
    this.bridge = new SessionBridge(this)
    transport.start(this.bridge)
  }

  /** The peer's address, as far as the transport knows. */
  get peer(): PeerInfo | undefined {
    return this.peerInfo ?? this.transport.peer
  }

  // The shared configuration, read through getters (they live on the prototype, not per session).
  protected get limits(): Limits { return this.config.limits }
  private get service(): object | undefined { return this.config.service }
  private get defaultTimeout(): number { return this.config.defaultTimeout }
  private get codec(): MsgpackCodec { return this.config.codec }
  private get errorTable(): ErrorTable | undefined { return this.config.errorTable }
  private get errorPolicy(): ErrorPolicy { return this.config.errorPolicy }
  private get logErrors(): SessionOptions['logErrors'] { return this.config.logErrors }
  private get logger(): Logger { return this.config.logger }
  /** Ids exported while the current frame is encoded, to undo if encoding fails. */
  private get exportLog(): number[] { return exportLog }
  /**
   * Proxies decoded from the frame being received. If no handler ever sees them (no such method,
   * overloaded, late reply, malformed frame) they are given back at once instead of holding the
   * peer's exports until GC.
   */
  private get importLog(): object[] { return importLog }

  /** The peer's service; every method returns a promise. */
  get remote(): Remote<RemoteService> {
    return (this.remoteProxy ??= createProxy(new SessionInvoker(this, undefined, false)) as Remote<RemoteService>)
  }

  /** Fire-and-forget: `session.notify.path.method(args)` sends without waiting. */
  get notify(): Notify<RemoteService> {
    return (this.notifyProxy ??= createProxy(new SessionInvoker(this, undefined, true)) as Notify<RemoteService>)
  }

  private get pending(): PendingCalls {
    return (this.pendingTable ??= new PendingCalls({
      timedOut: (id, ms, path) => {
        this.sendControl([MessageType.CANCEL, id])
        return new TimeoutError(`call to ${clip(path)} timed out after ${ms} ms`)
      },
    }))
  }

  private get refs(): References {
    return (this.refsTable ??= new References(this.bridge, this.limits.maxExportedRefs, this.limits.maxImportedRefs, this.config.budget))
  }

  /** What the codec calls back into for references. */
  private get host(): RefHost {
    return this.bridge
  }

  /** True once the connection is gone; calls then reject at once. */
  get closed(): boolean {
    return this.isClosed
  }

  /** How errors from this peer name their origin. */
  get peerLabel(): string | undefined {
    const p = this.peer
    if (!p) return undefined
    return p.url ?? (p.address !== undefined ? (p.port !== undefined ? `${p.address}:${p.port}` : p.address) : undefined)
  }

  /** Counters for debugging and leak checks. */
  stats(): SessionStats {
    return {
      pendingCalls: this.pendingTable?.size ?? 0,
      inFlightCalls: this.inFlight,
      exportedRefs: this.refsTable?.exportCount ?? 0,
      importedRefs: this.refsTable?.importCount ?? 0,
      lateReplies: this.lateReplies,
      malformedFrames: this.malformed,
    }
  }

  /** The same remote and notify, with per-call options (timeout, signal) applied. */
  with(options: CallOptions): { readonly remote: Remote<RemoteService>; readonly notify: Notify<RemoteService> } {
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
    let frame: Uint8Array | Uint8Array[]
    try {
      frame = this.encodeFrame([MessageType.REQUEST, id, path, args])
    } catch (err) {
      return Promise.reject(encodeFailure(path, err))
    }
    const timeout = options?.timeout ?? this.defaultTimeout
    const promise = this.pending.add(id, path, timeout, signal, signal ? () => this.abortCall(id, path, signal) : undefined)
    this.transmit(frame)
    return promise
  }

  /** Send a notification by name; what `notify.a.b(...)` does. Returns nothing; errors are thrown locally only for unencodable arguments. */
  sendNotification(path: string, args: unknown[]): void {
    if (this.isClosed) return
    this.transmit(this.encodeFrame([MessageType.NOTIFICATION, path, args]))
  }

  /**
   * Listen to incoming notifications of `path` next to the local service
   * (several listeners may share a path). Returns the unsubscribe function.
   */
  on(path: string, listener: (...args: never[]) => unknown): () => void {
    const listeners = (this.listeners ??= new Map())
    let set = listeners.get(path)
    if (!set) listeners.set(path, (set = new Set()))
    const fn = listener as (...args: unknown[]) => unknown
    set.add(fn)
    return () => {
      set!.delete(fn)
      if (set!.size === 0) listeners.delete(path)
    }
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

  /**
   * Resolves when no incoming call is running (at once if none is), or when
   * the connection closes. Servers use it to drain before shutting down.
   */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0 || this.isClosed) return Promise.resolve()
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve))
  }

  /**
   * Start shutting down: incoming calls are refused from now on with
   * `ShuttingDownError` (so a caller knows the call never ran and may retry
   * elsewhere), incoming notifications are dropped. Resolves like
   * `whenIdle()`, once the calls already running have finished.
   */
  drain(): Promise<void> {
    this.draining = true
    return this.whenIdle()
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters ?? []
    this.idleWaiters = undefined
    for (const wake of waiters) wake()
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

  /** Encode a notification once for many sessions (topic fan-out). Data only: no references. */
  static encodeBroadcast(path: string, args: unknown[], options?: SessionOptions): Uint8Array {
    // The members' codec, so their registered value types cross as themselves.
    const codec = options ? configOf(options).codec : defaultCodec
    return codec.encode([MessageType.NOTIFICATION, path, args], undefined)
  }

  /** Send a frame encoded by `encodeBroadcast`. Returns false when dropped (closed or slow peer). */
  sendEncoded(frame: Uint8Array): boolean {
    if (this.isClosed) return false
    const buffered = this.transport.bufferedAmount
    if (buffered !== undefined && buffered > this.limits.sendHighWaterMark) return false
    this.transport.send(frame)
    return true
  }

  // ------------------------------------------------------------------ sending

  private allocateId(): number {
    do {
      this.nextId = this.nextId >= MAX_MSGID ? 1 : this.nextId + 1
    } while (this.pendingTable?.has(this.nextId))
    return this.nextId
  }

  /**
   * Encode, undoing reference exports if the frame cannot be built. Returns
   * parts (large binaries passed through) when the transport can send them.
   */
  private encodeFrame(message: unknown[]): Uint8Array | Uint8Array[] {
    const log = this.exportLog
    const mark = log.length
    try {
      return this.transport.sendParts ? this.codec.encodeParts(message, this.host) : this.codec.encode(message, this.host)
    } catch (err) {
      this.refsTable?.unexport(log.slice(mark))
      throw err
    } finally {
      log.length = mark
    }
  }

  private transmit(frame: Uint8Array | Uint8Array[]): void {
    if (Array.isArray(frame)) this.transport.sendParts!(frame)
    else this.transport.send(frame)
  }

  private sendControl(message: unknown[]): void {
    if (!this.isClosed) this.transport.send(this.codec.encode(message, undefined))
  }

  private abortCall(id: number, path: string, signal: AbortSignal): void {
    if (this.pending.settle(id, abortError(path, signal))) this.sendControl([MessageType.CANCEL, id])
  }

  private invokeReference(path: string, args: unknown[]): Promise<unknown> {
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

  private receive(frame: Uint8Array | string): void {
    if (this.isClosed) return
    if (typeof frame === 'string') return this.receiveText(frame)
    if (frame.byteLength > this.limits.maxFrameBytes) {
      return this.rejectFrame(frame, `frame of ${frame.byteLength} bytes exceeds maxFrameBytes (${this.limits.maxFrameBytes})`)
    }
    let message
    const mark = this.importLog.length
    try {
      message = parseMessage(this.codec.decode(frame, this.host, this.limits.maxFrameBytes, this.limits.maxDecodeExpansion))
      if (this.refsTable?.takeOverflow()) {
        throw new OverloadedError(`too many references from the peer (limits maxImportedRefs = ${this.limits.maxImportedRefs}, maxServerRefs)`)
      }
    } catch (err) {
      this.refsTable?.takeOverflow()
      this.giveBackImports(mark)
      if (err instanceof FrameError) return this.rejectFrame(frame, err.message, undefined, err.replyTo)
      // A limit hit while decoding (maxImportedRefs) is answered as itself.
      return this.rejectFrame(frame, `undecodable frame: ${(err as Error).message}`, err instanceof OverloadedError ? err : undefined)
    }
    try {
      this.dispatch(message, mark)
    } catch (err) {
      // Dispatch runs user code (error class prototypes, listeners); nothing may escape into the transport.
      this.log('error', '[wirecall] failed to handle a frame:', err)
    } finally {
      this.importLog.length = mark
    }
  }

  /** Give back the proxies decoded from the current frame (since `mark`): nobody will see them. */
  private giveBackImports(mark: number): void {
    if (this.importLog.length > mark) this.refsTable?.giveBack(this.importLog.slice(mark))
    this.importLog.length = mark
  }

  private dispatch(message: ReturnType<typeof parseMessage>, mark: number): void {
    switch (message.type) {
      case MessageType.REQUEST:
        return this.handleRequest(message.id, message.method, message.params, mark)
      case MessageType.RESPONSE: {
        const error = message.error == null ? undefined : fromWireError(message.error, this.peerLabel, this.errorTable)
        if (!this.pendingTable?.settle(message.id, error, message.result)) {
          this.lateReplies++
          this.giveBackImports(mark)
        }
        return
      }
      case MessageType.NOTIFICATION:
        return this.handleNotification(message.method, message.params, mark)
      case MessageType.CANCEL:
        this.running?.get(message.id)?.abort(new AbortError('the caller cancelled the call'))
        return
      case MessageType.RELEASE:
        for (let i = 0; i < message.releases.length; i += 2) this.refsTable?.releaseExport(message.releases[i]!, message.releases[i + 1]!)
        return
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
    if (peeked?.type === MessageType.RESPONSE) this.pendingTable?.settle(peeked.id, new ProtocolError(`the response could not be used: ${message}`))
  }

  private malformedFrame(reason: FrameError, answer?: Error): void {
    this.malformed++
    this.log('warn', `[wirecall] malformed frame from ${this.peerLabel ?? 'peer'}: ${reason.message}`)
    if (reason.replyTo !== undefined) this.reply(reason.replyTo, answer ?? new ProtocolError(reason.message), undefined, '')
  }

  private handleRequest(id: number, method: string, params: unknown[], mark = this.importLog.length): void {
    if (this.running?.has(id)) {
      // Two live calls under one id could not be told apart (a cancel would reach one, the close
      // only the other's signal): the newcomer is refused and the running one goes on.
      this.giveBackImports(mark)
      return this.reply(id, new ProtocolError(`request id ${id} is already in use by a running call`), undefined, method)
    }
    const handler = this.resolve(method)
    if (!handler || handler instanceof Error) {
      this.giveBackImports(mark)
      return this.reply(id, handler ?? new NotFoundError(`no such method: ${clip(method)}`), undefined, method)
    }
    const refused = this.startIncoming(method)
    if (refused) {
      this.giveBackImports(mark)
      return this.reply(id, refused, undefined, method)
    }
    let controller: AbortController | undefined
    if (handler.contextual) {
      controller = new AbortController()
      ;(this.running ??= new Map()).set(id, controller)
    }
    let result: unknown
    try {
      result = this.execute(handler, method, params, controller?.signal)
    } catch (err) {
      this.finishRequest(id, controller)
      // `reply` reads an undefined error as success: a handler that did `throw undefined`
      // must not look like it returned. Same substitution as the async path below.
      return this.reply(id, err ?? new Error('threw ' + String(err)), undefined, method)
    }
    if (isThenable(result)) {
      if (!controller) (this.running ??= new Map()).set(id, undefined)
      result.then(
        (value) => this.answerLater(id, controller, undefined, value, method),
        (err: unknown) => this.answerLater(id, controller, err ?? new Error('rejected with ' + String(err)), undefined, method),
      )
    } else if (controller) {
      this.finishRequest(id, controller)
      this.reply(id, undefined, result, method)
    } else {
      this.endIncoming()
      this.reply(id, undefined, result, method)
    }
  }

  /**
   * Why an incoming call (or notification handler) cannot start now, or
   * undefined when it may: then it is counted as in flight, against this
   * connection's and the server's limits, until `endIncoming()`.
   */
  private startIncoming(method: string): Error | undefined {
    if (this.draining) return new ShuttingDownError(`${clip(method)} was not run: the peer is shutting down`)
    if (this.inFlight >= this.limits.maxInFlightCalls) {
      return new OverloadedError(`too many calls in flight (limit maxInFlightCalls = ${this.limits.maxInFlightCalls})`)
    }
    const budget = this.config.budget
    if (budget) {
      if (budget.inFlight >= budget.maxInFlight) {
        return new OverloadedError(`server busy: too many calls in flight (limit maxServerInFlightCalls = ${budget.maxInFlight})`)
      }
      budget.inFlight++
    }
    this.inFlight++
    return undefined
  }

  /** An incoming call or notification handler has finished. */
  private endIncoming(): void {
    if (this.config.budget) this.config.budget.inFlight--
    if (--this.inFlight === 0 && this.idleWaiters) this.wakeIdleWaiters()
  }

  /** An async handler settled: answer, unless the caller cancelled. Runs in a promise callback, so it never throws. */
  private answerLater(id: number, controller: AbortController | undefined, error: unknown, value: unknown, method: string): void {
    try {
      if (this.finishRequest(id, controller)) this.reply(id, error, value, method)
    } catch (err) {
      this.log('error', `[wirecall] could not answer ${clip(method)}:`, err)
    }
  }

  /** Bookkeeping when a handler settles; false if the caller cancelled or left (no reply is wanted). */
  private finishRequest(id: number, controller: AbortController | undefined): boolean {
    this.endIncoming()
    this.running?.delete(id)
    return !controller?.signal.aborted && !this.isClosed
  }

  private reply(id: number, error: unknown, result: unknown, method: string): void {
    if (this.isClosed) return
    if (error === undefined) {
      try {
        this.transmit(this.encodeFrame([MessageType.RESPONSE, id, null, result]))
        return
      } catch (err) {
        // Keep library errors (OverloadedError past maxExportedRefs) as themselves for the caller.
        error = WirecallError.is(err) ? err : new TypeError(`result of ${clip(method)} could not be encoded: ${(err as Error).message}`)
      }
    }
    this.logHandlerError(method, error)
    // The library's own errors (overload, not found, shutdown...) never carry a stack: it would only
    // show our internals, and a flood of refusals must not cost a stack trace each on the wire.
    const wire = toWireError(error, this.errorPolicy)
    let frame: Uint8Array
    try {
      // No reference host: an error never exports anything (a service or class instance in its data fails here).
      frame = this.codec.encode([MessageType.RESPONSE, id, wire, null], undefined)
    } catch {
      // The error's own data could not be encoded: send it without.
      frame = this.codec.encode([MessageType.RESPONSE, id, { name: wire.name, message: wire.message, code: wire.code }, null], undefined)
    }
    this.transport.send(frame)
  }

  private handleNotification(method: string, params: unknown[], mark = this.importLog.length): void {
    const listeners = this.listeners?.get(method)
    if (listeners) {
      for (const listener of [...listeners]) this.runNotificationHandler(method, () => listener(...params))
    }
    const handler = this.resolve(method)
    if (handler && !(handler instanceof Error)) {
      const controller = this.untrackedSignal(handler)
      this.runNotificationHandler(method, () => this.execute(handler, method, params, controller?.signal), controller)
    } else if (!listeners) {
      this.giveBackImports(mark)
      this.log('warn', `[wirecall] notification ${clip(method)} from ${this.peerLabel ?? 'peer'}: ${handler?.message ?? 'no such method'}`)
    }
  }

  /**
   * Notification handlers count as calls in flight (so the in-flight limits
   * bound them too, and graceful shutdown waits for them); past a limit a
   * notification is dropped and logged, never queued.
   */
  private runNotificationHandler(method: string, run: () => unknown, controller?: AbortController): void {
    const refused = this.startIncoming(method)
    if (refused) {
      this.settleUntracked(controller)
      this.log('warn', `[wirecall] notification ${clip(method)} dropped: ${refused.message}`)
      return
    }
    const done = () => {
      this.settleUntracked(controller)
      this.endIncoming()
    }
    const failed = (err: unknown) => {
      done()
      this.log('warn', `[wirecall] notification handler ${clip(method)} failed:`, err)
    }
    try {
      const result = run()
      if (isThenable(result)) result.then(done, failed)
      else done()
    } catch (err) {
      failed(err)
    }
  }

  /**
   * A signal for a contextual handler that no cancel message can address
   * (notifications, JSON-RPC calls): it still fires when the connection closes.
   */
  private untrackedSignal(handler: Handler): AbortController | undefined {
    if (!handler.contextual) return undefined
    const controller = new AbortController()
    ;(this.untracked ??= new Set()).add(controller)
    return controller
  }

  private settleUntracked(controller: AbortController | undefined): void {
    if (controller) this.untracked?.delete(controller)
  }

  /** Find the handler for a method name: a path in our service, or `#id...` for a reference we exported. */
  private resolve(method: string): Handler | Error | undefined {
    if (method.charCodeAt(0) !== 35 /* # */) return this.service ? resolvePath(this.service, method) : undefined
    return this.refsTable ? this.refsTable.resolve(method) : new ReferenceReleasedError(`reference ${clip(method)} does not exist or was released`)
  }

  private execute(handler: Handler, path: string, params: unknown[], signal: AbortSignal | undefined): unknown {
    if (!handler.contextual) return handler.fn.apply(handler.self, params)
    const context: CallContext<this> = {
      connection: this, peer: this.peer, identity: this.identity, path,
      signal: signal ?? new AbortController().signal,
    }
    return handler.fn.call(handler.self, context, ...params)
  }

  private logHandlerError(method: string, error: unknown): void {
    const setting = this.logErrors
    if (!setting || WirecallError.is(error)) return
    if (typeof setting === 'object' && setting.exclude?.some((cls) => error instanceof cls)) return
    this.log('error', `[wirecall] handler ${clip(method)} threw:`, error)
  }

  /**
   * Every log line about this connection goes through here: rate-limited per
   * connection (`LOG_RATE`), with what was suppressed summarised, and a
   * logger that throws never breaks dispatch.
   */
  private log(level: 'warn' | 'error', message: string, ...details: unknown[]): void {
    const suppressed = (this.logLimiter ??= new LogLimiter()).take(Date.now())
    if (suppressed === false) return
    try {
      if (suppressed > 0) this.reportSuppressed(suppressed)
      this.logger[level](message, ...details)
    } catch {
      // The user's logger failed; there is nowhere left to report it.
    }
  }

  private reportSuppressed(count: number): void {
    this.logger.warn(`[wirecall] ${count} more log lines about ${this.peerLabel ?? 'a peer'} were suppressed (at most ${LOG_RATE.lines} per ${LOG_RATE.windowMs / 1000} s per connection)`)
  }

  // -------------------------------------------------------------------- text

  private receiveText(text: string): void {
    const protocol = this.config.textFrames
    if (protocol) return protocol.receive(text, this.bridge)
    this.malformedFrame(new FrameError('text frame received, but this session has no text protocol (see SessionOptions.textFrames)'))
  }

  /**
   * An incoming call from a text frame: the same checks and bookkeeping as a
   * binary request, as a promise. A synchronous handler leaves the in-flight
   * count before this returns, as in `handleRequest`, so a batch of quick
   * calls is counted like the same calls sent as binary frames.
   */
  private runTextCall(method: string, params: unknown[]): Promise<unknown> {
    const handler = this.resolve(method)
    if (!handler || handler instanceof Error) return Promise.reject(handler ?? new NotFoundError(`no such method: ${clip(method)}`))
    const refused = this.startIncoming(method)
    if (refused) return Promise.reject(refused)
    const controller = this.untrackedSignal(handler)
    const done = () => {
      this.settleUntracked(controller)
      this.endIncoming()
    }
    let result: unknown
    try {
      result = this.execute(handler, method, params, controller?.signal)
    } catch (err) {
      done()
      this.logHandlerError(method, err)
      return Promise.reject(err)
    }
    if (!isThenable(result)) {
      done()
      return Promise.resolve(result)
    }
    return Promise.resolve(result).then(
      (value) => {
        done()
        return value
      },
      (err: unknown) => {
        done()
        this.logHandlerError(method, err)
        throw err
      },
    )
  }

  // ------------------------------------------------------------------ closing

  /** For subclasses (adapters): runs once when the connection closes, before `onClose` listeners. */
  protected afterClose(): void {}

  private handleClosed(reason?: Error): void {
    if (this.isClosed) return
    this.isClosed = true
    const why = reason ? `: ${reason.message}` : ''
    this.pendingTable?.rejectAll(() => new ConnectionClosedError(`connection closed before the call settled${why}`))
    if (this.running) {
      for (const controller of this.running.values()) controller?.abort(new ConnectionClosedError(`connection closed${why}`))
      this.running = undefined
    }
    if (this.untracked) {
      for (const controller of this.untracked) controller.abort(new ConnectionClosedError(`connection closed${why}`))
      this.untracked = undefined
    }
    this.refsTable?.closeAll()
    this.wakeIdleWaiters()
    const suppressed = this.logLimiter?.takeSuppressed()
    if (suppressed) this.reportSuppressed(suppressed)
    try {
      this.afterClose()
    } catch (err) {
      this.logger.error('[wirecall] close hook threw:', err)
    }
    const listeners = this.closeListeners ?? []
    this.closeListeners = undefined
    const failed = (err: unknown) => this.logger.error('[wirecall] onClose listener failed:', err)
    for (const listener of listeners) {
      try {
        // An async listener's rejection is reported here, not left unhandled.
        const result: unknown = listener(reason)
        if (isThenable(result)) result.then(undefined, failed)
      } catch (err) {
        failed(err)
      }
    }
    this.closing?.resolve()
  }
}
