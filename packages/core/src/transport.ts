/**
 * The one seam between the RPC engine and the outside world.
 *
 * Lifecycle contract, for every adapter (memory, Node `ws`, browser WebSocket):
 * - `start(receiver)` is called once by the session; frames that arrive
 *   before it are buffered and delivered in order.
 * - `receiver.message(frame)` delivers one whole WebSocket message:
 *   `Uint8Array` for binary (msgpack), `string` for text (JSON-RPC).
 * - `receiver.unreadable(reason)`, when the receiver has it: part of a message
 *   the transport itself could not split into frames (a malformed batch, see
 *   batch.ts) was dropped; the session counts and logs it like a bad frame.
 * - `receiver.closed(reason?)` is called exactly once when the link is gone,
 *   whoever closed it and however it failed; no message follows it.
 * - `send(frame)` never throws; after close it drops the frame.
 * - `close()` is idempotent and leads to `receiver.closed()`.
 */
import type { PeerInfo } from './contextual.js'

/** What a transport delivers to: the session it was started by. */
export interface TransportReceiver {
  /** One whole WebSocket message: `Uint8Array` for binary (msgpack), `string` for text (JSON-RPC). */
  message(frame: Uint8Array | string): void
  /** Optional: part of a message could not be split into frames and was dropped (a malformed batch). */
  unreadable?(reason: string): void
  /** The link is gone; called exactly once, and no message follows. */
  closed(reason?: Error): void
}

/**
 * A message link to one peer: what a `Session` speaks over. Implement it to
 * carry wirecall over something other than the built-in WebSocket adapters
 * (see the lifecycle contract at the top of this file).
 */
export interface Transport {
  /** Called once by the session; frames that arrived before are delivered in order. */
  start(receiver: TransportReceiver): void
  /** Send one message; never throws, and drops the frame once closed. */
  send(frame: Uint8Array | string): void
  /**
   * Optional: send one binary message made of several parts (WebSocket
   * fragments), so large binaries are written from the caller's memory
   * without being copied into a frame. Without it frames are contiguous.
   */
  sendParts?(parts: readonly Uint8Array[]): void
  /**
   * Optional: `send` has finished with a binary frame's bytes when it returns
   * (it copied them, as the browser's `WebSocket.send` does). The session may
   * then hand it a view of its reused encode buffer instead of a fresh copy.
   * Leave unset when the bytes are kept by reference after `send` returns
   * (queued, corked, delivered later).
   */
  readonly copiesFrames?: boolean
  /** Close the link (idempotent); leads to `receiver.closed()`. */
  close(code?: number, reason?: string): void
  /** Bytes queued but not yet written, for slow-consumer detection. */
  readonly bufferedAmount?: number
  /**
   * Optional: call `callback` once, when the bytes queued now have been
   * written (Node: the socket's `'drain'`), and return true; return false
   * when this transport cannot tell. Without it, a sender that waits for
   * room (stream data on a congested connection) polls `bufferedAmount`.
   */
  whenDrained?(callback: () => void): boolean
  /** Where the other end is, if known. */
  readonly peer?: PeerInfo
}

/** Knobs of the in-memory pair, for tests. */
export interface MemoryPairOptions {
  /** Deliver each frame after this many ms (0 = next microtask). */
  readonly delayMs?: number
  /** Called for every frame sent; return `false` to drop it. */
  readonly filter?: (frame: Uint8Array | string, from: 'a' | 'b') => boolean
}

/** One end of an in-memory pair, with test controls. */
export interface MemoryTransport extends Transport {
  /** Frames this end has sent, when logging is on. */
  readonly sent: (Uint8Array | string)[]
  /** Record sent frames in `sent`. */
  log: boolean
  /** Deliver a raw frame to this end as if the peer had sent it. */
  inject(frame: Uint8Array | string): void
  /** Simulate the link dying (both ends see `closed` with this reason). */
  fail(reason?: Error): void
}

/** Two connected in-memory transports: what `a` sends, `b` receives and vice versa. */
export function createMemoryPair(options: MemoryPairOptions = {}): [MemoryTransport, MemoryTransport] {
  const a = new MemoryEnd('a', options)
  const b = new MemoryEnd('b', options)
  a.other = b
  b.other = a
  return [a, b]
}

class MemoryEnd implements MemoryTransport {
  other!: MemoryEnd
  readonly sent: (Uint8Array | string)[] = []
  log = false
  bufferedAmount = 0
  readonly peer: PeerInfo
  private receiver: TransportReceiver | undefined
  private backlog: (Uint8Array | string)[] = []
  private isClosed = false
  private closeReported = false

  constructor(private readonly name: 'a' | 'b', private readonly options: MemoryPairOptions) {
    this.peer = { address: `memory-${name === 'a' ? 'b' : 'a'}` }
  }

  start(receiver: TransportReceiver): void {
    if (this.receiver) throw new Error('transport already started')
    this.receiver = receiver
    const backlog = this.backlog
    this.backlog = []
    for (const frame of backlog) receiver.message(frame)
    if (this.isClosed) this.reportClosed()
  }

  send(frame: Uint8Array | string): void {
    if (this.isClosed) return
    if (this.log) this.sent.push(frame)
    if (this.options.filter && !this.options.filter(frame, this.name)) return
    const target = this.other
    const deliver = () => target.inject(frame)
    if (this.options.delayMs) setTimeout(deliver, this.options.delayMs)
    else queueMicrotask(deliver)
  }

  inject(frame: Uint8Array | string): void {
    if (this.isClosed) return
    if (this.receiver) this.receiver.message(frame)
    else this.backlog.push(frame)
  }

  close(): void {
    this.fail()
  }

  fail(reason?: Error): void {
    if (this.isClosed) return
    this.isClosed = true
    this.other.isClosed = true
    queueMicrotask(() => {
      this.reportClosed(reason)
      this.other.reportClosed(reason)
    })
  }

  private reportClosed(reason?: Error): void {
    if (this.closeReported || !this.receiver) return
    this.closeReported = true
    this.receiver.closed(reason)
  }
}
