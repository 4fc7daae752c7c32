/**
 * Stream sources: which local values are sent as streams (async iterables,
 * WHATWG `ReadableStream`s) and how a producer reads one. Imported by the
 * codec to recognise a stream while encoding, so it stays small; the rest
 * of streams lives behind the `streams` option (streams.ts).
 */

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
export interface Source {
  next(): Promise<IteratorResult<unknown>>
  /** Stop reading: a generator's `return()` (its `finally` runs), a ReadableStream's `cancel()`. */
  stop(reason: unknown): Promise<unknown> | undefined
  /** The frame carrying it was never sent: leave the value as it was, as far as possible. */
  abandon(): void
}

export function sourceOf(value: object): Source {
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
