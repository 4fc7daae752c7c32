/** A Buffer of its own holding `bytes` (a slice of Node's pool when small). */
function ownBuffer(bytes: Uint8Array): Buffer {
  const buffer = Buffer.allocUnsafe(bytes.byteLength)
  buffer.set(bytes)
  return buffer
}

/**
 * A `ws` WebSocket as a wirecall `Transport`.
 *
 * Write coalescing: the first frame sent in a tick goes straight to the TCP
 * socket; a second one in the same tick corks it, the frames from there on
 * are held in one buffer (`HeldFrames`, frames.ts), and a `process.nextTick`
 * writes them and uncorks, so the rest of a burst (pipelined calls, or the
 * replies to a batch of requests that arrived in one TCP read) leaves in one
 * write instead of one syscall per frame. A lone call or reply pays for no
 * cork: it is written at once, as a plain `ws` send would be. Binary frames
 * are written by frames.ts itself while `ws`'s sender is idle, through
 * `ws.send` otherwise.
 *
 * Batches (docs/protocol.md): when `wirecall.batch.v1` was selected at the
 * handshake, the binary frames of a tick go out as one WebSocket message at
 * that same nextTick (a lone frame as itself), and batches received are split
 * here, frame by frame, stopping between frames while reading is paused, and
 * for a turn of the event loop after every `BATCH_FRAMES_PER_TURN` frames.
 */
import type { Socket } from 'node:net'
import { WebSocket } from 'ws'
import { DEFAULT_LIMITS, type Limits, type PeerInfo, type Transport, type TransportReceiver } from '@wirecall/core'
import { BatchWriter, deliverBatch, isBatch, usesBatches } from '@wirecall/core/internal'
import type { Heartbeat } from './heartbeat.js'
import { HeldFrames, senderIdle, writeFrame, writeFrameOfParts } from './frames.js'

/** Close codes we use (RFC 6455). */
export const CloseCode = {
  /** A normal close (`close()`). */
  NORMAL: 1000,
  /** The server is shutting down (`server.close()`). */
  GOING_AWAY: 1001,
  /** The peer broke the WebSocket protocol. */
  PROTOCOL_ERROR: 1002,
  /** A policy was broken (a limit such as `maxSendBufferBytes`). */
  POLICY_VIOLATION: 1008,
  /**
   * We closed because more than `maxSendBufferBytes` were queued for a peer
   * that does not read. The socket is destroyed at once (a peer that does not
   * read would never take the close frame), so the peer may see 1006 instead.
   */
  SEND_BUFFER_FULL: 1008,
  /** A message larger than `maxFrameBytes`. */
  TOO_BIG: 1009,
  /** The server failed unexpectedly. */
  INTERNAL_ERROR: 1011,
} as const

/**
 * A `ws` (8.x) WebSocket, as the constructor's parameter type: the members
 * wirecall uses, spelled out so that the published types do not import `ws`
 * (whose types live in @types/ws, which users of @wirecall/node need not
 * install). Pass an open `WebSocket` from `ws`; other objects are not supported.
 */
export interface WsWebSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number
  /** Bytes queued but not yet written. */
  readonly bufferedAmount: number
  /** The subprotocol selected at the handshake (`''` for none). */
  readonly protocol: string
  /** A whole message arrived. */
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown
  /** The connection closed. */
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown
  /** The socket failed. */
  on(event: 'error', listener: (err: Error) => void): unknown
  /** A ping or pong control frame arrived. */
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): unknown
  /** Send a message, or a fragment of one (`fin: false`). */
  send(data: Uint8Array | string, options?: { binary?: boolean; fin?: boolean }): void
  /** Send a ping control frame. */
  ping(): void
  /** Stop reading from the socket (backpressure). */
  pause(): void
  /** Read from the socket again. */
  resume(): void
  /** Start the closing handshake. */
  close(code?: number, reason?: string): void
  /** Destroy the socket at once. */
  terminate(): void
}

function isSocket(value: PeerInfo | Socket): value is Socket {
  return typeof (value as Socket).setNoDelay === 'function'
}

/**
 * Socket events other than messages go through shared listeners and this
 * map rather than a closure per event per connection (idle connections stay
 * small); `message` keeps its closure because it is the hot path.
 */
const transports = new WeakMap<WebSocket, WebSocketTransport>()
function markHeard(this: WebSocket): void {
  const transport = transports.get(this)
  if (transport) transport.heard = true
}
function onSocketError(this: WebSocket, err: Error): void {
  transports.get(this)?.socketError(err)
}
function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  transports.get(this)?.socketClosed(code, reason)
}

/**
 * The most frames handed on from one batch in one event-loop turn; then reading pauses until
 * `setImmediate` (`yieldReading`). A batch may be as large as `maxFrameBytes` (16 MiB) and an
 * item as small as three bytes: 5.6 million frames in one message, each checked, refused,
 * counted and logged, took 17 s in one turn with every other connection stalled (measured,
 * one-byte malformed frames, about 3 µs each). 1024 keeps such a turn to a few ms, less than
 * one socket read (64 KiB) of plain messages can cost; a sender's batch (64 KiB at most,
 * `MAX_BATCH_BYTES`) of ordinary frames is read in one turn, or a few. Why not a limit that
 * refuses longer batches, as `maxBatchLength` refuses JSON-RPC ones: a sender's 64 KiB batch
 * of small frames holds thousands (5,000 calls of `add(i, 1)` make two batches), and
 * docs/protocol.md refuses a batch only whole, past `maxFrameBytes`.
 */
const BATCH_FRAMES_PER_TURN = 1024

/** The rest of a batch not yet handed on because reading paused in the middle of it. */
interface BatchRest {
  readonly batch: Uint8Array
  readonly offset: number
}

/**
 * Transports that wrote in this tick, in the first `wroteCount` slots: one
 * nextTick flushes them all. The array is kept from tick to tick (a fresh
 * one per tick would be an allocation per lone call); each slot is cleared
 * as it is flushed, so a closed transport is not kept alive by it.
 */
let wroteThisTick: (WebSocketTransport | undefined)[] = []
let wroteCount = 0
/** Past this many slots (a fan-out tick), the array is let go rather than kept at its peak size. */
const KEEP_TICK_SLOTS = 1024
function endTick(): void {
  // `wroteCount` is read on every turn: a transport added while flushing is flushed too.
  for (let i = 0; i < wroteCount; i++) {
    const transport = wroteThisTick[i]!
    wroteThisTick[i] = undefined
    transport.flush()
  }
  wroteCount = 0
  if (wroteThisTick.length > KEEP_TICK_SLOTS) wroteThisTick = []
}

/** Where a transport's writes stand in the current tick (see `coalesce`). */
const enum TickWrites {
  /** Nothing written yet in this tick. */
  NONE,
  /** One frame went straight to the socket; the next one corks. */
  ONE,
  /** The socket is corked until the end of the tick (or, with batches, frames are being gathered). */
  CORKED,
}

/** How a `WebSocketTransport` reaches the socket under `ws`, and which end of the connection it is. */
export interface WebSocketTransportOptions {
  /**
   * The TCP socket under `ws`, for write coalescing and read backpressure: a
   * server has it from the `upgrade` event it handed to `handleUpgrade`, a
   * client from the handshake response (`ws`'s `upgrade` event, `res.socket`).
   * Defaults to `peer` when that is a socket; without one, frames are not
   * coalesced and reading is not paused.
   */
  readonly socket?: Socket
  /**
   * This end is the server of the connection: its frames are not masked.
   * A client's frames are masked (frames.ts). @default false
   */
  readonly server?: boolean
}

export class WebSocketTransport implements Transport {
  private readonly peerSource: PeerInfo | Socket
  private receiver: TransportReceiver | undefined
  /** Frames that arrive before `start` (rare: sessions start at once), or while paused; created on demand. */
  private backlog: (Uint8Array | string | BatchRest)[] | undefined
  /** Gathers the binary frames of this tick when the peer selected batches (created on first send). */
  private batch: BatchWriter | undefined
  /** This tick's frames after its first, not yet written (see `HeldFrames`; created on first use). */
  private held: HeldFrames | undefined
  /** Batches were selected at the handshake: received ones are split, sent frames gathered. */
  private readonly batching: boolean
  private closedReason: Error | undefined
  private closeReported = false
  /** Drops the socket when the closing handshake is not answered within `closeTimeoutMs`. */
  private closeDeadline: ReturnType<typeof setTimeout> | undefined
  private tickWrites = TickWrites.NONE
  private readonly socket: Socket | undefined
  /** How `sendParts` writes a frame itself on the TCP socket: unmasked (a server), masked (a client), or not at all (no socket). */
  private readonly directWrite: 'unmasked' | 'masked' | undefined
  private heartbeat: Heartbeat | undefined
  /**
   * Without a TCP socket to read `bytesRead` from: heard from the peer since
   * the last heartbeat check (any frame, ping or pong; set by listeners).
   */
  /** @internal */ heard = true
  /** The socket's `bytesRead` at the last heartbeat check. */
  private readAtCheck = 0
  /** When a heartbeat check last found the peer heard (ms on the heartbeat's clock). */
  lastHeard = 0

  /**
   * Reading stopped until the peer drains what we queued for it (see `checkBackpressure`), or
   * until the next turn after a batch's `BATCH_FRAMES_PER_TURN` frames (`yieldReading`).
   */
  private readPaused = false
  /** Waiting for the socket's `'drain'` (`whenDrained`); created on demand. */
  private drainWaiters: (() => void)[] | undefined

  private readonly ws: WebSocket

  /**
   * Wrap an open `ws` socket. `peer`: the address, or the TCP socket to read it from when first
   * asked (a server's connections). `limits`: `sendHighWaterMark`, `maxSendBufferBytes` and
   * `closeTimeoutMs` (one shared object per server or client). `options`: the TCP socket and which end this is.
   */
  constructor(
    socket: WsWebSocket,
    peer: PeerInfo | Socket,
    private readonly limits: Pick<Limits, 'sendHighWaterMark' | 'maxSendBufferBytes' | 'closeTimeoutMs'> = DEFAULT_LIMITS,
    options: WebSocketTransportOptions = {},
  ) {
    const ws = socket as WebSocket
    this.ws = ws
    this.peerSource = peer
    this.socket = options.socket ?? (isSocket(peer) ? peer : undefined)
    this.directWrite = this.socket === undefined ? undefined : options.server === true ? 'unmasked' : 'masked'
    this.batching = usesBatches(ws.protocol)
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.heard = true // for `heardSinceCheck` without a socket
      if (this.batching && isBinary && isBatch(data)) return this.receiveBatch(data, 1)
      const frame = isBinary ? data : data.toString('utf8')
      // Held back before `start`, and while paused: `ws` goes on emitting the messages of a chunk it
      // already read after `pause()`, and one read can hold thousands of small requests.
      if (this.receiver && !this.readPaused) this.receiver.message(frame)
      else (this.backlog ??= []).push(frame)
    })
    transports.set(ws, this)
    ws.on('error', onSocketError)
    ws.on('close', onSocketClose)
  }

  /** @internal the socket failed or closed (shared listeners below; see `transports`). */
  socketError(err: Error): void {
    this.closedReason ??= err
  }

  /** @internal */
  socketClosed(code: number, reason: Buffer): void {
    if (!this.closedReason && code !== CloseCode.NORMAL && code !== CloseCode.GOING_AWAY && code !== 1005) {
      this.closedReason = new Error(`socket closed with code ${code}${reason.length ? ` (${reason.toString()})` : ''}`)
    }
    this.reportClosed()
  }

  /**
   * Watched by `heartbeat`. With the TCP socket, any byte read from it is a
   * sign of life (`heardSinceCheck` compares `bytesRead`: nothing to do per
   * frame, no listener per connection); without it, pongs and pings are
   * counted by one shared listener.
   */
  watchLiveness(heartbeat: Heartbeat): void {
    this.heartbeat = heartbeat
    this.heard = false
    if (this.socket) {
      this.readAtCheck = this.socket.bytesRead
      return
    }
    this.ws.on('pong', markHeard)
    this.ws.on('ping', markHeard)
  }

  /** Anything came from the peer since the previous call (a heartbeat check): any frame, ping or pong. */
  heardSinceCheck(): boolean {
    if (this.socket) {
      const read = this.socket.bytesRead
      if (read === this.readAtCheck) return false
      this.readAtCheck = read
      return true
    }
    const heard = this.heard
    this.heard = false
    return heard
  }

  /** Send a WebSocket ping (the heartbeat's probe); any frame back proves the peer alive. */
  ping(): void {
    this.releaseHeld()
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping()
  }

  get peer(): PeerInfo {
    const source = this.peerSource
    if (!isSocket(source)) return source
    // Node caches the peer name on the socket after the first read; still there after close.
    return { address: source.remoteAddress, port: source.remotePort }
  }

  /**
   * What `ws` and the socket hold, and a batch being gathered. Frames held in this tick
   * (`HeldFrames`) are left out: at most HELD_MAX_BYTES (32 KiB), written when the tick ends, and
   * counting them could make a caller wait for a `'drain'` that a socket with nothing queued
   * never emits.
   */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount + (this.batch?.pending ?? 0)
  }

  start(receiver: TransportReceiver): void {
    this.receiver = receiver
    this.deliverBacklog()
    if (this.ws.readyState === WebSocket.CLOSED) this.reportClosed()
  }

  /**
   * Frames from the session are views of its codec's reused buffer
   * (`copiesFrames`): `send` copies each once. Normally into the buffer of
   * its own frame, header and payload in one socket write (frames.ts, while
   * `ws`'s sender is idle). Otherwise into a `Buffer` for `ws.send`, from
   * Node's pool when small: `ws` sends a Buffer, and wraps any other
   * Uint8Array in one through its `.buffer`, which for a small typed array
   * (its bytes inside the JS heap) first moves them to a backing store of
   * their own, an allocation and a copy per frame. A frame that is already a
   * Buffer (a fan-out's, shared by every member and never written again) is
   * not copied when large.
   */
  readonly copiesFrames = true

  send(frame: Uint8Array | string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return
    this.coalesce()
    if (this.batching) {
      if (typeof frame !== 'string') {
        // Views are copied into the batch at once (no `ownFrames`); the socket keeps what it is given, so no reuse.
        ;(this.batch ??= new BatchWriter((message) => this.sendMessage(message), false, false)).add(frame)
        return this.checkBackpressure()
      }
      this.batch?.flush()
    }
    if (typeof frame !== 'string' && this.directWrite && senderIdle(this.ws)) {
      // Our own frame (frames.ts): the first of a tick written at once, the next ones held until
      // the tick ends. A Buffer is a fan-out's, never written again.
      const masked = this.directWrite === 'masked'
      if (this.tickWrites === TickWrites.CORKED) (this.held ?? this.holdFrames()).add(this.socket!, frame, masked, Buffer.isBuffer(frame))
      else writeFrame(this.socket!, frame, masked, Buffer.isBuffer(frame))
      return this.checkBackpressure()
    }
    this.releaseHeld()
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : ownBuffer(frame))
    this.checkBackpressure()
  }

  /**
   * The first burst of this connection: frames will be held from now on. `ws` writes a closing
   * frame of its own when it reads the peer's, possibly in the same read as requests whose
   * replies are held, and nothing may follow a closing frame: so its sender's `close` is wrapped
   * (for this connection only, from its first burst on: idle connections pay nothing) to write
   * the held frames first, as a `ws.send` made earlier would have been.
   */
  private holdFrames(): HeldFrames {
    const held = (this.held = new HeldFrames())
    const sender = (this.ws as unknown as { _sender?: { close?: unknown } | null })._sender
    const close = sender?.close
    if (typeof close === 'function') {
      const socket = this.socket!
      sender!.close = function (this: unknown, ...args: unknown[]) {
        if (held.pending > 0 && socket.writable) held.release(socket)
        return close.apply(this, args)
      }
    }
    return held
  }

  /** Write the frames held in this tick, before anything else goes on the socket (see `HeldFrames`). */
  private releaseHeld(): void {
    const held = this.held
    if (held === undefined || held.pending === 0) return
    // Once the closing handshake began (its closing frame went after what was held then,
    // `holdFrames`), no data frame may follow: there is nothing left to write.
    if (this.ws.readyState === WebSocket.OPEN) held.release(this.socket!)
    else held.drop()
  }

  /**
   * A whole binary message that nobody writes again (a batch): as one frame of our own when `ws`'s
   * sender allows. The socket (or `ws`) keeps it uncopied until written; `BatchWriter` makes it an
   * exact copy when it is under half its buffer, so what a peer that does not read makes us hold
   * stays within twice what `bufferedAmount` counts.
   */
  private sendMessage(message: Uint8Array): void {
    if (this.directWrite && senderIdle(this.ws)) writeFrame(this.socket!, message, this.directWrite === 'masked', true)
    else this.ws.send(message)
  }

  /** Hand over frames held back (before `start`, or while paused), until done or paused again. */
  private deliverBacklog(): void {
    const backlog = this.backlog
    const receiver = this.receiver
    if (!backlog || !receiver) return
    let i = 0
    while (i < backlog.length && !this.readPaused) {
      const item = backlog[i]!
      if (typeof item === 'string' || item instanceof Uint8Array) {
        i++
        receiver.message(item)
        continue
      }
      const rest = this.deliverFrom(item.batch, item.offset, receiver)
      if (rest === -1) i++
      else backlog[i] = { batch: item.batch, offset: rest } // paused part-way: the rest stays in its slot
    }
    if (i === backlog.length) this.backlog = undefined
    else backlog.splice(0, i)
  }

  /** A batch arrived: its frames one by one; what is left when reading pauses waits in the backlog. */
  private receiveBatch(batch: Uint8Array, offset: number): void {
    const receiver = this.receiver
    if (receiver && !this.readPaused) {
      offset = this.deliverFrom(batch, offset, receiver)
      if (offset === -1) return
    }
    ;(this.backlog ??= []).push({ batch, offset })
  }

  /**
   * Frames of `batch` from `offset` on, each checked by the session like a message, until the
   * end (-1), a pause or `BATCH_FRAMES_PER_TURN` frames (the offset to go on from). A malformed
   * rest is counted and logged by the session (`receiver.unreadable`).
   */
  private deliverFrom(batch: Uint8Array, offset: number, receiver: TransportReceiver): number {
    const rest = deliverBatch(batch, offset, (frame) => (receiver.message(frame), !this.readPaused), (reason) => receiver.unreadable?.(reason), BATCH_FRAMES_PER_TURN)
    // Stopped by the count, not by a pause: the rest (in the backlog) goes on in the next turn.
    if (rest !== -1 && !this.readPaused) this.yieldReading()
    return rest
  }

  /**
   * Let the event loop run (other connections, timers) before the rest of a long batch: reading
   * pauses as for backpressure (what arrives meanwhile queues behind the rest, in order) and
   * resumes at `setImmediate`. No `'drain'` listener is pending then (backpressure only pauses a
   * connection that is reading), so the resume cannot come twice; a send past the mark while
   * yielding is caught by the next send after it.
   */
  private yieldReading(): void {
    this.readPaused = true
    this.ws.pause()
    setImmediate(() => this.resumeReading())
  }

  /**
   * Called before each write. The first frame of a tick goes straight to the
   * socket (a lone call or reply leaves at once, as it would without
   * wirecall: no cork, no deferred writev, nothing kept for the end of the
   * tick); a second frame in the same tick corks the socket, and the frames
   * from there on leave in one `writev` when the tick ends. A burst of N
   * frames thus costs two writes instead of N. `force` corks from the first
   * frame: a frame written in several parts (`sendParts`) then leaves in one
   * `writev` too. With batches, frames are gathered from the first one.
   */
  private coalesce(force = false): void {
    const state = this.tickWrites
    if (state === TickWrites.CORKED) return
    // Without a socket nothing is corked, but a batch still needs its end-of-tick flush.
    if (!this.socket && !this.batching) return
    if (state === TickWrites.NONE) {
      wroteThisTick[wroteCount] = this
      if (++wroteCount === 1) process.nextTick(endTick)
    }
    if (state === TickWrites.NONE && !force && !this.batching) {
      this.tickWrites = TickWrites.ONE
      return
    }
    this.tickWrites = TickWrites.CORKED
    this.socket?.cork()
  }

  /** @internal called once per tick for every transport that wrote in it. */
  flush(): void {
    const corked = this.tickWrites === TickWrites.CORKED
    this.tickWrites = TickWrites.NONE
    this.releaseHeld()
    if (this.batch && this.ws.readyState === WebSocket.OPEN) {
      this.batch.flush()
      this.checkBackpressure()
    }
    if (corked) this.socket?.uncork()
  }

  /**
   * After every send. A peer that sends requests but never reads the replies
   * would otherwise make us queue without bound (replies, refusals): past
   * `sendHighWaterMark` we stop reading from it, and stop handing on frames
   * already read, until its socket drains; so what it can make us queue is
   * the high-water mark plus one reply. Past `maxSendBufferBytes` (what we
   * push on our own: notifications, callbacks) the connection is closed.
   */
  /**
   * `callback` once the socket has written what is queued now (its `'drain'`, one listener
   * however many wait). False without the TCP socket; then the caller polls `bufferedAmount`.
   */
  whenDrained(callback: () => void): boolean {
    const socket = this.socket
    if (!socket || socket.destroyed) return false
    if (this.drainWaiters) {
      this.drainWaiters.push(callback)
      return true
    }
    this.drainWaiters = [callback]
    socket.once('drain', () => {
      const waiters = this.drainWaiters ?? []
      this.drainWaiters = undefined
      for (const wake of waiters) wake()
    })
    return true
  }

  private checkBackpressure(): void {
    const queued = this.ws.bufferedAmount
    if (queued <= this.limits.sendHighWaterMark) return
    if (queued > this.limits.maxSendBufferBytes) {
      this.closedReason ??= new Error(
        `closed with code ${CloseCode.SEND_BUFFER_FULL}: ${queued} bytes queued for a peer that does not read (limit maxSendBufferBytes = ${this.limits.maxSendBufferBytes})`,
      )
      this.held?.drop()
      this.ws.close(CloseCode.SEND_BUFFER_FULL, 'send buffer full')
      this.ws.terminate()
      return
    }
    if (this.readPaused || !this.socket || this.ws.readyState !== WebSocket.OPEN) return
    this.readPaused = true
    this.ws.pause()
    // A closure only for connections that are paused right now.
    this.socket.once('drain', () => this.resumeReading())
  }

  private resumeReading(): void {
    this.readPaused = false
    if (this.ws.readyState !== WebSocket.OPEN) return
    this.deliverBacklog()
    if (!this.readPaused) this.ws.resume()
  }

  /**
   * One message made of several parts (a frame whose large binaries were
   * left out of the encoder). It goes as ONE WebSocket frame, header and
   * parts straight to the corked socket, so the receiver has no reassembly
   * copy: a server's parts unmasked and uncopied, a client's masked (each
   * part copied once while masked, as `ws.send` would copy it; frames.ts).
   * An end whose `ws` sender is not idle (see `WS_INTERNALS` in frames.ts)
   * or does not have the expected fields sends WebSocket fragments of one
   * message with `ws`'s public `send(part, { binary: true, fin })` instead.
   *
   * Why the direct write, and why `ws` is pinned to an exact version in
   * package.json: with public API only (fragments) the receiver must
   * concatenate the fragments, one more copy of every large binary, and the
   * binary echo measured slower: about 4-5 % at 1 MiB and 2 % at 64 KiB,
   * with the receiving client's CPU per call up to a quarter higher at
   * 1 MiB. The direct write is only safe while `ws`'s sender is between
   * messages with nothing queued, which only its private fields tell; a `ws`
   * release could change what they mean without changing their names, so
   * the version is exact and test/ws-internals.test.ts checks their shape
   * and meaning (re-run it before moving the pin).
   */
  sendParts(parts: readonly Uint8Array[]): void {
    if (this.ws.readyState !== WebSocket.OPEN) return
    this.coalesce(true)
    // What this tick gathered goes first: frames keep their order.
    this.batch?.flush()
    this.releaseHeld()
    if (this.directWrite && senderIdle(this.ws)) {
      writeFrameOfParts(this.socket!, parts, this.directWrite === 'masked')
      this.checkBackpressure()
      return
    }
    const last = parts.length - 1
    for (let i = 0; i <= last; i++) this.ws.send(parts[i]!, { binary: true, fin: i === last })
    this.checkBackpressure()
  }

  /**
   * Start the closing handshake. It needs the peer's answer, which may never
   * come in time: a peer that does not read, or one whose frames we stopped
   * reading (`checkBackpressure`) so that its closing frame sits unread; `ws`
   * itself would wait 30 s. Past `closeTimeoutMs` the socket is dropped, so
   * a session's `close()` always settles within that bound.
   */
  close(code: number = CloseCode.NORMAL, reason?: string): void {
    if (this.ws.readyState === WebSocket.CLOSED) return this.reportClosed()
    // Frames sent before close() go before the closing frame.
    this.releaseHeld()
    this.ws.close(code, reason)
    if (this.closeDeadline === undefined) {
      this.closeDeadline = setTimeout(() => this.ws.terminate(), this.limits.closeTimeoutMs)
      this.closeDeadline.unref()
    }
  }

  /** Drop the socket at once, without the closing handshake. */
  terminate(): void {
    this.held?.drop()
    this.ws.terminate()
  }

  private reportClosed(): void {
    if (this.closeDeadline !== undefined) clearTimeout(this.closeDeadline)
    this.heartbeat?.forget(this)
    if (this.closeReported || !this.receiver) return
    this.closeReported = true
    this.receiver.closed(this.closedReason)
  }
}
