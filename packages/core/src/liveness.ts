/**
 * Dead-peer detection timings: one rule for every end (the Node server and
 * client, the browser client), so the documented bound holds on both sides.
 *
 * Each end notes that it heard from the peer (any frame, ping or pong) and
 * checks every `checkMs` how long ago that was; a peer found silent for
 * `deadPeerTimeoutMs` is dropped. A check stamps "heard" with its own time,
 * so a peer whose last frame came at `t` is dropped at the first check at or
 * after `t + deadPeerTimeoutMs`: never before, and at most `checkMs` later,
 * i.e. within deadPeerTimeoutMs + deadPeerTimeoutMs / 20 (60-63 s with the
 * defaults), given an event loop that runs timers on time.
 */
import type { Limits } from './limits.js'

/** The timings of dead-peer detection derived from the limits (see `livenessTimings`). */
export interface LivenessTimings {
  /** Silence after which the peer is dropped (`deadPeerTimeoutMs`). */
  readonly deadMs: number
  /** How often silence is checked: `deadMs / 20`, the bound's slack. */
  readonly checkMs: number
  /**
   * How often this end asks the peer for a sign of life: the period of
   * WebSocket pings (Node), or the silence after which a browser sends a probe
   * call. `heartbeatIntervalMs`, but at most half of `deadMs`, so that a
   * healthy idle peer always answers in time.
   */
  readonly probeMs: number
}

/**
 * Derive the dead-peer detection timings from `heartbeatIntervalMs` and
 * `deadPeerTimeoutMs`; every end (Node server and client, browser client)
 * uses this one rule.
 */
export function livenessTimings(limits: Pick<Limits, 'heartbeatIntervalMs' | 'deadPeerTimeoutMs'>): LivenessTimings {
  const deadMs = limits.deadPeerTimeoutMs
  return { deadMs, checkMs: deadMs / 20, probeMs: Math.min(limits.heartbeatIntervalMs, deadMs / 2) }
}
