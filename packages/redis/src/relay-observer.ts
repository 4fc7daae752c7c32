/**
 * Calls relayed through Redis pub/sub, as the server's observers see them.
 *
 * Without node links, a call to a page on another node travels as a relay
 * message through Redis and the receiving node calls the page itself. To
 * the observers (metrics, tracing) the relay of each node is one session,
 * labelled `redis relay <node>`: the caller's side observes an outgoing
 * call, whose metadata (W3C trace context) rides at the end of the relay
 * message, and the receiving side an incoming one, inside which it calls
 * the page, so that call and the page's handler join the caller's trace,
 * as they do over node links.
 */
import type { Metadata, Observer, ObservedSession, OutgoingObservation, IncomingObservation, SessionObserver, SessionOptions, SessionStats } from '@wirecall/core'
import { combineObservers } from '@wirecall/core'
import { safely, safelyEnd, safelyObserveSession, safelyStartIncoming, safelyStartOutgoing } from '@wirecall/core/internal'

/** What the relay counts for its observers. */
export interface RelayCounts {
  /** Calls this node sent through Redis and still waits for. */
  readonly pending: number
  /** Relayed calls from other nodes running here. */
  readonly running: number
  /** Bytes of relay call and answer messages received and sent. */
  readonly bytesIn: number
  readonly bytesOut: number
}

export class RelayObserver implements ObservedSession {
  readonly identity = undefined
  readonly peerLabel: string
  closed = false
  private readonly observer: SessionObserver | undefined

  constructor(
    observers: SessionOptions['observer'],
    node: string,
    private readonly counts: () => RelayCounts,
    /** Where a failing observer hook is reported. */
    private readonly logger: { error(message: string, ...details: unknown[]): void },
  ) {
    this.peerLabel = `redis relay ${node}`
    const observer: Observer | undefined = observers === undefined
      ? undefined
      : Array.isArray(observers) ? (observers.length ? combineObservers(observers) : undefined) : observers as Observer
    this.observer = observer ? safelyObserveSession(observer, this, logger) : undefined
  }

  stats(): SessionStats {
    const counts = this.counts()
    return {
      pendingCalls: counts.pending, inFlightCalls: counts.running, exportedRefs: 0, importedRefs: 0,
      outgoingStreams: 0, incomingStreams: 0, lateReplies: 0, malformedFrames: 0,
      bytesIn: counts.bytesIn, bytesOut: counts.bytesOut,
    }
  }

  /** A call leaves through Redis: its observation (whose metadata the relay message carries), if anything observes. */
  outgoing(path: string): OutgoingObservation | undefined {
    return this.observer ? safelyStartOutgoing(this.observer, path, 'call', this.logger) : undefined
  }

  /**
   * Run a relayed call here, inside the observers' view of it (a tracer
   * makes the caller's span the parent of what `call` does).
   */
  incoming<T>(path: string, metadata: Metadata | undefined, call: () => Promise<T>): Promise<T> {
    const observation: IncomingObservation | undefined = this.observer
      ? safelyStartIncoming(this.observer, path, 'call', metadata, this.logger)
      : undefined
    if (!observation) return call()
    let running: Promise<T>
    try {
      running = observation.run ? observation.run(call) : call()
    } catch (err) {
      running = Promise.reject(err)
    }
    running.then(() => safelyEnd(observation, undefined, this.logger), (err: unknown) => safelyEnd(observation, err, this.logger))
    return running
  }

  /** End an outgoing observation with the call's outcome. */
  end(observation: OutgoingObservation | undefined, error: unknown): void {
    if (observation) safelyEnd(observation, error, this.logger)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    const observer = this.observer
    if (observer?.closed) safely(this.logger, 'closed', () => observer.closed!())
  }
}
