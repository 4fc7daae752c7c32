/**
 * Endpoint pools (aiozmq's N:M links, aiorpc's client pool): one `remote`
 * over several servers offering the same service. Each endpoint is a
 * reconnecting `Client` (the browser's or Node's: the pool is the same code
 * for both); a call goes to one endpoint that is open now (round robin, or
 * the one with the fewest calls pending), so a failed endpoint drops out of
 * the rotation and comes back when its client reconnects.
 *
 * Delivery is at most once, as for a single client: a call is sent to one
 * endpoint only; if that endpoint's connection drops while the call is in
 * flight, the call rejects with `ConnectionClosedError` (the server may or
 * may not have run it) and is not re-sent elsewhere. A call an endpoint
 * refuses because it is shutting down (`ShuttingDownError`: never run) is
 * sent to another endpoint instead. Calls made while no
 * endpoint is open wait for the first to open (or fail at once with
 * `whileDisconnected: 'fail'`), within their timeout.
 */
import { waitForSession, type SessionWaiter } from './waiting.js'
import type { Client, ConnectionState } from './client.js'
import { ConnectionClosedError, ShuttingDownError, TimeoutError } from './errors.js'
import { DEFAULT_TIMEOUT_MS } from './options.js'
import { createProxy } from './proxy.js'
import type { CallOptions, CallScope, Logger, Session } from './session.js'
import type { Notify, Remote } from './proxy.js'

/** How a pool picks the endpoint for a call among those open now. */
export type PoolStrategy = 'round-robin' | 'least-pending'

/**
 * What a pool itself reads of its options (the browser's and Node's
 * `createPool()` add every endpoint's client options to these).
 */
export interface PoolSettings<ServerService = unknown> {
  /**
   * `round-robin` takes the open endpoints in turn; `least-pending` takes the
   * one with the fewest calls waiting for an answer (a slow server gets fewer).
   * @default 'round-robin'
   */
  readonly strategy?: PoolStrategy
  /** Called when the pool's state changes: `open` while at least one endpoint is. */
  onStateChange?(state: ConnectionState, pool: ClientPool<ServerService>): void
  /** Calls made while no endpoint is open: `'wait'` for one (within their timeout), or `'fail'` at once. @default 'wait' */
  readonly whileDisconnected?: 'wait' | 'fail'
  /** The default call timeout, ms; also how long `connectPool()` waits for an endpoint to open. @default DEFAULT_TIMEOUT_MS */
  readonly timeout?: number
  /** Where failing state listeners are reported. @default console */
  readonly logger?: Logger
}

/**
 * Makes the reconnecting client of one endpoint. It must be made with
 * `whileDisconnected: 'fail'` (the pool queues calls itself and asks an
 * endpoint for a call only while it is open) and one options object shared
 * by every endpoint, so that their sessions share the resolved configuration.
 */
export type EndpointFactory<ServerService, C extends Client<ServerService>> = (url: string) => C

/**
 * Several reconnecting clients of the same service behind one `remote`.
 * Made by `createPool()` (returns at once) or `connectPool()` (resolves once
 * an endpoint is open), from `@wirecall/browser` or `@wirecall/node`.
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
export class ClientPool<ServerService = unknown, C extends Client<ServerService> = Client<ServerService>> {
  /** The service, through whichever endpoint each call picks. */
  readonly remote: Remote<ServerService>
  /** Fire-and-forget through one open endpoint; dropped (not queued) when none is open. */
  readonly notify: Notify<ServerService>
  /** One reconnecting client per endpoint, in the order of the URLs. */
  readonly endpoints: readonly C[]
  /** Resolves once any endpoint is open; rejects if every endpoint gives up or the pool closes first. */
  readonly ready: Promise<void>

  private readonly strategy: PoolStrategy
  private readonly waiters = new Set<SessionWaiter<ServerService>>()
  private readonly stateListeners = new Set<(state: ConnectionState) => void>()
  private cursor = 0
  private stateNow: ConnectionState = 'connecting'
  private everOpened = false

  /** Start connecting to every URL at once; prefer `createPool()` or `connectPool()`. */
  constructor(urls: readonly string[], private readonly options: PoolSettings<ServerService>, endpoint: EndpointFactory<ServerService, C>) {
    if (urls.length === 0) throw new TypeError('wirecall: a pool needs at least one endpoint URL')
    this.strategy = options.strategy ?? 'round-robin'
    if (this.strategy !== 'round-robin' && this.strategy !== 'least-pending') {
      throw new TypeError(`wirecall: unknown pool strategy ${String(this.strategy)}`)
    }
    this.endpoints = urls.map((url) => endpoint(url))
    for (const client of this.endpoints) client.onStateChange(() => this.endpointChanged())
    this.ready = Promise.any(this.endpoints.map((e) => e.ready)).then(
      () => undefined,
      () => { throw new ConnectionClosedError(`no endpoint of the pool could connect (${urls.join(', ')})`) },
    )
    this.ready.catch(() => {}) // observed through connectPool(); never an unhandled rejection
    this.remote = createProxy({ invoke: (path, args) => this.call(path, args) }) as Remote<ServerService>
    this.notify = createProxy({ invoke: (path, args) => this.pick()?.sendNotification(path, args) }) as Notify<ServerService>
    this.endpointChanged()
  }

  /** `open` while at least one endpoint is open; `reconnecting` when none is after one was; `closed` after `close()`. */
  get state(): ConnectionState {
    return this.stateNow
  }

  /** Observe the pool's state. Returns the unsubscribe function. */
  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener)
    return () => this.stateListeners.delete(listener)
  }

  /** The URLs of the endpoints open now (the ones calls go to). */
  openEndpoints(): string[] {
    return this.endpoints.filter((e) => usable(e.session)).map((e) => e.url)
  }

  /** The same remote, with per-call options (timeout, signal) applied: the shape of `Session.with()`. */
  with(options: CallOptions): CallScope<ServerService> {
    return { remote: createProxy({ invoke: (path, args) => this.call(path, args, options) }) as Remote<ServerService>, notify: this.notify }
  }

  /** Close every endpoint for good; calls waiting for an endpoint reject with `ConnectionClosedError`. */
  async close(): Promise<void> {
    if (this.stateNow === 'closed') return
    this.setState('closed')
    for (const w of [...this.waiters]) w.reject(new ConnectionClosedError('pool closed'))
    await Promise.all(this.endpoints.map((e) => e.close()))
  }

  // ------------------------------------------------------------------ calls

  private call(path: string, args: unknown[], options?: CallOptions, retries = this.endpoints.length - 1): Promise<unknown> {
    const session = this.pick()
    if (session) {
      const sent = session.call(path, args, options)
      if (retries <= 0) return sent
      // An endpoint shutting down refuses calls it has not started (`ShuttingDownError`: it never ran
      // them), so they go to another endpoint: at most once still holds, and a rolling restart is
      // not seen by the caller. Each endpoint is tried at most once more.
      return sent.catch((err: unknown) => {
        if (!(err instanceof ShuttingDownError)) throw err
        return this.call(path, args, options, retries - 1)
      })
    }
    if (this.stateNow === 'closed') return Promise.reject(new ConnectionClosedError(`cannot call ${path}: pool is closed`))
    if ((this.options.whileDisconnected ?? 'wait') === 'fail') {
      return Promise.reject(new ConnectionClosedError(`cannot call ${path}: no endpoint of the pool is open`))
    }
    const timeout = options?.timeout ?? this.options.timeout ?? DEFAULT_TIMEOUT_MS
    const started = Date.now()
    return this.waitForEndpoint(path, timeout, options?.signal).then((s) => {
      const left = timeout > 0 ? Math.max(1, timeout - (Date.now() - started)) : 0
      return s.call(path, args, { ...options, timeout: left })
    })
  }

  /** The session of the endpoint for the next call, or undefined when none is open. */
  private pick(): Session<ServerService> | undefined {
    const n = this.endpoints.length
    if (this.strategy === 'least-pending') {
      let best: Session<ServerService> | undefined
      let bestPending = Infinity
      // Start at the cursor so that ties rotate instead of always landing on the first endpoint.
      for (let i = 0; i < n; i++) {
        const session = this.endpoints[(this.cursor + i) % n]!.session
        if (!usable(session)) continue
        const pending = session.stats().pendingCalls
        if (pending < bestPending) {
          best = session
          bestPending = pending
        }
      }
      this.cursor = (this.cursor + 1) % n
      return best
    }
    for (let i = 0; i < n; i++) {
      const session = this.endpoints[this.cursor]!.session
      this.cursor = (this.cursor + 1) % n
      if (usable(session)) return session
    }
    return undefined
  }

  private waitForEndpoint(path: string, timeout: number, signal: AbortSignal | undefined): Promise<Session<ServerService>> {
    return waitForSession(this.waiters, path, timeout, signal, 'an endpoint')
  }

  // ------------------------------------------------------------- lifecycle

  /** An endpoint's state changed: hand it waiting calls if it opened, and recompute the pool's state. */
  private endpointChanged(): void {
    if (this.stateNow === 'closed' || !this.endpoints) return
    if (this.waiters.size > 0) {
      for (const w of [...this.waiters]) {
        const session = this.pick()
        if (!session) break
        w.resolve(session)
      }
    }
    const states = this.endpoints.map((e) => e.state)
    let next: ConnectionState
    if (states.includes('open')) next = 'open'
    else if (states.every((s) => s === 'closed')) next = 'closed'
    else next = this.everOpened ? 'reconnecting' : 'connecting'
    if (next === 'open') this.everOpened = true
    if (next === 'closed') {
      // Every endpoint gave up (reconnect attempts exhausted): nothing will open again.
      for (const w of [...this.waiters]) w.reject(new ConnectionClosedError('every endpoint of the pool gave up'))
    }
    this.setState(next)
  }

  private setState(state: ConnectionState): void {
    if (state === this.stateNow) return
    this.stateNow = state
    try {
      this.options.onStateChange?.(state, this)
    } catch (err) {
      ;(this.options.logger ?? console).error('[wirecall] pool onStateChange failed:', err)
    }
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state)
      } catch (err) {
        ;(this.options.logger ?? console).error('[wirecall] pool state listener failed:', err)
      }
    }
  }
}

/** An endpoint's session that can take a call now. */
function usable<S>(session: Session<S> | undefined): session is Session<S> {
  return session !== undefined && !session.closed
}

/**
 * Start a pool and resolve once one endpoint is open, within `timeout` ms
 * (0: no limit); otherwise close it and reject (`TimeoutError`, or why every
 * endpoint gave up). The bound matters: endpoints that are refused or
 * unreachable retry without end by default (`maxAttempts: Infinity`), so
 * `pool.ready` alone may never settle, and `connectPool()` hung for good on a
 * list of dead servers. The same bound as `clientReady` for one client.
 */
export async function readyPool<S, C extends Client<S>>(pool: ClientPool<S, C>, timeout: number = DEFAULT_TIMEOUT_MS): Promise<ClientPool<S, C>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    if (timeout > 0) timer = setTimeout(() => reject(new TimeoutError(`no endpoint of the pool opened within ${timeout} ms (${pool.endpoints.map((e) => e.url).join(', ')})`)), timeout)
  })
  try {
    await Promise.race([pool.ready, expired])
  } catch (err) {
    await pool.close()
    throw err
  } finally {
    clearTimeout(timer)
  }
  return pool
}
