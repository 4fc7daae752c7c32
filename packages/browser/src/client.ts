/**
 * The browser client: one stable `remote` over a series of WebSocket
 * connections. Owns the connection lifecycle (state, reconnect with capped
 * exponential backoff and jitter); every call goes through the core
 * `Session` of the current connection.
 *
 * Delivery is at most once: calls pending when a connection drops reject
 * with `ConnectionClosedError` and are never re-sent, because the server may
 * already have run them.
 */
import {
  ConnectionClosedError, TimeoutError, AbortError, Session, DEFAULT_TIMEOUT_MS, debugLog, enableDebug,
  type CallOptions, type CallScope, type Logger, type Notify, type Remote, type SessionOptions,
} from '@wirecall/core'
import { BATCH_OFFER, createProxy, livenessTimings, noteReconnect, resolveLimits, type LivenessTimings } from '@wirecall/core/internal'
import { BrowserWebSocketTransport, type WebSocketConstructor, type WebSocketLike } from './transport.js'

/** `localStorage.debug = 'wirecall:*'` (then reload): wirecall's debug areas in the page's console. */
try {
  const pattern = (globalThis as { localStorage?: { getItem(key: string): string | null } }).localStorage?.getItem('debug')
  if (pattern) enableDebug(pattern)
} catch {
  // Storage can be off limits (sandboxed frames, privacy settings): debug logging stays off.
}

/** `wirecall:client`: connects, drops, reconnect attempts and state changes. */
const debug = debugLog('wirecall:client')

/** Where the client is in its life. `closed` is final. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** Backoff between reconnect attempts: `min(maxDelayMs, initialDelayMs * factor^n)`, minus up to `jitter` of it at random. */
export interface ReconnectOptions {
  /** @default 250 ms */
  readonly initialDelayMs: number
  /** @default 10 000 ms: a restarted server is found within seconds, without hammering a dead one. */
  readonly maxDelayMs: number
  /** @default 2 */
  readonly factor: number
  /** Fraction (0-1) of each delay randomised away, so many tabs do not reconnect in lockstep. @default 0.5 */
  readonly jitter: number
  /** Give up (state `closed`) after this many failed attempts in a row. @default Infinity */
  readonly maxAttempts: number
}

/** The reconnect backoff used when `reconnect` is `true` or leaves fields out. */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
})

/** Options of the browser `connect()` and `createClient()`: the session options plus reconnecting. */
export interface BrowserConnectOptions<ServerService = unknown> extends Omit<SessionOptions, 'peer' | 'identity'> {
  /** Reconnect automatically when the connection drops. @default true */
  readonly reconnect?: boolean | Readonly<Partial<ReconnectOptions>>
  /**
   * Calls made while not connected: `'wait'` queues them until the next
   * connection opens (their timeout keeps running); `'fail'` rejects them
   * at once with `ConnectionClosedError`. @default 'wait'
   */
  readonly whileDisconnected?: 'wait' | 'fail'
  /** Called on every state change (also available as `client.onStateChange`). */
  onStateChange?(state: ConnectionState, client: BrowserClient<ServerService>): void
  /** Called after each re-connection (not the first): re-subscribe here. */
  onReconnect?(client: BrowserClient<ServerService>): void | Promise<void>
  /** WebSocket subprotocols. When given, batches are not offered (the server must select one of these). */
  readonly protocols?: string | string[]
  /**
   * Offer batches (several frames in one WebSocket message, docs/protocol.md):
   * the subprotocols `wirecall.v1, wirecall.batch.v1`. A wirecall server
   * selects batches, any other server one frame per message. Turn it off for
   * a server that refuses handshakes offering subprotocols it does not know.
   * @default true (unless `protocols` is given)
   */
  readonly batch?: boolean
  /** WebSocket implementation. @default globalThis.WebSocket */
  readonly WebSocket?: WebSocketConstructor
}

/**
 * The method a browser client calls to ask a silent server for a sign of life.
 * Page JS cannot send WebSocket pings nor see the server's, so liveness is
 * checked with frames: after `heartbeatIntervalMs` (at most half of
 * `deadPeerTimeoutMs`) without any, the client calls this method, which a
 * service does not expose unless it has a `$wirecall` member. Any answer, the
 * server's `NotFoundError` included, is a frame and proves the server alive;
 * a plain msgpack-rpc server answers it the same way. Library errors are not
 * logged by the server.
 */
export const LIVENESS_PROBE = '$wirecall.alive'

/**
 * A browser client: one `remote` that stays valid over a series of WebSocket
 * connections, reconnecting with capped exponential backoff. Made by
 * `connect()` (resolves once open) or `createClient()` (returns at once).
 *
 * @example
 * ```ts
 * import { connect, service } from '@wirecall/browser'
 * import type { Api } from '../server/api'
 *
 * const client = await connect<Api>(`wss://${location.host}/rpc`, {
 *   service: service({ onPrice: (symbol: string, price: number) => render(symbol, price) }),
 * })
 * client.onStateChange((state) => (badge.textContent = state))   // connecting | open | reconnecting | closed
 * const off = client.on('onPrice', (symbol, price) => log(symbol, price)) // a second listener
 * await client.remote.prices.watch('ACME')
 * await client.with({ timeout: 2_000 }).remote.report.generate()
 * console.log(client.session?.stats())
 * await client.close()
 * ```
 */
export class BrowserClient<ServerService = unknown> {
  /** The server's service; stays valid across reconnects. */
  readonly remote: Remote<ServerService>
  /** Fire-and-forget to the server; dropped (not queued) while disconnected. */
  readonly notify: Notify<ServerService>
  /** Resolves on the first open; rejects if the client closes before that. */
  readonly ready: Promise<void>

  private current: Session<ServerService> | undefined
  /** One options object for every connection, so sessions share the configuration resolved from it. */
  private sessionOptions: SessionOptions | undefined
  private socket: WebSocketLike | undefined
  private stateNow: ConnectionState = 'connecting'
  private readonly stateListeners = new Set<(state: ConnectionState) => void>()
  /** Listeners added with `on`, re-attached to every new connection; `off` detaches from the current one. */
  private readonly notificationListeners: { path: string; listener: (...args: never[]) => unknown; off: (() => void) | undefined }[] = []
  private readonly waiters = new Set<{ resolve(s: Session<ServerService>): void; reject(e: Error): void }>()
  private readonly backoff: ReconnectOptions | undefined
  private readonly WebSocketImpl: WebSocketConstructor
  private readonly liveness: LivenessTimings
  private readonly maxFrameBytes: number
  private attempts = 0
  private everOpened = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private settleReady!: { resolve(): void; reject(e: Error): void }

  /**
   * Start connecting to `url` at once; prefer `createClient()` or `connect()`.
   * @throws TypeError when there is no WebSocket implementation.
   */
  constructor(
    /** The server's WebSocket URL (`ws:` or `wss:`). */
    readonly url: string,
    private readonly options: BrowserConnectOptions<ServerService> = {},
  ) {
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!impl) throw new TypeError('wirecall: no WebSocket implementation; pass options.WebSocket')
    this.WebSocketImpl = impl
    const limits = resolveLimits(options.limits)
    this.liveness = livenessTimings(limits)
    this.maxFrameBytes = limits.maxFrameBytes
    const reconnect = options.reconnect ?? true
    this.backoff = reconnect === false ? undefined : { ...DEFAULT_RECONNECT, ...(reconnect === true ? {} : reconnect) }
    this.ready = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }))
    this.ready.catch(() => {}) // observed through connect(); never an unhandled rejection
    this.remote = createProxy({ invoke: (path, args) => this.call(path, args) }) as Remote<ServerService>
    this.notify = createProxy({ invoke: (path, args) => this.current?.sendNotification(path, args) }) as Notify<ServerService>
    this.open()
  }

  private get logger(): Logger {
    return this.options.logger ?? console
  }

  /** Current state. */
  get state(): ConnectionState {
    return this.stateNow
  }

  /** The session of the current connection, if open (for `stats()`, or per-connection details). */
  get session(): Session<ServerService> | undefined {
    return this.current
  }

  /** Observe state changes. Returns the unsubscribe function. */
  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener)
    return () => this.stateListeners.delete(listener)
  }

  /** Listen to a server notification on every connection, next to the page-side service. */
  on(path: string, listener: (...args: never[]) => unknown): () => void {
    const entry = { path, listener, off: this.current?.on(path, listener) }
    this.notificationListeners.push(entry)
    return () => {
      const i = this.notificationListeners.indexOf(entry)
      if (i >= 0) this.notificationListeners.splice(i, 1)
      entry.off?.()
      entry.off = undefined
    }
  }

  /** The same remote and notify, with per-call options (timeout, signal) applied to calls: the shape of `Session.with()`. */
  with(options: CallOptions): CallScope<ServerService> {
    return { remote: createProxy({ invoke: (path, args) => this.call(path, args, options) }) as Remote<ServerService>, notify: this.notify }
  }

  /** Close for good: no more reconnects; pending and waiting calls reject. */
  async close(): Promise<void> {
    if (this.stateNow === 'closed') return
    clearTimeout(this.retryTimer)
    this.setState('closed')
    this.rejectWaiters(new ConnectionClosedError('client closed'))
    this.settleReady.reject(new ConnectionClosedError(`client closed before connecting to ${this.url}`))
    const session = this.current
    if (session) await session.close()
    else this.socket?.close()
  }

  // ------------------------------------------------------------------ calls

  private call(path: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    const session = this.current
    if (session && !session.closed) return session.call(path, args, options)
    if (this.stateNow === 'closed') return Promise.reject(new ConnectionClosedError(`cannot call ${path}: client is closed`))
    if ((this.options.whileDisconnected ?? 'wait') === 'fail') {
      return Promise.reject(new ConnectionClosedError(`cannot call ${path}: not connected (${this.stateNow})`))
    }
    const timeout = options?.timeout ?? this.options.timeout ?? DEFAULT_TIMEOUT_MS
    const started = Date.now()
    return this.waitForSession(path, timeout, options?.signal).then((s) => {
      const left = timeout > 0 ? Math.max(1, timeout - (Date.now() - started)) : 0
      return s.call(path, args, { ...options, timeout: left })
    })
  }

  private waitForSession(path: string, timeout: number, signal: AbortSignal | undefined): Promise<Session<ServerService>> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const done = () => {
        this.waiters.delete(waiter)
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const waiter = {
        resolve: (s: Session<ServerService>) => (done(), resolve(s)),
        reject: (e: Error) => (done(), reject(e)),
      }
      const onAbort = () => waiter.reject(new AbortError(`call to ${path} aborted while waiting for a connection`))
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout > 0) timer = setTimeout(() => waiter.reject(new TimeoutError(`call to ${path} timed out after ${timeout} ms waiting for a connection`)), timeout)
      this.waiters.add(waiter)
    })
  }

  private rejectWaiters(error: Error): void {
    for (const w of [...this.waiters]) w.reject(error)
  }

  // ------------------------------------------------------------- lifecycle

  private open(): void {
    let ws: WebSocketLike
    try {
      const { protocols, batch } = this.options
      ws = new this.WebSocketImpl(this.url, protocols ?? (batch === false ? undefined : [...BATCH_OFFER]))
    } catch (err) {
      // A malformed URL never becomes valid: give up at once.
      this.giveUp(new ConnectionClosedError(`cannot connect to ${this.url}: ${(err as Error).message}`))
      return
    }
    this.socket = ws
    // The platform's WebSocket copies what it is given to send; another implementation may not.
    const sendCopies = !this.options.WebSocket
    const transport = new BrowserWebSocketTransport(ws, this.url, { sendCopies, maxFrameBytes: this.maxFrameBytes })
    let opened = false
    ws.addEventListener('open', () => {
      if (this.stateNow === 'closed') return ws.close()
      opened = true
      this.attempts = 0
      const session = new Session<ServerService>(transport, (this.sessionOptions ??= { ...this.options, peer: { url: this.url } }))
      for (const entry of this.notificationListeners) entry.off = session.on(entry.path, entry.listener)
      session.onClose(() => this.dropped(session))
      this.watchLiveness(session, transport)
      this.current = session
      const isReconnect = this.everOpened
      this.everOpened = true
      if (isReconnect) noteReconnect(session as Session<unknown>)
      // Waiting calls and `ready` first: a state listener must not be able to hold them up.
      for (const w of [...this.waiters]) w.resolve(session)
      this.settleReady.resolve()
      this.setState('open')
      if (isReconnect && this.options.onReconnect) {
        Promise.resolve()
          .then(() => this.options.onReconnect!(this))
          .catch((err: unknown) => this.logger.error('[wirecall] onReconnect failed:', err))
      }
    })
    ws.addEventListener('close', () => {
      if (!opened) this.retry(new ConnectionClosedError(`could not connect to ${this.url}`))
    })
  }

  /**
   * Drop a connection whose server has been silent for `deadPeerTimeoutMs`
   * (a frozen process, a dead route): within deadPeerTimeoutMs +
   * deadPeerTimeoutMs / 20 of its last frame, as on the Node ends
   * (`livenessTimings`). Pending calls reject and the client reconnects.
   */
  private watchLiveness(session: Session<ServerService>, transport: BrowserWebSocketTransport): void {
    const { deadMs, checkMs, probeMs } = this.liveness
    let lastHeard = Date.now()
    let probing = false
    const probed = () => {
      probing = false
    }
    const timer = setInterval(() => {
      const now = Date.now()
      if (transport.heard) {
        transport.heard = false
        lastHeard = now
      } else if (now - lastHeard >= deadMs) {
        clearInterval(timer)
        transport.abort(new ConnectionClosedError(`no frame from ${this.url} for ${deadMs} ms: the server is presumed dead`))
        return
      }
      if (!probing && now - lastHeard >= probeMs) {
        probing = true
        session.call(LIVENESS_PROBE, [], { timeout: 0 }).then(probed, probed)
      }
    }, checkMs)
    session.onClose(() => clearInterval(timer))
  }

  private dropped(session: Session<ServerService>): void {
    if (this.current !== session) return
    this.current = undefined
    if (this.stateNow === 'closed') return
    this.retry(new ConnectionClosedError(`connection to ${this.url} lost`))
  }

  private retry(reason: Error): void {
    if (this.stateNow === 'closed') return
    const b = this.backoff
    if (!b || this.attempts >= b.maxAttempts) return this.giveUp(reason)
    const raw = Math.min(b.maxDelayMs, b.initialDelayMs * b.factor ** this.attempts)
    const delay = raw * (1 - b.jitter * Math.random())
    this.attempts++
    debug(`${this.url}: ${reason.message}; attempt ${this.attempts} of ${b.maxAttempts} in ${Math.round(delay)} ms`)
    this.setState(this.everOpened ? 'reconnecting' : 'connecting')
    this.retryTimer = setTimeout(() => this.open(), delay)
  }

  private giveUp(reason: Error): void {
    this.setState('closed')
    this.rejectWaiters(reason)
    this.settleReady.reject(reason)
  }

  private setState(state: ConnectionState): void {
    if (this.stateNow === state) return
    debug(`${this.url}: ${this.stateNow} -> ${state}`)
    this.stateNow = state
    const listeners: ((state: ConnectionState) => void)[] = [...this.stateListeners]
    if (this.options.onStateChange) listeners.unshift((s) => this.options.onStateChange!(s, this))
    for (const listener of listeners) {
      try {
        listener(state)
      } catch (err) {
        this.logger.error('[wirecall] a state listener threw:', err)
      }
    }
  }
}

/**
 * Create a client now (state `connecting`); it connects and reconnects by
 * itself. For pages that render before the first connection: calls made
 * meanwhile wait for it (or fail at once with `whileDisconnected: 'fail'`).
 *
 * @example
 * ```ts
 * import { createClient } from '@wirecall/browser'
 *
 * const client = createClient<Api>(`wss://${location.host}/rpc`, {
 *   onStateChange: (state) => (badge.textContent = state),
 *   onReconnect: (c) => c.remote.subscribe(onMetrics),   // re-subscribe after each reconnect
 * })
 * render()                                               // state 'connecting'
 * await client.remote.subscribe(onMetrics)               // waits for the connection
 * ```
 */
export function createClient<ServerService = unknown>(url: string, options?: BrowserConnectOptions<ServerService>): BrowserClient<ServerService> {
  return new BrowserClient<ServerService>(url, options)
}

/**
 * Connect to a wirecall server; resolves once the first connection is open.
 * Retries like a reconnect while the server is unreachable, but gives up
 * (rejecting, and closing the client) after `timeout` ms (default 30 s).
 *
 * @example
 * ```ts
 * import { connect, service, ConnectionClosedError } from '@wirecall/browser'
 *
 * const client = await connect<Api>(`wss://${location.host}/rpc`, {
 *   service: service({ getName: () => 'tab 1' }),          // the server calls it as conn.remote.getName()
 *   whileDisconnected: 'wait',                            // or 'fail'
 *   reconnect: { initialDelayMs: 250, maxDelayMs: 10_000 },
 * })
 * try {
 *   console.log(await client.remote.math.add(3, 4))       // 7
 * } catch (err) {
 *   if (err instanceof ConnectionClosedError) retryLater() // the link dropped mid-call (never re-sent)
 * }
 * ```
 */
export async function connect<ServerService = unknown>(url: string, options?: BrowserConnectOptions<ServerService>): Promise<BrowserClient<ServerService>> {
  const client = new BrowserClient<ServerService>(url, options)
  const limit = options?.timeout ?? DEFAULT_TIMEOUT_MS
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    if (limit > 0) timer = setTimeout(() => reject(new TimeoutError(`could not connect to ${url} within ${limit} ms`)), limit)
  })
  try {
    await Promise.race([client.ready, expired])
    return client
  } catch (err) {
    await client.close()
    throw err
  } finally {
    clearTimeout(timer)
  }
}
