/**
 * Calls and notifications from the peer: finding the handler, running it,
 * answering, and counting what runs (in flight, against this connection's
 * and the server's limits), so that a cancel, a drain or the connection
 * closing reach every running handler.
 *
 * A session creates its `IncomingCalls` when the peer first calls it: a
 * connection that only makes calls, or is idle, does not carry one.
 */
import {
  AbortError, ConnectionClosedError, NotFoundError, OverloadedError, ProtocolError, ReferenceReleasedError,
  ShuttingDownError, WirecallError, clip, toWireError,
} from './errors.js'
import type { SessionConfig } from './options.js'
import { MessageType } from './protocol.js'
import type { References } from './references.js'
import { resolvePath, type Handler } from './router.js'
import { describePeer, type ContextFields, type PeerInfo } from './contextual.js'

/** What incoming calls need from their session. */
export interface IncomingHost {
  readonly config: SessionConfig
  readonly closed: boolean
  readonly peer: PeerInfo | undefined
  readonly identity: unknown
  readonly refsTable: References | undefined
  /** Encode a message, undoing the reference exports it counted if it cannot be encoded. */
  encodeFrame(message: unknown[]): Uint8Array | Uint8Array[]
  transmit(frame: Uint8Array | Uint8Array[]): void
  /** Rate-limited logging about this connection. */
  log(level: 'warn' | 'error', message: string, ...details: unknown[]): void
}

/** A handler's result is a promise (or any thenable) when it has a callable `then`. */
export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'

type Listener = (...args: unknown[]) => unknown

export class IncomingCalls {
  /** Handlers running or awaited now (calls and notifications alike). */
  inFlight = 0
  /**
   * Calls still running after their frame was handled (async handlers), by
   * request id: the controller of a contextual handler (what a cancel or the
   * connection closing aborts), undefined otherwise. Also how a request
   * reusing a running id is recognised.
   */
  private running: Map<number, AbortController | undefined> | undefined
  /** Signals of running handlers that only the connection closing can abort (notifications, text calls). */
  private untracked: Set<AbortController> | undefined
  /** Notification listeners registered with `session.on(path, fn)`. */
  private listeners: Map<string, Set<Listener>> | undefined
  private idleWaiters: (() => void)[] | undefined
  /** Set by `drain()`: calls are refused with `ShuttingDownError`. */
  private draining = false

  constructor(private readonly session: IncomingHost & object) {}

  // ------------------------------------------------------------ binary calls

  /** `[0, id, method, params]`. Returns false when no handler saw the params (the frame's imports can be given back). */
  request(id: number, method: string, params: unknown[]): boolean {
    if (this.running?.has(id)) {
      // Two live calls under one id could not be told apart (a cancel would reach one, the close
      // only the other's signal): the newcomer is refused and the running one goes on.
      this.reply(id, new ProtocolError(`request id ${id} is already in use by a running call`), undefined, method)
      return false
    }
    const handler = this.resolve(method)
    if (!handler || handler instanceof Error) {
      this.reply(id, handler ?? new NotFoundError(`no such method: ${clip(method)}`), undefined, method)
      return false
    }
    const refused = this.start(method)
    if (refused) {
      this.reply(id, refused, undefined, method)
      return false
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
      this.finish(id, controller)
      // `reply` reads an undefined error as success: a handler that did `throw undefined`
      // must not look like it returned. Same substitution as the async path below.
      this.reply(id, err ?? new Error('threw ' + String(err)), undefined, method)
      return true
    }
    if (isThenable(result)) {
      if (!controller) (this.running ??= new Map()).set(id, undefined)
      result.then(
        (value) => this.answerLater(id, controller, undefined, value, method),
        (err: unknown) => this.answerLater(id, controller, err ?? new Error('rejected with ' + String(err)), undefined, method),
      )
    } else {
      this.finish(id, controller)
      this.reply(id, undefined, result, method)
    }
    return true
  }

  /** `[2, id]`: the caller no longer wants the answer; a contextual handler's signal fires. */
  cancel(id: number): void {
    this.running?.get(id)?.abort(new AbortError('the caller cancelled the call'))
  }

  /** An async handler settled: answer, unless the caller cancelled. Runs in a promise callback, so it never throws. */
  private answerLater(id: number, controller: AbortController | undefined, error: unknown, value: unknown, method: string): void {
    try {
      if (this.finish(id, controller)) this.reply(id, error, value, method)
    } catch (err) {
      this.session.log('error', `[wirecall] could not answer ${clip(method)}:`, err)
    }
  }

  /** Bookkeeping when a handler settles; false if the caller cancelled or left (no reply is wanted). */
  private finish(id: number, controller: AbortController | undefined): boolean {
    this.end()
    this.running?.delete(id)
    return !controller?.signal.aborted && !this.session.closed
  }

  /** Answer a request; also how a frame we cannot use is refused (`ProtocolError`). */
  reply(id: number, error: unknown, result: unknown, method: string): void {
    const session = this.session
    if (session.closed) return
    if (error === undefined) {
      try {
        session.transmit(session.encodeFrame([MessageType.RESPONSE, id, null, result]))
        return
      } catch (err) {
        // Keep library errors (OverloadedError past maxExportedRefs) as themselves for the caller.
        error = WirecallError.is(err) ? err : new TypeError(`result of ${clip(method)} could not be encoded: ${(err as Error).message}`)
      }
    }
    this.logHandlerError(method, error)
    // The library's own errors (overload, not found, shutdown...) never carry a stack: it would only
    // show our internals, and a flood of refusals must not cost a stack trace each on the wire.
    const wire = toWireError(error, session.config.errorPolicy)
    const codec = session.config.codec
    let frame: Uint8Array
    try {
      // No reference host: an error never exports anything (a service or class instance in its data fails here).
      frame = codec.encode([MessageType.RESPONSE, id, wire, null], undefined)
    } catch {
      // The error's own data could not be encoded: send it without.
      frame = codec.encode([MessageType.RESPONSE, id, { name: wire.name, message: wire.message, code: wire.code }, null], undefined)
    }
    session.transmit(frame)
  }

  // ----------------------------------------------------------- notifications

  /** Listen to notifications of `path` next to the service's handler. Returns the unsubscribe function. */
  listen(path: string, listener: Listener): () => void {
    const listeners = (this.listeners ??= new Map())
    let set = listeners.get(path)
    if (!set) listeners.set(path, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) listeners.delete(path)
    }
  }

  /** `[2, method, params]`. Returns false when nobody saw the params. */
  notification(method: string, params: unknown[]): boolean {
    const listeners = this.listeners?.get(method)
    if (listeners) {
      for (const listener of [...listeners]) this.runNotificationHandler(method, () => listener(...params))
    }
    const handler = this.resolve(method)
    if (handler && !(handler instanceof Error)) {
      const controller = this.untrackedSignal(handler)
      this.runNotificationHandler(method, () => this.execute(handler, method, params, controller?.signal), controller)
      return true
    }
    if (listeners) return true
    this.session.log('warn', `[wirecall] notification ${clip(method)} from ${describePeer(this.session.peer) ?? 'peer'}: ${handler?.message ?? 'no such method'}`)
    return false
  }

  /**
   * Notification handlers count as calls in flight (so the in-flight limits
   * bound them too, and graceful shutdown waits for them); past a limit a
   * notification is dropped and logged, never queued.
   */
  private runNotificationHandler(method: string, run: () => unknown, controller?: AbortController): void {
    const refused = this.start(method)
    if (refused) {
      this.settleUntracked(controller)
      this.session.log('warn', `[wirecall] notification ${clip(method)} dropped: ${refused.message}`)
      return
    }
    const done = () => {
      this.settleUntracked(controller)
      this.end()
    }
    const failed = (err: unknown) => {
      done()
      this.session.log('warn', `[wirecall] notification handler ${clip(method)} failed:`, err)
    }
    try {
      const result = run()
      if (isThenable(result)) result.then(done, failed)
      else done()
    } catch (err) {
      failed(err)
    }
  }

  // -------------------------------------------------------------- text calls

  /**
   * A call from a text frame (JSON-RPC): the same checks and bookkeeping as a
   * binary request, as a promise. A synchronous handler leaves the in-flight
   * count before this returns, as in `request`, so a batch of quick calls is
   * counted like the same calls sent as binary frames.
   */
  textCall(method: string, params: unknown[]): Promise<unknown> {
    const handler = this.resolve(method)
    if (!handler || handler instanceof Error) return Promise.reject(handler ?? new NotFoundError(`no such method: ${clip(method)}`))
    const refused = this.start(method)
    if (refused) return Promise.reject(refused)
    const controller = this.untrackedSignal(handler)
    const done = () => {
      this.settleUntracked(controller)
      this.end()
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

  // --------------------------------------------------------------- counting

  /**
   * Why a call (or notification handler) cannot start now, or undefined when
   * it may: then it is counted as in flight, against this connection's and
   * the server's limits, until `end()`.
   */
  private start(method: string): Error | undefined {
    if (this.draining) return new ShuttingDownError(`${clip(method)} was not run: the peer is shutting down`)
    const { limits, budget } = this.session.config
    if (this.inFlight >= limits.maxInFlightCalls) {
      return new OverloadedError(`too many calls in flight (limit maxInFlightCalls = ${limits.maxInFlightCalls})`)
    }
    if (budget) {
      if (budget.inFlight >= budget.maxInFlight) {
        return new OverloadedError(`server busy: too many calls in flight (limit maxServerInFlightCalls = ${budget.maxInFlight})`)
      }
      budget.inFlight++
    }
    this.inFlight++
    return undefined
  }

  /** A call or notification handler has finished. */
  private end(): void {
    const budget = this.session.config.budget
    if (budget) budget.inFlight--
    if (--this.inFlight === 0 && this.idleWaiters) this.wakeIdleWaiters()
  }

  /** Resolves when nothing runs (at once if nothing does), or when the connection closes. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0 || this.session.closed) return Promise.resolve()
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve))
  }

  /** Refuse calls from now on (`ShuttingDownError`); resolves like `whenIdle()`. */
  drain(): Promise<void> {
    this.draining = true
    return this.whenIdle()
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters ?? []
    this.idleWaiters = undefined
    for (const wake of waiters) wake()
  }

  /** The connection closed: every running handler's signal fires, and waiters for idleness wake. */
  closed(why: string): void {
    const reason = () => new ConnectionClosedError(`connection closed${why}`)
    if (this.running) {
      for (const controller of this.running.values()) controller?.abort(reason())
      this.running = undefined
    }
    if (this.untracked) {
      for (const controller of this.untracked) controller.abort(reason())
      this.untracked = undefined
    }
    this.wakeIdleWaiters()
  }

  // -------------------------------------------------------------- handlers

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
    if (method.charCodeAt(0) !== 35 /* # */) {
      const service = this.session.config.service
      return service ? resolvePath(service, method) : undefined
    }
    const refs = this.session.refsTable
    return refs ? refs.resolve(method) : new ReferenceReleasedError(`reference ${clip(method)} does not exist or was released`)
  }

  private execute(handler: Handler, path: string, params: unknown[], signal: AbortSignal | undefined): unknown {
    if (!handler.contextual) return handler.fn.apply(handler.self, params)
    const session = this.session
    const context: ContextFields<object> = {
      connection: session, peer: session.peer, identity: session.identity, path,
      signal: signal ?? new AbortController().signal,
    }
    return handler.fn.call(handler.self, context, ...params)
  }

  private logHandlerError(method: string, error: unknown): void {
    const setting = this.session.config.logErrors
    if (!setting || WirecallError.is(error)) return
    if (typeof setting === 'object' && setting.exclude?.some((cls) => error instanceof cls)) return
    this.session.log('error', `[wirecall] handler ${clip(method)} threw:`, error)
  }
}
