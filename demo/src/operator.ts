/**
 * The operator panel (operator.html): a live view of the server this page is
 * connected to, fed over wirecall itself. Once a second it calls
 * `operator()`, which returns the server's `createMetrics()` snapshot, and
 * renders connections (identity, node, bytes, drops, references and streams
 * held: the leak inspector), top methods by calls and by latency, error rates and slow
 * consumers.
 */
import { connect } from '@wirecall/browser'
import type { MethodMetrics, MetricsSnapshot } from '@wirecall/core'
import type { OperatorView, ServerApi } from './shared.js'
import './style.css'

const REFRESH_MS = 1000

function $(id: string): HTMLElement {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} is missing from operator.html`)
  return el
}

function row(cells: (string | number)[], attrs: Record<string, string> = {}): HTMLTableRowElement {
  const tr = document.createElement('tr')
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v)
  for (const cell of cells) {
    const td = document.createElement('td')
    td.textContent = String(cell)
    tr.append(td)
  }
  return tr
}

const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`)
const pct = (part: number, whole: number) => (whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`)
const ms = (v: number) => (v === 0 ? '–' : `≤ ${v} ms`)
const ago = (t: number) => `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago`

function totals(m: MetricsSnapshot): [string, string][] {
  const calls = m.callsIn.reduce((n, x) => n + x.count, 0)
  const errors = m.callsIn.reduce((n, x) => n + x.errors, 0)
  return [
    ['connections', String(m.sessions)],
    ['opened since start', String(m.sessionsOpened)],
    ['calls handled', String(calls)],
    ['error rate', pct(errors, calls)],
    ['bytes in / out', `${bytes(m.bytesIn)} / ${bytes(m.bytesOut)}`],
    ['notifications dropped', String(m.dropped)],
    ['slow consumers now', String(m.slowConsumers)],
  ]
}

function render(view: OperatorView): void {
  const m = view.metrics
  $('op-node').textContent = view.node ? `node ${view.node}` : 'single server'
  const dl = $('op-totals')
  dl.replaceChildren(...totals(m).flatMap(([k, v]) => {
    const dt = document.createElement('dt')
    dt.textContent = k
    const dd = document.createElement('dd')
    dd.textContent = v
    dd.dataset.testid = `op-total-${k.replaceAll(' ', '-').replaceAll('/', '')}`
    return [dt, dd]
  }))
  const byCalls = [...m.callsIn].sort((a, b) => b.count - a.count).slice(0, 10)
  $('op-top-calls').replaceChildren(...byCalls.map((x: MethodMetrics) =>
    row([x.method, x.count, x.errors, pct(x.errors, x.count), x.inFlight], { 'data-testid': 'op-method', 'data-method': x.method })))
  const byLatency = [...m.callsIn].filter((x) => x.count > 0).sort((a, b) => b.p99Ms - a.p99Ms || b.p50Ms - a.p50Ms).slice(0, 10)
  $('op-top-latency').replaceChildren(...byLatency.map((x) => row([x.method, ms(x.p50Ms), ms(x.p99Ms), x.count])))
  $('op-connections').replaceChildren(...m.perSession.map((s) => row([
    s.id ?? '?', view.names[s.id ?? ''] ?? '…', view.node ?? '–', s.peer ?? '', ago(s.since), s.callsIn, s.errorsIn,
    `${bytes(s.bytesIn)} / ${bytes(s.bytesOut)}`, s.dropped, `${s.exportedRefs} / ${s.importedRefs}`,
    `${s.outgoingStreams} / ${s.incomingStreams}`,
  ], { 'data-testid': 'op-connection', 'data-id': s.id ?? '' })))
}

const state = $('op-state')
const setState = (s: string) => {
  state.textContent = s
  state.dataset.state = s
}

const client = await connect<ServerApi>(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc`)
client.onStateChange(setState)
setState(client.state)

async function refresh(): Promise<void> {
  try {
    render(await client.remote.operator())
  } catch {
    // Disconnected: the badge says so; the next tick tries again.
  }
  setTimeout(() => void refresh(), REFRESH_MS)
}
void refresh()
