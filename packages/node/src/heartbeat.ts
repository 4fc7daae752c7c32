/**
 * Dead-peer detection with WebSocket pings: one interval per server (or
 * client), not one timer per connection. Any incoming frame (message, ping or
 * pong) proves the peer alive; a socket silent for `deadPeerTimeoutMs` is
 * terminated, which rejects its pending calls with `ConnectionClosedError`.
 * Timings and the exact bound: `livenessTimings` in @wirecall/core.
 *
 * Per connection this costs two numbers on the transport: each check
 * compares the TCP socket's `bytesRead` with the previous check's (anything
 * read, message, ping or pong, is heard) and keeps "last heard now". No
 * listener, closure or timer per connection. (A transport without its TCP
 * socket counts frames with a boolean and shared ping/pong listeners.)
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
   * Times are kept as ms since this heartbeat started: small integers that
   * V8 stores in the transport's field itself, where ms since the epoch
   * would take a 16-byte number object per connection.
   */
  private readonly epoch = Date.now()

  constructor(limits: Pick<Limits, 'heartbeatIntervalMs' | 'deadPeerTimeoutMs'>) {
    this.timings = livenessTimings(limits)
  }

  watch(transport: WebSocketTransport): void {
    this.watched.add(transport)
    transport.lastHeard = this.now()
    transport.watchLiveness(this)
    if (!this.timer) {
      this.lastPing = this.now()
      this.timer = setInterval(() => this.check(), this.timings.checkMs)
      this.timer.unref()
    }
  }

  private now(): number {
    return Date.now() - this.epoch
  }

  /** The transport closed. */
  forget(transport: WebSocketTransport): void {
    this.watched.delete(transport)
  }

  private check(): void {
    const now = this.now()
    const ping = now - this.lastPing >= this.timings.probeMs
    if (ping) this.lastPing = now
    for (const t of this.watched) {
      if (t.heardSinceCheck()) {
        t.lastHeard = now
      } else if (now - t.lastHeard >= this.timings.deadMs) {
        this.watched.delete(t)
        if (debug.enabled) debug(`${t.peer?.address ?? t.peer?.url ?? 'peer'} silent for ${now - t.lastHeard} ms (limit ${this.timings.deadMs} ms): terminated`)
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
