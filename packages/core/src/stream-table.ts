/**
 * The streams of one connection, both directions (docs/protocol.md,
 * Streams): the table the session's encoder and decoder export to and
 * import from, the messages 5 to 8, and the sending turns.
 *
 * Fairness: producers do not send on their own. A producer with a batch
 * ready queues itself; one scheduler turn per table (a macrotask) sends one
 * frame per queued producer, round robin, and stops while the transport has
 * more than `sendHighWaterMark / 4` bytes queued. Calls and responses are
 * sent at once, so a fast stream never holds them back behind its data.
 *
 * Like references, the table is created when the first stream crosses
 * (`Session.streams`), so an idle connection pays nothing for it.
 */
import { AbortError, ConnectionClosedError, OverloadedError, ProtocolError, WirecallError, fromWireError } from './errors.js'
import { FrameError, MessageType, isId, type StreamMessage } from './protocol.js'
import { Consumer, RemoteStream } from './stream-consumer.js'
import { CallSignal, Producer, streaming } from './stream-producer.js'
import { sourceOf } from './stream-source.js'
import type { StreamHost, StreamTable } from './stream-support.js'
import { STREAM_RESULT_ERROR, markStreamResult } from './stream-wire.js'
import { Writer } from './msgpack-encode.js'

const noExtension = () => null

/** Longest wait between two looks at a congested transport. */
const MAX_RETRY_MS = 64

/** The marker frame part of a stream result (encoded once, the same for every codec: plain msgpack). */
let resultMarker: Uint8Array | undefined

// ------------------------------------------------------------ macrotasks

type Task = () => void
/**
 * Run `task` in a later turn of the event loop, after pending I/O: Node's
 * setImmediate, a MessageChannel in browsers, setTimeout(0) elsewhere. A
 * producer's items of one turn leave together; calls that arrived meanwhile
 * are handled in between.
 */
const nextTurn: (task: Task) => void = (() => {
  const g = globalThis as unknown as { setImmediate?: (task: Task) => unknown; MessageChannel?: new () => { port1: { onmessage: unknown }; port2: { postMessage(v: unknown): void } } }
  if (typeof g.setImmediate === 'function') {
    const immediate = g.setImmediate
    return (task: Task) => void immediate(task)
  }
  if (typeof g.MessageChannel === 'function') {
    const channel = new g.MessageChannel()
    let queue: Task[] = []
    channel.port1.onmessage = () => {
      const tasks = queue
      queue = []
      for (const task of tasks) task()
    }
    return (task: Task) => {
      if (queue.push(task) === 1) channel.port2.postMessage(0)
    }
  }
  return (task: Task) => void setTimeout(task, 0)
})()


const REFUSED = Object.freeze({})

// ------------------------------------------------------------ the table

/** The streams of one connection, both directions, and the turns that send their data. */
export class Streams implements StreamTable {
  private readonly producers = new Map<number, Producer>()
  private readonly consumers = new Map<number, Consumer>()
  private nextId = 1
  /** Producers exported and consumers built while the current frame is encoded / decoded (see references.ts). */
  private readonly frameExports: Producer[] = []
  private readonly frameImports: Consumer[] = []
  /** Producers exported by the last frame encoded successfully, until taken. */
  private encoded: Producer[] | undefined
  /** Streams refused for maxOpenStreams in the frame being decoded (reset by `takeOverflow`). */
  private overflows = 0
  private closed = false
  /** Producers with something to send, in the order they asked. */
  private ready: Producer[] = []
  private turnScheduled = false
  private retryMs = 0
  /** The turn waiting for room on a congested transport (see `waitForRoom`). */
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  /** `whenDrained` was asked and has not called back yet. */
  private awaitingDrain = false
  private readonly turn = () => this.runTurn()
  private readonly finalizer = new FinalizationRegistry<Consumer>((consumer) => consumer.cancel())

  constructor(readonly host: StreamHost) {}

  /** Streams this side sends. */
  get producing(): number {
    return this.producers.size
  }
  /** Streams this side reads. */
  get consuming(): number {
    return this.consumers.size
  }

  // ---------------------------------------------------------- encoding

  /** A stream found in a frame being encoded: register it (not started) and return its id. */
  export(value: object): number {
    const limit = this.host.config.limits.maxOpenStreams
    if (this.producers.size >= limit) throw new OverloadedError(`too many open streams (limit maxOpenStreams = ${limit})`)
    if (streaming.has(value)) throw new TypeError('this stream is already being sent (a stream can be read once)')
    const source = sourceOf(value)
    let id = this.nextId
    while (this.producers.has(id)) id = id >= 0xffff_ffff ? 1 : id + 1
    this.nextId = id >= 0xffff_ffff ? 1 : id + 1
    const producer = new Producer(this, id, value, source)
    this.producers.set(id, producer)
    streaming.add(value)
    this.frameExports.push(producer)
    return id
  }

  get exportMark(): number {
    return this.frameExports.length
  }

  /** A frame's encoding ended: the streams it exported are forgotten if it `failed`, else kept for `takeEncoded`. */
  endEncode(mark: number, failed: boolean): void {
    this.encoded = undefined
    const log = this.frameExports
    if (log.length <= mark) return
    const exported = log.slice(mark)
    log.length = mark
    if (failed) for (const producer of exported) producer.abandon()
    else this.encoded = exported
  }

  /** The streams exported by the frame just encoded (once), or undefined. */
  takeEncoded(): Producer[] | undefined {
    const encoded = this.encoded
    this.encoded = undefined
    return encoded
  }

  // ---------------------------------------------------------- decoding

  /** A stream the peer sent (ext 73): the `RemoteStream` that reads it. */
  import(id: number): object {
    if (this.consumers.has(id)) throw new ProtocolError(`stream #${id} is already open`)
    const limit = this.host.config.limits.maxOpenStreams
    if (this.consumers.size >= limit || this.closed) {
      // Refused and cancelled, so the producer forgets it; the session refuses the whole frame. A
      // frame holding more refused streams than the limit itself is no honest peer's: decoding stops
      // there rather than send a cancel for each of the millions a 16 MiB frame can name.
      if (++this.overflows > limit) throw new OverloadedError(`more than ${limit} streams over maxOpenStreams in one frame`)
      if (!this.closed) this.host.sendControl([MessageType.STREAM_CANCEL, id])
      return REFUSED
    }
    const consumer = new Consumer(this, id)
    const stream = new RemoteStream(consumer)
    this.consumers.set(id, consumer)
    this.frameImports.push(consumer)
    // Not unregistered when the stream ends: a finished consumer ignores the cancel.
    this.finalizer.register(stream, consumer)
    return stream
  }

  get importMark(): number {
    return this.frameImports.length
  }

  /** The frame decoded since `mark` was handled; its streams belong to whoever received them. */
  endDecode(mark: number): void {
    this.frameImports.length = mark
  }

  /** Nobody will see the streams decoded since `mark` (a late reply, a refused frame): cancel them. */
  dropSince(mark: number): void {
    const log = this.frameImports
    if (log.length <= mark) return
    const dropped = log.slice(mark)
    log.length = mark
    for (const consumer of dropped) consumer.cancel()
  }

  /** Did an import hit `maxOpenStreams` since the last call? (The session then refuses the frame.) */
  takeOverflow(): boolean {
    const overflowed = this.overflows > 0
    this.overflows = 0
    return overflowed
  }

  /** Streams decoded from the current frame stop when `signal` fires (the caller's signal, for a result). */
  bindDecoded(mark: number, signal: AbortSignal): void {
    for (let i = mark; i < this.frameImports.length; i++) this.frameImports[i]!.bind(signal)
  }

  // ---------------------------------------------------------- messages

  /** `[5, sid, items]`; false when no stream of ours reads it (its references can be given back). */
  data(sid: number, items: unknown[], bytes: number): boolean {
    const consumer = this.consumers.get(sid)
    if (!consumer) return false
    consumer.data(items, bytes)
    return true
  }

  /** `[6, sid, items, bytes]`; credit for a stream we are not producing is ignored. */
  credit(sid: number, items: number, bytes: number): void {
    this.producers.get(sid)?.credit(items, bytes)
  }

  /** `[7, sid, error]` */
  end(sid: number, error: unknown): void {
    const consumer = this.consumers.get(sid)
    if (!consumer) return
    consumer.end(error == null ? undefined : fromWireError(error, this.host.peerLabel, this.host.config.errorTable))
  }

  /** `[8, sid]`: the peer stopped reading one of our streams. */
  cancel(sid: number): void {
    this.producers.get(sid)?.stop(new AbortError(`the consumer stopped reading stream #${sid}`), false)
  }

  forget(stream: Producer | Consumer): void {
    if (stream instanceof Producer) {
      if (this.producers.get(stream.id) === stream) this.producers.delete(stream.id)
    } else if (this.consumers.get(stream.id) === stream) this.consumers.delete(stream.id)
  }

  // ---------------------------------------------------------- sending turns

  /**
   * A producer has a batch or its end to send. `complete`: nothing more will
   * join it (the batch is full, the credit used, or the source over); it is
   * sent at once when no other stream waits for a turn and the transport is
   * not congested (one fast stream need not wait a turn of the event loop per
   * frame: its credit bounds what it sends in a row). Otherwise it queues
   * for the next turn, behind the streams already waiting (a partial batch
   * always does: more may join it before the turn).
   */
  schedule(producer: Producer, complete: boolean): void {
    if (complete && !this.congested()) {
      // Alone (nobody queued, or only itself, for the batch it is completing now): no turn to wait for.
      const ready = this.ready
      if (ready.length === 0 || (ready.length === 1 && ready[0] === producer)) {
        ready.length = 0
        producer.queued = false
        return producer.flush()
      }
    }
    if (producer.queued) return
    producer.queued = true
    this.ready.push(producer)
    if (!this.turnScheduled) {
      this.turnScheduled = true
      nextTurn(this.turn)
    }
  }

  /** One frame per queued producer, round robin, while the transport is not congested. */
  private runTurn(): void {
    this.turnScheduled = false
    const ready = this.ready
    this.ready = []
    for (let i = 0; i < ready.length; i++) {
      if (this.closed) return
      if (this.congested()) {
        // Congested: the rest keep their places ahead of newcomers, until there is room.
        this.ready = ready.slice(i).concat(this.ready)
        this.turnScheduled = true
        return this.waitForRoom()
      }
      const producer = ready[i]!
      producer.queued = false
      producer.flush()
    }
    this.retryMs = 0
  }

  /**
   * Run the next turn once the transport has room: when it has written what it queued (its
   * `whenDrained`, the socket's 'drain' in Node), with a timer of MAX_RETRY_MS as a fallback; or,
   * when it cannot tell (a browser's WebSocket has no such event), after a timer of 1 ms doubling
   * up to MAX_RETRY_MS while it stays congested.
   */
  private waitForRoom(): void {
    if (!this.awaitingDrain && this.host.whenDrained(this.drained)) this.awaitingDrain = true
    this.retryMs = this.awaitingDrain ? MAX_RETRY_MS : Math.min(MAX_RETRY_MS, Math.max(1, this.retryMs * 2))
    this.retryTimer = setTimeout(this.retryTurn, this.retryMs)
  }

  private readonly retryTurn = () => {
    this.retryTimer = undefined
    this.runTurn()
  }

  /** The transport wrote what it had queued: the turn waiting for room runs now. */
  private readonly drained = () => {
    this.awaitingDrain = false
    if (this.retryTimer === undefined || this.closed) return
    clearTimeout(this.retryTimer)
    this.retryTurn()
  }

  /** The transport holds more than `sendHighWaterMark / 4` bytes: stream data waits. */
  private congested(): boolean {
    const queued = this.host.sendQueueBytes
    return queued !== undefined && queued > this.host.config.limits.sendHighWaterMark / 4
  }

  // ---------------------------------------------------------- session hooks

  /**
   * `Session.call`, after encoding a request: its upload streams stop (and
   * tell the consumer) when `signal` fires, and their producers run `within`
   * the call's outgoing observation, so the calls an upload's generator makes
   * join the caller's trace.
   */
  bindUploads(signal: AbortSignal | undefined, within?: <T>(run: () => T) => T): void {
    const exported = this.takeEncoded()
    if (!exported) return
    for (const producer of exported) {
      if (signal) producer.bind(signal)
      if (within) producer.within = within
    }
  }

  /**
   * `incoming.reply`, after encoding a success response: when its result
   * exported streams, they share the handler's `controller` (its `ctx.signal`
   * fires when the consumer cancels the last of them still open, or the
   * connection closes: `CallSignal`), and the frame
   * gets the stream-result marker in its error slot.
   */
  respond(
    frame: Uint8Array | Uint8Array[], id: number, controller: AbortController | undefined, within?: <T>(run: () => T) => T,
  ): Uint8Array | Uint8Array[] {
    const exported = this.takeEncoded()
    if (!exported) return frame
    const callSignal = controller ? new CallSignal(controller, exported.length) : undefined
    for (const producer of exported) {
      producer.callSignal = callSignal
      producer.within = within
    }
    // A writer of its own: `frame` may be a view of the codec's buffer, not yet sent (`Transport.copiesFrames`).
    resultMarker ??= new Writer(noExtension).encode(STREAM_RESULT_ERROR)
    return markStreamResult(frame, id, resultMarker)
  }

  /** Messages 5 to 8 from the peer (`protocol.ts` checked the type and the stream id only). */
  receive(message: StreamMessage, bytes: number): boolean {
    const { sid, frame } = message
    switch (message.type) {
      case MessageType.STREAM_DATA: {
        const items = frame[2]
        if (!Array.isArray(items)) return this.malformed('stream data must be [5, sid, [item, ...]]')
        return this.data(sid, items, bytes)
      }
      case MessageType.STREAM_CREDIT: {
        const items = frame[2], bytes = frame[3]
        if (!isId(items) || !isId(bytes)) return this.malformed('stream credit must be [6, sid, items, bytes]')
        this.credit(sid, items, bytes)
        return true
      }
      case MessageType.STREAM_END:
        if (frame.length < 3) return this.malformed('stream end must be [7, sid, error]')
        this.end(sid, frame[2])
        return true
      case MessageType.STREAM_CANCEL:
        this.cancel(sid)
        return true
    }
  }

  private malformed(reason: string): false {
    this.host.malformedFrame(new FrameError(reason))
    return false
  }

  // ---------------------------------------------------------- errors

  /** A producer's source threw: logged like a handler's error (`logErrors`). */
  logFailure(error: unknown): void {
    const setting = this.host.config.logErrors
    if (!setting || WirecallError.is(error)) return
    if (typeof setting === 'object' && setting.exclude?.some((cls) => error instanceof cls)) return
    this.host.log('error', '[wirecall] stream source threw:', error)
  }

  logStopFailure(error: unknown): void {
    this.host.log('warn', '[wirecall] stopping a stream source failed (its return() or cancel() threw):', error)
  }

  /** The connection closed: every stream ends, both directions. */
  closeAll(why: string): void {
    this.closed = true
    this.ready = []
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    for (const producer of [...this.producers.values()]) producer.stop(new ConnectionClosedError(`connection closed${why}`), false)
    for (const consumer of [...this.consumers.values()]) consumer.end(new ConnectionClosedError(`connection closed before the stream ended${why}`))
    for (const producer of this.frameExports) producer.abandon()
    this.frameExports.length = 0
    this.encoded = undefined
  }
}

