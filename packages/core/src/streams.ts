/**
 * Streams: async iterables and `ReadableStream`s across the wire, in both
 * directions, with credit-based flow control (docs/protocol.md, Streams).
 *
 * A stream found in a frame being encoded (a result, params, an item of
 * another stream) is exported: a `Producer` (stream-producer.ts) in the
 * session's table (stream-table.ts), sent as ext 73. The peer builds a
 * `RemoteStream` (stream-consumer.ts). Nothing is pulled until the
 * consumer's first read grants credit; from then on the producer pulls only
 * within the items and bytes granted, and the consumer gives credit back as
 * its reader takes items.
 *
 * Streams are on for a session given the `streams` option exported here.
 * The Node server and client pass it by default; a page passes it when it
 * uses streams (`connect(url, { streams })`), so that a page that does not
 * never bundles this code.
 */
import { Streams } from './stream-table.js'
import type { StreamSupport } from './stream-support.js'

/**
 * Stream support for a session: `connect(url, { streams })` in a page,
 * `new Session(transport, { streams })`. The Node `serve()` and `connect()`
 * turn it on by default. Without it, a stream crossing the session fails
 * the call with `ErrorCode.STREAMS_NOT_ENABLED` (a stream that arrived is
 * cancelled, so the peer's producer stops).
 *
 * @example
 * ```ts
 * import { connect, streams } from '@wirecall/browser'
 *
 * type Api = { numbers(n: number): AsyncIterable<number> }
 * const client = await connect<Api>(`wss://${location.host}/rpc`, { streams })
 * for await (const n of await client.remote.numbers(3)) console.log(n) // 0 1 2
 * ```
 */
export const streams: StreamSupport = { table: (host) => new Streams(host) }

export { RemoteStream } from './stream-consumer.js'
export { STREAM_BATCH_ITEMS, STREAM_BATCH_BYTES } from './stream-producer.js'
export { STREAM_RESULT_ERROR } from './stream-wire.js'
export { STREAM_RESULT_CODE, type StreamSupport, type StreamTable, type StreamHost } from './stream-support.js'
