/**
 * The producing side of a stream (docs/protocol.md, Streams): a `Producer`
 * pulls its source only within the credit the consumer granted, batches what
 * the source yields in one turn into data frames, and stops (its generator's
 * `finally` runs, its handler's signal fires) when the consumer cancels, the
 * call is aborted or the connection closes. Sending turns and fairness are
 * the table's business (stream-table.ts).
 */
import { AbortError, WirecallError, toWireError } from './errors.js'
import { MessageType } from './protocol.js'
import type { Source } from './stream-source.js'
import type { Streams } from './stream-table.js'

/** Most items in one data frame. */
export const STREAM_BATCH_ITEMS = 256
/**
 * A data frame is sent once its items are estimated at this many bytes (binaries and strings are
 * counted), or a quarter of the consumer's byte window (its first grant, `maxStreamBufferBytes`)
 * when that is less: a consumer that lowers `maxFrameBytes` lowers its window with it and gets
 * frames that fit. A quarter of the default window (1 MiB), the share after which a consumer
 * gives credit back: a stream of 64 KiB chunks sends four per WebSocket message,
 * so each end pays the per-message costs (framing, parsing, events) a quarter as often (5 to 7 %
 * more items/s measured with 64 KiB chunks than with 64 KiB frames). Fairness is per frame, one per
 * stream per turn, so a larger frame lets a stream hold the socket a little longer per turn.
 */
export const STREAM_BATCH_BYTES = 256 * 1024
/** Credit a producer accumulates is capped here (the peer may grant without end). */
const MAX_CREDIT = 2 ** 31

/** Objects being streamed right now (on any connection): a stream can be read once. */
export const streaming = new WeakSet<object>()

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

/** One stream this side sends: pulls its source within the peer's credit. */
export class Producer {
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
  /** A batch is sent once its items are estimated at this many bytes: `STREAM_BATCH_BYTES`, or less for a small window. */
  batchLimit = STREAM_BATCH_BYTES
  /** In the table's send queue. */
  queued = false
  /**
   * The signal of the handler that returned the stream, shared with the
   * other streams of the same result: it fires when the last of them is
   * stopped (cancelled, or the connection closed).
   */
  callSignal: CallSignal | undefined
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
    // The first grant is the consumer's whole byte window: frames stay within a quarter of it.
    this.batchLimit = Math.max(1, Math.min(STREAM_BATCH_BYTES, Math.floor(bytes / 4)))
    this.started = true
    if (this.within) this.within(() => void this.pump())
    else void this.pump()
  }

  private canPull(): boolean {
    return this.itemCredit > 0 && this.byteCredit - this.batchBytes > 0 &&
      this.batch.length < STREAM_BATCH_ITEMS && this.batchBytes < this.batchLimit
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
    this.callSignal?.streamEnded(undefined)
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
      this.callSignal?.streamEnded(reason)
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

/**
 * The handler's signal (`ctx.signal`) for the streams of one result. It
 * fires when the last stream still open is stopped: one result may hold
 * several streams (`{ prices, news }`), and a consumer that cancels one of
 * them still reads the others, which the handler's work may feed.
 */
export class CallSignal {
  constructor(private readonly controller: AbortController, private open: number) {}

  /** One of the streams ended: finished (`reason` undefined) or stopped with `reason`. */
  streamEnded(reason: Error | undefined): void {
    if (--this.open > 0 || reason === undefined) return
    this.controller.abort(reason)
  }
}

/** The error a stream stops with when the call it belongs to was aborted (the signal's reason kept as `cause`). */
export function abortReason(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason
  const text = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason)
  return new AbortError(`stream aborted: ${text}`, { cause: reason })
}
