/**
 * `Remote<T>`: the peer's service as a typed object of async methods, and
 * the Proxy that builds calls from property paths.
 *
 * Proxy rules: symbols and language protocol names (`then`, `valueOf`,
 * `constructor`, ... see `LOCAL_ONLY`) never become calls, so a Remote is
 * never mistaken for a promise and coercing one sends nothing; one proxy per
 * path (cached); set/delete throw; `String(remote.a.b)` says what it is.
 */
import type { ContextFields } from './contextual.js'
import type { RemoteStream } from './streams.js'

/** Is `T` a `CallContext` (not `any`/`unknown`, which would also match)? */
// `ContextFields<unknown>`, not `<never>`: `connection` is a readonly (covariant) member, so every
// `CallContext<C>` is assignable to `ContextFields<unknown>`, while `CallContext<Session>` is not
// assignable to `ContextFields<never>` (with `<never>` the context parameter would leak into `Remote<T>`).
type IsContext<T> = 0 extends 1 & T ? false : [T] extends [ContextFields<unknown>] ? true : false

/**
 * The parameters a caller passes: a leading `CallContext` is supplied by
 * wirecall, not the caller; a parameter the handler reads as an
 * `AsyncIterable<T>` (an upload) also takes a `ReadableStream<T>`.
 */
export type CallerParams<P extends readonly unknown[]> = Uploads<P extends readonly [infer First, ...infer Rest]
  ? IsContext<First> extends true ? Rest : P
  : P>

/** Upload parameters (`AsyncIterable<T>`) accept a `ReadableStream<T>` too (a page's `file.stream()`). */
type Uploads<P extends readonly unknown[]> = {
  [K in keyof P]: 0 extends 1 & P[K] ? P[K] : P[K] extends AsyncIterable<infer T> ? P[K] | ReadableStreamOf<T> : P[K]
}

/**
 * A WHATWG `ReadableStream<T>` by its shape (what an upload parameter
 * accepts besides an `AsyncIterable<T>`), so that core's types need no DOM lib.
 */
export interface ReadableStreamOf<T> {
  /** The stream's reader (wirecall reads it through one). */
  getReader(): unknown
  /** Cancels the stream. */
  cancel(reason?: unknown): unknown
  /** Pipes it into a writable stream of `T`. */
  pipeTo(destination: { getWriter(): { write(chunk?: T): unknown } }, ...rest: never[]): unknown
}

/** What a function value becomes on the other side: an async function. */
export type RemoteFunction<F> = F extends (...args: infer P) => infer R
  ? (...args: CallerParams<P>) => Promise<RemoteResult<Awaited<R>>>
  : never

/**
 * Results: functions come back as callable references, services as
 * `Remote`s, streams (async iterables, async generators, `ReadableStream`s)
 * as a `RemoteStream` of their items (typed the same way); data as it is.
 */
export type RemoteResult<R> = R extends (...args: never[]) => unknown
  ? RemoteFunction<R> & Releasable
  : R extends ServiceMarked ? Remote<R> & Releasable
    : R extends AsyncIterable<infer T> ? RemoteStream<RemoteResult<T>> & AsyncReleasable
      : [ReadableStreamItem<R>] extends [never] ? R : RemoteStream<RemoteResult<ReadableStreamItem<R>>> & AsyncReleasable

/**
 * The item type of a WHATWG `ReadableStream<T>` (`never` for anything else),
 * recognised by its shape: core's types need no DOM lib, and a DOM
 * `ReadableStream` is not an `AsyncIterable` in every lib (Node's is).
 */
export type ReadableStreamItem<R> = R extends { pipeTo(destination: infer W, ...rest: never[]): unknown }
  ? W extends { getWriter(): { write(chunk?: infer T): unknown } } ? T : never
  : never

/**
 * `[Symbol.dispose](): void` (so `using ref = ...` works) where the user's lib
 * has `Symbol.dispose` (ESNext.Disposable / ES2025, or @types/node); `{}` where
 * it has not (e.g. `lib: ["ES2022", "DOM"]`), instead of the global
 * `Disposable`, which such a lib lacks. `release(ref)` works everywhere.
 */
export type Releasable = SymbolConstructor extends { readonly dispose: infer D extends symbol }
  ? { [K in D]: () => void }
  : {}

/**
 * `[Symbol.asyncDispose](): Promise<void>` (so `await using stream = ...`
 * stops a stream) where the user's lib has `Symbol.asyncDispose`; `{}` where
 * it has not, as for `Releasable`.
 */
export type AsyncReleasable = SymbolConstructor extends { readonly asyncDispose: infer D extends symbol }
  ? { [K in D]: () => Promise<void> }
  : {}

declare const SERVICE_BRAND: unique symbol
/**
 * The type-level mark `service()` puts on its result, so that a service
 * returned from a call is typed as a `Remote` (it crosses by reference),
 * unlike a plain data object. It exists only in types.
 */
export interface ServiceMarked {
  /** Type-only; never present at run time. */
  readonly [SERVICE_BRAND]: 'service'
}

type Callable = (...args: never[]) => unknown
type Members<T> = { [K in keyof T]: K extends string ? (T[K] extends Callable | object ? K : never) : never }[keyof T]

/**
 * The peer's service `T` as seen by a caller: methods become
 * `(...args) => Promise<Awaited<R>>`, sub-services nested `Remote`s, plain
 * data members disappear (they are not reachable). A leading `CallContext`
 * parameter is dropped (wirecall supplies it); functions and services
 * returned by a method arrive as callable references (`Disposable`).
 *
 * @example
 * ```ts
 * import { service, withContext, type Remote } from '@wirecall/core'
 *
 * const api = service({
 *   math: { add: (a: number, b: number) => a + b },
 *   whoami: withContext((ctx) => String(ctx.identity)),
 *   subscribe: (onTick: (n: number) => void) => () => {},   // returns an unsubscribe function
 *   version: '1.0',                                           // data: not reachable
 * })
 * type Api = Remote<typeof api>
 * // Api['math']['add']:  (a: number, b: number) => Promise<number>
 * // Api['whoami']:       () => Promise<string>
 * // Api['subscribe']:    (onTick: (n: number) => void) => Promise<(() => Promise<void>) & Disposable>
 * // Api['version']:      not a member
 *
 * const remote: Api = client.remote   // client = await connect<typeof api>(url)
 * await remote.math.add(3, 4)         // 7
 * ```
 */
export type Remote<T> = {
  readonly [K in Members<T>]: T[K] extends Callable ? RemoteFunction<T[K]> : Remote<T[K]>
}

/** Like `Remote<T>`, but every method sends a notification and returns nothing. */
export type Notify<T> = {
  readonly [K in Members<T>]: T[K] extends (...args: infer P) => unknown
    ? (...args: CallerParams<P>) => void
    : Notify<T[K]>
}

/** What a proxy does when called. */
export interface Invoker {
  /** Called with the dotted path of the member called (`"a.b"`) and its arguments. */
  invoke(path: string, args: unknown[]): unknown
}

/** Extra members a root proxy answers (e.g. `Symbol.dispose` on references). */
export type ProxyExtras = ReadonlyMap<PropertyKey, unknown>

/**
 * Names the language looks up on any object: coercion (`valueOf`,
 * `toString`), JSON, promise resolution (`then`), prototype checks; symbols
 * (`Symbol.toPrimitive`, Node's inspect symbol, iterators) read as undefined. On a proxy they never become remote calls: `a + b` on a callback
 * reference would otherwise send `#1.valueOf` and leave a promise nobody
 * holds, whose rejection ends a Node process. None of them can be a remote
 * method anyway: the router never resolves Object.prototype names.
 */
const LOCAL_ONLY = new Set([
  'then', 'valueOf', 'toString', 'toLocaleString', 'toJSON', 'constructor', 'prototype', '__proto__',
  'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
  '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__',
])

/**
 * One handler instance per proxy, its traps on the prototype: a remote costs
 * a few fields instead of a closure per trap (idle connections stay small).
 */
class RemoteHandler implements ProxyHandler<() => void> {
  private children: Map<string, unknown> | undefined

  constructor(private readonly invoker: Invoker, private readonly path: string, private readonly extras: ProxyExtras | undefined) {}

  get(_target: unknown, prop: PropertyKey): unknown {
    if (this.extras?.has(prop)) return this.extras.get(prop)
    if (typeof prop !== 'string') return undefined
    if (LOCAL_ONLY.has(prop)) {
      // A readable description for coercion and JSON; every other protocol name reads as absent.
      if (prop !== 'toString' && prop !== 'toJSON' && prop !== 'toLocaleString') return undefined
      const path = this.path
      return () => `[wirecall remote ${path || '(root)'}]`
    }
    const key = prop
    const children = (this.children ??= new Map())
    let child = children.get(key)
    if (child === undefined) {
      child = createProxy(this.invoker, this.path ? `${this.path}.${key}` : key)
      children.set(key, child)
    }
    return child
  }

  apply(_target: unknown, _this: unknown, args: unknown[]): unknown {
    return this.invoker.invoke(this.path, args)
  }

  set(): boolean {
    throw new TypeError(`cannot set properties on a wirecall remote (${this.path || 'root'})`)
  }

  deleteProperty(): boolean {
    throw new TypeError(`cannot delete properties of a wirecall remote (${this.path || 'root'})`)
  }

  defineProperty(): boolean {
    throw new TypeError(`cannot define properties on a wirecall remote (${this.path || 'root'})`)
  }

  has(_target: unknown, prop: PropertyKey): boolean {
    return typeof prop === 'string' && !LOCAL_ONLY.has(prop)
  }
}

/** Build the proxy for `path` (empty = root). */
export function createProxy(invoker: Invoker, path = '', extras?: ProxyExtras): unknown {
  // An arrow function: callable, and no non-configurable `prototype` to clash with the traps.
  return new Proxy(() => {}, new RemoteHandler(invoker, path, extras))
}
