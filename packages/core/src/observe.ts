/**
 * The observation seam: what a session tells an `Observer` (metrics,
 * tracing) about the calls, notifications and bytes that cross it.
 *
 * An observer is asked once per session for a `SessionObserver`, which the
 * session keeps in a field: the hot path calls it directly, with no lookup,
 * and a session without observers pays one undefined check per message.
 * Bytes are not a hook: the session counts them itself (`stats().bytesIn`,
 * `bytesOut`, an addition per frame) and observers read them when asked,
 * which spares a call per frame.
 * Observers never see argument values: only method names, outcomes, sizes.
 *
 * A hook that throws is logged and never breaks the call: sessions call
 * hooks through the `safely*` helpers below (a try/catch at the call site,
 * so no wrapper object is allocated per call).
 */
import type { Metadata } from './protocol.js'
import type { SessionStats } from './options.js'

export type { Metadata }

/** The parts of a session an observer may read. */
export interface ObservedSession {
  /** The identity the server's authenticate hook gave the connection (undefined on a client). */
  readonly identity: unknown
  /** The peer's address as text, when known. */
  readonly peerLabel: string | undefined
  /** True once the connection is gone. */
  readonly closed: boolean
  /** The session's counters (pending calls, references held...). */
  stats(): SessionStats
}

/** Calls expect a response; notifications do not. */
export type MessageKind = 'call' | 'notification'

/** An outgoing call or notification being observed. */
export interface OutgoingObservation {
  /** Carried in the message's metadata slot (e.g. W3C `traceparent`), if any. */
  readonly metadata?: Metadata
  /**
   * Run work done for this call inside the observation (a tracer makes the
   * call's span current): the producers of the upload streams its arguments
   * hold. Must call `work` and return its result.
   */
  run?<T>(work: () => T): T
  /** The call settled (`error` undefined on success); notifications end when sent. */
  end(error?: unknown): void
}

/** An incoming call or notification being observed. */
export interface IncomingObservation {
  /** Run the handler inside this observation (a tracer makes its span current here); must call it and return its result. */
  run?<T>(handler: () => T): T
  /** The handler settled (`error` undefined on success), or the call was refused before it ran. */
  end(error?: unknown): void
}

/** What observes one session: every hook optional. */
export interface SessionObserver {
  /** This side starts a call or sends a notification; return what to carry and how to end it. */
  outgoing?(method: string, kind: MessageKind): OutgoingObservation | undefined
  /** The peer's call or notification arrived, with the metadata it carried. */
  incoming?(method: string, kind: MessageKind, metadata: Metadata | undefined): IncomingObservation | undefined
  /** A notification for this session was dropped (slow consumer over `sendHighWaterMark`, or closed). */
  dropped?(): void
  /** The session ended. */
  closed?(): void
}

/**
 * Told about the calls, notifications and bytes of the sessions it is given
 * to (`SessionOptions.observer`). `createMetrics()` and `openTelemetry()`
 * (from `@wirecall/core/otel`) are observers.
 */
export interface Observer {
  /** A session started (a connection was accepted, or a client connected): what observes it, or undefined. */
  session?(session: ObservedSession): SessionObserver | undefined
  /**
   * A notification is encoded once for many sessions (a topic, `all`, `to(ids)`):
   * `audience` names it (the topic, `(all)`, `(to)`). The observation ends once
   * the frame is encoded; its metadata reaches every member.
   */
  fanout?(method: string, audience: string): OutgoingObservation | undefined
  /** A reconnecting client opened `session` after losing its previous connection (called after `session()`). */
  reconnected?(session: ObservedSession): void
}

/** Where a failing observer is reported. */
export interface ErrorSink {
  error(message: string, ...details: unknown[]): void
}

function report(sink: ErrorSink, hook: string, err: unknown): void {
  try {
    sink.error(`[wirecall] observer hook ${hook} threw:`, err)
  } catch {
    // The logger failed too; nothing left to report to.
  }
}

/** `observer.session(session)`, or undefined when it throws (logged). */
export function safelyObserveSession(observer: Observer, session: ObservedSession, sink: ErrorSink): SessionObserver | undefined {
  try {
    return observer.session?.(session)
  } catch (err) {
    report(sink, 'session', err)
    return undefined
  }
}

/** `so.outgoing(...)`, or undefined when it throws (logged). */
export function safelyStartOutgoing(so: SessionObserver, method: string, kind: MessageKind, sink: ErrorSink): OutgoingObservation | undefined {
  try {
    return so.outgoing?.(method, kind)
  } catch (err) {
    report(sink, 'outgoing', err)
    return undefined
  }
}

/** `so.incoming(...)`, or undefined when it throws (logged). */
export function safelyStartIncoming(
  so: SessionObserver, method: string, kind: MessageKind, metadata: Metadata | undefined, sink: ErrorSink,
): IncomingObservation | undefined {
  try {
    return so.incoming?.(method, kind, metadata)
  } catch (err) {
    report(sink, 'incoming', err)
    return undefined
  }
}

/** `observer.fanout(...)`, or undefined when it throws (logged). */
export function safelyStartFanout(observer: Observer, method: string, audience: string, sink: ErrorSink): OutgoingObservation | undefined {
  try {
    return observer.fanout?.(method, audience)
  } catch (err) {
    report(sink, 'fanout', err)
    return undefined
  }
}

/** End an observation; a throw is logged. */
export function safelyEnd(observation: OutgoingObservation | IncomingObservation, error: unknown, sink: ErrorSink): void {
  try {
    observation.end(error)
  } catch (err) {
    report(sink, 'end', err)
  }
}

/** Call a rare void hook (`dropped`, `closed`); a throw is logged. */
export function safely(sink: ErrorSink, hook: string, call: () => void): void {
  try {
    call()
  } catch (err) {
    report(sink, hook, err)
  }
}

/**
 * One observer out of several (`observer: [metrics, tracing]`): hooks run in
 * order; the last outgoing observation that carries metadata wins the slot
 * (put the tracer last); the first observer's `run` is outermost.
 */
export function combineObservers(observers: readonly Observer[]): Observer {
  const list = observers.filter(Boolean)
  if (list.length === 1) return list[0]!
  return {
    fanout: (method, audience) => combineOutgoing(list.map((o) => o.fanout?.(method, audience))),
    reconnected: (session) => { for (const o of list) o.reconnected?.(session) },
    session(session) {
      const parts = list.map((o) => o.session?.(session)).filter((so): so is SessionObserver => so !== undefined)
      if (parts.length <= 1) return parts[0]
      return {
        outgoing: (method, kind) => combineOutgoing(parts.map((so) => so.outgoing?.(method, kind))),
        incoming(method, kind, metadata) {
          const observations = parts.map((so) => so.incoming?.(method, kind, metadata)).filter((o): o is IncomingObservation => o !== undefined)
          if (observations.length === 0) return undefined
          const run = nestRuns(observations)
          return { ...(run ? { run } : {}), end: (error?: unknown) => { for (const o of observations) o.end(error) } }
        },
        dropped: () => { for (const so of parts) so.dropped?.() },
        closed: () => { for (const so of parts) so.closed?.() },
      }
    },
  }
}

/** Several outgoing observations as one: the last metadata wins the slot. */
function combineOutgoing(observations: (OutgoingObservation | undefined)[]): OutgoingObservation | undefined {
  let metadata: Metadata | undefined
  const ends: OutgoingObservation[] = []
  for (const observation of observations) {
    if (!observation) continue
    ends.push(observation)
    if (observation.metadata) metadata = observation.metadata
  }
  if (ends.length === 0) return undefined
  if (ends.length === 1) return ends[0]
  const run = nestRuns(ends)
  return { metadata, ...(run ? { run } : {}), end: (error) => { for (const e of ends) e.end(error) } }
}

/** The observations' `run`s nested, the first outermost; undefined when none has one. */
function nestRuns(observations: readonly { run?<T>(work: () => T): T }[]): (<T>(work: () => T) => T) | undefined {
  return observations.filter((o) => o.run).reduceRight<(<T>(work: () => T) => T) | undefined>(
    (inner, o) => <T>(work: () => T): T => o.run!(inner ? () => inner(work) : work),
    undefined,
  )
}
