import { describe, expect, it } from 'vitest'
import { RollingWindow, formatNumber, isolatedIndices, niceStep, niceTicks, toColumns, withAlpha } from '../src/chart-data.js'

describe('RollingWindow', () => {
  it('keeps the newest `capacity` items in order', () => {
    const w = new RollingWindow<number>(3)
    expect(w.size).toBe(0)
    expect(w.last()).toBeUndefined()
    for (let i = 1; i <= 5; i++) w.push(i)
    expect(w.size).toBe(3)
    expect(w.toArray()).toEqual([3, 4, 5])
    expect(w.at(0)).toBe(3)
    expect(w.at(-1)).toBe(5)
    expect(w.at(3)).toBeUndefined()
    w.clear()
    expect(w.toArray()).toEqual([])
  })

  it('holds 120 points of a long feed', () => {
    const w = new RollingWindow<number>(120)
    for (let i = 0; i < 1000; i++) w.push(i)
    expect(w.size).toBe(120)
    expect(w.at(0)).toBe(880)
    expect(w.last()).toBe(999)
  })

  it('rejects a bad capacity', () => {
    expect(() => new RollingWindow(0)).toThrow(RangeError)
  })
})

describe('niceTicks', () => {
  it('covers the range with round steps', () => {
    expect(niceTicks(0, 1, 4)).toEqual([0, 0.25, 0.5, 0.75, 1])
    expect(niceTicks(0, 87, 4)).toEqual([0, 25, 50, 75, 100])
    expect(niceTicks(0, 3.2, 4)).toEqual([0, 1, 2, 3, 4])
  })

  it('survives degenerate input', () => {
    expect(niceTicks(5, 5).length).toBeGreaterThan(1)
    expect(niceTicks(NaN, 1)).toEqual([0, 1])
    expect(niceTicks(10, 0)[0]).toBe(0)
  })

  it('niceStep rounds up to 1/2/2.5/5 x 10^n', () => {
    expect(niceStep(0.7)).toBe(1)
    expect(niceStep(15)).toBe(20)
    expect(niceStep(22)).toBe(25)
    expect(niceStep(420)).toBe(500)
    expect(niceStep(0)).toBe(1)
  })
})

describe('formatting', () => {
  it('formats numbers compactly', () => {
    expect(formatNumber(0)).toBe('0')
    expect(formatNumber(1234)).toBe('1.2k')
    expect(formatNumber(123.4)).toBe('123')
    expect(formatNumber(12.34)).toBe('12.3')
    expect(formatNumber(1.234)).toBe('1.23')
    expect(formatNumber(0.1234)).toBe('0.123')
  })

  it('adds alpha to hex colors', () => {
    expect(withAlpha('#49c5b6', 0.5)).toBe('rgba(73, 197, 182, 0.5)')
    expect(withAlpha('#fff', 1)).toBe('rgba(255, 255, 255, 1)')
    expect(withAlpha('red', 0.5)).toBe('red')
  })
})

describe('toColumns (uPlot data)', () => {
  const p = (t: number, ...values: (number | null)[]) => ({ t, values })

  it('turns points into [times, series...] columns', () => {
    expect(toColumns([p(1000, 1, 2), p(1500, 3, null)], 2, 2000)).toEqual([
      [1000, 1500],
      [1, 3],
      [2, null],
    ])
    expect(toColumns([], 1, 2000)).toEqual([[], []])
  })

  it('puts a row of nulls where samples are further apart than gapMs, so the line breaks', () => {
    expect(toColumns([p(1000, 1), p(1500, 2), p(9000, 3)], 1, 2000)).toEqual([
      [1000, 1500, 1501, 9000],
      [1, 2, null, 3],
    ])
  })

  it('maps non-finite values to null', () => {
    expect(toColumns([p(0, NaN), p(1, Infinity)], 1, 2000)[1]).toEqual([null, null])
  })

  it('finds the values a line cannot show (no neighbour)', () => {
    expect(isolatedIndices([5])).toEqual([0])
    expect(isolatedIndices([1, 2, null, 3, null, 4, 5])).toEqual([3])
    expect(isolatedIndices([null, null])).toEqual([])
  })
})
