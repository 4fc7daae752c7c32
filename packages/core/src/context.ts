/**
 * Per-call context: who is calling, and a signal that fires when the call is
 * no longer wanted. Passed explicitly as the handler's first argument, so it
 * survives any number of awaits in Node and in browsers alike (no
 * AsyncLocalStorage in the core).
 */
import { markContextual, type ContextFields } from './contextual.js'
import type { Session } from './session.js'

export type { PeerInfo } from './contextual.js'

/** What a handler marked with `withContext` or `@expose({ context: true })` receives first. */
export interface CallContext<Connection = Session> extends ContextFields<Connection> {}

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
  markContextual(handler)
  return handler
}
