/**
 * Error classes, their stable codes, and the one place that turns any thrown
 * value into its wire form and back.
 */
import { pauseStacks, resumeStacks } from './stackless.js'

/**
 * Stable error codes. Match on these, not on messages: every wirecall error
 * carries one as `code`, also after crossing the wire.
 *
 * @example
 * ```ts
 * import { ErrorCode, WirecallError } from '@wirecall/core'
 *
 * try {
 *   await client.remote.report.generate()
 * } catch (err) {
 *   if (WirecallError.is(err) && err.code === ErrorCode.TIMEOUT) showRetryButton()
 *   else throw err
 * }
 * ```
 */
export const ErrorCode = {
  /** A handler on the peer threw something that is not a library error. */
  REMOTE: 'WIRECALL_REMOTE_ERROR',
  /** No such method or path, or the member is not exposed. */
  NOT_FOUND: 'WIRECALL_NOT_FOUND',
  /** Arguments rejected: wrong count, failed validation, or not encodable. */
  BAD_PARAMETERS: 'WIRECALL_BAD_PARAMETERS',
  /** A handler's result did not match the result schema it declared (see `validated`). */
  BAD_RESULT: 'WIRECALL_BAD_RESULT',
  /** The call did not settle within its timeout. */
  TIMEOUT: 'WIRECALL_TIMEOUT',
  /** The caller aborted the call through its `AbortSignal`. */
  ABORTED: 'WIRECALL_ABORTED',
  /** The connection closed before the call settled, or was already closed. */
  CONNECTION_CLOSED: 'WIRECALL_CONNECTION_CLOSED',
  /** A frame could not be decoded or had the wrong shape. */
  PROTOCOL: 'WIRECALL_PROTOCOL_ERROR',
  /** A limit was hit (in-flight calls, exported references, slow consumer). */
  OVERLOADED: 'WIRECALL_OVERLOADED',
  /** A callback or service reference was used after it was released. */
  REFERENCE_RELEASED: 'WIRECALL_REFERENCE_RELEASED',
  /** The peer is shutting down: it finishes running calls but starts no new ones. Retry elsewhere or later. */
  SHUTTING_DOWN: 'WIRECALL_SHUTTING_DOWN',
  /** A stream crossed a session that has no stream support: pass the `streams` option (a page imports it from `@wirecall/browser`). */
  STREAMS_NOT_ENABLED: 'WIRECALL_STREAMS_NOT_ENABLED',
} as const
/** One of the `ErrorCode` strings. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

const BRAND = Symbol.for('wirecall.error')

/** Fields every wirecall error may carry once it has crossed the wire. */
export interface RemoteErrorFields {
  /** Stable machine-readable code, see `ErrorCode`. */
  code: string
  /** Who threw it: the peer's address or URL, as seen from this side. */
  origin?: string | undefined
  /** The stack on the peer, when the peer sends stacks (see `exposeErrorStacks`). */
  remoteStack?: string | undefined
  /** Own enumerable fields of the thrown error, decoded. */
  data?: Record<string, unknown> | undefined
}

/**
 * Base of every error wirecall raises. Recognised across realms by
 * `WirecallError.is`, which also holds when two copies of the library are
 * bundled (where `instanceof` fails).
 *
 * @example Catching by code
 * ```ts
 * import { ErrorCode, WirecallError } from '@wirecall/core'
 *
 * try {
 *   await client.remote.orders.place(order)
 * } catch (err) {
 *   if (!WirecallError.is(err)) throw err
 *   switch (err.code) {
 *     case ErrorCode.CONNECTION_CLOSED: // the link dropped: the order may or may not have been placed
 *     case ErrorCode.SHUTTING_DOWN:     // the server did not run it: safe to retry
 *       return retryLater(order)
 *     case ErrorCode.NOT_FOUND:         // an older server without orders.place
 *       return showUpgradeNotice()
 *     default:
 *       console.error(err.name, err.message, err.origin, err.data)
 *   }
 * }
 * ```
 */
export class WirecallError extends Error implements RemoteErrorFields {
  /** Stable machine-readable code, see `ErrorCode`. */
  code: string
  /** Who threw it: the peer's address or URL, as seen from this side. */
  origin?: string | undefined
  /** The stack on the peer, when the peer sends stacks (see `exposeErrorStacks`). */
  remoteStack?: string | undefined
  /** Own enumerable fields of the thrown error, decoded. */
  data?: Record<string, unknown> | undefined
  /**
   * Create a wirecall error; subclass it for errors with your own stable code.
   * @param message What went wrong.
   * @param code One of `ErrorCode` (default `WIRECALL_REMOTE_ERROR`), or your own stable code.
   * @param options `cause`: the error this one wraps.
   */
  constructor(message: string, code: string = ErrorCode.REMOTE, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    Object.defineProperty(this, BRAND, { value: true })
  }
  /** True for any wirecall error, even from another copy of the library (checks a registered symbol, not the prototype). */
  static is(value: unknown): value is WirecallError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
  }
}

function define<N extends string>(name: N, code: ErrorCode) {
  const cls = class extends WirecallError {
    /**
     * Create the error, e.g. `throw new ParameterError('amount must be positive')` in a handler.
     * @param message What went wrong.
     * @param options `cause`: the error this one wraps.
     */
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, code, options)
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true })
  return cls
}

/**
 * A handler on the peer threw something that is neither a library error, a
 * built-in JS error nor a class of the caller's `errors` table; `name`,
 * `message`, `data`, `remoteStack` and `origin` describe it.
 *
 * @example
 * ```ts
 * try {
 *   await client.remote.pay(100)
 * } catch (err) {
 *   // The server threw `class InsufficientFunds extends Error { balance = 20 }`.
 *   if (err instanceof RemoteError && err.name === 'InsufficientFunds') console.log(err.data?.balance) // 20
 * }
 * ```
 */
export class RemoteError extends WirecallError {
  /**
   * Built by wirecall when an error arrives from the peer; rarely built by hand.
   * @param message The thrown error's message.
   * @param name The thrown error's `name` (e.g. `InsufficientFunds`).
   * @param code Its `code`, when it had a string one.
   */
  constructor(message: string, name = 'Error', code: string = ErrorCode.REMOTE) {
    super(message, code)
    this.name = name
  }
}
/** No such method or path on the peer, or the member is not exposed. */
export class NotFoundError extends define('NotFoundError', ErrorCode.NOT_FOUND) {}
/** Arguments were rejected (count, validation) or could not be encoded. */
export class ParameterError extends define('ParameterError', ErrorCode.BAD_PARAMETERS) {}
/** A handler's result failed its declared result schema; `data.issues` says where. */
export class ResultError extends define('ResultError', ErrorCode.BAD_RESULT) {}
/** The call took longer than its timeout. */
export class TimeoutError extends define('TimeoutError', ErrorCode.TIMEOUT) {}
/** The call was aborted by its caller. */
export class AbortError extends define('AbortError', ErrorCode.ABORTED) {}
/** The connection closed before the call settled. */
export class ConnectionClosedError extends define('ConnectionClosedError', ErrorCode.CONNECTION_CLOSED) {}
/** A frame was malformed. */
export class ProtocolError extends define('ProtocolError', ErrorCode.PROTOCOL) {}
/** A limit was hit. */
export class OverloadedError extends define('OverloadedError', ErrorCode.OVERLOADED) {}
/** A callback or service reference was used after release or after its connection closed. */
export class ReferenceReleasedError extends define('ReferenceReleasedError', ErrorCode.REFERENCE_RELEASED) {}
/** The peer is shutting down (a server in `close()`): the call was not run, so it is safe to retry elsewhere. */
export class ShuttingDownError extends define('ShuttingDownError', ErrorCode.SHUTTING_DOWN) {}

type LibraryErrorClass = new (message: string) => WirecallError
/** Library errors are rebuilt as themselves from their wire name (null prototype: no `toString` lookups). */
const LIBRARY_ERRORS: Readonly<Record<string, LibraryErrorClass>> = Object.assign(Object.create(null), {
  NotFoundError, ParameterError, ResultError, TimeoutError, AbortError, ConnectionClosedError,
  ProtocolError, OverloadedError, ReferenceReleasedError, ShuttingDownError,
})
/** Built-in JS errors are re-raised as themselves by default. */
// Plain `Error` is not among them: a bare Error (or a non-Error throw) arrives as `RemoteError`,
// so `instanceof RemoteError` tells "the peer failed" apart from errors thrown on this side.
const BUILTIN_ERRORS: Readonly<Record<string, ErrorConstructor>> = Object.assign(Object.create(null), {
  TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
})

/** A user error class that may be re-raised as itself (`errors: { MyError }`). */
export type ErrorClass = abstract new (...args: never[]) => Error
/** Translation table: wire name to class. Keys are the `name` the thrower's errors carry. */
export type ErrorTable = Readonly<Record<string, ErrorClass>>

/** The wire form of an error: the msgpack-rpc `error` slot of a response. */
export interface WireError {
  /** The error's `name`, used to rebuild it as its class on the receiver. */
  name: string
  /** The error's message. */
  message: string
  /** Stable code (`ErrorCode`, or the thrown error's own string `code`). */
  code: string
  /** The thrower's stack, only when `exposeErrorStacks` is on. */
  stack?: string
  /** The thrown error's own enumerable fields, as data only. */
  data?: Record<string, unknown>
}

/** Errors rebuilt from the wire (built-ins and table classes included), see `toWireError`. */
const decodedErrors = new WeakSet<Error>()

const RESERVED_FIELDS = new Set(['name', 'message', 'stack', 'code', 'origin', 'remoteStack', 'cause'])

/** The error options of a session (`SessionOptions`): what a thrown error shows the peer. */
export interface ErrorPolicyOptions {
  /**
   * Withhold error details from the peer, as a production server should. An
   * error then crosses with `name`, `message` and `code`, and:
   * - `data` (its own fields) only when its class is public: wirecall's own
   *   errors, classes of the `errors` table, classes in `publicErrors`
   *   (subclasses included);
   * - a Node system error (a string `syscall` or a numeric `errno`: ENOENT,
   *   ECONNREFUSED...) as `Error: internal error`, code
   *   `WIRECALL_REMOTE_ERROR`: its message, path, address and port describe
   *   the server, not the caller's mistake;
   * - a thrown non-Error object as "non-Error value thrown (object)", without
   *   its contents.
   * Handler errors are still logged in full on this side (`logErrors`).
   * Stacks are `exposeErrorStacks`' business.
   * @default false; the Node server and client turn it on when NODE_ENV is "production".
   */
  readonly redactErrors?: boolean
  /** Error classes whose `data` the peer may see even when `redactErrors` is on (the `errors` table counts too). */
  readonly publicErrors?: readonly ErrorClass[]
  /**
   * Last look at every error this side sends (after `redactErrors`): return a
   * wire form to send instead, or nothing to send `wire` as it is. If it
   * throws, the peer gets `Error: internal error`. Not called for wirecall's
   * own refusals of malformed frames (they describe only the frame).
   */
  readonly onSendError?: (error: unknown, wire: WireError) => WireError | undefined | void
}

/** `ErrorPolicyOptions` resolved once per configuration (see `errorPolicy`). */
export interface ErrorPolicy {
  readonly stacks: boolean
  readonly redact: boolean
  readonly publicClasses: readonly ErrorClass[]
  readonly onSendError: ErrorPolicyOptions['onSendError'] | undefined
}

/** Resolve a session's error options into the policy `toWireError` applies. */
export function errorPolicy(options: ErrorPolicyOptions & { readonly exposeErrorStacks?: boolean; readonly errors?: ErrorTable }): ErrorPolicy {
  return {
    stacks: options.exposeErrorStacks ?? false,
    redact: options.redactErrors ?? false,
    publicClasses: [...(options.publicErrors ?? []), ...Object.values(options.errors ?? {})],
    onSendError: options.onSendError,
  }
}

const INTERNAL_ERROR = (): WireError => ({ name: 'Error', message: 'internal error', code: ErrorCode.REMOTE })

/** A Node system error: its message, path, address and port describe the machine that threw it. */
function isSystemError(err: object): boolean {
  const e = err as { syscall?: unknown; errno?: unknown }
  return typeof e.syscall === 'string' || typeof e.errno === 'number'
}

/**
 * Turn anything a handler threw into its wire form, under `policy` (`false`:
 * one of wirecall's own refusals, sent as it is without stack). Non-errors
 * (strings, plain objects, `undefined`) still give the caller a clear message.
 */
export function toWireError(thrown: unknown, policy: ErrorPolicy | false): WireError {
  const wire = wireForm(thrown, policy)
  const hook = policy && policy.onSendError
  if (!hook) return wire
  try {
    const replaced = hook(thrown, wire)
    return replaced === undefined ? wire : checkedWire(replaced)
  } catch {
    return INTERNAL_ERROR()
  }
}

/** What an `onSendError` hook returned, made safe to encode. */
function checkedWire(value: unknown): WireError {
  const fields = normalise(value)
  const wire: WireError = { name: fields.name, message: fields.message, code: fields.code }
  if (fields.stack !== undefined) wire.stack = fields.stack
  if (fields.data !== undefined) wire.data = fields.data
  return wire
}

function wireForm(thrown: unknown, policy: ErrorPolicy | false): WireError {
  const redact = policy !== false && policy.redact
  if (thrown instanceof Error || WirecallError.is(thrown)) {
    const err = thrown as Error & { code?: unknown }
    // On a wirecall error, or any error rebuilt by `fromWireError`, `data` is the payload it arrived
    // with (often undefined), not a user field: forward its contents instead of nesting `data.data`.
    const fromWire = WirecallError.is(err) || decodedErrors.has(err)
    const isPublic = !redact || WirecallError.is(err) || (policy as ErrorPolicy).publicClasses.some((cls) => err instanceof cls)
    if (!isPublic && isSystemError(err)) return INTERNAL_ERROR()
    const wire: WireError = {
      name: typeof err.name === 'string' ? err.name : 'Error',
      message: typeof err.message === 'string' ? err.message : String(err.message),
      code: typeof err.code === 'string' ? err.code : ErrorCode.REMOTE,
    }
    // Library errors never carry a stack: it would only show wirecall's internals.
    if (policy !== false && policy.stacks && !WirecallError.is(err) && typeof err.stack === 'string') wire.stack = err.stack
    if (!isPublic) return wire
    const own = ownData(err, fromWire)
    const carried = fromWire ? (err as { data?: Record<string, unknown> }).data : undefined
    const data = carried ? { ...carried, ...own } : own
    if (data) wire.data = data
    return wire
  }
  if (typeof thrown === 'string') return { name: 'Error', message: thrown, code: ErrorCode.REMOTE }
  if (typeof thrown === 'object' && thrown !== null) {
    if (redact) return { name: 'Error', message: 'non-Error value thrown (object)', code: ErrorCode.REMOTE }
    const data = ownData(thrown)
    const wire: WireError = { name: 'Error', message: `non-Error value thrown: ${describe(thrown)}`, code: ErrorCode.REMOTE }
    if (data) wire.data = data
    return wire
  }
  return { name: 'Error', message: `non-Error value thrown: ${String(thrown)}`, code: ErrorCode.REMOTE }
}

function ownData(value: object, skipData = false): Record<string, unknown> | undefined {
  let data: Record<string, unknown> | undefined
  for (const key of Object.keys(value)) {
    if (RESERVED_FIELDS.has(key) || (skipData && key === 'data')) continue
    const field = (value as Record<string, unknown>)[key]
    if (typeof field === 'function' || typeof field === 'symbol') continue
    ;(data ??= {})[key] = dataOnly(field, 0)
  }
  return data
}

/**
 * An error's fields as plain data: functions and symbols dropped at any depth
 * (an error is never a way to hand out callable references, e.g. an HTTP
 * client error's `config.adapter`), cycles and depth cut at 8 levels.
 */
function dataOnly(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'function' || typeof value === 'symbol' ? undefined : value
  if (depth >= 8) return undefined
  if (Array.isArray(value)) return value.map((item) => dataOnly(item, depth + 1))
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value // Date, Map, Uint8Array, Error...: the codec knows them
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key]
    if (typeof field !== 'function' && typeof field !== 'symbol') out[key] = dataOnly(field, depth + 1)
  }
  return out
}

/** How long `describe` lets a description grow before it stops (`...`). */
const DESCRIBE_CHARS = 200

/**
 * A short, JSON-like text for a value: at most about `DESCRIBE_CHARS`
 * characters, and it never calls anything on the value. Not `JSON.stringify`:
 * a peer's data may hold references, whose `toJSON` would be a call to the
 * peer (a frame of many would send as many calls), and a large binary would
 * become a string of several characters per byte before it was cut.
 */
export function describe(value: unknown): string {
  let out = ''
  const walk = (v: unknown, depth: number): void => {
    if (out.length >= DESCRIBE_CHARS) return
    if (typeof v === 'string') out += JSON.stringify(v.slice(0, DESCRIBE_CHARS))
    else if (typeof v === 'bigint') out += `${v}n`
    else if (typeof v !== 'object' || v === null) out += typeof v === 'number' || typeof v === 'boolean' || v === null ? String(v) : `[${typeof v}]`
    else if (depth > 3) out += '...'
    else if (Array.isArray(v)) {
      out += '['
      for (let i = 0; i < v.length && out.length < DESCRIBE_CHARS; i++) {
        if (i) out += ','
        walk(v[i], depth + 1)
      }
      out += ']'
    } else if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) {
      out += `[${Object.prototype.toString.call(v).slice(8, -1)}]`
    } else {
      out += '{'
      let n = 0
      for (const key of Object.keys(v)) {
        if (out.length >= DESCRIBE_CHARS) break
        const field = Object.getOwnPropertyDescriptor(v, key)
        if (!field || !('value' in field)) continue // a getter is not run
        out += `${n++ ? ',' : ''}${JSON.stringify(key)}:`
        walk(field.value, depth + 1)
      }
      out += '}'
    }
  }
  try {
    walk(value, 0)
  } catch {
    return Object.prototype.toString.call(value) // a local proxy whose traps throw, say
  }
  return out.length > DESCRIBE_CHARS ? `${out.slice(0, DESCRIBE_CHARS)}...` : out
}

/**
 * Rebuild a thrown error from its wire form: library errors and built-ins as
 * themselves, classes of the translation table as themselves, anything else as
 * `RemoteError`. Tolerates errors from foreign msgpack-rpc peers (any value).
 */
export function fromWireError(wire: unknown, origin: string | undefined, table: ErrorTable | undefined): Error {
  // No local stack: it would only show the decoder, `remoteStack` carries the peer's, and capturing
  // one is most of the cost of an error a peer can send by the thousand in one frame.
  const saved = pauseStacks()
  try {
    return rebuild(wire, origin, table)
  } finally {
    resumeStacks(saved)
  }
}

function rebuild(wire: unknown, origin: string | undefined, table: ErrorTable | undefined): Error {
  const fields = normalise(wire)
  let err: Error & Partial<RemoteErrorFields>
  const library = LIBRARY_ERRORS[fields.name]
  const builtin = BUILTIN_ERRORS[fields.name]
  const user = table && Object.prototype.hasOwnProperty.call(table, fields.name) ? table[fields.name] : undefined
  // A library class only when name *and* its own code match: a handler's own error that happens
  // to be named `TimeoutError` (e.g. the DOMException of `AbortSignal.timeout()`) or `AbortError`
  // carries WIRECALL_REMOTE_ERROR and must not pose as this call timing out or being aborted.
  const candidate = library ? new library(fields.message) : undefined
  if (candidate && candidate.code === fields.code) {
    err = candidate
  } else if (user) {
    // Built without calling the constructor: its signature is unknown and it must not run peer-chosen logic.
    err = Object.create(user.prototype) as Error
    Object.defineProperty(err, 'message', { value: fields.message, writable: true, configurable: true })
    Object.defineProperty(err, 'stack', { value: `${fields.name}: ${fields.message}\n    at <remote>`, writable: true, configurable: true })
    if (fields.data) for (const key of Object.keys(fields.data)) setOwn(err, key, fields.data[key])
  } else if (builtin) {
    err = new builtin(fields.message)
  } else {
    err = new RemoteError(fields.message, fields.name, fields.code)
  }
  // Defined, not assigned: a registered class may have getter-only members of these names,
  // and assigning would throw (peer-chosen data must never make decoding throw).
  setOwn(err, 'code', fields.code)
  setOwn(err, 'origin', origin)
  setOwn(err, 'remoteStack', fields.stack)
  setOwn(err, 'data', fields.data)
  decodedErrors.add(err)
  return err
}

function setOwn(target: object, key: string, value: unknown): void {
  if (key === '__proto__') return
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: key !== 'stack' })
}

function normalise(wire: unknown): { name: string; message: string; code: string; stack?: string; data?: Record<string, unknown> } {
  if (typeof wire === 'object' && wire !== null && !Array.isArray(wire) && !(wire instanceof Uint8Array)) {
    const w = wire as Record<string, unknown>
    const out: ReturnType<typeof normalise> = {
      name: typeof w.name === 'string' && w.name ? w.name : 'Error',
      message: typeof w.message === 'string' ? w.message : describe(w),
      code: typeof w.code === 'string' ? w.code : ErrorCode.REMOTE,
    }
    if (typeof w.stack === 'string') out.stack = w.stack
    if (typeof w.data === 'object' && w.data !== null && !Array.isArray(w.data)) out.data = w.data as Record<string, unknown>
    return out
  }
  // Foreign msgpack-rpc servers often send a bare string or [code, message].
  return { name: 'Error', message: typeof wire === 'string' ? wire : describe({ error: wire }), code: ErrorCode.REMOTE }
}

/** Long method names and the like, cut for messages. */
export const clip = (s: string): string => (s.length > 100 ? `${s.slice(0, 100)}...` : s)

/** The error of a call aborted through its signal (the signal's reason kept as `cause`). */
export function abortError(path: string, signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason
  const text = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason)
  return new AbortError(`call to ${clip(path)} aborted: ${text}`, { cause: reason })
}

/** The error of a call whose arguments could not be encoded (library errors, such as limits, pass as they are). */
export function encodeFailure(path: string, err: unknown): Error {
  if (WirecallError.is(err)) return err
  return new ParameterError(`arguments of ${clip(path)} cannot be sent: ${(err as Error).message}`, { cause: err })
}
