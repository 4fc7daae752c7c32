/**
 * Calls and notifications from the peer: finding the handler, running it,
 * answering, and counting what runs (in flight, against this connection's
 * and the server's limits), so that a cancel, a drain or the connection
 * closing reach every running handler.
 *
 * Functions over the session's incoming-call state (`IncomingState`, fields
 * of the session that stay undefined until used), not an object per session:
 * an idle connection carries a few empty fields and nothing else.
 */
import {
  AbortError, ConnectionClosedError, ErrorCode, NotFoundError, OverloadedError, ParameterError, ProtocolError, ReferenceReleasedError,
  ShuttingDownError, WirecallError, clip, toWireError,
} from './errors.js'
import type { SessionConfig } from './options.js'
import { safelyEnd, safelyStartIncoming, type IncomingObservation, type ObservedSession, type SessionObserver } from './observe.js'
import { DESCRIBE_METHOD, MessageType, type Metadata } from './protocol.js'
import type { References } from './references.js'
import { resolvePath, type Handler } from './router.js'
import { describePeer, isCallScoped, type ContextFields, type PeerInfo } from './contextual.js'
import type { StreamTable } from './stream-support.js'
import { acceptsNamedParams } from './validation.js'

/** The incoming-call bookkeeping a session carries (its `@internal` fields). */
export interface IncomingState {
  /** Handlers running or awaited now (calls and notifications alike). */
  inFlight: number
  /**
   * Calls still running after their frame was handled (async handlers), by
   * request id: the controller of a contextual handler (what a cancel or the
   * connection closing aborts), undefined otherwise. Also how a request
   * reusing a running id is recognised.
   */
  running: Map<number, AbortController | undefined> | undefined
  /** Signals of running handlers that only the connection closing can abort (notifications, text calls). */
  untracked: Set<AbortController> | undefined
  /** Notification listeners registered with `session.on(path, fn)`. */
  listeners: Map<string, Set<Listener>> | undefined
  idleWaiters: (() => void)[] | undefined
  /** Set by `drain()`: calls are refused with `ShuttingDownError`. */
  draining: boolean
}

/** What incoming calls need from their session. */
export interface IncomingHost extends IncomingState, ObservedSession {
  readonly config: SessionConfig
  /** What observes this session, if anything. */
  readonly observer: SessionObserver | undefined
  readonly peer: PeerInfo | undefined
  readonly refsTable: References | undefined
  readonly streamsTable: StreamTable | undefined
  /** Encode a message, undoing the reference exports it counted if it cannot be encoded. */
  encodeFrame(message: unknown[]): Uint8Array | Uint8Array[]
  transmit(frame: Uint8Array | Uint8Array[]): void
  /** Rate-limited logging about this connection. */
  log(level: 'warn' | 'error', message: string, ...details: unknown[]): void
}

type Listener = (...args: unknown[]) => unknown

/**
 * Wait for a handler's thenable; only its first outcome counts. Any thenable is accepted, and one
 * may call both callbacks, or one twice: a second answer, in-flight count or give-back would be wrong.
 */
function thenOnce(result: PromiseLike<unknown>, onValue: (value: unknown) => void, onError: (err: unknown) => void): void {
  let settled = false
  result.then(
    (value) => {
      if (settled) return
      settled = true
      onValue(value)
    },
    (err: unknown) => {
      if (settled) return
      settled = true
      onError(err)
    },
  )
}

/**
 * A `callScoped` handler's argument references (the proxies its frame decoded since `refsMark`,
 * one entry per copy), to give back when it settles; undefined otherwise. Only a frame that
 * carried references pays for the lookup.
 */
function borrowedRefs(s: IncomingHost, handler: Handler, refsMark: number): object[] | undefined {
  const refs = s.refsTable
  return refs && refsMark >= 0 && refs.importMark > refsMark && isCallScoped(handler.fn) ? refs.importsSince(refsMark) : undefined
}

/** A handler's result is a promise (or any thenable) when it has a callable `then`. */
export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'

// ------------------------------------------------------------ binary calls

/**
 * `[0, id, method, params]`. Returns false when no handler saw the params (the frame's imports can be given back).
 * `refsMark`: where the frame's imports start in the reference table's log (a `callScoped` handler's are given back when it settles).
 */
export function request(s: IncomingHost, id: number, method: string, params: unknown[], metadata?: Metadata, refsMark = -1): boolean {
  if (s.running?.has(id)) {
    // Two live calls under one id could not be told apart (a cancel would reach one, the close
    // only the other's signal): the newcomer is refused and the running one goes on.
    reply(s, id, new ProtocolError(`request id ${id} is already in use by a running call`), undefined, method)
    return false
  }
  const observation = s.observer ? safelyStartIncoming(s.observer, method, 'call', metadata, s.config.logger) : undefined
  const handler = resolve(s, method)
  if (!handler || handler instanceof Error) {
    reply(s, id, handler ?? new NotFoundError(`no such method: ${clip(method)}`), undefined, method, observation)
    return false
  }
  const refused = start(s, method)
  if (refused) {
    reply(s, id, refused, undefined, method, observation)
    return false
  }
  let controller: AbortController | undefined
  if (handler.contextual) {
    controller = new AbortController()
    ;(s.running ??= new Map()).set(id, controller)
  }
  const refs = s.refsTable
  const borrowed = borrowedRefs(s, handler, refsMark)
  let result: unknown
  try {
    result = observation?.run
      ? observation.run(() => execute(s, handler, method, params, controller?.signal))
      : execute(s, handler, method, params, controller?.signal)
  } catch (err) {
    finish(s, id, controller)
    try {
      // `reply` reads an undefined error as success: a handler that did `throw undefined`
      // must not look like it returned. Same substitution as the async path below.
      reply(s, id, err ?? new Error('threw ' + String(err)), undefined, method, observation)
    } finally {
      if (borrowed) refs!.giveBack(borrowed)
    }
    return true
  }
  if (isThenable(result)) {
    if (!controller) (s.running ??= new Map()).set(id, undefined)
    thenOnce(
      result,
      (value) => answerLater(s, id, controller, undefined, value, method, observation, borrowed),
      (err) => answerLater(s, id, controller, err ?? new Error('rejected with ' + String(err)), undefined, method, observation, borrowed),
    )
  } else {
    finish(s, id, controller)
    try {
      reply(s, id, undefined, result, method, observation, controller)
    } finally {
      // After the answer: a reference handed back in the result has crossed by then.
      if (borrowed) refs!.giveBack(borrowed)
    }
  }
  return true
}

/** `[2, id]`: the caller no longer wants the answer; a contextual handler's signal fires. */
export function cancel(s: IncomingHost, id: number): void {
  s.running?.get(id)?.abort(new AbortError('the caller cancelled the call'))
}

/** An async handler settled: answer, unless the caller cancelled. Runs in a promise callback, so it never throws. */
function answerLater(
  s: IncomingHost, id: number, controller: AbortController | undefined, error: unknown, value: unknown, method: string,
  observation: IncomingObservation | undefined, borrowed: readonly object[] | undefined,
): void {
  try {
    if (finish(s, id, controller)) reply(s, id, error, value, method, observation, controller)
    // Nobody is waiting for the answer; the observer still learns how the call ended.
    else if (observation) safelyEnd(observation, controller?.signal.aborted ? controller.signal.reason : new ConnectionClosedError('connection closed'), s.config.logger)
  } catch (err) {
    s.log('error', `[wirecall] could not answer ${clip(method)}:`, err)
  }
  // A callScoped handler's argument references: given back once it settled, answered or not.
  if (borrowed) s.refsTable?.giveBack(borrowed)
}

/** Bookkeeping when a handler settles; false if the caller cancelled or left (no reply is wanted). */
function finish(s: IncomingHost, id: number, controller: AbortController | undefined): boolean {
  end(s)
  s.running?.delete(id)
  return !controller?.signal.aborted && !s.closed
}

/**
 * Answer a request; also how a frame we cannot use is refused (`ProtocolError`).
 * `observation`: the call's, ended here with the outcome; `controller`: the
 * handler's, kept by the streams its result holds (their cancel fires its signal).
 */
export function reply(
  s: IncomingHost, id: number, error: unknown, result: unknown, method: string,
  observation?: IncomingObservation, controller?: AbortController,
): void {
  if (s.closed) {
    if (observation) safelyEnd(observation, error ?? new ConnectionClosedError('connection closed before the answer was sent'), s.config.logger)
    return
  }
  if (error === undefined) {
    try {
      const frame = s.encodeFrame([MessageType.RESPONSE, id, null, result])
      // After encoding: the frame may have created the stream table (its first stream).
      // The result's streams are pulled inside the call's observation (`run`: a tracer's context).
      const streams = s.streamsTable
      s.transmit(streams ? streams.respond(frame, id, controller, observation?.run?.bind(observation)) : frame)
      if (observation) safelyEnd(observation, undefined, s.config.logger)
      return
    } catch (err) {
      // Keep library errors (OverloadedError past maxExportedRefs) as themselves for the caller.
      error = WirecallError.is(err) ? err : new TypeError(`result of ${clip(method)} could not be encoded: ${(err as Error).message}`)
    }
  }
  if (observation) safelyEnd(observation, error, s.config.logger)
  logHandlerError(s, method, error)
  // The library's own errors (overload, not found, shutdown...) never carry a stack: it would only
  // show our internals, and a flood of refusals must not cost a stack trace each on the wire.
  const wire = toWireError(error, s.config.errorPolicy)
  const codec = s.config.codec
  let frame: Uint8Array
  try {
    // No reference host: an error never exports anything (a service or class instance in its data fails here).
    frame = codec.encode([MessageType.RESPONSE, id, wire, null], undefined)
  } catch {
    // The error's own data could not be encoded: send it without.
    frame = codec.encode([MessageType.RESPONSE, id, { name: wire.name, message: wire.message, code: wire.code }, null], undefined)
  }
  s.transmit(frame)
}

// ----------------------------------------------------------- notifications

/** Listen to notifications of `path` next to the service's handler. Returns the unsubscribe function. */
export function listen(s: IncomingHost, path: string, listener: Listener): () => void {
  const listeners = (s.listeners ??= new Map())
  let set = listeners.get(path)
  if (!set) listeners.set(path, (set = new Set()))
  set.add(listener)
  return () => {
    set.delete(listener)
    if (set.size === 0) listeners.delete(path)
  }
}

/**
 * `[2, method, params]` (or `[2, method, params, metadata]`). Returns false
 * when nobody saw the params. `named`: params is one by-name object
 * (JSON-RPC), for methods that accept it only.
 */
export function notification(s: IncomingHost, method: string, params: unknown[], metadata?: Metadata, named = false, refsMark = -1): boolean {
  const observation = s.observer ? safelyStartIncoming(s.observer, method, 'notification', metadata, s.config.logger) : undefined
  if (observation) {
    let seen = false
    try {
      seen = observation.run
        ? observation.run(() => deliverNotification(s, method, params, named, refsMark))
        : deliverNotification(s, method, params, named, refsMark)
    } finally {
      // A notification's observation covers its delivery; async handlers are not awaited (no one gets an answer).
      safelyEnd(observation, seen ? undefined : new NotFoundError(`no such method: ${clip(method)}`), s.config.logger)
    }
    return seen
  }
  return deliverNotification(s, method, params, named, refsMark)
}

function deliverNotification(s: IncomingHost, method: string, params: unknown[], named: boolean, refsMark: number): boolean {
  const listeners = s.listeners?.get(method)
  if (listeners) {
    for (const listener of [...listeners]) runNotificationHandler(s, method, undefined, listener, params, undefined, undefined)
  }
  let handler = resolve(s, method)
  if (named && handler && !(handler instanceof Error)) handler = namedRefusal(handler, method) ?? handler
  if (handler && !(handler instanceof Error)) {
    // Listeners (`session.on`) that received the same values may keep them: then nothing is given back.
    const borrowed = listeners ? undefined : borrowedRefs(s, handler, refsMark)
    runNotificationHandler(s, method, handler, undefined, params, untrackedSignal(s, handler), borrowed)
    return true
  }
  if (listeners) return true
  s.log('warn', `[wirecall] notification ${clip(method)} from ${describePeer(s.peer) ?? 'peer'}: ${handler?.message ?? 'no such method'}`)
  return false
}

/**
 * Run a notification's handler (a method of the service, or else a
 * listener). Notification handlers count as calls in flight (so the
 * in-flight limits bound them too, and graceful shutdown waits for them);
 * past a limit a notification is dropped and logged, never queued. Nothing
 * is allocated for a handler that returns at once (server pushes arrive by
 * the hundred thousand per second): closures only for a promise.
 */
function runNotificationHandler(
  s: IncomingHost, method: string, handler: Handler | undefined, listener: Listener | undefined, params: unknown[],
  controller: AbortController | undefined, borrowed: readonly object[] | undefined,
): void {
  const refused = start(s, method)
  if (refused) {
    settleUntracked(s, controller)
    if (borrowed) s.refsTable?.giveBack(borrowed)
    s.log('warn', `[wirecall] notification ${clip(method)} dropped: ${refused.message}`)
    return
  }
  let result: unknown
  try {
    result = handler ? execute(s, handler, method, params, controller?.signal) : listener!(...params)
  } catch (err) {
    return notificationDone(s, method, controller, borrowed, err, true)
  }
  if (isThenable(result)) {
    thenOnce(result, () => notificationDone(s, method, controller, borrowed), (err) => notificationDone(s, method, controller, borrowed, err, true))
  } else {
    settleUntracked(s, controller)
    end(s)
    if (borrowed) s.refsTable?.giveBack(borrowed)
  }
}

/** A notification handler finished (`failed`: with `error`, logged); a callScoped handler's references are given back. */
function notificationDone(
  s: IncomingHost, method: string, controller: AbortController | undefined, borrowed: readonly object[] | undefined, error?: unknown, failed = false,
): void {
  settleUntracked(s, controller)
  end(s)
  if (borrowed) s.refsTable?.giveBack(borrowed)
  if (failed) s.log('warn', `[wirecall] notification handler ${clip(method)} failed:`, error)
}

// -------------------------------------------------------------- text calls

/**
 * A call from a text frame (JSON-RPC): the same checks and bookkeeping as a
 * binary request, as a promise. A synchronous handler leaves the in-flight
 * count before this returns, as in `request`, so a batch of quick calls is
 * counted like the same calls sent as binary frames.
 */
export function textCall(s: IncomingHost, method: string, params: unknown[], named = false): Promise<unknown> {
  const observation = s.observer ? safelyStartIncoming(s.observer, method, 'call', undefined, s.config.logger) : undefined
  if (!observation) return runTextCall(s, method, params, runDirectly, named)
  const settled = runTextCall(s, method, params, observation.run ? (run) => observation.run!(run) : runDirectly, named)
  const { logger } = s.config
  settled.then(() => safelyEnd(observation, undefined, logger), (err: unknown) => safelyEnd(observation, err, logger))
  return settled
}

const runDirectly = <T>(run: () => T): T => run()

function runTextCall(
  s: IncomingHost, method: string, params: unknown[], within: <T>(run: () => T) => T, named: boolean,
): Promise<unknown> {
  const handler = resolve(s, method)
  if (!handler || handler instanceof Error) return Promise.reject(handler ?? new NotFoundError(`no such method: ${clip(method)}`))
  const refusal = named ? namedRefusal(handler, method) : undefined
  if (refusal) return Promise.reject(refusal)
  const refused = start(s, method)
  if (refused) return Promise.reject(refused)
  const controller = untrackedSignal(s, handler)
  const done = () => {
    settleUntracked(s, controller)
    end(s)
  }
  let result: unknown
  try {
    result = within(() => execute(s, handler, method, params, controller?.signal))
  } catch (err) {
    done()
    logHandlerError(s, method, err)
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
      logHandlerError(s, method, err)
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
function start(s: IncomingHost, method: string): Error | undefined {
  if (s.draining) return new ShuttingDownError(`${clip(method)} was not run: the peer is shutting down`)
  const { limits, budget } = s.config
  if (s.inFlight >= limits.maxInFlightCalls) {
    return new OverloadedError(`too many calls in flight (limit maxInFlightCalls = ${limits.maxInFlightCalls})`)
  }
  if (budget) {
    if (budget.inFlight >= budget.maxInFlight) {
      return new OverloadedError(`server busy: too many calls in flight (limit maxServerInFlightCalls = ${budget.maxInFlight})`)
    }
    budget.inFlight++
  }
  s.inFlight++
  return undefined
}

/** A call or notification handler has finished. */
function end(s: IncomingHost): void {
  const budget = s.config.budget
  if (budget) budget.inFlight--
  if (--s.inFlight === 0 && s.idleWaiters) wakeIdleWaiters(s)
}

/** Resolves when nothing runs (at once if nothing does), or when the connection closes. */
export function whenIdle(s: IncomingHost): Promise<void> {
  if (s.inFlight === 0 || s.closed) return Promise.resolve()
  return new Promise((resolve) => (s.idleWaiters ??= []).push(resolve))
}

/** Refuse calls from now on (`ShuttingDownError`); resolves like `whenIdle()`. */
export function drain(s: IncomingHost): Promise<void> {
  s.draining = true
  return whenIdle(s)
}

function wakeIdleWaiters(s: IncomingHost): void {
  const waiters = s.idleWaiters ?? []
  s.idleWaiters = undefined
  for (const wake of waiters) wake()
}

/** The connection closed: every running handler's signal fires, and waiters for idleness wake. */
export function abortAll(s: IncomingHost, why: string): void {
  const reason = () => new ConnectionClosedError(`connection closed${why}`)
  if (s.running) {
    for (const controller of s.running.values()) controller?.abort(reason())
    s.running = undefined
  }
  if (s.untracked) {
    for (const controller of s.untracked) controller.abort(reason())
    s.untracked = undefined
  }
  wakeIdleWaiters(s)
}

// -------------------------------------------------------------- handlers

/**
 * A signal for a contextual handler that no cancel message can address
 * (notifications, JSON-RPC calls): it still fires when the connection closes.
 */
function untrackedSignal(s: IncomingHost, handler: Handler): AbortController | undefined {
  if (!handler.contextual) return undefined
  const controller = new AbortController()
  ;(s.untracked ??= new Set()).add(controller)
  return controller
}

function settleUntracked(s: IncomingHost, controller: AbortController | undefined): void {
  if (controller) s.untracked?.delete(controller)
}

/**
 * By-name params (one object) reach only a method declared with one
 * parameter schema; any other method would take the object for its first
 * positional argument without a word.
 */
function namedRefusal(handler: Handler, method: string): ParameterError | undefined {
  if (acceptsNamedParams(handler.fn)) return undefined
  return new ParameterError(`${clip(method)} takes positional (array) params; by-name params need a method whose parameters are one object schema`)
}

/** Find the handler for a method name: a path in our service, or `#id...` for a reference we exported. */
function resolve(s: IncomingHost, method: string): Handler | Error | undefined {
  if (method.charCodeAt(0) !== 35 /* # */) {
    const service = s.config.service
    const describe = s.config.reflection
    // A closure, so arguments the caller sends can never choose what is described.
    if (method === DESCRIBE_METHOD && describe) return { fn: () => describe(service), self: undefined, contextual: false }
    return service ? resolvePath(service, method) : undefined
  }
  const refs = s.refsTable
  return refs ? refs.resolve(method) : new ReferenceReleasedError(`reference ${clip(method)} does not exist or was released`)
}

function execute(s: IncomingHost, handler: Handler, path: string, params: unknown[], signal: AbortSignal | undefined): unknown {
  if (!handler.contextual) return handler.fn.apply(handler.self, params)
  const context: ContextFields<object> = {
    connection: s, peer: s.peer, identity: s.identity, path,
    signal: signal ?? new AbortController().signal,
  }
  return handler.fn.call(handler.self, context, ...params)
}

function logHandlerError(s: IncomingHost, method: string, error: unknown): void {
  const setting = s.config.logErrors
  // Library errors describe the caller's mistake or a limit, except a result that broke its own
  // schema: that is this side's bug, and worth the same log line as any handler's throw.
  if (!setting || (WirecallError.is(error) && error.code !== ErrorCode.BAD_RESULT)) return
  if (typeof setting === 'object' && setting.exclude?.some((cls) => error instanceof cls)) return
  s.log('error', `[wirecall] handler ${clip(method)} threw:`, error)
}
