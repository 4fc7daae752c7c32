/**
 * What the reconnecting client (client.ts) knows of resumable sessions
 * without carrying them: the `resume` option's shape and the seam between
 * the client and its resume side (client-resume.ts). Kept apart from the
 * resume code itself (client-resume.ts and resume.ts), so that a page that
 * never passes `resume` does not bundle it (docs/architecture.md), as with
 * `streams` (stream-support.ts).
 */
import type { Link, ResumeResult } from './client.js'
import type { Limits } from './limits.js'
import type { ResumeFailure } from './resume.js'
import type { Session, SessionOptions } from './session.js'

/**
 * Resumable sessions for a reconnecting client (`ClientOptions.resume`):
 * pass `resume` from `@wirecall/browser` (or `@wirecall/node`, where it is
 * on by default). A value rather than a switch, so that a page that never
 * passes it does not bundle the resume code.
 */
export interface ResumeSupport {
  /** The subprotocols a client offers at the handshake, most capable last (`wirecall.v1, wirecall.batch.v1, wirecall.resume.v1`). */
  readonly offer: readonly string[]
  /** The subprotocol a server selects when it resumes sessions: a link that selected it starts with the resume handshake. */
  readonly protocol: string
  /** Build the resume side of one client. */
  client<S>(host: ResumeHost<S>): ClientResumer<S>
}

/** What the resume side of a client needs from the client it serves. */
export interface ResumeHost<S> {
  /** The server's address, for messages. */
  readonly url: string
  /** The options every session of the client is built with. */
  readonly sessionOptions: SessionOptions
  /** The limits resolved from them (`handshakeTimeoutMs`, `maxReplayBytes`, `maxReplayFrames`). */
  readonly limits: Limits
  /** True once the client is closed for good. */
  isClosed(): boolean
  /** Set (or clear) what closing the client does to the connection attempt in progress. */
  abandonWith(abandon: (() => void) | undefined): void
  /**
   * Use `session`, open on `link`: a fresh session (its reconnect runs
   * `onReconnect`), or the parked one, `resumed` (the same session, so
   * `onResume` runs instead).
   */
  begin(session: Session<S>, link: Link, resumed?: boolean): void
  /** `session`'s link dropped: stop using it. False when it is not the client's current session. */
  detach(session: Session<S>): boolean
  /** Connect again after the backoff (or give up, past `maxAttempts`). */
  retry(reason: Error): void
  /** Tell the application what became of the session (`onResume`). */
  report(result: ResumeResult): void
}

/** The resume side of one client (client-resume.ts), as the client drives it. */
export interface ClientResumer<S> {
  /**
   * A link whose server selected the resume subprotocol: run the handshake.
   * It ends in `host.begin` (a fresh session, or the parked one resumed)
   * or `host.retry` (the link failed).
   */
  handshake(link: Link): void
  /** The parked session, if any, cannot come back: it ends (pending calls reject, idempotent ones are re-sent). */
  lose(reason: ResumeFailure): void
  /** `session` closed for good: forget it if it is the resumable one. */
  closed(session: Session<S>): void
  /** The client is closing: close the parked session, if any. */
  close(): void
}
