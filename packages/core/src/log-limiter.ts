/**
 * Per-connection log rate limit. A peer decides how often we fail on its
 * behalf (bad notifications, malformed frames), so without a cap one client
 * can write megabytes of logs per second and slow every other connection
 * down with synchronous console writes. Past the rate, lines are counted and
 * the count is reported with the next line that is let through, or when the
 * connection closes.
 */

/** At most `lines` log lines per connection in any `windowMs` window. */
export const LOG_RATE = Object.freeze({
  /** @default 20: enough to see what a misbehaving peer does. */
  lines: 20,
  /** @default 10 s */
  windowMs: 10_000,
})

export class LogLimiter {
  private windowStart = -Infinity
  private used = 0
  private suppressed = 0

  /**
   * May a line be written at `now`? Returns false when not, otherwise how
   * many lines were suppressed since the last report (usually 0).
   */
  take(now: number): number | false {
    if (now - this.windowStart >= LOG_RATE.windowMs) {
      this.windowStart = now
      this.used = 0
    }
    if (this.used >= LOG_RATE.lines) {
      this.suppressed++
      return false
    }
    this.used++
    return this.takeSuppressed()
  }

  /** Lines suppressed and not yet reported; resets the count. */
  takeSuppressed(): number {
    const n = this.suppressed
    this.suppressed = 0
    return n
  }
}
