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
 *
 * The entries are kept in a ring of slots indexed by call id, not in a Map.
 * Ids are handed out in sequence, so the calls in flight fall in distinct
 * slots; the ring doubles when half full, and a call still pending when its
 * slot comes round again moves to `overflow`, a Map only long calls reach.
 * Why not a Map for every call: V8 rebuilds a Map's table every few hundred
 * set/delete pairs and links the old table to its successor. Once a dead old
 * table has been promoted to the old generation, that link keeps the next
 * table, and every pending call it held, alive through the next scavenge, to
 * be promoted in turn: a chain that lasts until a full GC and starts again
 * after it. A pipelining client was seen to spend half of its time in it,
 * from some point of a run on (about 2 MB promoted per scavenge instead of
 * 0.15 MB; 4.5 instead of 2.2 µs of CPU per call).
 */

import type { OutgoingObservation } from './observe.js'

interface Entry {
  /** The call's message id. */
  readonly id: number
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

/** Slots of a new table (a power of two); it doubles whenever half of them are in use. */
const FIRST_SLOTS = 16
/** A table this large goes back to `FIRST_SLOTS` when it empties. */
const SHRINK_ABOVE = 1024

export class PendingCalls {
  /** `slots[id & (slots.length - 1)]`: the pending call of that id, or of another id (then look in `overflow`). */
  private slots = emptySlots(FIRST_SLOTS)
  /** Calls whose slot was needed by a later id while they were still pending. */
  private overflow: Map<number, Entry> | undefined
  private count = 0
  private timer: Timer | undefined
  private timerAt = Infinity

  constructor(private readonly hooks: PendingHooks) {}

  get size(): number {
    return this.count
  }

  has(id: number): boolean {
    return this.find(id) !== undefined
  }

  /** The signal a pending call was made with (a result's streams stop when it fires). */
  signalOf(id: number): AbortSignal | undefined {
    return this.find(id)?.signal
  }

  /** Register a call. `onAbort` runs if `signal` fires first; `observation` ends when the call settles (`PendingHooks.observed`). */
  add(
    id: number, path: string, timeoutMs: number, signal: AbortSignal | undefined, onAbort: (() => void) | undefined,
    observation?: OutgoingObservation,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity
      const entry: Entry = { id, resolve, reject, deadline, timeoutMs, path, signal, onAbort: undefined, observation }
      if (signal && onAbort) {
        entry.onAbort = onAbort
        signal.addEventListener('abort', onAbort, { once: true })
      }
      this.insert(entry)
      if (deadline < this.timerAt) this.arm(deadline)
    })
  }

  /** Settle a call with a value or an error. Returns false when it was not pending (late reply). */
  settle(id: number, error: Error | undefined, value?: unknown): boolean {
    const entry = this.find(id)
    if (!entry) return false
    this.remove(entry)
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort)
    if (error) entry.reject(error)
    else entry.resolve(value)
    // Here rather than a `then` on the caller's promise: no extra promise per observed call.
    if (entry.observation) this.hooks.observed?.(entry.observation, error)
    return true
  }

  /** Reject everything (connection lost), oldest call first. */
  rejectAll(makeError: () => Error): void {
    for (const entry of this.all().sort(byAge)) this.settle(entry.id, makeError())
    this.disarm()
  }

  private find(id: number): Entry | undefined {
    const entry = this.slots[id & (this.slots.length - 1)]
    return entry !== undefined && entry.id === id ? entry : this.overflow?.get(id)
  }

  private insert(entry: Entry): void {
    if (this.count >= this.slots.length >> 1) this.grow()
    const slot = entry.id & (this.slots.length - 1)
    const occupant = this.slots[slot]
    if (occupant !== undefined) (this.overflow ??= new Map()).set(occupant.id, occupant)
    this.slots[slot] = entry
    this.count++
  }

  private remove(entry: Entry): void {
    const slot = entry.id & (this.slots.length - 1)
    if (this.slots[slot] === entry) this.slots[slot] = undefined
    else if (this.overflow?.delete(entry.id) && this.overflow.size === 0) this.overflow = undefined
    // Empty after a burst: give the slots back (the ring grows to twice the most calls it held at once).
    if (--this.count === 0 && this.slots.length > SHRINK_ABOVE) this.slots = emptySlots(FIRST_SLOTS)
  }

  /** Twice the slots. Entries in distinct slots stay in distinct slots (`id mod 2n` differs where `id mod n` did). */
  private grow(): void {
    const old = this.slots
    const slots = emptySlots(old.length * 2)
    const mask = slots.length - 1
    for (const entry of old) if (entry !== undefined) slots[entry.id & mask] = entry
    this.slots = slots
  }

  /** Every pending call (slots, then overflow). */
  private all(): Entry[] {
    const list: Entry[] = []
    for (const entry of this.slots) if (entry !== undefined) list.push(entry)
    if (this.overflow) for (const entry of this.overflow.values()) list.push(entry)
    return list
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
    for (const entry of this.all()) {
      // A hook run by an earlier expiry may have settled this one already.
      if (this.find(entry.id) !== entry) continue
      if (entry.deadline <= now) this.settle(entry.id, this.hooks.timedOut(entry.id, entry.timeoutMs, entry.path))
      else if (entry.deadline < next) next = entry.deadline
    }
    // A call made by a hook meanwhile may have armed the timer already, for an earlier deadline.
    if (next < this.timerAt && this.count > 0) this.arm(next)
  }
}

/** `count` slots, each `undefined` (filled rather than left as holes). */
function emptySlots(count: number): (Entry | undefined)[] {
  return new Array<Entry | undefined>(count).fill(undefined)
}

/** Oldest first: ids are handed out in sequence (until they wrap at `MAX_MSGID`); deadlines would not do, timeouts differ per call. */
function byAge(a: Entry, b: Entry): number {
  return a.id - b.id
}
