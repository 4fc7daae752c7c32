/**
 * The browser client: the core's reconnecting `Client` (state, backoff with
 * jitter, `whileDisconnected`, `onReconnect`, listeners that survive; the
 * same code as the Node client's) with a dialer that opens the page's
 * `WebSocket` and checks the server's liveness with frames.
 *
 * Delivery is at most once: calls pending when a connection drops reject
 * with `ConnectionClosedError` and are never re-sent, because the server may
 * already have run them; with the `resume` option, a session the server
 * resumes keeps them (see the README's guarantee).
 */
import {
  Client, ConnectionClosedError, DEFAULT_TIMEOUT_MS, enableDebug,
  type ClientOptions, type ConnectionState, type Dialer, type DialEvents, type Session, type SessionOptions,
} from '@wirecall/core'
import { BATCH_OFFER, clientReady, livenessTimings, resolveLimits, type LivenessTimings } from '@wirecall/core/internal'
import { BrowserWebSocketTransport, type WebSocketConstructor, type WebSocketLike } from './transport.js'

/** `localStorage.debug = 'wirecall:*'` (then reload): wirecall's debug areas in the page's console. */
try {
  const pattern = (globalThis as { localStorage?: { getItem(key: string): string | null } }).localStorage?.getItem('debug')
  if (pattern) enableDebug(pattern)
} catch {
  // Storage can be off limits (sandboxed frames, privacy settings): debug logging stays off.
}

/** Options of the browser `connect()` and `createClient()`: the session options plus reconnecting. */
export interface BrowserConnectOptions<ServerService = unknown> extends ClientOptions<ServerService> {
  /** Reconnect automatically when the connection drops. @default true */
  readonly reconnect?: ClientOptions['reconnect']
  /** Called on every state change (also available as `client.onStateChange`). */
  onStateChange?(state: ConnectionState, client: BrowserClient<ServerService>): void
  /**
   * Called after each re-connection that started a new session (not the
   * first, and not a resumed session, which kept its subscriptions):
   * re-subscribe here.
   */
  onReconnect?(client: BrowserClient<ServerService>): void | Promise<void>
  /**
   * Resumable sessions: pass `resume` (`import { connect, resume } from
   * '@wirecall/browser'`, then `connect(url, { resume })`). With a server
   * that resumes (`serve({ resume: true })`), a session whose link drops
   * survives it: callbacks the server holds, subscriptions and calls in
   * flight stay, and what was sent meanwhile arrives once, in order.
   * Without it the page offers batches only, and each reconnect starts a
   * fresh session (`onReconnect` runs); nor does the page bundle the resume
   * code. Not offered when `protocols` is given, nor with `batch: false`.
   * @default undefined (no resume)
   */
  readonly resume?: ClientOptions['resume']
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

/** Opens the page's WebSocket, one connection per `dial`. */
class BrowserDialer implements Dialer {
  private readonly WebSocketImpl: WebSocketConstructor
  private readonly liveness: LivenessTimings
  private readonly maxFrameBytes: number

  constructor(readonly url: string, private readonly options: BrowserConnectOptions<never>) {
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!impl) throw new TypeError('wirecall: no WebSocket implementation; pass options.WebSocket')
    this.WebSocketImpl = impl
    const limits = resolveLimits(options.limits)
    this.liveness = livenessTimings(limits)
    this.maxFrameBytes = limits.maxFrameBytes
  }

  dial(events: DialEvents): () => void {
    let ws: WebSocketLike
    try {
      const { protocols, batch, resume } = this.options
      ws = new this.WebSocketImpl(this.url, protocols ?? (batch === false ? undefined : [...(resume ? resume.offer : BATCH_OFFER)]))
    } catch (err) {
      // A malformed URL never becomes valid: give up at once.
      events.failed(new ConnectionClosedError(`cannot connect to ${this.url}: ${(err as Error).message}`), true)
      return () => {}
    }
    // The platform's WebSocket copies what it is given to send; another implementation may not.
    const sendCopies = !this.options.WebSocket
    const transport = new BrowserWebSocketTransport(ws, this.url, { sendCopies, maxFrameBytes: this.maxFrameBytes })
    let opened = false
    ws.addEventListener('open', () => {
      opened = true
      const resume = this.options.resume
      events.opened({ transport, resume: resume ? ws.protocol === resume.protocol : false, watch: (session) => this.watchLiveness(session, transport) })
    })
    ws.addEventListener('close', () => {
      if (!opened) events.failed(new ConnectionClosedError(`could not connect to ${this.url}`))
    })
    return () => ws.close()
  }

  /**
   * Drop a connection whose server has been silent for `deadPeerTimeoutMs`
   * (a frozen process, a dead route): within deadPeerTimeoutMs +
   * deadPeerTimeoutMs / 20 of its last frame, as on the Node ends
   * (`livenessTimings`). Pending calls reject and the client reconnects
   * (or, with a resumable session, it is parked and resumed). Returns the stop.
   */
  private watchLiveness(session: Session<unknown>, transport: BrowserWebSocketTransport): () => void {
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
    return () => clearInterval(timer)
  }
}

/**
 * A browser client: one `remote` that stays valid over a series of WebSocket
 * connections, reconnecting with capped exponential backoff. Made by
 * `connect()` (resolves once open) or `createClient()` (returns at once).
 * The lifecycle is the core's `Client`, shared with the Node client.
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
export class BrowserClient<ServerService = unknown> extends Client<ServerService> {
  /**
   * Start connecting to `url` at once; prefer `createClient()` or `connect()`.
   * @throws TypeError when there is no WebSocket implementation.
   */
  constructor(url: string, options: BrowserConnectOptions<ServerService> = {}) {
    const sessionOptions: SessionOptions = { ...options, peer: { url } }
    super(new BrowserDialer(url, options as BrowserConnectOptions<never>), options as ClientOptions<ServerService>, sessionOptions, true)
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
  return clientReady(new BrowserClient<ServerService>(url, options), options?.timeout ?? DEFAULT_TIMEOUT_MS)
}
