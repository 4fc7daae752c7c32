/**
 * `connect()` for Node: a wirecall client over `ws`. The returned `Session`
 * has `remote`, `notify`, `on`, `onClose` and `close`. No automatic
 * reconnect here (a Node process usually wants to decide itself); the
 * browser client has it.
 */
import { ConnectionClosedError, Session, debugLog, jsonRpc, streams, type SessionOptions } from '@wirecall/core'
import { BATCH_OFFER, resolveLimits } from '@wirecall/core/internal'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocket, type ClientOptions } from 'ws'
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
export function connect<ServerService = unknown>(url: string, options: ConnectOptions = {}): Promise<Session<ServerService>> {
  const limits = resolveLimits(options.limits)
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.batch ? [...BATCH_OFFER] : [], {
      perMessageDeflate: false,
      maxPayload: limits.maxFrameBytes,
      handshakeTimeout: limits.handshakeTimeoutMs,
      ...(options.headers ? { headers: options.headers } : {}),
      ...options.ws,
    } satisfies ClientOptions)
    ws.binaryType = 'nodebuffer'
    // The TCP socket under the WebSocket, from the handshake response (public `upgrade` event).
    let socket: Socket | undefined
    ws.once('upgrade', (res: IncomingMessage) => {
      socket = res.socket as Socket
    })
    const fail = (err: Error) => {
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      debug(`could not connect to ${url}: ${err.message}`)
      reject(new ConnectionClosedError(`could not connect to ${url}: ${err.message}`, { cause: err }))
    }
    ws.once('error', fail)
    ws.once('close', (code) => fail(new Error(`closed during handshake (code ${code})`)))
    ws.once('open', () => {
      ws.off('error', fail)
      ws.removeAllListeners('close')
      const transport = new WebSocketTransport(ws, { url }, limits, { socket })
      const session = new Session<ServerService>(transport, {
        textFrames: jsonRpc,
        streams,
        ...options,
        // As in serve(): an option left undefined keeps its NODE_ENV default.
        exposeErrorStacks: options.exposeErrorStacks ?? process.env.NODE_ENV !== 'production',
        redactErrors: options.redactErrors ?? process.env.NODE_ENV === 'production',
        limits,
        peer: { url },
      })
      // The client pings too: it meets the dead-peer bound whatever the server's own heartbeat settings.
      const heartbeat = new Heartbeat(limits)
      heartbeat.watch(transport)
      session.onClose(() => heartbeat.stop())
      debug(`connected to ${url}`)
      resolve(session)
    })
  })
}
