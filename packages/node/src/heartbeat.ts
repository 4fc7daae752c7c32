/**
 * Dead-peer detection with WebSocket pings: one interval per server (or
 * client), not one timer per connection. Any incoming frame (message, ping or
 * pong) proves the peer alive; a socket silent for `deadPeerTimeoutMs` is
 * terminated, which rejects its pending calls with `ConnectionClosedError`.
 *
 * Per connection this costs a boolean and a counter on the transport (set by
 * its message handler and one shared pong listener): no closures, no timers.
 */
import type { WebSocketTransport } from './transport.js'

export class Heartbeat {
  private readonly watched = new Set<WebSocketTransport>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly intervalMs: number, private readonly deadAfterMs: number, private readonly sendPings: boolean) {}

  watch(transport: WebSocketTransport): void {
    this.watched.add(transport)
    // The pinging side hears pongs; the pinged side hears pings.
    transport.watchLiveness(this, this.sendPings ? 'pong' : 'ping')
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs)
      this.timer.unref()
    }
  }

  /** The transport closed. */
  forget(transport: WebSocketTransport): void {
    this.watched.delete(transport)
  }

  private tick(): void {
    for (const t of this.watched) {
      if (t.heard) {
        t.heard = false
        t.silentTicks = 0
      } else if (++t.silentTicks * this.intervalMs >= this.deadAfterMs) {
        this.watched.delete(t)
        t.terminate()
        continue
      }
      if (this.sendPings) t.ping()
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.watched.clear()
  }
}
