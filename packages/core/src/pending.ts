/**
 * The table of calls waiting for a response: the one owner of their
 * timers and abort listeners. Every way a call settles (response, timeout,
 * abort, connection loss) goes through `settle`, which cleans up.
 *
 * Timeouts use one timer per table (one per session), armed for the earliest
 * deadline, rather than one timer per call: under pipelining that removes a
 * setTimeout and a clearTimeout from every call. The timer is not disarmed
 * when the table empties, so sequential calls (the table goes 0, 1, 0, 1...)
 * do not pay for a setTimeout/clearTimeout pair each either: a call whose
 * deadline is later than the armed one adds nothing, and the timer, when it
 * fires, times out what is due, re-arms for the next deadline or, with
 * nothing pending, stops. Granularity: a call times out when the timer for
 * its own deadline fires (the runtime's timer precision, a few ms), never
 * early; closing the session (`rejectAll`) disarms it.
 */

import type { OutgoingObservation } from './observe.js'

interface Entry {
  resolve(value: unknown): void
  reject(reason: Error): void
  /** Absolute ms deadline, or Infinity. */
  deadline: number
  timeoutMs: number
  path: string
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  /** What observes the call (metrics, a span), ended with its outcome when it settles. */
  observation: OutgoingObservation | undefined
}

export interface PendingHooks {
  /** An observed call settled: end its observation (the owner guards the observer). */
  observed?(observation: OutgoingObservation, error: Error | undefined): void
  /** A call ran out of time: the owner sends a cancel and builds the error. */
  timedOut(id: number, timeoutMs: number, path: string): Error
}

type Timer = ReturnType<typeof setTimeout>

/** The longest delay timers accept (about 24.8 days). */
const MAX_TIMER_MS = 0x7fffffff

export class PendingCalls {
  private readonly entries = new Map<number, Entry>()
  private timer: Timer | undefined
  private timerAt = Infinity

  constructor(private readonly hooks: PendingHooks) {}

  get size(): number {
    return this.entries.size
  }

  has(id: number): boolean {
    return this.entries.has(id)
  }

  /** The signal a pending call was made with (a result's streams stop when it fires). */
  signalOf(id: number): AbortSignal | undefined {
    return this.entries.get(id)?.signal
  }

  /** Register a call. `onAbort` runs if `signal` fires first; `observation` ends when the call settles (`PendingHooks.observed`). */
  add(
    id: number, path: string, timeoutMs: number, signal: AbortSignal | undefined, onAbort: (() => void) | undefined,
    observation?: OutgoingObservation,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity
      const entry: Entry = { resolve, reject, deadline, timeoutMs, path, signal, onAbort: undefined, observation }
      if (signal && onAbort) {
        entry.onAbort = onAbort
        signal.addEventListener('abort', onAbort, { once: true })
      }
      this.entries.set(id, entry)
      if (deadline < this.timerAt) this.arm(deadline)
    })
  }

  /** Settle a call with a value or an error. Returns false when it was not pending (late reply). */
  settle(id: number, error: Error | undefined, value?: unknown): boolean {
    const entry = this.entries.get(id)
    if (!entry) return false
    this.entries.delete(id)
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort)
    if (error) entry.reject(error)
    else entry.resolve(value)
    // Here rather than a `then` on the caller's promise: no extra promise per observed call.
    if (entry.observation) this.hooks.observed?.(entry.observation, error)
    return true
  }

  /** Reject everything (connection lost). */
  rejectAll(makeError: () => Error): void {
    const ids = [...this.entries.keys()]
    for (const id of ids) this.settle(id, makeError())
    this.disarm()
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = at
    // Capped: timers overflow past 2^31-1 ms and would fire at once, over and over.
    this.timer = setTimeout(() => this.expire(), Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())))
    // Node: a pending timeout must not keep the process alive on its own.
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
  }

  private expire(): void {
    this.timer = undefined
    this.timerAt = Infinity
    const now = Date.now()
    let next = Infinity
    for (const [id, entry] of this.entries) {
      if (entry.deadline <= now) this.settle(id, this.hooks.timedOut(id, entry.timeoutMs, entry.path))
      else if (entry.deadline < next) next = entry.deadline
    }
    if (next < Infinity && this.entries.size > 0) this.arm(next)
  }
}
