/**
 * `connect()` for Node: a wirecall client over `ws`.
 *
 * Without `reconnect` it resolves to one `Session` (`remote`, `notify`, `on`,
 * `onClose`, `close`) that ends when its connection does. With `reconnect`
 * it resolves to the core's reconnecting `Client`, the same code as the
 * browser client: only the dialer below is Node's (handshake headers, `ws`
 * and TLS options, the Node transport with corked writes and zero-copy large
 * binaries, WebSocket pings for liveness).
 */
import {
  Client, ConnectionClosedError, DEFAULT_TIMEOUT_MS, Session, debugLog, jsonRpc, resume, streams,
  type ClientOptions, type ConnectionState, type DialEvents, type Dialer, type Limits, type Link, type ResumeSupport, type SessionOptions,
} from '@wirecall/core'
import { BATCH_OFFER, clientReady, resolveLimits } from '@wirecall/core/internal'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocket, type ClientOptions as WsOptions } from 'ws'
import type { Agent } from 'node:http'
import type { SecureContextOptions } from 'node:tls'
import { Heartbeat } from './heartbeat.js'
import { WebSocketTransport } from './transport.js'
import './debug-env.js'

/** `DEBUG=wirecall:client`: connects and their failures. */
const debug = debugLog('wirecall:client')

/** Options of the Node `connect()`: the session options plus handshake headers and `ws` client options. */
export interface ConnectOptions extends Omit<SessionOptions, 'peer' | 'identity'> {
  /** Extra handshake headers (e.g. `authorization`, `cookie`). */
  readonly headers?: Readonly<Record<string, string>>
  /** Passed to `ws` as is (TLS options, agent...). */
  readonly ws?: Readonly<WsClientOptions>
  /**
   * Offer batches (several frames in one WebSocket message, docs/protocol.md)
   * with the subprotocols `wirecall.v1, wirecall.batch.v1`. Off by default:
   * `ws` fails a handshake whose server selects no subprotocol once one was
   * offered, so turn it on only for wirecall servers (which select batches).
   * @default false
   */
  readonly batch?: boolean
}

/** Options of a reconnecting Node client: `ConnectOptions` plus the lifecycle of the core's `Client`. */
export interface ReconnectingConnectOptions<ServerService = unknown> extends ConnectOptions, Omit<ClientOptions<ServerService>, keyof SessionOptions | 'resume'> {
  /**
   * Reconnect when the connection drops (`true` for the default backoff, or
   * the backoff to use): `connect()` then resolves to a reconnecting
   * `Client` instead of a `Session`. A Node `connect()` does not reconnect
   * unless asked (see the package README); `createClient()` does.
   */
  readonly reconnect: true | Exclude<ClientOptions['reconnect'], boolean | undefined>
  /** Called on every state change (also available as `client.onStateChange`). */
  onStateChange?(state: ConnectionState, client: Client<ServerService>): void
  /**
   * Called after each re-connection that started a new session (not the
   * first, and not a resumed session, which kept its subscriptions):
   * re-subscribe here.
   */
  onReconnect?(client: Client<ServerService>): void | Promise<void>
  /**
   * Resumable sessions (`resume` from `@wirecall/node`), on by default in
   * Node, where the bundle size does not matter: the client offers
   * `wirecall.resume.v1`, which a server with `serve({ resume: true })`
   * selects. `false`: never offer it (a session lost with its link;
   * `onReconnect` runs after each reconnect). `true` is the default, spelled
   * out (as in `serve({ resume: true })`).
   * @default resume
   */
  readonly resume?: ClientOptions['resume'] | true
}

/**
 * The `ws` (8.x) client options wirecall passes through, spelled out so that
 * the published types do not import `ws` (its types are in @types/ws, which
 * users need not install). The build checks that they fit `ws`'s `ClientOptions`.
 */
export interface WsClientOptions extends SecureContextOptions {
  /** The HTTP(S) agent for the handshake request (proxies, keep-alive). */
  agent?: Agent
  /** Refuse a TLS server whose certificate does not verify (default true; false only for tests). */
  rejectUnauthorized?: boolean
  /** Milliseconds the opening handshake may take (wirecall sets `handshakeTimeoutMs`). */
  handshakeTimeout?: number
  /** permessage-deflate; wirecall turns it off (msgpack frames compress poorly and it costs CPU). */
  perMessageDeflate?: boolean | {
    /** Do not keep the server's compression context between messages. */
    serverNoContextTakeover?: boolean
    /** Do not keep the client's compression context between messages. */
    clientNoContextTakeover?: boolean
    /** The server's LZ77 window size (8-15). */
    serverMaxWindowBits?: number
    /** The client's LZ77 window size (8-15). */
    clientMaxWindowBits?: number
    /** Messages smaller than this many bytes are not compressed. */
    threshold?: number
    /** How many compressions run at once. */
    concurrencyLimit?: number
  }
  /** Largest message accepted, in bytes (wirecall sets `maxFrameBytes`). */
  maxPayload?: number
  /** Follow HTTP redirects during the handshake. */
  followRedirects?: boolean
  /** At most this many redirects when following them. */
  maxRedirects?: number
  /** The `Origin` header to send (servers that check it, such as wirecall's, compare it with their host). */
  origin?: string
  /** The WebSocket protocol version header (8 or 13). */
  protocolVersion?: number
  /** The local interface to connect from. */
  localAddress?: string
  /** IP family for the host lookup (4 or 6). */
  family?: number
  /** The `Host` header to send. */
  host?: string
  /** Skip UTF-8 validation of text messages. */
  skipUTF8Validation?: boolean
  /** Answer pings automatically (default true). */
  autoPong?: boolean
  /** Emit several messages from one TCP read synchronously (ws's default). */
  allowSynchronousEvents?: boolean
}

/** The session options of a Node client: as in serve(), an option left undefined keeps its NODE_ENV default. */
function nodeSessionOptions(url: string, options: ConnectOptions, limits: Limits): SessionOptions {
  return {
    textFrames: jsonRpc,
    // Streams are on in Node (a page opts in: bundle size matters there, not here).
    streams,
    ...options,
    exposeErrorStacks: options.exposeErrorStacks ?? process.env.NODE_ENV !== 'production',
    redactErrors: options.redactErrors ?? process.env.NODE_ENV === 'production',
    limits,
    peer: { url },
  }
}

/**
 * Opens one `ws` connection per `dial`, over the Node transport. One
 * `Heartbeat` for all the connections of a client: the client pings too, so
 * it meets the dead-peer bound whatever the server's own heartbeat settings.
 */
class NodeDialer implements Dialer {
  private readonly heartbeat: Heartbeat

  constructor(
    readonly url: string,
    private readonly options: ConnectOptions,
    private readonly limits: Limits,
    /** Offer resumable sessions (reconnecting clients unless `resume: false`). */
    private readonly resume: ResumeSupport | undefined,
  ) {
    this.heartbeat = new Heartbeat(limits)
  }

  dial(events: DialEvents): () => void {
    const { url, options, limits } = this
    let ws: WebSocket
    try {
      ws = new WebSocket(url, this.resume ? [...this.resume.offer] : options.batch ? [...BATCH_OFFER] : [], {
        perMessageDeflate: false,
        maxPayload: limits.maxFrameBytes,
        handshakeTimeout: limits.handshakeTimeoutMs,
        ...(options.headers ? { headers: options.headers } : {}),
        ...options.ws,
      } satisfies WsOptions)
    } catch (err) {
      // A malformed URL never becomes valid: give up at once.
      events.failed(new ConnectionClosedError(`cannot connect to ${url}: ${(err as Error).message}`, { cause: err }), true)
      return () => {}
    }
    ws.binaryType = 'nodebuffer'
    // The TCP socket under the WebSocket, from the handshake response (public `upgrade` event).
    let socket: Socket | undefined
    ws.once('upgrade', (res: IncomingMessage) => {
      socket = res.socket as Socket
    })
    // A handshake the server answered with 4xx (401, 403...) fails the same way next time.
    let refused = false
    ws.once('unexpected-response', (_req: unknown, res: IncomingMessage) => {
      refused = (res.statusCode ?? 0) >= 400 && (res.statusCode ?? 0) < 500
      fail(new Error(`Unexpected server response: ${res.statusCode}`))
    })
    // `ws`'s `handshakeTimeout` is http.request's `timeout`: an idle timeout, which every byte
    // resets, so a server that sends its answer a byte at a time held a dial (and `connect()`,
    // and the CLI) for hours. This deadline bounds the whole handshake.
    const handshakeMs = options.ws?.handshakeTimeout ?? limits.handshakeTimeoutMs
    const deadline = handshakeMs > 0
      ? setTimeout(() => fail(new Error(`opening handshake not finished within ${handshakeMs} ms`)), handshakeMs)
      : undefined
    const fail = (err: Error) => {
      clearTimeout(deadline)
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      debug(`could not connect to ${url}: ${err.message}`)
      events.failed(new ConnectionClosedError(`could not connect to ${url}: ${err.message}`, { cause: err }), refused)
    }
    ws.once('error', fail)
    ws.once('close', (code) => fail(new Error(`closed during handshake (code ${code})`)))
    ws.once('open', () => {
      clearTimeout(deadline)
      ws.off('error', fail)
      ws.removeAllListeners('close')
      ws.removeAllListeners('unexpected-response')
      const transport = new WebSocketTransport(ws, { url }, limits, { socket })
      debug(`connected to ${url}`)
      const link: Link = {
        transport,
        resume: this.resume !== undefined && ws.protocol === this.resume.protocol,
        watch: () => {
          this.heartbeat.watch(transport)
          return () => this.heartbeat.forget(transport)
        },
      }
      events.opened(link)
    })
    return () => fail(new Error('client closed'))
  }

  stop(): void {
    this.heartbeat.stop()
  }
}

/**
 * Connect to a wirecall server.
 *
 * With `reconnect` (`true` or a backoff), resolves to a reconnecting
 * `Client` once the first connection is open: the same client as the
 * browser's (state, backoff with jitter, `whileDisconnected`,
 * `onReconnect`, listeners that survive). While the server is unreachable
 * it retries, giving up after `timeout` ms (default 30 s), or at once when
 * the handshake is refused with 4xx.
 *
 * @example
 * ```ts
 * import { connect } from '@wirecall/node'
 * import type { Api } from './api.js'
 *
 * const client = await connect<Api>('ws://127.0.0.1:8080', {
 *   reconnect: { initialDelayMs: 100, maxDelayMs: 5_000 },
 *   onReconnect: (c) => c.remote.subscribe('prices'),     // re-subscribe after each reconnect
 * })
 * console.log(await client.remote.math.add(3, 4))         // 7, on whichever connection is open
 * await client.close()
 * ```
 */
export function connect<ServerService = unknown>(url: string, options: ReconnectingConnectOptions<ServerService>): Promise<Client<ServerService>>
/**
 * Connect to a wirecall server. Resolves once the WebSocket is open; rejects
 * with `ConnectionClosedError` when the handshake fails (refused, 401, 403,
 * unreachable). The returned `Session` does not reconnect by itself.
 *
 * @example
 * ```ts
 * import { connect } from '@wirecall/node'
 * import { service } from '@wirecall/core'
 * import type { Api } from './api.js'
 *
 * const session = await connect<Api>('ws://127.0.0.1:8080', {
 *   headers: { authorization: `Bearer ${token}` },          // seen by the server's authenticate hook
 *   service: service({ progress: (pct: number) => console.log(pct) }), // the server calls it back
 *   timeout: 10_000,
 * })
 * session.onClose((reason) => console.log('closed', reason?.message))
 * console.log(await session.remote.math.add(3, 4))         // 7
 * session.notify.audit.log('done')                         // fire-and-forget
 * await session.close()
 * ```
 */
export function connect<ServerService = unknown>(url: string, options?: ConnectOptions & { readonly reconnect?: false }): Promise<Session<ServerService>>
export function connect<ServerService = unknown>(
  url: string,
  options: ConnectOptions | ReconnectingConnectOptions<ServerService> = {},
): Promise<Session<ServerService> | Client<ServerService>> {
  if ('reconnect' in options && options.reconnect) return clientReady(createClient<ServerService>(url, options as ReconnectingConnectOptions<ServerService>), options.timeout ?? DEFAULT_TIMEOUT_MS)
  const limits = resolveLimits(options.limits)
  const dialer = new NodeDialer(url, options, limits, undefined)
  return new Promise((resolve, reject) => {
    dialer.dial({
      opened: (link) => {
        const session = new Session<ServerService>(link.transport, nodeSessionOptions(url, options, limits))
        const unwatch = link.watch?.(session as Session<unknown>)
        session.onClose(() => {
          unwatch?.()
          dialer.stop()
        })
        resolve(session)
      },
      failed: (reason) => reject(reason),
    })
  })
}

/**
 * A reconnecting Node client, returned at once (state `connecting`): calls
 * made before the first connection wait for it (or fail at once with
 * `whileDisconnected: 'fail'`). `reconnect` defaults to true here.
 *
 * @example
 * ```ts
 * import { createClient } from '@wirecall/node'
 *
 * const client = createClient<Api>('ws://127.0.0.1:8080', { onStateChange: (s) => console.log(s) })
 * await client.remote.math.add(1, 2)                      // waits for the connection
 * ```
 */
export function createClient<ServerService = unknown>(
  url: string,
  options: Omit<ReconnectingConnectOptions<ServerService>, 'reconnect'> & { readonly reconnect?: ReconnectingConnectOptions['reconnect'] | false } = {},
): Client<ServerService> {
  const limits = resolveLimits(options.limits)
  // Resuming is on by default in Node (a page opts in: bundle size matters there, not here).
  const resumeSupport = options.resume === false ? undefined : options.resume === true ? resume : options.resume ?? resume
  const dialer = new NodeDialer(url, options, limits, resumeSupport)
  const clientOptions: ClientOptions<ServerService> = { ...(options as ClientOptions<ServerService>), resume: resumeSupport ?? false }
  const client = new Client<ServerService>(dialer, clientOptions, nodeSessionOptions(url, options, limits), true)
  client.onStateChange((state) => {
    if (state === 'closed') dialer.stop()
  })
  return client
}
