/**
 * Metrics as a plain snapshot: an `Observer` that counts calls and
 * notifications by method and outcome, keeps latency histograms, bytes and
 * drops, per server and per session. No dependency: the demo's operator
 * panel reads `snapshot()` over wirecall itself, and `@wirecall/core/otel`
 * exports the same figures through OpenTelemetry when a meter is present.
 */
import { ErrorCode, WirecallError } from './errors.js'
import type { IncomingObservation, MessageKind, ObservedSession, Observer, OutgoingObservation, SessionObserver } from './observe.js'
import { atTurnEnd, turnStart, type TurnEnd } from './turn-clock.js'

/**
 * Latency histogram bucket bounds in ms (upper bounds; one more bucket holds
 * the rest). Doubling from 0.05 ms: a loopback call to a second.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6, 819.2, 1638.4,
]

/**
 * Most distinct method names tracked per direction (a peer calling random
 * names must not grow the table without bound); the rest are counted under
 * `"(other)"`.
 */
export const MAX_TRACKED_METHODS = 256

/** Where methods past `MAX_TRACKED_METHODS` are counted. */
const OTHER = '(other)'

/** The outcome key of a call that succeeded. */
export const OK = 'ok'

/** Figures for one method in one direction. */
export interface MethodMetrics {
  /** The dotted path (`math.add`), or `"(other)"` past `MAX_TRACKED_METHODS`, or `"#ref"` for calls to references. */
  readonly method: string
  /** Calls (or notifications) made. */
  readonly count: number
  /** Count by outcome: `"ok"` or the error's `code` (`WIRECALL_TIMEOUT`...). */
  readonly outcomes: Readonly<Record<string, number>>
  /** Calls that did not end with `ok`. */
  readonly errors: number
  /** Calls not yet settled. */
  readonly inFlight: number
  /** Latency histogram: `counts[i]` calls took at most `LATENCY_BUCKETS_MS[i]` (the last entry: longer). Calls only. */
  readonly latency: {
    /** The upper bounds of the buckets, ms (`LATENCY_BUCKETS_MS`). */
    readonly bucketsMs: readonly number[]
    /** Calls per bucket; one entry more than `bucketsMs` (the calls slower than the last bound). */
    readonly counts: readonly number[]
  }
  /** Median latency estimated from the histogram (upper bound of its bucket), ms; 0 when no call finished. */
  readonly p50Ms: number
  /** 99th percentile latency estimated the same way, ms. */
  readonly p99Ms: number
}

/** Figures for one session (connection). */
export interface SessionMetrics {
  /** The connection id on a server (`c12`, `n2:c7`), else undefined. */
  readonly id: string | undefined
  /** What the server's authenticate hook returned for the connection (undefined on a client). */
  readonly identity: unknown
  /** The peer's address as text, when known. */
  readonly peer: string | undefined
  /** When the session opened (ms since the epoch). */
  readonly since: number
  /** Calls of the peer handled here. */
  readonly callsIn: number
  /** Calls made to the peer. */
  readonly callsOut: number
  /** Calls of the peer that ended with an error. */
  readonly errorsIn: number
  /** Calls to the peer that ended with an error (remote errors, timeouts, aborts...). */
  readonly errorsOut: number
  /** Bytes of WebSocket messages received from the peer. */
  readonly bytesIn: number
  /** Bytes of WebSocket messages sent to the peer. */
  readonly bytesOut: number
  /** Notifications dropped for this session (slow consumer or closed). */
  readonly dropped: number
  /** Calls of the peer running here now. */
  readonly inFlight: number
  /** Our functions the peer holds (what the leak inspector watches). */
  readonly exportedRefs: number
  /** The peer's functions we hold. */
  readonly importedRefs: number
  /** Streams this side is sending (results and uploads). */
  readonly outgoingStreams: number
  /** Streams this side is reading. */
  readonly incomingStreams: number
}

/** Everything at one instant; plain data (JSON- and msgpack-friendly). */
export interface MetricsSnapshot {
  /** When it was taken (ms since the epoch). */
  readonly at: number
  /** Sessions open now. */
  readonly sessions: number
  /** Sessions opened since the metrics were created. */
  readonly sessionsOpened: number
  /** Incoming calls (handled here), by method. */
  readonly callsIn: readonly MethodMetrics[]
  /** Outgoing calls (made from here), by method. */
  readonly callsOut: readonly MethodMetrics[]
  /** Incoming notifications by method. */
  readonly notificationsIn: readonly MethodMetrics[]
  /** Outgoing notifications to one peer, by method. */
  readonly notificationsOut: readonly MethodMetrics[]
  /** Fan-outs (topics, `all`, `to(ids)`) by audience: each counts once, whatever the number of members. */
  readonly fanouts: readonly MethodMetrics[]
  /** Bytes of WebSocket messages received, every session. */
  readonly bytesIn: number
  /** Bytes of WebSocket messages sent, every session (fan-outs counted once per member). */
  readonly bytesOut: number
  /** Notifications dropped (slow consumers or closed members). */
  readonly dropped: number
  /** Times a reconnecting client (browser client, pool endpoint) got its connection back. */
  readonly reconnects: number
  /** Open sessions that had a notification dropped since the previous `snapshot()` (so: slow now). */
  readonly slowConsumers: number
  /** Per open session, most bytes first. */
  readonly perSession: readonly SessionMetrics[]
}

/** `createMetrics()`: an observer with a `snapshot()`. */
export interface Metrics extends Observer {
  /** The figures now. */
  snapshot(): MetricsSnapshot
  /** Zero every counter (open sessions stay listed). */
  reset(): void
}


/** The stable code of an outcome: `ok`, the error's string `code`, or `WIRECALL_REMOTE_ERROR`. */
export function outcomeOf(error: unknown): string {
  if (error === undefined) return OK
  if (WirecallError.is(error)) return error.code
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.length <= 64 ? code : ErrorCode.REMOTE
}

class MethodTable {
  readonly methods = new Map<string, MethodCounter>()
  /**
   * The last method asked for and its counter. A method name decoded from a
   * frame is a new string each time, so a map lookup hashes it again; in the
   * common run of calls to one method, comparing it with the last name is
   * cheaper (about a third of what metrics cost per call in a profile).
   */
  private lastMethod: string | undefined
  private lastCounter: MethodCounter | undefined

  get(method: string): MethodCounter {
    if (method === this.lastMethod) return this.lastCounter!
    const counter = this.lookUp(method)
    this.lastMethod = method
    this.lastCounter = counter
    return counter
  }

  private lookUp(method: string): MethodCounter {
    const key = method.charCodeAt(0) === 35 /* # */ ? '#ref' : method
    let counter = this.methods.get(key)
    if (counter) return counter
    if (this.methods.size >= MAX_TRACKED_METHODS) {
      // One more entry past the bound, for everything else.
      counter = this.methods.get(OTHER)
      if (!counter) this.methods.set(OTHER, (counter = new MethodCounter(OTHER)))
      return counter
    }
    counter = new MethodCounter(key)
    this.methods.set(key, counter)
    return counter
  }

  list(): MethodMetrics[] {
    return [...this.methods.values()].map((m) => m.snapshot()).sort((a, b) => b.count - a.count)
  }
}

class MethodCounter {
  count = 0
  inFlight = 0
  errors = 0
  /** Error outcomes by code (successes are `count - errors - inFlight`: no map update on the common path). */
  readonly failures = new Map<string, number>()
  readonly buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0)

  constructor(readonly method: string) {}

  settle(error: unknown): void {
    this.inFlight--
    if (error !== undefined) {
      const outcome = outcomeOf(error)
      this.errors++
      this.failures.set(outcome, (this.failures.get(outcome) ?? 0) + 1)
    }
  }

  /** `calls` settled calls took `ms`, known once their turn has ended. */
  timed(ms: number, calls: number): void {
    this.buckets[bucketOf(ms)]! += calls
  }

  snapshot(): MethodMetrics {
    const ok = this.count - this.errors - this.inFlight
    const outcomes: Record<string, number> = ok > 0 ? { [OK]: ok } : {}
    for (const [code, n] of this.failures) outcomes[code] = n
    return {
      method: this.method,
      count: this.count,
      outcomes,
      errors: this.errors,
      inFlight: this.inFlight,
      latency: { bucketsMs: LATENCY_BUCKETS_MS, counts: [...this.buckets] },
      p50Ms: percentile(this.buckets, 0.5),
      p99Ms: percentile(this.buckets, 0.99),
    }
  }
}

/** The bucket of a latency: the bounds double from 0.05 ms, so it is a base-2 logarithm (no scan). */
function bucketOf(ms: number): number {
  if (!(ms > LATENCY_BUCKETS_MS[0]!)) return 0
  const last = LATENCY_BUCKETS_MS.length
  let i = Math.min(last, Math.ceil(Math.log2(ms / LATENCY_BUCKETS_MS[0]!)))
  // Float rounding next to a bound may land one bucket off either way; settle it against the table.
  if (i > 0 && ms <= LATENCY_BUCKETS_MS[i - 1]!) i--
  else if (i < last && ms > LATENCY_BUCKETS_MS[i]!) i++
  return i
}

/** The upper bound of the bucket holding the `q` quantile; the last bucket reports twice the last bound. 0 when empty. */
function percentile(buckets: readonly number[], q: number): number {
  let total = 0
  for (const n of buckets) total += n
  if (total === 0) return 0
  const rank = Math.ceil(total * q)
  let seen = 0
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!
    if (seen >= rank) return LATENCY_BUCKETS_MS[i] ?? LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]! * 2
  }
  return 0
}

/** Every counter of one `createMetrics()`; replaced whole by `reset()`. */
class Totals {
  readonly callsIn = new MethodTable()
  readonly callsOut = new MethodTable()
  readonly notificationsIn = new MethodTable()
  readonly notificationsOut = new MethodTable()
  readonly fanouts = new MethodTable()
  dropped = 0
  reconnects = 0
  /** Bytes of the sessions closed since the reset (open sessions' are read from them at each snapshot). */
  bytesIn = 0
  bytesOut = 0
  constructor(public sessionsOpened: number) {}
}

/**
 * The observation of the calls of one method, in one direction on one
 * session, that began in one turn of the event loop; and of a method's
 * notifications (which are not timed). Everything it holds is the same for
 * all of those calls: the counters to bump and the turn's start reading
 * (`turn-clock.ts`). So they share it, and a pipelined burst of calls costs
 * no allocation per call. Counts and outcomes are added when each call ends
 * (exact at once); latencies when the turn of its end ends, one bucket
 * addition for all of the cohort's calls that ended in that turn.
 */
class Cohort implements OutgoingObservation, IncomingObservation, TurnEnd {
  /** Calls of this cohort that ended in the current turn and are not yet timed. */
  private endedThisTurn = 0

  constructor(
    readonly counter: MethodCounter,
    /** The session's error count to bump on failure (calls only). */
    private readonly session: SessionCounter | undefined,
    private readonly direction: 'in' | 'out',
    /** The clock at the start of the turn its calls began in; undefined for notifications (not timed). */
    readonly started: number | undefined,
  ) {}

  /** One more call (or notification) of this cohort begins. */
  begin(): this {
    this.counter.count++
    this.counter.inFlight++
    return this
  }

  end(error?: unknown): void {
    this.counter.settle(error)
    if (this.started !== undefined && this.endedThisTurn++ === 0) atTurnEnd(this)
    if (error !== undefined && this.session) {
      if (this.direction === 'in') this.session.errorsIn++
      else this.session.errorsOut++
    }
  }

  turnEnded(at: number): void {
    this.counter.timed(at - this.started!, this.endedThisTurn)
    this.endedThisTurn = 0
  }
}

/** The cohorts of one session and direction: the current turn's call cohort and one notification cohort per method, kept while they are asked for again. */
class Cohorts {
  private lastCalls: Cohort | undefined
  private lastNotifications: Cohort | undefined

  constructor(
    private readonly session: SessionCounter,
    private readonly direction: 'in' | 'out',
  ) {}

  call(table: MethodTable, method: string): Cohort {
    const counter = table.get(method)
    const started = turnStart()
    let cohort = this.lastCalls
    // Same method, same turn (or the same clock reading, which means the same latency): the same observation.
    if (cohort === undefined || cohort.counter !== counter || cohort.started !== started) {
      cohort = this.lastCalls = new Cohort(counter, this.session, this.direction, started)
    }
    return cohort.begin()
  }

  notification(table: MethodTable, method: string): Cohort {
    const counter = table.get(method)
    let cohort = this.lastNotifications
    if (cohort === undefined || cohort.counter !== counter) cohort = this.lastNotifications = new Cohort(counter, undefined, this.direction, undefined)
    return cohort.begin()
  }
}

/** What `createMetrics()` keeps per open session; the session calls it directly (no lookup per message). */
class SessionCounter implements SessionObserver {
  callsIn = 0
  callsOut = 0
  errorsIn = 0
  errorsOut = 0
  /** The session's byte counts when the metrics were reset (or 0). */
  private bytesInBefore = 0
  private bytesOutBefore = 0
  /** Notifications dropped for this session. */
  drops = 0
  /** `drops` at the previous snapshot, to tell who is slow now. */
  dropsSeen = 0
  readonly since = Date.now()
  private readonly out = new Cohorts(this, 'out')
  private readonly in = new Cohorts(this, 'in')

  constructor(
    private readonly owner: { totals: Totals; readonly sessions: Set<SessionCounter> },
    readonly session: ObservedSession,
  ) {}

  outgoing(method: string, kind: MessageKind): OutgoingObservation {
    const totals = this.owner.totals
    if (kind === 'notification') return this.out.notification(totals.notificationsOut, method)
    this.callsOut++
    return this.out.call(totals.callsOut, method)
  }

  incoming(method: string, kind: MessageKind): IncomingObservation {
    const totals = this.owner.totals
    if (kind === 'notification') return this.in.notification(totals.notificationsIn, method)
    this.callsIn++
    return this.in.call(totals.callsIn, method)
  }

  /** Bytes in and out since the metrics were created or reset: the session's own counts less those at `reset()`. */
  bytesSinceReset(stats = this.session.stats()): { in: number; out: number } {
    return { in: stats.bytesIn - this.bytesInBefore, out: stats.bytesOut - this.bytesOutBefore }
  }

  dropped(): void {
    this.drops++
    this.owner.totals.dropped++
  }

  closed(): void {
    // Its bytes stay in the totals once it is gone.
    const bytes = this.bytesSinceReset()
    this.owner.totals.bytesIn += bytes.in
    this.owner.totals.bytesOut += bytes.out
    this.owner.sessions.delete(this)
  }

  reset(): void {
    this.callsIn = this.callsOut = this.errorsIn = this.errorsOut = 0
    this.drops = this.dropsSeen = 0
    const stats = this.session.stats()
    this.bytesInBefore = stats.bytesIn
    this.bytesOutBefore = stats.bytesOut
  }

  snapshot(): SessionMetrics {
    const stats = this.session.stats()
    const bytes = this.bytesSinceReset(stats)
    const id = (this.session as { id?: unknown }).id
    return {
      id: typeof id === 'string' ? id : undefined,
      identity: this.session.identity,
      peer: this.session.peerLabel,
      since: this.since,
      callsIn: this.callsIn,
      callsOut: this.callsOut,
      errorsIn: this.errorsIn,
      errorsOut: this.errorsOut,
      bytesIn: bytes.in,
      bytesOut: bytes.out,
      dropped: this.drops,
      inFlight: stats.inFlightCalls,
      exportedRefs: stats.exportedRefs,
      importedRefs: stats.importedRefs,
      outgoingStreams: stats.outgoingStreams,
      incomingStreams: stats.incomingStreams,
    }
  }
}

/**
 * Count what crosses the sessions it observes. Give it to a server (every
 * connection) or a client: `serve({ observer: metrics })`, then read
 * `metrics.snapshot()`. Off by default; when given, each call costs a few
 * additions on each side (the calls of one method begun in one turn share
 * one small object), and each turn of the event loop two clock reads: latencies are measured from the start of the
 * turn in which a call began to the end of the turn in which it settled
 * (exact for a lone call; see `turn-clock.ts`).
 *
 * @example
 * ```ts
 * import { createMetrics, service } from '@wirecall/core'
 * import { serve } from '@wirecall/node'
 *
 * const metrics = createMetrics()
 * const server = await serve({ port: 0, service: service({ ping: () => 'pong' }), observer: metrics })
 * setInterval(() => {
 *   const { sessions, callsIn } = metrics.snapshot()
 *   console.log(sessions, callsIn.map((m) => `${m.method} ${m.count} p99 ${m.p99Ms} ms`))
 * }, 5_000).unref()
 * await server.close()
 * ```
 */
export function createMetrics(): Metrics {
  const owner = { totals: new Totals(0), sessions: new Set<SessionCounter>() }
  return {
    session(session) {
      owner.totals.sessionsOpened++
      const counter = new SessionCounter(owner, session)
      owner.sessions.add(counter)
      return counter
    },
    reconnected() {
      owner.totals.reconnects++
    },
    fanout(_method, audience): OutgoingObservation {
      return new Cohort(owner.totals.fanouts.get(audience), undefined, 'out', undefined).begin()
    },
    snapshot(): MetricsSnapshot {
      const totals = owner.totals
      let slowConsumers = 0
      // Closed sessions' bytes are in the totals; open ones' are added here.
      let bytesIn = totals.bytesIn
      let bytesOut = totals.bytesOut
      const perSession: SessionMetrics[] = []
      for (const counter of owner.sessions) {
        if (counter.drops > counter.dropsSeen) slowConsumers++
        counter.dropsSeen = counter.drops
        const figures = counter.snapshot()
        bytesIn += figures.bytesIn
        bytesOut += figures.bytesOut
        perSession.push(figures)
      }
      perSession.sort((a, b) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut))
      return {
        at: Date.now(),
        sessions: owner.sessions.size,
        sessionsOpened: totals.sessionsOpened,
        callsIn: totals.callsIn.list(),
        callsOut: totals.callsOut.list(),
        notificationsIn: totals.notificationsIn.list(),
        notificationsOut: totals.notificationsOut.list(),
        fanouts: totals.fanouts.list(),
        bytesIn,
        bytesOut,
        dropped: totals.dropped,
        reconnects: totals.reconnects,
        slowConsumers,
        perSession,
      }
    },
    reset() {
      owner.totals = new Totals(owner.sessions.size)
      for (const counter of owner.sessions) counter.reset()
    },
  }
}
