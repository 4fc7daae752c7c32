/**
 * Every limit wirecall enforces, in one place. Each is enforced on the
 * receiving side: a peer that goes past one gets a clear error
 * (`OverloadedError` or `ProtocolError`) and the process keeps serving.
 */
export interface Limits {
  /**
   * Largest frame accepted, in bytes. Bigger frames are refused before they
   * are decoded, so one peer cannot make us allocate without bound.
   * @default 16 MiB: a few large binary payloads fit; raise it for bulk transfer.
   */
  readonly maxFrameBytes: number
  /**
   * Memory a binary frame may decode into, as a multiple of its size (frames
   * under 64 KiB count as 64 KiB). Measured in units of about one byte of V8
   * heap: each array, map, binary and extension value is charged its header
   * and slots as it is decoded, and decoding stops with a `ProtocolError`
   * once the frame's budget is spent. Without it a 4 MiB frame of empty
   * arrays holds 160 MiB, and one of empty maps 256 MiB.
   * @default 32: ordinary data (records, lists of numbers or strings, dates)
   * stays under 20; only long runs of tiny containers (empty arrays and maps,
   * empty binaries, one-byte extensions: 40 to 64) go past it.
   */
  readonly maxDecodeExpansion: number
  /**
   * Incoming calls a connection may have running at once. Past it a call is
   * answered at once with `OverloadedError` instead of queueing forever.
   * @default 1024: far above what a page needs, low enough to bound memory.
   */
  readonly maxInFlightCalls: number
  /**
   * Callbacks and services this side may have exported to one peer at once.
   * Past it the call that would export one more fails with `OverloadedError`.
   * @default 16384: each entry costs ~100 bytes; a leak shows up long before memory does.
   */
  readonly maxExportedRefs: number
  /**
   * Distinct references of the peer this side holds proxies for. A frame
   * that would go past it is refused (`OverloadedError`) before more proxies
   * are built, so a peer cannot make us allocate without bound.
   * @default 16384, like `maxExportedRefs`.
   */
  readonly maxImportedRefs: number
  /**
   * Time a connecting peer has to finish the WebSocket handshake and
   * authentication before the socket is dropped (Node server).
   * @default 10 s
   */
  readonly handshakeTimeoutMs: number
  /**
   * How often an idle peer is asked for a sign of life: a WebSocket ping from
   * Node ends, a probe call (`LIVENESS_PROBE`) from the browser client, which
   * cannot send pings. Capped at half of `deadPeerTimeoutMs`.
   * @default 30 s: below the idle timeout of common proxies (60 s).
   */
  readonly heartbeatIntervalMs: number
  /**
   * How long a peer may stay silent (no frame of any kind: message, ping or
   * pong) before it is declared dead and the connection closed, rejecting
   * its pending calls. Every end checks it (Node server and client, browser
   * client) and asks an idle peer for a sign of life at least every
   * `min(heartbeatIntervalMs, deadPeerTimeoutMs / 2)`; a dead peer is dropped
   * within `deadPeerTimeoutMs` plus a twentieth of it after its last frame
   * (see `livenessTimings`).
   * @default 60 s: a healthy idle peer answers at least one ping in that time
   * (two at the default heartbeat), and a dead one is gone within 63 s.
   */
  readonly deadPeerTimeoutMs: number
  /**
   * Bytes queued in the socket beyond which the peer counts as a slow
   * consumer: broadcasts to it are dropped (and counted) and new calls to it
   * fail with `OverloadedError` until it drains.
   * @default 8 MiB
   */
  readonly sendHighWaterMark: number
  /**
   * Graceful shutdown deadline: how long a server's `close()` waits for
   * running handlers to finish and for peers to answer the closing handshake
   * before the remaining sockets are terminated. In Node it also bounds one
   * connection's closing handshake: a peer that does not answer it in time
   * (one that does not read, or floods us) has its socket dropped, so
   * `close()` on a client or a connection always settles.
   * @default 5 s
   */
  readonly closeTimeoutMs: number
  /**
   * Entries in one JSON-RPC batch. A longer batch is refused whole with one
   * error (`-32600`), before any entry runs: a batch is one frame, so without
   * it a 16 MiB frame could queue millions of calls and replies.
   * @default 1000: as Ethereum's geth; far more than batching needs.
   */
  readonly maxBatchLength: number
  /**
   * Bytes queued for one peer beyond which the connection is closed (code
   * 1008, see `CloseCode.SEND_BUFFER_FULL`). Past `sendHighWaterMark` a
   * server already stops reading the peer's requests until it drains; this
   * catches what it pushes on its own (notifications, callbacks).
   * @default 32 MiB: four times `sendHighWaterMark`.
   */
  readonly maxSendBufferBytes: number
  /**
   * Connections one server holds at once; more handshakes are refused with
   * HTTP 503.
   * @default 20000: an idle connection costs a few KB, so this bounds a flood, not real use.
   */
  readonly maxConnections: number
  /**
   * Incoming calls (and notification handlers) running at once across all
   * connections of one server; past it calls get `OverloadedError`. Bounds
   * what many connections at their own `maxInFlightCalls` could hold.
   * @default 8192
   */
  readonly maxServerInFlightCalls: number
  /**
   * References (exported plus imported) held across all connections of one
   * server; past it the frame or call that would add one gets `OverloadedError`.
   * @default 65536: about 60 MB at the measured ~1 KB per reference.
   */
  readonly maxServerRefs: number
  /**
   * Streams (async iterables, `ReadableStream`s) one connection may have
   * open in each direction: produced by this side, and consumed by it. Past
   * it, sending one more fails the sending call with `OverloadedError`, and a
   * frame from the peer that would open one more is refused whole
   * (`OverloadedError`). A stream is open from the frame that carries it
   * until it ends, is cancelled, or the connection closes.
   * @default 256
   */
  readonly maxOpenStreams: number
  /**
   * Items a stream's consumer lets its producer run ahead: the item credit
   * granted on the first read, given back as the reader takes items. The
   * producer's iterator is never pulled further ahead than this.
   * @default 256: enough to keep a fast stream moving over a slow link,
   * few enough that a consumer that stops reading stops the producer soon.
   */
  readonly streamWindow: number
  /**
   * Bytes of one stream's data a consumer may hold unread: the byte credit
   * it grants (as for `streamWindow`, given back as the reader takes items).
   * A producer that sends past its credit breaks the protocol: the stream
   * fails with `ProtocolError` and is cancelled. A consumer holds at most
   * this plus one frame per stream.
   * @default 1 MiB: room for a fast stream of large chunks on a real
   * network (1 MiB per round trip: 20 MB/s at 50 ms), and what a server
   * holds at most for each stream a slow peer stops reading.
   */
  readonly maxStreamBufferBytes: number
  /**
   * Resumable sessions (docs/protocol.md, "Resume"): how long a server keeps
   * the session of a dropped connection parked (references, topic
   * memberships, pending calls) for its client to come back. Past it the
   * session is closed and the client, when it returns, gets a fresh one.
   * @default 30 000 ms: a network change, a laptop lid, a proxy restart.
   */
  readonly resumeGraceMs: number
  /**
   * Bytes of sent frames one end keeps until the peer acknowledges them, so
   * it can replay them after a resume. Past it the session can no longer be
   * resumed (a drop then ends it; while parked, it ends at once).
   * @default 1 MiB: minutes of ordinary notifications to a parked page.
   */
  readonly maxReplayBytes: number
  /**
   * Sent frames one end keeps unacknowledged for a replay (see `maxReplayBytes`).
   * @default 4096
   */
  readonly maxReplayFrames: number
  /**
   * Sessions a server keeps parked at once. Past it the longest-parked one is
   * closed to make room.
   * @default 10 000
   */
  readonly maxParkedSessions: number
  /**
   * Replay-buffer bytes of all parked sessions of a server together. Past it
   * the longest-parked sessions are closed until the total fits.
   * @default 64 MiB
   */
  readonly maxParkedBytes: number
}

/** The defaults; copy and override with `limits: { ... }` on any session, server or client. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxDecodeExpansion: 32,
  maxInFlightCalls: 1024,
  maxExportedRefs: 16384,
  maxImportedRefs: 16384,
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  deadPeerTimeoutMs: 60_000,
  sendHighWaterMark: 8 * 1024 * 1024,
  closeTimeoutMs: 5_000,
  maxBatchLength: 1000,
  maxSendBufferBytes: 32 * 1024 * 1024,
  maxConnections: 20_000,
  maxServerInFlightCalls: 8192,
  maxServerRefs: 65_536,
  maxOpenStreams: 256,
  streamWindow: 256,
  maxStreamBufferBytes: 1024 * 1024,
  resumeGraceMs: 30_000,
  maxReplayBytes: 1024 * 1024,
  maxReplayFrames: 4096,
  maxParkedSessions: 10_000,
  maxParkedBytes: 64 * 1024 * 1024,
})

/** Merge user overrides over the defaults, rejecting nonsense early. */
export function resolveLimits(overrides: Readonly<Partial<Limits>> | undefined): Limits {
  if (!overrides || overrides === DEFAULT_LIMITS) return DEFAULT_LIMITS
  // A server resolves once and hands the result to every connection: share it, do not copy it.
  if (resolved.has(overrides)) return overrides as Limits
  const merged = { ...DEFAULT_LIMITS, ...overrides }
  for (const [key, value] of Object.entries(merged)) {
    if (typeof value !== 'number' || !(value > 0)) {
      throw new TypeError(`wirecall: limit ${key} must be a positive number, got ${String(value)}`)
    }
  }
  Object.freeze(merged)
  resolved.add(merged)
  return merged
}

const resolved = new WeakSet<object>()
