/**
 * Server-wide limits: the counters every connection of one server shares.
 * Per-connection limits alone let many connections together hold what one
 * may not (50 connections at `maxInFlightCalls` could run 51,200 slow handlers).
 * A server makes one `SharedBudget` and hands it to all its sessions through
 * `SessionOptions.budget`; a lone client session has none and is bounded by
 * its own limits only.
 */
import type { Limits } from './limits.js'

export class SharedBudget {
  /** Incoming calls and notification handlers running, over all sessions. */
  inFlight = 0
  /** Exported plus imported references alive, over all sessions. */
  refs = 0

  constructor(readonly maxInFlight: number, readonly maxRefs: number) {}

  static of(limits: Limits): SharedBudget {
    return new SharedBudget(limits.maxServerInFlightCalls, limits.maxServerRefs)
  }
}
