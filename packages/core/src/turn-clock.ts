/**
 * A clock read twice per turn of the event loop instead of twice per call,
 * for the metrics' latency histograms.
 *
 * On some VMs (this project's CI among them) a clock read is a system call
 * of about 0.1 µs, a few percent of a whole pipelined call; two reads per
 * call on each side were most of what metrics cost. So a turn reads the
 * clock once when something first starts in it (`turnStart()`), and once
 * at its microtask checkpoint for everything that ended in it
 * (`atTurnEnd()`). A latency is then measured from the start of the turn in
 * which a call began (or its request arrived) to the end of the turn in
 * which it settled, which is when its response leaves: the Node transport
 * writes a turn's frames together at its end. A lone call is measured as
 * exactly as before; calls handled in one busy turn all count that turn.
 */

/** Something to be told when the current turn ends, and at what time. */
export interface TurnEnd {
  /** `at`: the clock (`performance.now()`) at the end of the turn in which it was queued. */
  turnEnded(at: number): void
}

/** This turn's start reading, or -1 when nothing read it yet in this turn. */
let startReading = -1
/** Waiting for the end of this turn. */
let ending: TurnEnd[] = []
/** The previous turn's list, emptied: the two swap at each checkpoint instead of allocating a copy. */
let spare: TurnEnd[] = []
let checkpointQueued = false
/**
 * Queues the checkpoint: a resolved promise's `then` runs at the same
 * microtask checkpoint as `queueMicrotask`, at a third of its cost in Node
 * (whose `queueMicrotask` wraps each callback for async hooks; 36 against
 * 100 ns here), and a lone call pays one per turn on each side.
 */
const settled = Promise.resolve()

/** The clock at the first use in this turn. */
export function turnStart(): number {
  if (startReading < 0) {
    startReading = performance.now()
    queueCheckpoint()
  }
  return startReading
}

/** Call `item.turnEnded(at)` at this turn's microtask checkpoint, with one clock read for all of them. */
export function atTurnEnd(item: TurnEnd): void {
  ending.push(item)
  queueCheckpoint()
}

function queueCheckpoint(): void {
  if (checkpointQueued) return
  checkpointQueued = true
  void settled.then(endTurn)
}

function endTurn(): void {
  checkpointQueued = false
  startReading = -1
  if (ending.length === 0) return
  const at = performance.now()
  // Items queued while these run (a hook that starts a call) go to the other list, for the next checkpoint.
  const items = ending
  ending = spare
  for (let i = 0; i < items.length; i++) {
    try {
      items[i]!.turnEnded(at)
    } catch (err) {
      // A broken item loses no other, and still surfaces as the uncaught exception it would have been.
      queueMicrotask(() => { throw err })
    }
  }
  items.length = 0
  spare = items
}
