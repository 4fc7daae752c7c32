/**
 * The data side of the live charts, free of DOM and uPlot so that it is unit-tested in Node:
 * a rolling window of samples, "nice" y ticks, uPlot's columnar data with gaps, number formats.
 */

export interface Point {
  t: number
  values: readonly (number | null)[]
}

/** Fixed-capacity FIFO: pushing past capacity drops the oldest point. */
export class RollingWindow<T> {
  private buf: (T | undefined)[]
  private start = 0
  private count = 0

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.buf = new Array<T | undefined>(capacity)
  }

  get size(): number {
    return this.count
  }

  push(item: T): void {
    const end = (this.start + this.count) % this.capacity
    this.buf[end] = item
    if (this.count < this.capacity) this.count++
    else this.start = (this.start + 1) % this.capacity
  }

  at(i: number): T | undefined {
    if (i < 0) i += this.count
    if (i < 0 || i >= this.count) return undefined
    return this.buf[(this.start + i) % this.capacity]
  }

  last(): T | undefined {
    return this.at(-1)
  }

  clear(): void {
    this.buf = new Array<T | undefined>(this.capacity)
    this.start = 0
    this.count = 0
  }

  toArray(): T[] {
    const out: T[] = []
    for (let i = 0; i < this.count; i++) out.push(this.buf[(this.start + i) % this.capacity] as T)
    return out
  }
}

/** Round a positive step up to 1, 2, 2.5 or 5 times a power of ten. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1
  const mag = 10 ** Math.floor(Math.log10(raw))
  const norm = raw / mag
  const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10
  return nice * mag
}

/** Evenly spaced round tick values covering [min, max] with about `count` intervals. */
export function niceTicks(min: number, max: number, count = 4): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1]
  if (max < min) [min, max] = [max, min]
  if (max === min) max = min + 1
  const step = niceStep((max - min) / Math.max(1, count))
  const lo = Math.floor(min / step + 1e-9) * step
  const hi = Math.ceil(max / step - 1e-9) * step
  const ticks: number[] = []
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)))
  return ticks
}

/**
 * uPlot's columnar data ([times, series 1, series 2, ...]) from points in time order. Where two
 * samples are more than `gapMs` apart a row of nulls goes in between, which uPlot draws as a break.
 */
export function toColumns(points: readonly Point[], seriesCount: number, gapMs: number): (number | null)[][] {
  const cols: (number | null)[][] = Array.from({ length: seriesCount + 1 }, () => [])
  let prevT = -Infinity
  for (const p of points) {
    if (p.t - prevT > gapMs && prevT !== -Infinity) {
      cols[0]!.push(prevT + 1)
      for (let s = 1; s <= seriesCount; s++) cols[s]!.push(null)
    }
    prevT = p.t
    cols[0]!.push(p.t)
    for (let s = 1; s <= seriesCount; s++) {
      const v = p.values[s - 1]
      cols[s]!.push(v !== null && v !== undefined && Number.isFinite(v) ? v : null)
    }
  }
  return cols
}

/** Indices of values with no non-null neighbour: a line cannot show them, so they are drawn as dots. */
export function isolatedIndices(values: ArrayLike<number | null | undefined>): number[] {
  const out: number[] = []
  for (let i = 0; i < values.length; i++) {
    if ((values[i] ?? null) !== null && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null) out.push(i)
  }
  return out
}

export function formatNumber(v: number): string {
  const a = Math.abs(v)
  if (a === 0) return '0'
  if (a >= 1000) return `${Math.round(v / 100) / 10}k`
  if (a >= 100) return String(Math.round(v))
  if (a >= 10) return String(Math.round(v * 10) / 10)
  if (a >= 1) return String(Math.round(v * 100) / 100)
  return String(Math.round(v * 1000) / 1000)
}

/** '#rrggbb' or '#rgb' -> rgba(); other color strings are returned unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim())
  if (!m) return color
  let hex = m[1]!
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join('')
  const n = parseInt(hex, 16)
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`
}
