/**
 * Per-call context: who is calling, and a signal that fires when the call is
 * no longer wanted. Passed explicitly as the handler's first argument, so it
 * survives any number of awaits in Node and in browsers alike (no
 * AsyncLocalStorage in the core).
 */
import type { Session } from './session.js'

declare const CONTEXT_BRAND: unique symbol

/** Where the peer is, as far as the transport knows. */
export interface PeerInfo {
  /** The peer's IP address (server side: the client's socket address). */
  readonly address?: string | undefined
  /** The peer's TCP port. */
  readonly port?: number | undefined
  /** The URL this side connected to (client side). */
  readonly url?: string | undefined
}

/** What a handler marked with `withContext` or `@expose({ context: true })` receives first. */
export interface CallContext<Connection = Session> {
  /** The connection the call came in on; call back into the peer with `connection.remote`. */
  readonly connection: Connection
  /** The peer's address, when the transport knows it. */
  readonly peer: PeerInfo | undefined
  /** What the server's `authenticate` hook returned for this connection (undefined without one). */
  readonly identity: unknown
  /** Fires when the caller cancels, times out or disconnects. */
  readonly signal: AbortSignal
  /** The dotted path that was called, e.g. `"addition.add"`. */
  readonly path: string
  /** @internal brand: keeps `Remote<T>` from mistaking a look-alike first parameter for a context. */
  readonly [CONTEXT_BRAND]?: true
}

const contextual = new WeakSet<Function>()

/**
 * Mark a handler as taking the call context as its first argument. Callers do
 * not pass it: `Remote<T>` hides that parameter. The context is an ordinary
 * argument, so it survives any number of `await`s, in Node and in browsers.
 *
 * @example
 * ```ts
 * import { service, withContext, type CallContext } from '@wirecall/core'
 * import type { Connection } from '@wirecall/node'
 * import { setTimeout as sleep } from 'node:timers/promises'
 *
 * const api = service({
 *   whoami: withContext((ctx) => `${ctx.peer?.address} as ${String(ctx.identity)}`),
 *   slow: withContext(async (ctx, ms: number) => {
 *     await sleep(ms, undefined, { signal: ctx.signal })   // rejects when the caller cancels or leaves
 *     return 'done'
 *   }),
 *   watch: withContext((ctx: CallContext<Connection>, topic: string) => ctx.connection.join(topic)),
 * })
 * // Caller side: `await client.remote.slow(500)`; the context is not passed.
 * ```
 */
export function withContext<A extends unknown[], R, C = Session>(
  handler: (ctx: CallContext<C>, ...args: A) => R,
): (ctx: CallContext<C>, ...args: A) => R {
  if (typeof handler !== 'function') throw new TypeError('withContext expects a function')
  contextual.add(handler)
  return handler
}

/** Mark a method function as contextual (used by `@expose({ context: true })`). */
export function markContextual(fn: Function): void {
  contextual.add(fn)
}

/** Does this handler want the context as its first argument? */
export function wantsContext(fn: Function): boolean {
  return contextual.has(fn)
}
