/**
 * Endpoint pools in Node: `ClientPool` (from `@wirecall/core`, the same code
 * as the browser's) over one reconnecting Node client per URL, so every
 * endpoint has what only Node can do: handshake headers, TLS and `ws`
 * options, corked writes, zero-copy large binaries.
 */
import { ClientPool, DEFAULT_TIMEOUT_MS, type Client, type PoolSettings } from '@wirecall/core'
import { readyPool } from '@wirecall/core/internal'
import { createClient, type ReconnectingConnectOptions } from './client.js'

/** Options of the Node `createPool()` and `connectPool()`: every endpoint's client options, plus the choice of endpoint. */
export interface NodePoolOptions<ServerService = unknown>
  extends Omit<ReconnectingConnectOptions<ServerService>, 'reconnect' | 'onStateChange' | 'whileDisconnected' | 'timeout' | 'logger'>,
  PoolSettings<ServerService> {
  /** The backoff of every endpoint's reconnects. @default the reconnecting client's */
  readonly reconnect?: ReconnectingConnectOptions['reconnect']
  /**
   * Called after an endpoint's client reconnected with a new session (not a
   * resumed one, which kept its subscriptions): re-subscribe on that endpoint here.
   */
  onReconnect?(client: Client<ServerService>): void | Promise<void>
}

function nodePool<S>(urls: readonly string[], options: NodePoolOptions<S>): ClientPool<S, Client<S>> {
  const { strategy: _strategy, onStateChange: _onStateChange, ...clientOptions } = options
  // The pool queues calls itself and asks an endpoint for a call only while it is open.
  const shared = { ...clientOptions, whileDisconnected: 'fail' as const }
  return new ClientPool<S, Client<S>>(urls, options, (url) => createClient<S>(url, shared))
}

/**
 * A pool over `urls`, connecting to all of them now (state `connecting`).
 *
 * @example
 * ```ts
 * import { connectPool } from '@wirecall/node'
 *
 * type Api = { search(q: string): string[] }
 * const pool = await connectPool<Api>(['ws://10.0.0.1:8080', 'ws://10.0.0.2:8080'], {
 *   strategy: 'least-pending',
 *   headers: { authorization: 'Bearer secret' },
 * })
 * console.log(await pool.remote.search('wirecall'), pool.openEndpoints())
 * await pool.close()
 * ```
 */
export function createPool<ServerService = unknown>(urls: readonly string[], options: NodePoolOptions<ServerService> = {}): ClientPool<ServerService, Client<ServerService>> {
  return nodePool(urls, options)
}

/**
 * A pool over `urls`, resolved once one endpoint is open. Rejects, and closes
 * the pool, when none opens within `timeout` (default 30 s; `TimeoutError`)
 * or every endpoint gave up.
 */
export function connectPool<ServerService = unknown>(
  urls: readonly string[], options: NodePoolOptions<ServerService> = {},
): Promise<ClientPool<ServerService, Client<ServerService>>> {
  return readyPool(nodePool(urls, options), options.timeout ?? DEFAULT_TIMEOUT_MS)
}
