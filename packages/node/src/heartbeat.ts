/**
 * Dead-peer detection with WebSocket pings: one interval per server (or
 * client), not one timer per connection. A socket that has not answered
 * (pong, or any frame) for `deadPeerTimeoutMs` is terminated, which rejects
 * its pending calls with `ConnectionClosedError`.
 */
import type { WebSocket } from 'ws'

export class Heartbeat {
  private readonly lastSeen = new Map<WebSocket, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly intervalMs: number, private readonly deadAfterMs: number, private readonly sendPings: boolean) {}

  watch(ws: WebSocket): void {
    const seen = () => this.lastSeen.set(ws, Date.now())
    seen()
    ws.on('pong', seen)
    ws.on('ping', seen)
    ws.once('close', () => this.lastSeen.delete(ws))
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs)
      this.timer.unref()
    }
  }

  private tick(): void {
    const now = Date.now()
    for (const [ws, seen] of this.lastSeen) {
      if (now - seen > this.deadAfterMs) {
        this.lastSeen.delete(ws)
        ws.terminate()
      } else if (this.sendPings) {
        ws.ping()
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.lastSeen.clear()
  }
}
