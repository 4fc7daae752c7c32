/**
 * A small live line chart on <canvas>: a rolling window of points, y axis with
 * "nice" ticks, a time axis in seconds before the newest point, a legend, and
 * line breaks where samples are missing (e.g. while the server restarts).
 *
 * No dependencies; pure helpers (RollingWindow, niceTicks) are exported for tests.
 */

export interface SeriesSpec {
  label: string
  color: string
}

export interface ChartOptions {
  series: SeriesSpec[]
  /** How many points to keep (default 120: one minute at 500 ms). */
  capacity?: number
  /** Width of the time axis in ms (default 60 000). */
  windowMs?: number
  /** Break the line between two samples further apart than this (default 2 000 ms). */
  gapMs?: number
  /** Format a y value for ticks and the legend. */
  format?: (v: number) => string
  /** The y axis always reaches at least this value, so a flat line still has a scale. */
  minMax?: number
  /** Fill the area under the first series. */
  fill?: boolean
}

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

const PAD = { left: 56, right: 12, top: 26, bottom: 24 }

export class LineChart {
  readonly points: RollingWindow<Point>
  private readonly opts: Required<Omit<ChartOptions, 'format'>> & { format: (v: number) => string }
  private readonly resize?: ResizeObserver
  private draws = 0

  constructor(
    readonly canvas: HTMLCanvasElement,
    options: ChartOptions,
  ) {
    this.opts = {
      capacity: 120,
      windowMs: 60_000,
      gapMs: 2_000,
      format: (v) => formatNumber(v),
      minMax: 1,
      fill: true,
      ...options,
    }
    this.points = new RollingWindow<Point>(this.opts.capacity)
    if (typeof ResizeObserver !== 'undefined') {
      this.resize = new ResizeObserver(() => this.draw())
      this.resize.observe(canvas)
    }
    this.draw()
  }

  /** Add a sample (values in series order; null = no value) and redraw. */
  push(t: number, values: readonly (number | null)[]): void {
    const last = this.points.last()
    // Samples from a restarted server may come with a clock that went backwards a little; keep time monotonic.
    if (last && t <= last.t) t = last.t + 1
    this.points.push({ t, values })
    this.draw()
  }

  clear(): void {
    this.points.clear()
    this.draw()
  }

  destroy(): void {
    this.resize?.disconnect()
  }

  draw(): void {
    const { canvas } = this
    const ctx = canvas.getContext('2d')
    if (!ctx) return
    const dpr = window.devicePixelRatio || 1
    const cssW = Math.max(120, canvas.clientWidth || 320)
    const cssH = Math.max(80, canvas.clientHeight || 160)
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr)
      canvas.height = Math.round(cssH * dpr)
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, cssW, cssH)

    const style = getComputedStyle(canvas)
    const cssVar = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback
    const textColor = cssVar('--chart-text', '#8b93a7')
    const gridColor = cssVar('--chart-grid', 'rgba(139,147,167,0.15)')
    const axisColor = cssVar('--chart-axis', 'rgba(139,147,167,0.5)')
    const font = `11px ${cssVar('--chart-font', 'system-ui, sans-serif')}`

    const plotW = cssW - PAD.left - PAD.right
    const plotH = cssH - PAD.top - PAD.bottom
    const pts = this.points.toArray()
    const tEnd = pts.length ? pts[pts.length - 1]!.t : Date.now()
    const tStart = tEnd - this.opts.windowMs

    // y scale from the visible values
    let dataMax = -Infinity
    for (const p of pts) {
      if (p.t < tStart) continue
      for (const v of p.values) if (v !== null && Number.isFinite(v) && v > dataMax) dataMax = v
    }
    const max = Math.max(this.opts.minMax, dataMax)
    const ticks = niceTicks(0, max * 1.05, 4)
    const yMax = ticks[ticks.length - 1] ?? 1
    const x = (t: number) => PAD.left + ((t - tStart) / this.opts.windowMs) * plotW
    const y = (v: number) => PAD.top + plotH - (v / yMax) * plotH

    ctx.font = font
    ctx.lineWidth = 1

    // grid + y labels
    ctx.textAlign = 'right'
    ctx.textBaseline = 'middle'
    for (const tv of ticks) {
      const yy = Math.round(y(tv)) + 0.5
      ctx.strokeStyle = gridColor
      ctx.beginPath()
      ctx.moveTo(PAD.left, yy)
      ctx.lineTo(PAD.left + plotW, yy)
      ctx.stroke()
      ctx.fillStyle = textColor
      ctx.fillText(this.opts.format(tv), PAD.left - 6, yy)
    }

    // x labels: seconds before the newest sample
    ctx.textAlign = 'center'
    ctx.textBaseline = 'top'
    const spanS = this.opts.windowMs / 1000
    const stepS = niceStep(spanS / 4)
    for (let s = 0; s <= spanS + 1e-9; s += stepS) {
      const xx = Math.round(x(tEnd - s * 1000)) + 0.5
      ctx.strokeStyle = gridColor
      ctx.beginPath()
      ctx.moveTo(xx, PAD.top)
      ctx.lineTo(xx, PAD.top + plotH)
      ctx.stroke()
      ctx.fillStyle = textColor
      ctx.textAlign = s === 0 ? 'right' : s >= spanS ? 'left' : 'center'
      ctx.fillText(s === 0 ? 'now' : `-${s}s`, xx, PAD.top + plotH + 6)
    }

    // axes
    ctx.strokeStyle = axisColor
    ctx.beginPath()
    ctx.moveTo(PAD.left + 0.5, PAD.top)
    ctx.lineTo(PAD.left + 0.5, PAD.top + plotH + 0.5)
    ctx.lineTo(PAD.left + plotW, PAD.top + plotH + 0.5)
    ctx.stroke()

    // series, clipped to the plot area
    ctx.save()
    ctx.beginPath()
    ctx.rect(PAD.left, PAD.top - 1, plotW, plotH + 2)
    ctx.clip()
    this.opts.series.forEach((spec, si) => {
      const runs = this.runs(pts, si, tStart)
      if (this.opts.fill && si === 0) {
        const grad = ctx.createLinearGradient(0, PAD.top, 0, PAD.top + plotH)
        grad.addColorStop(0, withAlpha(spec.color, 0.28))
        grad.addColorStop(1, withAlpha(spec.color, 0.02))
        ctx.fillStyle = grad
        for (const run of runs) {
          if (run.length < 2) continue
          ctx.beginPath()
          ctx.moveTo(x(run[0]!.t), y(0))
          for (const p of run) ctx.lineTo(x(p.t), y(p.v))
          ctx.lineTo(x(run[run.length - 1]!.t), y(0))
          ctx.closePath()
          ctx.fill()
        }
      }
      ctx.strokeStyle = spec.color
      ctx.fillStyle = spec.color
      ctx.lineWidth = 1.75
      ctx.lineJoin = 'round'
      ctx.lineCap = 'round'
      for (const run of runs) {
        if (run.length === 1) {
          ctx.beginPath()
          ctx.arc(x(run[0]!.t), y(run[0]!.v), 1.75, 0, Math.PI * 2)
          ctx.fill()
          continue
        }
        ctx.beginPath()
        run.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p.v)) : ctx.lineTo(x(p.t), y(p.v))))
        ctx.stroke()
      }
    })
    ctx.restore()

    // legend: swatch, label, latest value
    ctx.textBaseline = 'middle'
    ctx.textAlign = 'left'
    let lx = PAD.left
    const last = pts[pts.length - 1]
    this.opts.series.forEach((spec, si) => {
      const v = last?.values[si]
      const text = `${spec.label} ${v === null || v === undefined ? '–' : this.opts.format(v)}`
      ctx.fillStyle = spec.color
      ctx.fillRect(lx, 9, 10, 3)
      ctx.fillStyle = textColor
      ctx.fillText(text, lx + 14, 11)
      lx += 14 + ctx.measureText(text).width + 16
    })

    if (pts.length === 0) {
      ctx.fillStyle = textColor
      ctx.textAlign = 'center'
      ctx.fillText('waiting for data…', PAD.left + plotW / 2, PAD.top + plotH / 2)
    }

    // observable state for tests and curious humans
    this.draws++
    canvas.dataset.points = String(this.points.size)
    canvas.dataset.draws = String(this.draws)
    canvas.dataset.max = Number.isFinite(dataMax) ? String(dataMax) : ''
    if (last) {
      canvas.dataset.lastT = String(last.t)
      canvas.dataset.last = JSON.stringify(last.values)
    }
  }

  /** Contiguous runs of (t, v) for one series inside the window; a gap or a null ends a run. */
  private runs(pts: Point[], si: number, tStart: number): { t: number; v: number }[][] {
    // start one point left of the window so the line enters from the edge (the plot is clipped)
    let from = pts.findIndex((p) => p.t >= tStart)
    if (from < 0) return []
    if (from > 0) from--
    const runs: { t: number; v: number }[][] = []
    let cur: { t: number; v: number }[] = []
    let prevT = -Infinity
    for (const p of pts.slice(from)) {
      const v = p.values[si]
      const ok = v !== null && v !== undefined && Number.isFinite(v)
      if (!ok || p.t - prevT > this.opts.gapMs) {
        if (cur.length) runs.push(cur)
        cur = []
      }
      prevT = p.t
      if (ok) cur.push({ t: p.t, v: v as number })
    }
    if (cur.length) runs.push(cur)
    return runs
  }
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
