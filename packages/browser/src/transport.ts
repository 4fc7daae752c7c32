/**
 * The browser's own WebSocket as a wirecall `Transport`. Binary frames are
 * received as ArrayBuffers and handed on as Uint8Array views (no copy).
 */
import type { Transport, TransportReceiver, PeerInfo } from '@wirecall/core'

/** The subset of the WebSocket API we use (the browser's, or `ws` in Node tests). */
export interface WebSocketLike {
  /** Set to `'arraybuffer'` by the transport, so binary frames arrive as ArrayBuffers. */
  binaryType: string
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number
  /** Bytes queued and not yet sent: how slow consumers are told apart. */
  readonly bufferedAmount: number
  /** Send one frame: binary (msgpack) or text (JSON-RPC). */
  send(data: Uint8Array | string): void
  /** Start the closing handshake. */
  close(code?: number, reason?: string): void
  /** The four events the transport listens to. */
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: never) => void): void
}

/** A WebSocket constructor, e.g. `globalThis.WebSocket`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

const OPEN = 1

/**
 * Adapts one browser `WebSocket` (or any `WebSocketLike`) to the core's
 * `Transport`, for one `Session`. `BrowserClient` builds one per connection;
 * build one yourself only to run a `Session` over a socket you opened.
 */
export class BrowserWebSocketTransport implements Transport {
  readonly peer: PeerInfo
  private receiver: TransportReceiver | undefined
  /** Frames that arrived before `start()`, delivered in order by it (the `Transport` contract). */
  private early: (Uint8Array | string)[] | undefined
  private reported = false
  private reason: Error | undefined
  /** A frame arrived since the client's liveness check last looked (see `client.ts`). */
  heard = true

  /**
   * Wrap `ws` (open or still connecting); `url` becomes the session's `peer.url`.
   */
  constructor(private readonly ws: WebSocketLike, url: string) {
    this.peer = { url }
    ws.binaryType = 'arraybuffer'
    ws.addEventListener('message', (event: { data: ArrayBuffer | string }) => {
      const data = event.data
      this.heard = true
      const frame = typeof data === 'string' ? data : new Uint8Array(data)
      if (this.receiver) this.receiver.message(frame)
      else (this.early ??= []).push(frame)
    })
    ws.addEventListener('error', () => {
      this.reason ??= new Error('WebSocket error')
    })
    ws.addEventListener('close', (event: { code: number; reason: string }) => {
      if (!this.reason && event.code !== 1000 && event.code !== 1001 && event.code !== 1005) {
        this.reason = new Error(`socket closed with code ${event.code}${event.reason ? ` (${event.reason})` : ''}`)
      }
      this.report()
    })
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  /** Begin delivering frames and the close to the session. */
  start(receiver: TransportReceiver): void {
    this.receiver = receiver
    const early = this.early
    this.early = undefined
    if (early) for (const frame of early) receiver.message(frame)
    if (this.ws.readyState > OPEN) this.report()
  }

  /** Send one frame; dropped when the socket is not open (the session's close handling rejects what waits). */
  send(frame: Uint8Array | string): void {
    if (this.ws.readyState === OPEN) this.ws.send(frame)
  }

  /** Close the socket with a closing handshake (code 1000 by default). */
  close(code = 1000, reason?: string): void {
    if (this.ws.readyState > OPEN) return this.report()
    this.ws.close(code, reason)
  }

  /**
   * Give up on a peer that went silent: the session closes now (pending calls
   * reject with `reason`), without waiting for a closing handshake that a
   * frozen peer would never answer.
   */
  abort(reason: Error): void {
    this.reason ??= reason
    if (this.ws.readyState <= OPEN) this.ws.close()
    this.report()
  }

  private report(): void {
    if (this.reported || !this.receiver) return
    this.reported = true
    this.receiver.closed(this.reason)
  }
}
