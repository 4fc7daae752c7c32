/**
 * Streams: async iterables and `ReadableStream`s across the wire, in both
 * directions, with credit-based flow control (docs/protocol.md, Streams).
 *
 * A stream found in a frame being encoded (a result, params, an item of
 * another stream) is exported: a `Producer` in the session's `Streams`
 * table, sent as ext 73. The peer builds a `RemoteStream` (its `Consumer`
 * state lives in the peer's table). Nothing is pulled until the consumer's
 * first read grants credit; from then on the producer pulls only within the
 * items and bytes granted, batches what its iterator yields in one turn of
 * the event loop into data frames, and the consumer gives credit back as its
 * reader takes items.
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
import { AbortError, ConnectionClosedError, OverloadedError, ProtocolError, WirecallError, fromWireError, toWireError, type WireError } from './errors.js'
import type { SessionConfig } from './options.js'
import { MessageType } from './protocol.js'

/**
 * The code a response whose result holds a stream carries in its error slot
 * (see `STREAM_RESULT_ERROR`): a wirecall peer reads that response as a
 * success, a plain msgpack-rpc peer as a clear error.
 */
export const STREAM_RESULT_CODE = 'WIRECALL_STREAM_RESULT'

/** What a peer that does not speak streams reads in the error slot of a response whose result holds one. */
export const STREAM_RESULT_ERROR: Readonly<WireError> = Object.freeze({
  name: 'StreamError',
  code: STREAM_RESULT_CODE,
  message: 'the result of this call holds a stream (msgpack ext type 73), which only a wirecall peer can read; see docs/protocol.md, Streams',
})

/** Most items in one data frame. */
export const STREAM_BATCH_ITEMS = 256
/** A data frame is sent once its items are estimated at this many bytes (binaries and strings are counted). */
export const STREAM_BATCH_BYTES = 64 * 1024
/** Credit a producer accumulates is capped here (the peer may grant without end). */
const MAX_CREDIT = 2 ** 31
/** Longest wait between two looks at a congested transport. */
const MAX_RETRY_MS = 64

/** What the stream table needs from its session. */
export interface StreamHost {
  readonly config: SessionConfig
  readonly closed: boolean
  readonly peerLabel: string | undefined
  /** Bytes the transport has queued and not yet written, when it knows. */
  readonly sendQueueBytes: number | undefined
  /** Encode a message (exports counted, undone on failure); throws `OverloadedError` past `maxBytes`. */
  encodeFrame(message: unknown[], maxBytes?: number): Uint8Array | Uint8Array[]
  transmit(frame: Uint8Array | Uint8Array[]): void
  /** Send a message that carries no references. */
  sendControl(message: unknown[]): void
  log(level: 'warn' | 'error', message: string, ...details: unknown[]): void
}

// ------------------------------------------------------------ sources

/** Is this value sent as a stream? Async iterables (async generators...) and WHATWG `ReadableStream`s. */
export function isStreamSource(value: object): boolean {
  return typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function' || isReadableStream(value)
}

interface ReaderLike {
  read(): Promise<IteratorResult<unknown>>
  cancel(reason?: unknown): Promise<void>
  releaseLock(): void
}
interface ReadableStreamLike {
  getReader(): ReaderLike
  cancel(reason?: unknown): Promise<void>
}

function isReadableStream(value: object): value is ReadableStreamLike {
  const v = value as Partial<Record<'getReader' | 'cancel' | 'pipeTo', unknown>>
  return typeof v.getReader === 'function' && typeof v.cancel === 'function' && typeof v.pipeTo === 'function'
}

/** A producer's view of what it streams: pull the next item, or stop for good. */
interface Source {
  next(): Promise<IteratorResult<unknown>>
  /** Stop reading: a generator's `return()` (its `finally` runs), a ReadableStream's `cancel()`. */
  stop(reason: unknown): Promise<unknown> | undefined
  /** The frame carrying it was never sent: leave the value as it was, as far as possible. */
  abandon(): void
}

function sourceOf(value: object): Source {
  if (isReadableStream(value)) {
    // A ReadableStream is read through a reader (in Node it is async iterable too; the reader is
    // what browsers without ReadableStream iteration have). getReader() throws if it is locked.
    const reader = value.getReader()
    return {
      next: () => reader.read(),
      stop: (reason) => reader.cancel(reason),
      abandon: () => reader.releaseLock(),
    }
  }
  const iterator = (value as AsyncIterable<unknown>)[Symbol.asyncIterator]()
  if (typeof iterator?.next !== 'function') throw new TypeError('[Symbol.asyncIterator]() did not return an iterator')
  return {
    next: () => iterator.next(),
    stop: () => (typeof iterator.return === 'function' ? iterator.return() : undefined),
    abandon: () => {},
  }
}

/** A stream that can never be sent (a JSON result): stop it so nothing waits on it. */
export function discardSource(value: object): void {
  try {
    const stopped = isReadableStream(value) ? value.cancel() : (value as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.()
    if (stopped && typeof stopped.then === 'function') stopped.then(undefined, ignore)
  } catch {
    // Nothing more can be done with it.
  }
}

function ignore(): void {}

/** Objects being streamed right now (on any connection): a stream can be read once. */
const streaming = new WeakSet<object>()

/** Bytes an item will take in a frame, roughly: binaries and strings by size, anything else a little. */
function estimate(item: unknown): number {
  if (typeof item === 'string') return item.length + 5
  if (typeof item === 'object' && item !== null && ArrayBuffer.isView(item)) return item.byteLength + 5
  if (item instanceof ArrayBuffer) return item.byteLength + 6
  return 16
}

const frameBytes = (frame: Uint8Array | Uint8Array[]): number => {
  if (!Array.isArray(frame)) return frame.byteLength
  let n = 0
  for (const part of frame) n += part.byteLength
  return n
}

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

// ------------------------------------------------------------ producing

/** One stream this side sends: pulls its source within the peer's credit. */
class Producer {
  itemCredit = 0
  byteCredit = 0
  started = false
  stopped = false
  /** The source is finished (or failed): the end goes out once the batch has. */
  done = false
  failed = false
  failure: unknown = undefined
  batch: unknown[] = []
  batchBytes = 0
  /** In the table's send queue. */
  queued = false
  /** Aborted when the consumer cancels or the connection closes: the signal of the handler that returned the stream. */
  controller: AbortController | undefined
  /** Stops listening to the caller's signal (an upload bound to its call). */
  unbind: (() => void) | undefined
  /**
   * Runs the pull loop inside the observation of the call that returned the
   * stream (a tracer's span context), so that what the producer does while
   * streaming (its own calls, callbacks) joins the caller's trace.
   */
  within: (<T>(run: () => T) => T) | undefined
  private wake: (() => void) | undefined

  constructor(readonly table: Streams, readonly id: number, readonly value: object, readonly source: Source) {}

  /** The consumer granted credit; the first grant starts pulling. */
  credit(items: number, bytes: number): void {
    this.itemCredit = Math.min(this.itemCredit + items, MAX_CREDIT)
    this.byteCredit = Math.min(this.byteCredit + bytes, MAX_CREDIT)
    if (this.started) return this.resume()
    this.started = true
    if (this.within) this.within(() => void this.pump())
    else void this.pump()
  }

  private canPull(): boolean {
    return this.itemCredit > 0 && this.byteCredit - this.batchBytes > 0 &&
      this.batch.length < STREAM_BATCH_ITEMS && this.batchBytes < STREAM_BATCH_BYTES
  }

  /** Pull items while credit and the batch allow; the table's turns send them. */
  private async pump(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped || this.done) return
        if (!this.canPull()) {
          await new Promise<void>((resolve) => (this.wake = resolve))
          continue
        }
        const result = await this.source.next()
        if (this.stopped) return
        if (result.done) return this.finish(false, undefined)
        this.batch.push(result.value)
        this.itemCredit--
        this.batchBytes += estimate(result.value)
        this.table.schedule(this, !this.canPull())
      }
    } catch (err) {
      if (!this.stopped) this.finish(true, err)
    }
  }

  private finish(failed: boolean, failure: unknown): void {
    this.done = true
    this.failed = failed
    this.failure = failure
    this.table.schedule(this, true)
  }

  resume(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /** The table's turn: send the batch (one frame, or a few if it was too large), then the end once done. */
  flush(): void {
    if (this.stopped) return
    if (this.batch.length > 0) {
      const items = this.batch
      this.batch = []
      this.batchBytes = 0
      if (!this.sendItems(items)) return
    }
    if (this.done) return this.end()
    this.resume()
  }

  /** Send items as data frames; false when one could not be sent (the stream then failed with the error). */
  private sendItems(items: unknown[]): boolean {
    const host = this.table.host
    let frame: Uint8Array | Uint8Array[]
    try {
      frame = host.encodeFrame([MessageType.STREAM_DATA, this.id, items], host.config.limits.maxFrameBytes)
    } catch (err) {
      // Split to find the item at fault: the items before it still go out, in order.
      if (items.length > 1) {
        const half = items.length >> 1
        return this.sendItems(items.slice(0, half)) && this.sendItems(items.slice(half))
      }
      const error = WirecallError.is(err) ? err : new TypeError(`stream item could not be encoded: ${(err as Error).message}`, { cause: err })
      this.stop(error, 'failure')
      return false
    }
    this.byteCredit -= frameBytes(frame)
    host.transmit(frame)
    return true
  }

  /** The source is over (finished or threw) and its items are out: tell the consumer, forget the stream. */
  private end(): void {
    this.stopped = true
    this.table.forget(this)
    this.release()
    this.sendEnd(this.failed ? this.failure ?? new Error('threw undefined') : undefined, true)
  }

  /** `[7, sid, error]`. `ownFailure`: the stream's own error (logged, sent under the error policy), else a library error. */
  private sendEnd(error: unknown, ownFailure: boolean): void {
    const host = this.table.host
    if (host.closed) return
    if (error === undefined) return host.sendControl([MessageType.STREAM_END, this.id, null])
    if (ownFailure) this.table.logFailure(error)
    const wire = toWireError(error, ownFailure ? host.config.errorPolicy : false)
    try {
      host.sendControl([MessageType.STREAM_END, this.id, wire])
    } catch {
      // The error's own data could not be encoded: send it without.
      host.sendControl([MessageType.STREAM_END, this.id, { name: wire.name, message: wire.message, code: wire.code }])
    }
  }

  /**
   * Stop for good, with the source not finished: the handler's signal fires
   * and the source is stopped, so a generator's `finally` runs. `tell`: how
   * the consumer learns it, when it does not know yet: `'abort'` (an upload
   * whose call was aborted) or `'failure'` (an item could not be sent);
   * false when the consumer cancelled or the connection closed.
   */
  stop(reason: Error, tell: false | 'abort' | 'failure'): void {
    if (this.stopped) return
    this.stopped = true
    this.batch = []
    this.table.forget(this)
    this.release()
    try {
      this.controller?.abort(reason)
    } catch (err) {
      this.table.host.log('error', '[wirecall] an abort listener of a stream threw:', err)
    }
    try {
      const stopped = this.source.stop(reason)
      if (stopped && typeof stopped.then === 'function') stopped.then(undefined, (err: unknown) => this.table.logStopFailure(err))
    } catch (err) {
      this.table.logStopFailure(err)
    }
    this.resume()
    if (tell) this.sendEnd(reason, tell === 'failure')
  }

  /** Stop when `signal` fires (the caller aborted the call that carried this upload). */
  bind(signal: AbortSignal): void {
    const onAbort = () => this.stop(abortReason(signal), 'abort')
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    this.unbind = () => signal.removeEventListener('abort', onAbort)
  }

  private release(): void {
    streaming.delete(this.value)
    this.unbind?.()
    this.unbind = undefined
  }

  /** The frame that carried it was never sent: forget it, leaving the value usable. */
  abandon(): void {
    this.stopped = true
    this.table.forget(this)
    this.release()
    try {
      this.source.abandon()
    } catch {
      // The value stays as it is.
    }
  }
}

// ------------------------------------------------------------ consuming

interface Batch {
  readonly items: unknown[]
  at: number
  /** Bytes of the frame not yet handed back as credit. */
  bytesLeft: number
}

interface Waiter {
  resolve(result: IteratorResult<unknown, undefined>): void
  reject(error: unknown): void
}

const DONE: IteratorResult<unknown, undefined> = Object.freeze({ done: true, value: undefined })

/** The state of one stream this side reads; the `RemoteStream` in the application's hands is its face. */
class Consumer {
  private readonly queue: Batch[] = []
  private waiters: Waiter[] | undefined
  /** Credit granted and not yet used by the producer. */
  private itemsOutstanding = 0
  private bytesOutstanding = 0
  /** Taken by the reader since the last grant. */
  private takenItems = 0
  private takenBytes = 0
  private started = false
  /** No more data will come: ended, cancelled, failed or the connection closed. */
  finished = false
  /** In the table (the producer may still send). */
  open = true
  /** Delivered once the queue is read (then reads are done). */
  private error: Error | undefined
  unbind: (() => void) | undefined

  constructor(readonly table: Streams, readonly id: number) {}

  next(): Promise<IteratorResult<unknown, undefined>> {
    const batch = this.queue[0]
    if (batch) return Promise.resolve({ done: false, value: this.take(batch) })
    if (this.finished) {
      const error = this.error
      this.error = undefined
      return error ? Promise.reject(error) : Promise.resolve(DONE)
    }
    if (!this.started) {
      this.started = true
      const { streamWindow, maxStreamBufferBytes } = this.table.host.config.limits
      this.grant(streamWindow, maxStreamBufferBytes)
    }
    return new Promise((resolve, reject) => (this.waiters ??= []).push({ resolve, reject }))
  }

  /** One item off the queue, handing its share of the frame back as credit when enough was read. */
  private take(batch: Batch): unknown {
    const last = batch.at === batch.items.length - 1
    const value = batch.items[batch.at]
    batch.items[batch.at++] = undefined
    const share = last ? batch.bytesLeft : Math.floor(batch.bytesLeft / (batch.items.length - batch.at + 1))
    batch.bytesLeft -= share
    if (last) this.queue.shift()
    this.takenItems++
    this.takenBytes += share
    if (this.open) {
      const { streamWindow, maxStreamBufferBytes } = this.table.host.config.limits
      // Given back once a quarter of either window is taken: often enough that the producer rarely
      // waits for credit while the reader keeps up (a half-window grant leaves it idle more often).
      if (this.takenItems * 4 >= streamWindow || this.takenBytes * 4 >= maxStreamBufferBytes) this.grant(this.takenItems, this.takenBytes)
    }
    return value
  }

  private grant(items: number, bytes: number): void {
    this.takenItems = 0
    this.takenBytes = 0
    this.itemsOutstanding += items
    this.bytesOutstanding += bytes
    this.table.host.sendControl([MessageType.STREAM_CREDIT, this.id, items, bytes])
  }

  /** `[5, sid, items]` arrived, a frame of `bytes` bytes. */
  data(items: unknown[], bytes: number): void {
    if (items.length > this.itemsOutstanding || this.bytesOutstanding <= 0) {
      const { streamWindow, maxStreamBufferBytes } = this.table.host.config.limits
      return this.cancel(new ProtocolError(
        `stream #${this.id}: the peer sent ${items.length} item(s) (${bytes} bytes) beyond the credit it was given ` +
        `(${this.itemsOutstanding} item(s), ${Math.max(0, this.bytesOutstanding)} bytes; limits streamWindow = ${streamWindow}, maxStreamBufferBytes = ${maxStreamBufferBytes})`,
      ))
    }
    this.itemsOutstanding -= items.length
    this.bytesOutstanding -= bytes
    if (items.length === 0) return
    const batch: Batch = { items, at: 0, bytesLeft: bytes }
    this.queue.push(batch)
    const waiters = this.waiters
    while (waiters && waiters.length > 0 && this.queue.length > 0) waiters.shift()!.resolve({ done: false, value: this.take(this.queue[0]!) })
  }

  /** The producer ended the stream (`error` undefined: it finished), or it ended here (close, violation). */
  end(error: Error | undefined): void {
    if (this.finished) return
    this.finished = true
    this.error = error
    this.close()
    this.settleWaiters()
  }

  /** The reader stopped (`return()`, `break`, release, GC) or the caller aborted (`reason`): tell the producer. */
  cancel(reason?: Error): void {
    if (this.finished) return
    const host = this.table.host
    if (this.open && !host.closed) host.sendControl([MessageType.STREAM_CANCEL, this.id])
    this.finished = true
    this.queue.length = 0
    this.error = reason
    this.close()
    this.settleWaiters()
  }

  private close(): void {
    if (this.open) {
      this.open = false
      this.table.forget(this)
    }
    this.unbind?.()
    this.unbind = undefined
  }

  /** Nothing more will come: waiting reads get the queue's last items, then the error (once), then done. */
  private settleWaiters(): void {
    const waiters = this.waiters
    if (!waiters) return
    this.waiters = undefined
    for (const waiter of waiters) {
      const batch = this.queue[0]
      if (batch) waiter.resolve({ done: false, value: this.take(batch) })
      else if (this.error) {
        waiter.reject(this.error)
        this.error = undefined
      } else waiter.resolve(DONE)
    }
  }

  /** Cancel when `signal` fires (the call that brought the stream was aborted). */
  bind(signal: AbortSignal): void {
    const onAbort = () => this.cancel(abortReason(signal))
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    this.unbind = () => signal.removeEventListener('abort', onAbort)
  }
}

function abortReason(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason
  const text = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason)
  return new AbortError(`stream aborted: ${text}`, { cause: reason })
}

/** Which table and state a `RemoteStream` belongs to (a WeakMap: `RemoteStream` has no public fields to hide). */
const consumerOf = new WeakMap<object, Consumer>()

/**
 * A stream from the peer, as an async iterator: `for await (const item of
 * stream)`. The producer on the other side is pulled only as fast as this
 * side reads (credit-based flow control). `break`, `return()`,
 * `release(stream)`, `await using`, the call's `AbortSignal`, or dropping
 * the stream (garbage collection) stop the producer; its error, or
 * `ConnectionClosedError` when the connection drops, is thrown by the read
 * that reaches it, after the items that came before.
 */
export class RemoteStream<T = unknown> implements AsyncIterableIterator<T, undefined, unknown> {
  /** @internal Built by the session when a stream arrives. */
  constructor(consumer: Consumer) {
    consumerOf.set(this, consumer)
  }

  /** The next item; `done` once the producer finished or the stream was stopped here. */
  next(): Promise<IteratorResult<T, undefined>> {
    return consumerOf.get(this)!.next() as Promise<IteratorResult<T, undefined>>
  }

  /** Stop reading (what `break` does): the producer is told, its generator's `finally` runs. */
  return(): Promise<IteratorResult<T, undefined>> {
    consumerOf.get(this)!.cancel()
    return Promise.resolve(DONE as IteratorResult<T, undefined>)
  }

  /** The stream is its own iterator (read it once). */
  [Symbol.asyncIterator](): this {
    return this
  }

  /** `[wirecall stream #id]` */
  toString(): string {
    return `[wirecall stream #${consumerOf.get(this)!.id}]`
  }
}

// `await using stream = await remote.numbers()` stops it at the end of the block, where the runtime has the symbol.
const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose
if (asyncDispose) {
  Object.defineProperty(RemoteStream.prototype, asyncDispose, {
    value(this: RemoteStream) {
      return this.return().then(ignore)
    },
    configurable: true,
    writable: true,
  })
}

/** Stop reading a `RemoteStream` (`release(stream)`). Returns false for anything else. */
export function releaseStream(value: unknown): boolean {
  const consumer = typeof value === 'object' && value !== null ? consumerOf.get(value) : undefined
  if (!consumer) return false
  consumer.cancel()
  return true
}

/** Stands in for a stream refused past `maxOpenStreams`; the frame holding it is refused. */
const REFUSED = Object.freeze({})

// ------------------------------------------------------------ the table

/** The streams of one connection, both directions, and the turns that send their data. */
export class Streams {
  private readonly producers = new Map<number, Producer>()
  private readonly consumers = new Map<number, Consumer>()
  private nextId = 1
  /** Producers exported and consumers built while the current frame is encoded / decoded (see references.ts). */
  private readonly frameExports: Producer[] = []
  private readonly frameImports: Consumer[] = []
  /** Producers exported by the last frame encoded successfully, until taken. */
  private encoded: Producer[] | undefined
  private overflowed = false
  private closed = false
  /** Producers with something to send, in the order they asked. */
  private ready: Producer[] = []
  private turnScheduled = false
  private retryMs = 0
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
      // Refused and cancelled, so the producer forgets it; the session refuses the whole frame.
      this.overflowed = true
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
    const overflowed = this.overflowed
    this.overflowed = false
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
        // Congested: the rest keep their places ahead of newcomers; look again a little later
        // (1 ms, doubling up to MAX_RETRY_MS while it stays congested).
        this.ready = ready.slice(i).concat(this.ready)
        this.retryMs = Math.min(MAX_RETRY_MS, Math.max(1, this.retryMs * 2))
        this.turnScheduled = true
        setTimeout(this.turn, this.retryMs)
        return
      }
      const producer = ready[i]!
      producer.queued = false
      producer.flush()
    }
    this.retryMs = 0
  }

  /** The transport holds more than `sendHighWaterMark / 4` bytes: stream data waits. */
  private congested(): boolean {
    const queued = this.host.sendQueueBytes
    return queued !== undefined && queued > this.host.config.limits.sendHighWaterMark / 4
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
    for (const producer of [...this.producers.values()]) producer.stop(new ConnectionClosedError(`connection closed${why}`), false)
    for (const consumer of [...this.consumers.values()]) consumer.end(new ConnectionClosedError(`connection closed before the stream ended${why}`))
    for (const producer of this.frameExports) producer.abandon()
    this.frameExports.length = 0
    this.encoded = undefined
  }
}

// ------------------------------------------------------------ session hooks

let resultMarker: Uint8Array | undefined

/**
 * `incoming.reply`, after encoding a success response: when its result
 * exported streams, they get the handler's `controller` (its `ctx.signal`
 * fires when the consumer cancels or the connection closes), and the frame
 * gets the stream-result marker in its error slot.
 */
export function streamResponse(
  table: Streams | undefined, frame: Uint8Array | Uint8Array[], id: number, controller: AbortController | undefined,
  within?: <T>(run: () => T) => T,
): Uint8Array | Uint8Array[] {
  const exported = table?.takeEncoded()
  if (!exported) return frame
  for (const producer of exported) {
    if (controller) producer.controller = controller
    producer.within = within
  }
  resultMarker ??= table!.host.config.codec.encode(STREAM_RESULT_ERROR, undefined)
  return markStreamResult(frame, id, resultMarker)
}

/** `Session.call`, after encoding a request: its upload streams stop (and tell the consumer) when `signal` fires. */
export function bindUploads(table: Streams | undefined, signal: AbortSignal | undefined): void {
  const exported = table?.takeEncoded()
  if (exported && signal) for (const producer of exported) producer.bind(signal)
}

/**
 * `[1, msgid, nil, ...]` becomes `[1, msgid, STREAM_RESULT_ERROR, ...]`
 * (only the first part of a frame in parts is rewritten).
 */
export function markStreamResult(frame: Uint8Array | Uint8Array[], id: number, marker: Uint8Array): Uint8Array | Uint8Array[] {
  const head = Array.isArray(frame) ? frame[0]! : frame
  const at = 2 + (id < 0x80 ? 1 : id < 0x100 ? 2 : id < 0x10000 ? 3 : 5)
  if (head[0] !== 0x94 || head[1] !== MessageType.RESPONSE || head[at] !== 0xc0) throw new Error('not a success response frame')
  const out = new Uint8Array(head.byteLength - 1 + marker.byteLength)
  out.set(head.subarray(0, at))
  out.set(marker, at)
  out.set(head.subarray(at + 1), at + marker.byteLength)
  if (!Array.isArray(frame)) return out
  return [out, ...frame.slice(1)]
}

/** Is this error slot the stream-result marker (the response is a success)? */
export function isStreamResult(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === STREAM_RESULT_CODE
}

export type { Producer, Consumer }
