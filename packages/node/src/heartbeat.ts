/**
 * Dead-peer detection with WebSocket pings: one interval per server (or
 * client), not one timer per connection. Any incoming frame (message, ping or
 * pong) proves the peer alive; a socket silent for `deadPeerTimeoutMs` is
 * terminated, which rejects its pending calls with `ConnectionClosedError`.
 * Timings and the exact bound: `livenessTimings` in @wirecall/core.
 *
 * Per connection this costs a boolean and a small integer on the transport:
 * the message handler (and one shared ping/pong listener) only sets the boolean;
 * each check turns it into "last heard at this check". No closures, no timers.
 */
import { debugLog, type Limits } from '@wirecall/core'
import { livenessTimings, type LivenessTimings } from '@wirecall/core/internal'

/** `DEBUG=wirecall:heartbeat`: peers terminated for silence. */
const debug = debugLog('wirecall:heartbeat')
import type { WebSocketTransport } from './transport.js'

export class Heartbeat {
  private readonly watched = new Set<WebSocketTransport>()
  private readonly timings: LivenessTimings
  private timer: NodeJS.Timeout | undefined
  private lastPing = 0
  /**
   * Checks run so far: the clock of `WebSocketTransport.lastHeard`. A check
   * number stays a small integer, which V8 keeps inside the transport object,
   * where a `Date.now()` timestamp is a separate 16-byte heap number per connection.
   */
  private checks = 0

  constructor(limits: Pick<Limits, 'heartbeatIntervalMs' | 'deadPeerTimeoutMs'>) {
    this.timings = livenessTimings(limits)
  }

  watch(transport: WebSocketTransport): void {
    this.watched.add(transport)
    // Just opened counts as heard: the next check stamps it with its own number.
    transport.heard = true
    transport.lastHeard = this.checks
    transport.watchLiveness(this)
    if (!this.timer) {
      this.lastPing = Date.now()
      this.timer = setInterval(() => this.check(), this.timings.checkMs)
      this.timer.unref()
    }
  }

  /** The transport closed. */
  forget(transport: WebSocketTransport): void {
    this.watched.delete(transport)
  }

  /**
   * Every `checkMs`. A peer found heard is stamped with this check's number, so its silence is
   * counted from a moment at or after its last frame; checks never come early (timers fire on
   * time or late), so `(checks since the stamp) × checkMs` never overstates the silence, and a
   * peer is dropped at the first check at or after `deadMs` of it (see `livenessTimings`).
   */
  private check(): void {
    const now = Date.now()
    const check = ++this.checks
    const { checkMs, deadMs } = this.timings
    const ping = now - this.lastPing >= this.timings.probeMs
    if (ping) this.lastPing = now
    for (const t of this.watched) {
      if (t.heard) {
        t.heard = false
        t.lastHeard = check
      } else if ((check - t.lastHeard) * checkMs >= deadMs) {
        this.watched.delete(t)
        if (debug.enabled) debug(`${t.peer?.address ?? t.peer?.url ?? 'peer'} silent for at least ${(check - t.lastHeard) * checkMs} ms (limit ${deadMs} ms): terminated`)
        t.terminate()
        continue
      }
      if (ping) t.ping()
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.watched.clear()
  }
}
