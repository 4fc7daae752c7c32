/**
 * `connect()` for Node: a wirecall client over `ws`. The returned `Session`
 * has `remote`, `notify`, `on`, `onClose` and `close`. No automatic
 * reconnect here (a Node process usually wants to decide itself); the
 * browser client has it.
 */
import { ConnectionClosedError, jsonRpc, resolveLimits, Session, type SessionOptions } from '@wirecall/core'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocket, type ClientOptions } from 'ws'
import { Heartbeat } from './heartbeat.js'
import { WebSocketTransport } from './transport.js'

export interface ConnectOptions extends Omit<SessionOptions, 'peer' | 'identity'> {
  /** Extra handshake headers (e.g. `authorization`, `cookie`). */
  readonly headers?: Readonly<Record<string, string>>
  /** Passed to `ws` as is (TLS options, agent...). */
  readonly ws?: Readonly<ClientOptions>
}

/** Connect to a wirecall server. Resolves once the WebSocket is open. */
export function connect<ServerService = unknown>(url: string, options: ConnectOptions = {}): Promise<Session<ServerService>> {
  const limits = resolveLimits(options.limits)
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: limits.maxFrameBytes,
      handshakeTimeout: limits.handshakeTimeoutMs,
      ...(options.headers ? { headers: options.headers } : {}),
      ...options.ws,
    })
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
      reject(new ConnectionClosedError(`could not connect to ${url}: ${err.message}`, { cause: err }))
    }
    ws.once('error', fail)
    ws.once('close', (code) => fail(new Error(`closed during handshake (code ${code})`)))
    ws.once('open', () => {
      ws.off('error', fail)
      ws.removeAllListeners('close')
      const transport = new WebSocketTransport(ws, { url }, limits, { socket })
      const session = new Session<ServerService>(transport, {
        exposeErrorStacks: process.env.NODE_ENV !== 'production',
        redactErrors: process.env.NODE_ENV === 'production',
        textFrames: jsonRpc,
        ...options,
        limits,
        peer: { url },
      })
      // The client pings too: it meets the dead-peer bound whatever the server's own heartbeat settings.
      const heartbeat = new Heartbeat(limits)
      heartbeat.watch(transport)
      session.onClose(() => heartbeat.stop())
      resolve(session)
    })
  })
}
