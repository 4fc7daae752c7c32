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
   * How often a WebSocket ping is sent to check the peer is alive (Node).
   * @default 30 s: below the idle timeout of common proxies (60 s).
   */
  readonly heartbeatIntervalMs: number
  /**
   * How long without a pong before the peer is declared dead and the
   * connection closed, rejecting its pending calls.
   * @default 60 s: two missed heartbeats.
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
   * before the remaining sockets are terminated.
   * @default 5 s
   */
  readonly closeTimeoutMs: number
}

/** The defaults; copy and override with `limits: { ... }` on any session, server or client. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxInFlightCalls: 1024,
  maxExportedRefs: 16384,
  maxImportedRefs: 16384,
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  deadPeerTimeoutMs: 60_000,
  sendHighWaterMark: 8 * 1024 * 1024,
  closeTimeoutMs: 5_000,
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
