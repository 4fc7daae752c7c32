/**
 * The observation seam: what a session tells an `Observer` (metrics,
 * tracing) about the calls, notifications and bytes that cross it.
 *
 * Sessions read `config.observer` once per message and do nothing more when
 * it is undefined, so a server without observers pays one property read per
 * message. Observers never see argument values: only method names, outcomes
 * and sizes.
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
  /** The call settled (`error` undefined on success); notifications end when sent. */
  end(error?: unknown): void
}

/** An incoming call or notification being observed. */
export interface IncomingObservation {
  /** Run the handler inside this observation (a tracer makes its span current here). */
  run<T>(handler: () => T): T
  /** The handler settled (`error` undefined on success), or the call was refused before it ran. */
  end(error?: unknown): void
}

/**
 * Told about every call, notification and byte of the sessions it is given
 * to (`SessionOptions.observer`). Every hook is optional; a hook that throws
 * is logged and never breaks the call. `createMetrics()` and
 * `openTelemetry()` (from `@wirecall/core/otel`) are observers.
 */
export interface Observer {
  /** A session started (a connection was accepted, or a client connected). */
  sessionOpened?(session: ObservedSession): void
  /** A session ended. */
  sessionClosed?(session: ObservedSession): void
  /** This side starts a call or sends a notification; return what to carry and how to end it. */
  outgoing?(session: ObservedSession, method: string, kind: MessageKind): OutgoingObservation | undefined
  /** The peer's call or notification arrived, with the metadata it carried. */
  incoming?(session: ObservedSession, method: string, kind: MessageKind, metadata: Metadata | undefined): IncomingObservation | undefined
  /**
   * A notification is encoded once for many sessions (a topic, `all`, `to(ids)`):
   * `audience` names it (the topic, `(all)`, `(to)`). The observation ends once
   * the frame is encoded; its metadata reaches every member.
   */
  fanout?(method: string, audience: string): OutgoingObservation | undefined
  /** Bytes of whole WebSocket messages received (`in`) or sent (`out`). */
  bytes?(session: ObservedSession, direction: 'in' | 'out', count: number): void
  /** A notification for this session was dropped (slow consumer over `sendHighWaterMark`, or closed). */
  dropped?(session: ObservedSession): void
}

const runDirectly = <T>(handler: () => T): T => handler()

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
  return { metadata, end: (error) => { for (const e of ends) e.end(error) } }
}

/**
 * One observer out of several (`observer: [metrics, tracing]`): hooks run in
 * order; the last outgoing observation that carries metadata wins the slot
 * (put the tracer last).
 */
export function combineObservers(observers: readonly Observer[]): Observer {
  const list = observers.filter(Boolean)
  if (list.length === 1) return list[0]!
  return {
    sessionOpened: (session) => { for (const o of list) o.sessionOpened?.(session) },
    sessionClosed: (session) => { for (const o of list) o.sessionClosed?.(session) },
    bytes: (session, direction, count) => { for (const o of list) o.bytes?.(session, direction, count) },
    dropped: (session) => { for (const o of list) o.dropped?.(session) },
    fanout: (method, audience) => combineOutgoing(list.map((o) => o.fanout?.(method, audience))),
    outgoing: (session, method, kind) => combineOutgoing(list.map((o) => o.outgoing?.(session, method, kind))),
    incoming(session, method, kind, metadata) {
      const observations: IncomingObservation[] = []
      for (const o of list) {
        const observation = o.incoming?.(session, method, kind, metadata)
        if (observation) observations.push(observation)
      }
      if (observations.length === 0) return undefined
      // Nested: the first observer's context is outermost.
      const run = observations.reduceRight<<T>(handler: () => T) => T>(
        (inner, o) => (handler) => o.run(() => inner(handler)),
        runDirectly,
      )
      return { run, end: (error) => { for (const o of observations) o.end(error) } }
    },
  }
}

/** Where a failing observer is reported. */
interface ErrorSink {
  error(message: string, ...details: unknown[]): void
}

/**
 * The observer a session uses: every hook and every `end` guarded, so an
 * observer that throws is logged and the call goes on. (`run` is not
 * guarded: it must call the handler, and the handler's own throw is the
 * call's outcome.)
 */
export function guardObserver(observer: Observer | readonly Observer[], logger: ErrorSink): Observer {
  const o = Array.isArray(observer) ? combineObservers(observer) : (observer as Observer)
  const failed = (hook: string, err: unknown) => {
    try {
      logger.error(`[wirecall] observer hook ${hook} threw:`, err)
    } catch {
      // The logger failed too; nothing left to report to.
    }
  }
  const guardEnd = <T extends { end(error?: unknown): void }>(observation: T | undefined, hook: string): T | undefined => {
    if (!observation) return undefined
    const end = observation.end.bind(observation)
    return {
      ...observation,
      end(error?: unknown) {
        try {
          end(error)
        } catch (err) {
          failed(`${hook}().end`, err)
        }
      },
    }
  }
  const guarded: Observer = {}
  if (o.sessionOpened) guarded.sessionOpened = (session) => { try { o.sessionOpened!(session) } catch (err) { failed('sessionOpened', err) } }
  if (o.sessionClosed) guarded.sessionClosed = (session) => { try { o.sessionClosed!(session) } catch (err) { failed('sessionClosed', err) } }
  if (o.bytes) guarded.bytes = (session, direction, count) => { try { o.bytes!(session, direction, count) } catch (err) { failed('bytes', err) } }
  if (o.dropped) guarded.dropped = (session) => { try { o.dropped!(session) } catch (err) { failed('dropped', err) } }
  if (o.fanout) {
    guarded.fanout = (method, audience) => {
      try {
        return guardEnd(o.fanout!(method, audience), 'fanout')
      } catch (err) {
        failed('fanout', err)
        return undefined
      }
    }
  }
  if (o.outgoing) {
    guarded.outgoing = (session, method, kind) => {
      try {
        return guardEnd(o.outgoing!(session, method, kind), 'outgoing')
      } catch (err) {
        failed('outgoing', err)
        return undefined
      }
    }
  }
  if (o.incoming) {
    guarded.incoming = (session, method, kind, metadata) => {
      try {
        const observation = o.incoming!(session, method, kind, metadata)
        // `run` keeps its `this` (an observation may be a class instance).
        return guardEnd(observation && { run: observation.run.bind(observation), end: observation.end.bind(observation) }, 'incoming')
      } catch (err) {
        failed('incoming', err)
        return undefined
      }
    }
  }
  return guarded
}
