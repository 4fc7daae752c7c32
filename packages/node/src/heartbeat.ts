/**
 * Dead-peer detection with WebSocket pings: one interval per server (or
 * client), not one timer per connection. Any incoming frame (message, ping or
 * pong) proves the peer alive; a socket silent for `deadPeerTimeoutMs` is
 * terminated, which rejects its pending calls with `ConnectionClosedError`.
 *
 * Liveness is recorded as the number of the current tick, not a timestamp:
 * it runs for every incoming message, so it must cost one field write.
 */
import type { WebSocket } from 'ws'

interface Watched {
  /** The tick at which the peer was last heard from. */
  heard: number
}

export class Heartbeat {
  private readonly watched = new Map<WebSocket, Watched>()
  private timer: NodeJS.Timeout | undefined
  private tickCount = 0

  constructor(private readonly intervalMs: number, private readonly deadAfterMs: number, private readonly sendPings: boolean) {}

  watch(ws: WebSocket): void {
    const state: Watched = { heard: this.tickCount }
    const heard = () => {
      state.heard = this.tickCount
    }
    this.watched.set(ws, state)
    ws.on('pong', heard)
    ws.on('ping', heard)
    ws.on('message', heard)
    ws.once('close', () => this.watched.delete(ws))
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs)
      this.timer.unref()
    }
  }

  private tick(): void {
    this.tickCount++
    for (const [ws, state] of this.watched) {
      // Silent for the whole span of the ticks since it was last heard.
      if ((this.tickCount - state.heard - 1) * this.intervalMs >= this.deadAfterMs) {
        this.watched.delete(ws)
        ws.terminate()
      } else if (this.sendPings) {
        ws.ping()
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.watched.clear()
  }
}
