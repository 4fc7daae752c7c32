/**
 * The bounds on waiting for Redis. A frozen or overloaded Redis keeps its
 * socket open and never answers, and the official client times out only
 * commands it has not written yet: every wait on a reply is bounded here.
 */
import { ConnectionClosedError } from '@wirecall/core'

/**
 * How long a read from Redis (`presence()`, `lookup()`, the nodes that offer a
 * method, a node's link address) waits for its replies. A frozen or overloaded
 * Redis keeps its socket open and never answers, and the client times out only
 * commands it has not written yet: without a bound, these waited forever.
 */
export const REDIS_REPLY_TIMEOUT_MS = 5000

/** Default of `RedisClusterOptions.joinTimeoutMs`: how long `serve()` may take to join the cluster. */
export const JOIN_TIMEOUT_MS = 10_000

/** How long `close()` waits for Redis to take this node's departure and for its two connections to close, before dropping them. */
export const CLOSE_TIMEOUT_MS = 2000

/** `promise`, or `error()` after `ms` (the promise's own outcome is then ignored). */
export function within<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

/** The error of a read that Redis did not answer in time. */
export function unanswered(): Error {
  return new ConnectionClosedError(`the cluster is unavailable (Redis did not answer within ${REDIS_REPLY_TIMEOUT_MS} ms)`)
}
