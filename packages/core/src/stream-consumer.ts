/**
 * The consuming side of a stream (docs/protocol.md, Streams): a `Consumer`
 * holds what arrived and grants credit back as its reader takes items; the
 * `RemoteStream` in the application's hands is its face. `break`,
 * `return()`, `release(stream)`, `await using`, the call's signal or
 * garbage collection cancel it (the producer is told).
 */
import { ProtocolError } from './errors.js'
import { MessageType } from './protocol.js'
import { abortReason } from './stream-producer.js'
import { consumerOf as consumers } from './stream-support.js'
import type { Streams } from './stream-table.js'

function ignore(): void {}

/** Which table and state a `RemoteStream` belongs to (a WeakMap: `RemoteStream` has no public fields to hide; `release()` reads it too). */
const consumerOf = consumers as WeakMap<object, Consumer>

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
export class Consumer {
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
