/**
 * Batches: several frames in one WebSocket message between two wirecall
 * ends, negotiated with a WebSocket subprotocol (docs/protocol.md,
 * "Batches"). A page pays per WebSocket message, not per frame, so the
 * frames a tick sends leave as one message.
 *
 * This file holds the framing only: `BatchWriter` gathers frames into a
 * message, `readBatch` walks one. When to flush (a Node end at
 * `process.nextTick`, a page at the end of its microtask checkpoint) is the
 * transport's business, since core knows neither runtime.
 */

/** The subprotocol a wirecall end selects (server) or sees selected (client) to send and receive batches. */
export const BATCH_PROTOCOL = 'wirecall.batch.v1'

/**
 * What a client offers, in this order: a server that selects the first
 * offered protocol by default (`ws` does) selects the plain one, so only a
 * server that knows batches ever selects `BATCH_PROTOCOL`.
 */
export const BATCH_OFFER: readonly string[] = Object.freeze(['wirecall.v1', BATCH_PROTOCOL])

/** First byte of a batch: `0xc1` is never used by msgpack, so no frame can start with it. */
export const BATCH_MARKER = 0xc1

/**
 * The most a sender puts in one batch. Past a few KiB the per-message cost is
 * already spread thin, and 64 KiB stays far below any sensible
 * `maxFrameBytes` (default 16 MiB), which the receiver applies to a batch as
 * to a message. A frame larger than this (minus the headers) goes alone.
 */
export const MAX_BATCH_BYTES = 64 * 1024

/** msgpack `bin` header size for a payload of `n` bytes. */
function headerSize(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

/**
 * Gathers the frames of one tick into one message: `add` each frame, `flush`
 * at the end of the tick. A lone frame is sent as itself; two or more as a
 * batch. Frames too large for a batch are sent at once, after what was
 * gathered before them, so order is kept.
 */
export class BatchWriter {
  private bytes: Uint8Array | undefined
  /** Bytes written to `bytes`: the marker, then `bin` items. */
  private pos = 0
  private count = 0
  /** The `bin` header size of the first frame copied into `bytes`, to send it alone as itself. */
  private firstHead = 0
  /** The first frame of a tick, held as itself until a second one comes (`ownFrames` only). */
  private lone: Uint8Array | undefined

  /**
   * @param sink Sends one message.
   * @param ownFrames The frames given to `add` stay unchanged after it returns (fresh copies, as a
   *   Node end encodes them): a lone frame is then sent without being copied. Otherwise (a view of a
   *   reused encode buffer) every frame is copied at once.
   * @param reuse `sink` has finished with a message when it returns (the browser's `WebSocket.send`
   *   copies it): the batch buffer is then reused. Otherwise (a Node socket keeps what it is given
   *   until written) a message is handed on as a view only when it fills most of its buffer, and
   *   then the next batch gets a fresh one; a smaller one is copied out (see `flush`).
   */
  constructor(
    private readonly sink: (message: Uint8Array) => void,
    private readonly ownFrames: boolean,
    private readonly reuse: boolean,
  ) {}

  /** Bytes gathered and not yet sent (counted in the transport's `bufferedAmount`). */
  get pending(): number {
    return this.pos + (this.lone?.length ?? 0)
  }

  /** Gather one frame (sent by the next `flush`, or now when it is too large for a batch). */
  add(frame: Uint8Array): void {
    const size = headerSize(frame.length) + frame.length
    if (1 + size > MAX_BATCH_BYTES) {
      this.flush()
      // A view of a reused encode buffer, to a sink that keeps what it is given (a Node socket
      // writes it later), is copied: the next encode would overwrite it before it is sent.
      this.sink(this.ownFrames || this.reuse ? frame : frame.slice())
      return
    }
    if (this.count === 0 && this.ownFrames) {
      this.lone = frame
      this.count = 1
      return
    }
    const used = this.lone ? 1 + headerSize(this.lone.length) + this.lone.length : this.pos
    if (this.count > 0 && used + size > MAX_BATCH_BYTES) this.flush()
    if (this.count === 0) this.begin()
    else if (this.lone) {
      const first = this.lone
      this.lone = undefined
      this.begin()
      this.append(first)
    }
    this.append(frame)
    this.count++
  }

  /** Send what was gathered: nothing, the lone frame as itself, or a batch. */
  flush(): void {
    const count = this.count
    if (count === 0) return
    this.count = 0
    const lone = this.lone
    if (lone) {
      this.lone = undefined
      return this.sink(lone)
    }
    const bytes = this.bytes!
    const end = this.pos
    this.pos = 0
    // One frame copied in (a view was handed to `add`): send it as itself, past its `bin` header.
    const start = count === 1 ? 1 + this.firstHead : 0
    if (this.reuse) return this.sink(bytes.subarray(start, end))
    // A sink that keeps the message keeps its whole buffer alive with it, while backpressure counts
    // the message's bytes only: views of a fresh MAX_BATCH_BYTES buffer per tick let a peer that
    // does not read make us hold up to 64 times `sendHighWaterMark` (1 KiB replies, one per tick).
    // So a message under half the buffer leaves as an exact copy and the buffer stays for the next
    // batch (a copy of at most 32 KiB, cheaper than the zeroed 64 KiB it saves); a larger one leaves
    // uncopied, as a view holding at most twice its size, and the next batch takes a fresh buffer.
    if (2 * (end - start) < bytes.length) return this.sink(bytes.slice(start, end))
    this.bytes = undefined
    this.sink(bytes.subarray(start, end))
  }

  private begin(): void {
    this.bytes ??= new Uint8Array(MAX_BATCH_BYTES)
    this.bytes[0] = BATCH_MARKER
    this.pos = 1
  }

  private append(frame: Uint8Array): void {
    const bytes = this.bytes!
    let pos = this.pos
    const n = frame.length
    if (pos === 1) this.firstHead = headerSize(n)
    if (n < 0x100) {
      bytes[pos++] = 0xc4
      bytes[pos++] = n
    } else if (n < 0x10000) {
      bytes[pos++] = 0xc5
      bytes[pos++] = n >>> 8
      bytes[pos++] = n & 0xff
    } else {
      bytes[pos++] = 0xc6
      bytes[pos++] = n >>> 24
      bytes[pos++] = (n >>> 16) & 0xff
      bytes[pos++] = (n >>> 8) & 0xff
      bytes[pos++] = n & 0xff
    }
    bytes.set(frame, pos)
    this.pos = pos + n
  }
}

/**
 * Hand the frames of `batch` from item `offset` on to `deliver`, in order,
 * until it returns false (the receiver stopped reading), `maxFrames` were
 * handed on (the receiver yields to its event loop: one batch may hold
 * millions of frames), or the batch ends (returns -1); in the first two
 * cases call again later with the offset returned. A malformed rest (see
 * `readBatchItem`), or a batch without any frame, goes to `malformed` once
 * and ends the batch; frames before it were delivered.
 */
export function deliverBatch(
  batch: Uint8Array,
  offset: number,
  deliver: (frame: Uint8Array) => boolean,
  malformed: (reason: string) => void,
  maxFrames = Infinity,
): number {
  if (batch.length <= 1) {
    malformed('batch holds no frame')
    return -1
  }
  let left = maxFrames
  while (offset < batch.length) {
    const item = readBatchItem(batch, offset)
    if (typeof item === 'string') {
      malformed(item)
      return -1
    }
    offset = item.next
    if ((!deliver(item.frame) || --left === 0) && offset < batch.length) return offset
  }
  return -1
}

/** Is this binary message a batch (to be read with `readBatch` once batches were negotiated)? */
export function isBatch(message: Uint8Array): boolean {
  return message.length > 0 && message[0] === BATCH_MARKER
}

/**
 * Read the item of a batch that starts at `offset` (1 for the first).
 * Returns the frame and where the next item starts, or a string saying why
 * the batch is malformed from `offset` on. Nothing is allocated for a length
 * that the bytes left do not hold.
 */
export function readBatchItem(batch: Uint8Array, offset: number): { frame: Uint8Array; next: number } | string {
  const left = batch.length - offset
  const code = batch[offset]
  let head: number
  let n: number
  if (code === 0xc4 && left >= 2) {
    head = 2
    n = batch[offset + 1]!
  } else if (code === 0xc5 && left >= 3) {
    head = 3
    n = (batch[offset + 1]! << 8) | batch[offset + 2]!
  } else if (code === 0xc6 && left >= 5) {
    head = 5
    n = ((batch[offset + 1]! << 24) >>> 0) + ((batch[offset + 2]! << 16) | (batch[offset + 3]! << 8) | batch[offset + 4]!)
  } else {
    return `batch item at byte ${offset} is not a msgpack bin header`
  }
  if (n === 0) return `batch item at byte ${offset} is empty`
  if (n > left - head) return `batch item at byte ${offset} claims ${n} bytes, ${left - head} left`
  const start = offset + head
  return { frame: batch.subarray(start, start + n), next: start + n }
}
