/**
 * The browser's own WebSocket as a wirecall `Transport`. Binary frames are
 * received as ArrayBuffers and handed on as Uint8Array views (no copy).
 *
 * Batches (docs/protocol.md): when the server selected `wirecall.batch.v1`,
 * the binary frames sent while the page's current task runs are gathered and
 * leave as one WebSocket message at the end of its microtask checkpoint (a
 * page pays per `WebSocket.send`, not per frame); a lone frame leaves as
 * itself, without waiting for any timer. Batches received are split here.
 */
import type { Transport, TransportReceiver, PeerInfo } from '@wirecall/core'
import { BatchWriter, deliverBatch, isBatch, usesBatches } from '@wirecall/core/internal'

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
  /** The subprotocol the server selected (`''` for none). */
  readonly protocol?: string
  /** The four events the transport listens to. */
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: never) => void): void
}

/** A WebSocket constructor, e.g. `globalThis.WebSocket`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

const OPEN = 1

/** How a `BrowserWebSocketTransport` treats its socket. */
export interface BrowserTransportOptions {
  /**
   * The socket's `send` has copied a binary frame when it returns, as the
   * browser's `WebSocket.send` does: frames and batches may then be views of
   * buffers reused for the next one. Leave it off for a `WebSocketLike` that
   * keeps the bytes by reference (the `ws` package in Node). @default false
   */
  readonly sendCopies?: boolean
  /** The largest message accepted: a batch larger than this is dropped as malformed. @default Infinity */
  readonly maxFrameBytes?: number
}

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
  /** Gathers the frames of this task, once the server selected batches (see `start`). */
  private batch: BatchWriter | undefined
  private flushQueued = false
  private readonly sendCopies: boolean
  private readonly maxFrameBytes: number

  /**
   * Wrap `ws` (open or still connecting); `url` becomes the session's `peer.url`.
   */
  constructor(private readonly ws: WebSocketLike, url: string, options: BrowserTransportOptions = {}) {
    this.peer = { url }
    this.sendCopies = options.sendCopies ?? false
    this.maxFrameBytes = options.maxFrameBytes ?? Infinity
    ws.binaryType = 'arraybuffer'
    ws.addEventListener('message', (event: { data: ArrayBuffer | string }) => {
      const data = event.data
      this.heard = true
      const frame = typeof data === 'string' ? data : new Uint8Array(data)
      if (this.receiver) this.deliver(frame, this.receiver)
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
    return this.ws.bufferedAmount + (this.batch?.pending ?? 0)
  }

  /** True when `send` copies (`sendCopies`): the session may pass views of its encode buffer. */
  get copiesFrames(): boolean {
    return this.sendCopies
  }

  /** Begin delivering frames and the close to the session; batches are on when the server selected them. */
  start(receiver: TransportReceiver): void {
    this.receiver = receiver
    if (usesBatches(this.ws.protocol)) {
      // Own frames unless send copies them; reuse the batch buffer only when send copies it.
      this.batch = new BatchWriter((message) => this.write(message), !this.sendCopies, this.sendCopies)
    }
    const early = this.early
    this.early = undefined
    if (early) for (const frame of early) this.deliver(frame, receiver)
    if (this.ws.readyState > OPEN) this.report()
  }

  /**
   * Send one frame; dropped when the socket is not open (the session's close handling rejects what waits).
   * With batches on, a binary frame waits for the end of this task (one microtask flush per task).
   */
  send(frame: Uint8Array | string): void {
    const batch = this.batch
    if (!batch) return this.write(frame)
    if (typeof frame === 'string') {
      batch.flush()
      return this.write(frame)
    }
    batch.add(frame)
    if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flush)
    }
  }

  /** Send what this task gathered (a property, so queueMicrotask needs no closure per task). */
  private readonly flush = (): void => {
    this.flushQueued = false
    this.batch?.flush()
  }

  private write(message: Uint8Array | string): void {
    if (this.ws.readyState === OPEN) this.ws.send(message)
  }

  /** Hand one message to the session: a batch frame by frame (each then checked like a message). */
  private deliver(message: Uint8Array | string, receiver: TransportReceiver): void {
    if (!this.batch || typeof message === 'string' || !isBatch(message)) return receiver.message(message)
    if (message.length > this.maxFrameBytes) {
      return receiver.unreadable?.(`batch of ${message.length} bytes exceeds maxFrameBytes (${this.maxFrameBytes})`)
    }
    deliverBatch(message, 1, (frame) => (receiver.message(frame), true), (reason) => receiver.unreadable?.(reason))
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
