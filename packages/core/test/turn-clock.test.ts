/**
 * The metrics' turn clock (turn-clock.ts): one reading when a turn first
 * starts something, one at its microtask checkpoint for everything that
 * ended in it.
 */
import { describe, expect, it } from 'vitest'
import { atTurnEnd, turnStart, type TurnEnd } from '../src/turn-clock.js'

const nextMacrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

describe('turn clock', () => {
  it('reads the start once per turn and tells every item of the turn the same end', async () => {
    await nextMacrotask()
    const first = turnStart()
    const spin = performance.now() + 2
    while (performance.now() < spin) {
      // the turn goes on: later starts in it still read its first reading
    }
    expect(turnStart()).toBe(first)
    const ends: number[] = []
    const item: TurnEnd = { turnEnded: (at) => ends.push(at) }
    atTurnEnd(item)
    atTurnEnd(item)
    expect(ends).toEqual([])
    await nextMacrotask()
    expect(ends).toHaveLength(2)
    expect(ends[0]).toBe(ends[1])
    expect(ends[0]! - first).toBeGreaterThanOrEqual(2)
    expect(turnStart()).toBeGreaterThan(first)
  })

  it('an item queued while the checkpoint runs waits for the next one; one that throws does not lose the others', async () => {
    await nextMacrotask()
    const seen: string[] = []
    const later: TurnEnd = { turnEnded: () => seen.push('later') }
    atTurnEnd({ turnEnded: () => { seen.push('first'); atTurnEnd(later) } })
    atTurnEnd({ turnEnded: () => { throw new Error('a broken item') } })
    atTurnEnd({ turnEnded: () => seen.push('after the broken one') })
    const failures: unknown[] = []
    const onError = (err: unknown) => failures.push(err)
    process.on('uncaughtException', onError)
    try {
      await nextMacrotask()
      await nextMacrotask()
    } finally {
      process.off('uncaughtException', onError)
    }
    expect(failures).toHaveLength(1)
    expect(seen).toEqual(['first', 'after the broken one', 'later'])
    // And the clock goes on working afterwards.
    const after: number[] = []
    atTurnEnd({ turnEnded: (at) => after.push(at) })
    await nextMacrotask()
    expect(after).toHaveLength(1)
  })
})
