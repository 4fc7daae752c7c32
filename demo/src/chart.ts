/**
 * A live line chart: a rolling window of samples drawn with uPlot (canvas, made
 * for streaming time series). This file keeps the dashboard's look and rules on
 * top of it: a y axis from 0 with "nice" ticks, a time axis in seconds before
 * the newest sample, a legend with the latest values (the hovered ones under
 * the cursor), a gradient under the first series, and line breaks where
 * samples are missing (e.g. while the server restarts).
 *
 * The data side (rolling window, ticks, columns, formatting) is in chart-data.ts.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { RollingWindow, formatNumber, isolatedIndices, niceStep, niceTicks, toColumns, withAlpha, type Point } from './chart-data.js'

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

/** Height of the legend row above the plot, in CSS pixels. */
const LEGEND_PX = 22
/** Left (y labels), right, and bottom (x labels) room around the plot, in CSS pixels. */
const PAD = { left: 56, right: 12, bottom: 24 }

export class LineChart {
  readonly points: RollingWindow<Point>
  private readonly opts: Required<Omit<ChartOptions, 'format'>> & { format: (v: number) => string }
  private readonly plot: uPlot
  private readonly resize?: ResizeObserver
  /** The y ticks of the current data (the y range is [0, last tick]). */
  private yTicks: number[] = [0, 1]
  private tEnd = Date.now()
  private draws = 0

  constructor(
    readonly container: HTMLElement,
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
    this.yTicks = niceTicks(0, this.opts.minMax * 1.05, 4)

    const style = getComputedStyle(container)
    const cssVar = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback
    const textColor = cssVar('--chart-text', '#8b93a7')
    const gridColor = cssVar('--chart-grid', 'rgba(139,147,167,0.15)')
    const axisColor = cssVar('--chart-axis', 'rgba(139,147,167,0.5)')
    const font = `11px ${cssVar('--chart-font', 'system-ui, sans-serif')}`
    const axis = {
      stroke: textColor,
      font,
      grid: { stroke: gridColor, width: 1 },
      ticks: { show: false },
      border: { show: true, stroke: axisColor, width: 1 },
      gap: 6,
    }
    const { format } = this.opts

    const opts: uPlot.Options = {
      ...this.size(),
      padding: [8, PAD.right, 0, 0],
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: {
        // Above the plot, as a row of swatch + label + value.
        mount: (_u, el) => container.prepend(el),
        // A solid swatch of the line colour (uPlot's default marker shows the fill).
        markers: { width: 0, fill: (_u, si) => this.opts.series[si - 1]?.color ?? textColor },
      },
      scales: {
        x: { time: false, range: () => [this.tEnd - this.opts.windowMs, this.tEnd] },
        y: { range: () => [0, this.yMax()] },
      },
      axes: [
        {
          ...axis,
          size: PAD.bottom,
          splits: () => this.xTicks(),
          values: (_u, splits) => splits.map((t) => relativeLabel(this.tEnd - t)),
        },
        {
          ...axis,
          size: PAD.left,
          splits: () => this.yTicks,
          values: (_u, splits) => splits.map(format),
        },
      ],
      series: [
        { label: 'time' },
        ...this.opts.series.map(
          (spec, i): uPlot.Series => ({
            label: spec.label,
            stroke: spec.color,
            width: 1.75,
            spanGaps: false,
            fill: this.opts.fill && i === 0 ? (u) => gradient(u, spec.color) : undefined,
            // Off the plot the legend shows the newest value; under the cursor, the hovered one.
            value: (u, v, si, idx) => {
              const shown = idx === null ? lastValue(u.data[si]) : v
              return shown === null || shown === undefined ? '–' : format(shown)
            },
            points: { show: true, size: 3.5, fill: spec.color, filter: (u, si) => isolatedIndices(u.data[si] ?? []) },
          }),
        ),
      ],
      hooks: {
        draw: [
          (u) => {
            if (this.points.size === 0) {
              const { ctx, bbox } = u
              ctx.save()
              ctx.fillStyle = textColor
              ctx.font = `${Math.round(11 * uPlot.pxRatio)}px ${cssVar('--chart-font', 'system-ui, sans-serif')}`
              ctx.textAlign = 'center'
              ctx.textBaseline = 'middle'
              ctx.fillText('waiting for data…', bbox.left + bbox.width / 2, bbox.top + bbox.height / 2)
              ctx.restore()
            }
            this.draws++
            container.dataset.draws = String(this.draws)
          },
        ],
      },
    }
    this.plot = new uPlot(opts, toColumns([], this.opts.series.length, this.opts.gapMs) as uPlot.AlignedData, container)
    if (typeof ResizeObserver !== 'undefined') {
      this.resize = new ResizeObserver(() => this.plot.setSize(this.size()))
      this.resize.observe(container)
    }
  }

  /** Add a sample (values in series order; null = no value) and redraw. */
  push(t: number, values: readonly (number | null)[]): void {
    const last = this.points.last()
    // Samples from a restarted server may come with a clock that went backwards a little; keep time monotonic.
    if (last && t <= last.t) t = last.t + 1
    this.points.push({ t, values })
    this.update()
  }

  clear(): void {
    this.points.clear()
    this.update()
  }

  destroy(): void {
    this.resize?.disconnect()
    this.plot.destroy()
  }

  private update(): void {
    const pts = this.points.toArray()
    const last = pts[pts.length - 1]
    this.tEnd = last ? last.t : Date.now()
    const tStart = this.tEnd - this.opts.windowMs
    let dataMax = -Infinity
    for (const p of pts) {
      if (p.t < tStart) continue
      for (const v of p.values) if (v !== null && Number.isFinite(v) && v > dataMax) dataMax = v
    }
    this.yTicks = niceTicks(0, Math.max(this.opts.minMax, dataMax) * 1.05, 4)
    this.plot.setData(toColumns(pts, this.opts.series.length, this.opts.gapMs) as uPlot.AlignedData)

    // observable state for tests and curious humans
    const { dataset } = this.container
    dataset.points = String(this.points.size)
    dataset.max = Number.isFinite(dataMax) ? String(dataMax) : ''
    if (last) {
      dataset.lastT = String(last.t)
      dataset.last = JSON.stringify(last.values)
    }
  }

  /** Times of the x ticks: `now` and round steps of seconds before it, to the window's start. */
  private xTicks(): number[] {
    const spanS = this.opts.windowMs / 1000
    const stepS = niceStep(spanS / 4)
    const ticks: number[] = []
    for (let s = 0; s <= spanS + 1e-9; s += stepS) ticks.unshift(this.tEnd - s * 1000)
    return ticks
  }

  private yMax(): number {
    return this.yTicks[this.yTicks.length - 1] ?? 1
  }

  /** The plot fills the container below the legend row. */
  private size(): { width: number; height: number } {
    return {
      width: Math.max(120, this.container.clientWidth || 320),
      height: Math.max(80, (this.container.clientHeight || 190) - LEGEND_PX),
    }
  }
}

function relativeLabel(msBeforeNewest: number): string {
  const s = Math.round(msBeforeNewest / 1000)
  return s === 0 ? 'now' : `-${s}s`
}

function lastValue(values: ArrayLike<number | null | undefined> | undefined): number | null {
  if (!values) return null
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i]
    if (v !== null && v !== undefined) return v
  }
  return null
}

/** A vertical fade of `color` over the plot area (uPlot's bbox is in canvas pixels). */
function gradient(u: uPlot, color: string): CanvasGradient | string {
  // Before the first layout the plot box is not known yet.
  if (!Number.isFinite(u.bbox?.top) || !Number.isFinite(u.bbox?.height)) return withAlpha(color, 0.28)
  const g = u.ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height)
  g.addColorStop(0, withAlpha(color, 0.28))
  g.addColorStop(1, withAlpha(color, 0.02))
  return g
}
