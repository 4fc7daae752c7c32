/**
 * Endpoint pools in the browser: `ClientPool` (from `@wirecall/core`, the
 * same code as Node's) over one reconnecting `BrowserClient` per URL.
 */
import { ClientPool, DEFAULT_TIMEOUT_MS, type PoolSettings } from '@wirecall/core'
import { readyPool } from '@wirecall/core/internal'
import { BrowserClient, type BrowserConnectOptions } from './client.js'

export { ClientPool, type PoolStrategy } from '@wirecall/core'

/** Options of `createPool()` and `connectPool()`: every endpoint's client options, plus the choice of endpoint. */
export interface PoolOptions<ServerService = unknown>
  extends Omit<BrowserConnectOptions<ServerService>, 'onStateChange' | 'whileDisconnected' | 'timeout' | 'logger'>, PoolSettings<ServerService> {
  /**
   * Called after an endpoint's client reconnected with a new session (not a
   * resumed one, which kept its subscriptions): re-subscribe on that endpoint here.
   */
  onReconnect?(client: BrowserClient<ServerService>): void | Promise<void>
}

function browserPool<S>(urls: readonly string[], options: PoolOptions<S>): ClientPool<S, BrowserClient<S>> {
  const { strategy: _strategy, onStateChange: _onStateChange, ...clientOptions } = options
  // One options object for all endpoints, so their sessions share the resolved configuration; the
  // pool queues calls itself and asks an endpoint for a call only while it is open.
  const shared: BrowserConnectOptions<S> = { ...clientOptions, whileDisconnected: 'fail' }
  return new ClientPool<S, BrowserClient<S>>(urls, options, (url) => new BrowserClient<S>(url, shared))
}

/**
 * A pool over `urls`, connecting to all of them now (state `connecting`).
 *
 * @example
 * ```ts
 * import { connectPool } from '@wirecall/browser'
 *
 * type Api = { search(q: string): string[] }
 * const pool = await connectPool<Api>(['wss://a.example/rpc', 'wss://b.example/rpc'], { strategy: 'least-pending' })
 * console.log(await pool.remote.search('wirecall'), pool.openEndpoints())
 * await pool.close()
 * ```
 */
export function createPool<ServerService = unknown>(urls: readonly string[], options: PoolOptions<ServerService> = {}): ClientPool<ServerService, BrowserClient<ServerService>> {
  return browserPool(urls, options)
}

/** A pool over `urls`, resolved once one endpoint is open; rejects with `TimeoutError` (the pool closed) when none opens within `options.timeout`. */
export function connectPool<ServerService = unknown>(
  urls: readonly string[], options: PoolOptions<ServerService> = {},
): Promise<ClientPool<ServerService, BrowserClient<ServerService>>> {
  return readyPool(browserPool(urls, options), options.timeout ?? DEFAULT_TIMEOUT_MS)
}
