/**
 * The server's side of resumable sessions (docs/protocol.md, "Resume"): the
 * tokens it issued, and the sessions parked after their link dropped.
 *
 * A token is 24 random bytes (192 bits, `crypto.randomBytes`), valid for one
 * resume only (a new one is issued with each RESUMED), and only for the
 * identity and Origin of the handshake it was issued on. It names a session
 * of this process: on another node of a cluster it is simply unknown, and the
 * client gets a fresh session there.
 *
 * Memory is bounded three ways: each session's replay buffer
 * (`maxReplayBytes`, `maxReplayFrames`), the number of parked sessions
 * (`maxParkedSessions`) and their buffers together (`maxParkedBytes`); past
 * the last two the longest-parked sessions are closed first. Parked sessions
 * count in the server's connections, so when a new client would be refused
 * for `maxConnections`, the longest-parked one is closed to admit it instead.
 */
import { randomBytes } from 'node:crypto'
import { ConnectionClosedError, type Limits, type Logger, type ResumeFailure } from '@wirecall/core'
import type { ResumableTransport } from '@wirecall/core/internal'
import type { Connection } from './connection.js'

/** How many refused resumes are logged (then only counted in `stats()`). */
const MAX_LOGGED_REFUSALS = 10

/** One resumable session of this server, linked or parked. */
export interface ResumeEntry {
  readonly conn: Connection<unknown>
  readonly resumable: ResumableTransport
  readonly identity: unknown
  readonly origin: string
  token: string
  /** Set while parked: when the grace window ends. */
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The counters `server.stats()` shows for resumable sessions. */
export interface ResumeStats {
  /** Sessions parked now, waiting for their client to come back. */
  readonly parkedSessions: number
  /** Replay-buffer bytes those parked sessions hold together. */
  readonly parkedBytes: number
  /** Sessions resumed since the server started. */
  readonly resumes: number
  /**
   * Resume attempts refused since the server started: unknown tokens
   * (expired, already used, forged, or from another node) and tokens
   * presented by another identity or origin. Each got a fresh session.
   */
  readonly resumeRefusals: number
  /** Parked sessions closed since the server started: grace window over, or evicted to stay within the limits. */
  readonly parkedSessionsClosed: number
}

/** Identities are compared by value when they are objects (a fresh object per request is common), by `===` otherwise. */
function sameIdentity(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  try {
    return JSON.stringify(a) === JSON.stringify(b)
  } catch {
    return false
  }
}

export class ParkingLot {
  private readonly byToken = new Map<string, ResumeEntry>()
  /** Parked entries, longest-parked first (a Set iterates in insertion order). */
  private readonly parked = new Set<ResumeEntry>()
  private parkedBytes = 0
  private resumes = 0
  private refusals = 0
  private closedParked = 0

  constructor(private readonly limits: Limits, private readonly logger: Logger) {}

  /** Register a fresh session; returns its first token. */
  issue(entry: Omit<ResumeEntry, 'token' | 'timer'>): ResumeEntry {
    const full: ResumeEntry = { ...entry, token: newToken(), timer: undefined }
    this.byToken.set(full.token, full)
    full.conn.onClose(() => this.forget(full))
    return full
  }

  /**
   * Find the session `token` resumes for this identity and origin, able to
   * replay from `received`; on success the token is spent and a new one set.
   */
  take(token: string, identity: unknown, origin: string, received: number): ResumeEntry | ResumeFailure {
    const entry = this.byToken.get(token)
    if (!entry) return this.refuse('unknown', `an unknown resume token (expired, used, forged or another node's)`)
    if (!sameIdentity(entry.identity, identity) || entry.origin !== origin) {
      // Not consumed: the rightful client can still resume with it.
      return this.refuse('refused', `a resume token presented by another identity or origin than it was issued to`)
    }
    this.byToken.delete(token)
    if (!entry.resumable.canResumeFrom(received)) {
      entry.resumable.end(new ConnectionClosedError('the session could not be resumed: its replay buffer cannot serve the gap'))
      return 'unavailable'
    }
    this.unpark(entry)
    entry.token = newToken()
    this.byToken.set(entry.token, entry)
    this.resumes++
    return entry
  }

  /** The link of `entry` dropped: park it for `resumeGraceMs`, within the server's limits. */
  park(entry: ResumeEntry): void {
    if (this.parked.has(entry)) return
    this.parked.add(entry)
    this.parkedBytes += entry.resumable.bufferedReplayBytes
    entry.timer = setTimeout(() => this.close(entry, `not resumed within resumeGraceMs (${this.limits.resumeGraceMs} ms)`), this.limits.resumeGraceMs)
    entry.timer.unref()
    this.enforce()
  }

  /** A session's replay buffer changed by `delta` bytes. */
  buffered(entry: ResumeEntry, delta: number): void {
    if (!this.parked.has(entry)) return
    this.parkedBytes += delta
    if (delta > 0) this.enforce()
  }

  stats(): ResumeStats {
    return {
      parkedSessions: this.parked.size,
      parkedBytes: this.parkedBytes,
      resumes: this.resumes,
      resumeRefusals: this.refusals,
      parkedSessionsClosed: this.closedParked,
    }
  }

  /**
   * Close the longest-parked session to make room for a new connection (the
   * server holds `maxConnections`, and a session without a socket should not
   * lock a live client out). False when none is parked.
   */
  evictOldest(): boolean {
    for (const oldest of this.parked) {
      this.close(oldest, `evicted for a new connection (the server holds maxConnections, ${this.limits.maxConnections})`)
      return true
    }
    return false
  }

  /** Close every parked session (the server is closing). */
  closeAll(): void {
    for (const entry of [...this.parked]) this.close(entry, 'the server is closing')
  }

  private enforce(): void {
    for (const oldest of this.parked) {
      if (this.parked.size <= this.limits.maxParkedSessions && this.parkedBytes <= this.limits.maxParkedBytes) return
      this.close(oldest, `evicted to stay within maxParkedSessions (${this.limits.maxParkedSessions}) and maxParkedBytes (${this.limits.maxParkedBytes})`)
    }
  }

  private close(entry: ResumeEntry, why: string): void {
    this.closedParked++
    this.unpark(entry)
    entry.resumable.end(new ConnectionClosedError(`parked session closed: ${why}`))
  }

  private unpark(entry: ResumeEntry): void {
    clearTimeout(entry.timer)
    entry.timer = undefined
    if (this.parked.delete(entry)) this.parkedBytes -= entry.resumable.bufferedReplayBytes
  }

  private forget(entry: ResumeEntry): void {
    this.unpark(entry)
    if (this.byToken.get(entry.token) === entry) this.byToken.delete(entry.token)
  }

  private refuse(failure: ResumeFailure, what: string): ResumeFailure {
    if (++this.refusals <= MAX_LOGGED_REFUSALS) this.logger.warn(`[wirecall] refused to resume a session: ${what}; a fresh session was given`)
    return failure
  }
}

function newToken(): string {
  return randomBytes(24).toString('base64url')
}
