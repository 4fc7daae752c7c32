/**
 * The table of pending calls on its own (pending.ts): a ring of slots
 * indexed by id with an overflow map for calls that outlive their slot.
 * Whatever the order calls settle in, however long one stays pending, each
 * id finds its own call, and timeouts and closing reach every call.
 */
import { afterEach, expect, test, vi } from 'vitest'
import { PendingCalls } from '../src/pending.js'
import { MAX_MSGID } from '../src/protocol.js'

function table() {
  const timedOut: number[] = []
  const pending = new PendingCalls({
    timedOut: (id, ms, path) => {
      timedOut.push(id)
      return new Error(`${path} #${id} timed out after ${ms} ms`)
    },
  })
  return { pending, timedOut }
}

/** Register `id` and record how its promise settles. */
function track(pending: PendingCalls, id: number, timeoutMs = 0) {
  const outcome: { value?: unknown; error?: Error } = {}
  const promise = pending.add(id, `m${id}`, timeoutMs, undefined, undefined).then(
    (value) => void (outcome.value = value),
    (error: Error) => void (outcome.error = error),
  )
  return { outcome, promise }
}

afterEach(() => {
  vi.useRealTimers()
})

test('calls in flight settle out of order, each with its own value', async () => {
  const { pending } = table()
  const calls = Array.from({ length: 1000 }, (_, i) => track(pending, i + 1))
  expect(pending.size).toBe(1000)
  // Every third first, then the rest backwards: no id may find another's call.
  const order = [...calls.keys()].filter((i) => i % 3 === 0).concat([...calls.keys()].filter((i) => i % 3 !== 0).reverse())
  for (const i of order) expect(pending.settle(i + 1, undefined, `v${i + 1}`)).toBe(true)
  await Promise.all(calls.map((c) => c.promise))
  calls.forEach((c, i) => expect(c.outcome.value).toBe(`v${i + 1}`))
  expect(pending.size).toBe(0)
  expect(pending.settle(5, undefined, 'late')).toBe(false) // a late reply finds nothing
})

test('a call pending while thousands of later ids come and go keeps its id', async () => {
  const { pending } = table()
  const long = track(pending, 1)
  // Sequential calls reuse the same few slots: id 1's slot comes round again and again.
  for (let id = 2; id < 5000; id++) {
    const c = track(pending, id)
    expect(pending.has(1)).toBe(true)
    expect(pending.settle(id, undefined, id)).toBe(true)
    await c.promise
    expect(c.outcome.value).toBe(id)
  }
  expect(pending.size).toBe(1)
  expect(pending.settle(1, undefined, 'finally')).toBe(true)
  await long.promise
  expect(long.outcome.value).toBe('finally')
  expect(pending.has(1)).toBe(false)
  expect(pending.size).toBe(0)
})

test('many long calls among many short ones: every id still answers', async () => {
  const { pending } = table()
  const long = new Map<number, ReturnType<typeof track>>()
  let id = 0
  for (let round = 0; round < 200; round++) {
    long.set(++id, track(pending, id)) // one call that stays
    const burst = Array.from({ length: 50 }, () => ++id).map((n) => [n, track(pending, n)] as const)
    for (const [n] of burst) expect(pending.settle(n, undefined, n)).toBe(true)
    await Promise.all(burst.map(([, c]) => c.promise))
  }
  expect(pending.size).toBe(200)
  for (const [n] of long) expect(pending.signalOf(n)).toBeUndefined() // found (no signal given)
  for (const [n] of long) expect(pending.settle(n, undefined, -n)).toBe(true)
  await Promise.all([...long.values()].map((c) => c.promise))
  for (const [n, c] of long) expect(c.outcome.value).toBe(-n)
  expect(pending.size).toBe(0)
})

test('ids near and past 2^31 (the slot index is taken from the low bits)', async () => {
  const { pending } = table()
  const ids = [MAX_MSGID, MAX_MSGID - 1, 2 ** 31, 2 ** 31 - 1, 2 ** 31 + 16, 1, 17]
  const calls = ids.map((n) => track(pending, n))
  for (const n of ids) expect(pending.has(n)).toBe(true)
  for (const n of [...ids].reverse()) expect(pending.settle(n, undefined, n)).toBe(true)
  await Promise.all(calls.map((c) => c.promise))
  calls.forEach((c, i) => expect(c.outcome.value).toBe(ids[i]))
})

test('timeouts reach calls in slots and in the overflow, and only those due', async () => {
  vi.useFakeTimers()
  const { pending, timedOut } = table()
  const slow = track(pending, 1, 1000) // moves to the overflow when id 17, 33... need its slot
  for (let id = 2; id < 100; id++) {
    const c = track(pending, id, 0)
    pending.settle(id, undefined, id)
    await c.promise
  }
  const soon = track(pending, 100, 500)
  const never = track(pending, 101, 0)
  await vi.advanceTimersByTimeAsync(600)
  expect(timedOut).toEqual([100])
  expect(soon.outcome.error?.message).toBe('m100 #100 timed out after 500 ms')
  await vi.advanceTimersByTimeAsync(500)
  expect(timedOut).toEqual([100, 1])
  expect(slow.outcome.error?.message).toBe('m1 #1 timed out after 1000 ms')
  expect(pending.size).toBe(1)
  expect(never.outcome).toEqual({})
  pending.settle(101, undefined, 'ok')
  await never.promise
  expect(never.outcome.value).toBe('ok')
})

test('a call made while calls time out keeps its own, earlier deadline', async () => {
  vi.useFakeTimers()
  const pending = new PendingCalls({
    timedOut: (id) => {
      // The owner of the table reacts to a timeout by making another call (a retry, say).
      if (id === 1) track(pending, 50, 100)
      return new Error(`#${id} timed out`)
    },
  })
  const first = track(pending, 1, 100)
  const later = track(pending, 2, 10_000)
  await vi.advanceTimersByTimeAsync(150)
  expect(first.outcome.error?.message).toBe('#1 timed out')
  expect(pending.has(50)).toBe(true)
  await vi.advanceTimersByTimeAsync(150) // id 50 is due 100 ms after the first timeout, long before id 2
  expect(pending.has(50)).toBe(false)
  expect(later.outcome).toEqual({})
  pending.rejectAll(() => new Error('closed'))
  await later.promise
  expect(later.outcome.error?.message).toBe('closed')
})

test('closing rejects every pending call, oldest first, and leaves the table empty', async () => {
  const { pending } = table()
  const rejectedIn: number[] = []
  const ids = [1, 17, 33, 2, 3, 49, 4] // 17, 33 and 49 share slot 1 with id 1 at first: the overflow holds some
  const calls = ids.map((n) => pending.add(n, `m${n}`, 0, undefined, undefined).catch(() => rejectedIn.push(n)))
  pending.settle(2, undefined, 'two')
  let made = 0
  pending.rejectAll(() => new Error(`closed ${++made}`))
  await Promise.all(calls)
  expect(made).toBe(6)
  expect(rejectedIn).toEqual([1, 3, 4, 17, 33, 49])
  expect(pending.size).toBe(0)
  for (const n of ids) expect(pending.has(n)).toBe(false)
})

test('an abort listener is removed when its call settles, wherever the call was kept', async () => {
  const { pending } = table()
  const controller = new AbortController()
  const remove = vi.spyOn(controller.signal, 'removeEventListener')
  const aborted: number[] = []
  const calls = [1, 17, 33].map((n) => pending.add(n, `m${n}`, 0, controller.signal, () => aborted.push(n)).catch(() => {}))
  expect(pending.signalOf(17)).toBe(controller.signal)
  for (const n of [1, 17, 33]) pending.settle(n, undefined, n)
  await Promise.all(calls)
  expect(remove).toHaveBeenCalledTimes(3)
  controller.abort()
  expect(aborted).toEqual([])
})

test('the slots grow with the calls in flight and go back to a few once they have all settled', async () => {
  const { pending } = table()
  const slotsOf = () => (pending as unknown as { slots: unknown[] }).slots.length
  expect(slotsOf()).toBe(16)
  const burst = Array.from({ length: 10_000 }, (_, i) => track(pending, i + 1))
  expect(slotsOf()).toBe(32_768) // doubled whenever half full: at most twice the calls in flight, rounded up
  for (let id = 1; id <= 9_999; id++) pending.settle(id, undefined, id)
  expect(slotsOf()).toBe(32_768) // not while one call is pending
  pending.settle(10_000, undefined, 10_000)
  await Promise.all(burst.map((c) => c.promise))
  expect(slotsOf()).toBe(16)
  // A steady pipeline of 256 stays within 512 slots (no shrinking while calls are pending).
  const steady = Array.from({ length: 256 }, (_, i) => track(pending, 20_000 + i))
  expect(slotsOf()).toBe(512)
  for (let i = 0; i < 256; i++) pending.settle(20_000 + i, undefined, i)
  await Promise.all(steady.map((c) => c.promise))
  expect(pending.size).toBe(0)
})
