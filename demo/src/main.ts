/**
 * wirecall live dashboard — the page.
 *
 * The page connects to the server with `@wirecall/browser`, registers its own
 * service (the server calls `getName()`, `clientsChanged()` and `ping()` on it),
 * and reads the server's metrics as a stream with `for await`. The "slow
 * consumer" toggle makes that loop take 2 s per sample: the page's credit runs
 * out and the server's generator pauses (shown from `producerState()`).
 * Behind `npm run demo:cluster` the client list is the whole cluster's, each
 * entry labelled with its node, and "ping" reaches a page on any node.
 */
import { connect, streams } from '@wirecall/browser'
import { ConnectionClosedError, RemoteError, service } from '@wirecall/core'
import { LineChart } from './chart.js'
import { formatNumber } from './chart-data.js'
import type { ClientInfo, Metrics, PageApi, PingResult, ProducerState, ServerApi } from './shared.js'
import './style.css'

type Client = Awaited<ReturnType<typeof connect<ServerApi>>>
type ConnState = 'connecting' | 'open' | 'reconnecting' | 'closed'

// ---------------------------------------------------------------- DOM helpers

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} is missing from index.html`)
  return el as T
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue
    if (k === 'class') node.className = v
    else node.setAttribute(k, v)
  }
  node.append(...children)
  return node
}

const MB = 1024 * 1024
const fmtMB = (v: number) => `${formatNumber(v)} MB`
const fmtMs = (v: number) => `${formatNumber(v)} ms`
const fmtPct = (v: number) => `${formatNumber(v)}%`

function log(text: string, kind: 'info' | 'warn' | 'error' = 'info'): void {
  const list = $('log')
  const time = new Date().toLocaleTimeString([], { hour12: false })
  list.prepend(el('li', { class: `log-${kind}` }, el('time', {}, time), ' ', text))
  while (list.children.length > 60) list.lastElementChild?.remove()
}

// ---------------------------------------------------------------- identity

function pickName(): string {
  const fromQuery = new URLSearchParams(location.search).get('name')?.trim()
  if (fromQuery) return fromQuery.slice(0, 60)
  const key = 'wirecall-demo-name'
  const saved = sessionStorage.getItem(key)
  if (saved) return saved
  const adjectives = ['swift', 'quiet', 'brave', 'lucid', 'amber', 'cosmic', 'gentle', 'rapid', 'sunny', 'witty']
  const animals = ['otter', 'falcon', 'lynx', 'heron', 'panda', 'koala', 'orca', 'fox', 'ibis', 'yak']
  const r = (n: number) => Math.floor(Math.random() * n)
  const name = `${adjectives[r(adjectives.length)]}-${animals[r(animals.length)]}-${r(90) + 10}`
  sessionStorage.setItem(key, name)
  return name
}

const myName = pickName()
let myId: string | undefined
$('my-name').textContent = myName
document.title = `${myName} · wirecall dashboard`

// ---------------------------------------------------------------- charts

const charts = {
  cpu: new LineChart($('chart-cpu'), {
    series: [{ label: 'cpu', color: '#49c5b6' }],
    format: fmtPct,
    minMax: 5,
  }),
  memory: new LineChart($('chart-memory'), {
    series: [
      { label: 'rss', color: '#7aa2ff' },
      { label: 'heap used', color: '#c792ea' },
    ],
    format: fmtMB,
    minMax: 16,
  }),
  loop: new LineChart($('chart-loop'), {
    series: [
      { label: 'p50', color: '#ffcb6b' },
      { label: 'p99', color: '#f78c6c' },
    ],
    format: fmtMs,
    minMax: 2,
  }),
  calls: new LineChart($('chart-calls'), {
    series: [{ label: 'calls/s', color: '#89ddff' }],
    format: (v) => formatNumber(v),
    minMax: 5,
  }),
}

let samples = 0
let serverPid: number | undefined

function onMetrics(m: Metrics): void {
  samples++
  charts.cpu.push(m.t, [m.cpu])
  charts.memory.push(m.t, [m.rss / MB, m.heapUsed / MB])
  charts.loop.push(m.t, [m.loopP50, m.loopP99])
  charts.calls.push(m.t, [m.callsPerSec])
  $('value-cpu').textContent = fmtPct(m.cpu)
  $('value-memory').textContent = fmtMB(m.rss / MB)
  $('value-loop').textContent = `p99 ${fmtMs(m.loopP99)}`
  $('value-calls').textContent = formatNumber(m.callsPerSec)
  $('sample-count').textContent = String(samples)
  $('sample-seq').textContent = `#${m.seq}`
  $('server-uptime').textContent = formatUptime(m.t - m.startedAt)
  if (serverPid !== m.pid) {
    if (serverPid !== undefined) log(`server restarted (pid ${serverPid} → ${m.pid})`, 'warn')
    serverPid = m.pid
    $('server-pid').textContent = String(m.pid)
  }
}

function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(s / 3600)
  const mm = Math.floor((s % 3600) / 60)
  const ss = s % 60
  return h ? `${h}h${String(mm).padStart(2, '0')}m` : mm ? `${mm}m${String(ss).padStart(2, '0')}s` : `${ss}s`
}

// ---------------------------------------------------------------- clients list

/** The last ping result per client id, kept across re-renders of the list. */
const pingResults = new Map<string, { kind: 'pending' | 'result' | 'error'; text: string; title?: string }>()
let lastList: ClientInfo[] = []
/** `clientsChanged` pushes handled so far (see `subscribe`). */
let listPushes = 0

function renderClients(list: ClientInfo[]): void {
  lastList = list
  const ids = new Set(list.map((c) => c.id))
  for (const id of pingResults.keys()) if (!ids.has(id)) pingResults.delete(id)
  const ul = $('client-list')
  ul.replaceChildren(
    ...list.map((c) => {
      const me = c.id === myId
      const since = new Date(c.connectedAt).toLocaleTimeString([], { hour12: false })
      const ping = pingResults.get(c.id)
      const item = el(
        'li',
        { class: me ? 'client me' : 'client', 'data-testid': 'client-item', 'data-client-id': c.id, 'data-me': String(me) },
        el('span', { class: 'dot', 'aria-hidden': 'true' }),
        el('span', { class: 'client-name', 'data-testid': 'client-name' }, c.name ?? 'asking…'),
        me ? el('span', { class: 'tag' }, 'you') : '',
        // Hidden on a single server (no node); in a cluster, where this page is connected.
        c.node ? el('span', { class: 'node-tag mono', 'data-testid': 'client-node', title: 'cluster node' }, c.node) : '',
        el('span', { class: 'client-meta mono muted' }, `${c.id.length > 12 ? `${c.id.slice(0, 12)}…` : c.id} · since ${since}`),
        el('button', { type: 'button', class: 'ping', 'data-testid': 'client-ping', title: `ask the server to call ${c.name ?? 'this page'}'s ping()` }, 'ping'),
      )
      if (ping) {
        item.append(
          el('span', { class: 'ping-result', 'data-testid': 'client-ping-result', 'data-kind': ping.kind, ...(ping.title ? { title: ping.title } : {}) }, ping.text),
        )
      }
      item.querySelector('button')?.addEventListener('click', () => void pingClient(c.id))
      return item
    }),
  )
  $('client-count').textContent = String(list.length)
}

/** Ask our server to call that page's ping() (on whatever node it is connected to); show the answer and round trip. */
async function pingClient(id: string): Promise<void> {
  if (!client) return
  pingResults.set(id, { kind: 'pending', text: 'pinging…' })
  renderClients(lastList)
  const t0 = performance.now()
  try {
    const r: PingResult = await client.remote.pingClient(id)
    const total = performance.now() - t0
    pingResults.set(id, {
      kind: 'result',
      text: `${r.answer} · ${formatNumber(total)} ms`,
      title: `round trip from this page: ${total.toFixed(1)} ms; server ⇄ that page${r.node ? ` (node ${r.node})` : ''}: ${r.rttMs} ms`,
    })
  } catch (err) {
    const e = describeError(err)
    pingResults.set(id, { kind: 'error', text: `${e.name}: ${e.message}` })
  }
  if (pingResults.has(id)) renderClients(lastList)
}

// ---------------------------------------------------------------- connection

function setState(state: ConnState): void {
  const badge = $('conn-state')
  if (badge.dataset.state === state) return
  badge.dataset.state = state
  badge.textContent = state
  document.body.dataset.conn = state
  log(`connection ${state}`, state === 'open' ? 'info' : state === 'closed' ? 'error' : 'warn')
}

/** The page-side service: the server reaches it through `conn.remote` / `conn.notify`. */
const pageService = service({
  getName: () => myName,
  clientsChanged: (list: ClientInfo[]) => {
    listPushes++
    renderClients(list)
  },
  ping: () => `pong from ${myName}`,
}) satisfies PageApi

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc`
let client: Client | undefined

async function subscribe(c: Client): Promise<void> {
  const info = await c.remote.subscribe()
  myId = info.clientId
  $('my-id').textContent = `#${info.clientId.slice(0, 8)}`
  $('my-node').textContent = info.node ? `on node ${info.node}` : ''
  void readMetrics(info.metrics)
  // The server pushes the list on every change, in order with its replies. A push handled while
  // this reply was on its way is as new as the reply or newer (a push and the reply can arrive in
  // one message: the push's handler then runs before this continuation), so it wins.
  const pushesBefore = listPushes
  const list = await c.remote.clients()
  if (listPushes === pushesBefore) renderClients(list)
  log(`subscribed to the metrics stream (a sample every ${info.intervalMs} ms)`)
}

// ---------------------------------------------------------------- the metrics stream

/** How long the "slow consumer" takes per sample, and the credit the page grants (samples the server may run ahead). */
const SLOW_MS = 2_000
const STREAM_WINDOW = 4

let slow = false
/** The stream being read; a newer subscription (after a reconnect) replaces it. */
let current: AsyncIterable<Metrics> | undefined
let readCount = 0

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The charts' feed: one `for await` over the server's async generator, as slow as the toggle says. */
async function readMetrics(metrics: AsyncIterable<Metrics>): Promise<void> {
  current = metrics
  try {
    for await (const m of metrics) {
      if (current !== metrics) break
      readCount++
      onMetrics(m)
      $('stream-read').textContent = `read ${readCount}${m.skipped ? ` · server skipped ${m.skipped}` : ''}`
      if (slow) await sleep(SLOW_MS)
    }
  } catch (err) {
    // The connection dropped: onReconnect subscribes again with a new stream.
    if (!(err instanceof ConnectionClosedError)) log(`metrics stream failed: ${describeError(err).message}`, 'error')
  }
}

$<HTMLButtonElement>('slow-toggle').addEventListener('click', (ev) => {
  slow = !slow
  const button = ev.currentTarget as HTMLButtonElement
  button.setAttribute('aria-pressed', String(slow))
  button.textContent = `slow consumer: ${slow ? 'on' : 'off'}`
  log(slow ? `slow consumer on: ${SLOW_MS / 1000} s per sample` : 'slow consumer off')
})

/** Show what the server's generator is doing: asked with a plain call, which the paused stream never holds back. */
function showProducer(state: ProducerState): void {
  const badge = $('producer-state')
  const label = !state.streaming ? 'idle' : state.paused ? 'paused' : 'running'
  badge.dataset.state = label
  badge.textContent = label
  const detail = $('producer-detail')
  // The server's own counts, for whoever checks that a paused generator sends nothing (e2e).
  detail.dataset.sent = String(state.sent)
  detail.textContent = !state.streaming
    ? 'no stream open'
    : state.paused
      ? `server generator paused ${formatNumber(state.pausedForMs / 1000)} s at its yield: this page's credit is used up; ${state.skipped} samples skipped, none queued`
      : `server generator running: ${state.sent} samples sent, ${state.skipped} skipped`
}

setInterval(() => {
  if (!client || client.state !== 'open') return
  client.remote.producerState().then(showProducer, () => {})
}, 500)

async function start(): Promise<void> {
  setState('connecting')
  // `connect` resolves on the first open; if the server is not up yet, keep trying.
  for (let attempt = 1; ; attempt++) {
    try {
      client = await connect<ServerApi>(wsUrl, {
        service: pageService,
        timeout: 10_000,
        // The metrics arrive as a stream: a page opts into streams (without them they stay out of its bundle).
        streams,
        // Credit of the metrics stream: the server's generator runs at most this many samples ahead of the loop.
        limits: { streamWindow: STREAM_WINDOW },
        reconnect: { initialDelayMs: 200, maxDelayMs: 2_000, factor: 2, jitter: 0.3 },
        whileDisconnected: 'fail',
        onStateChange: setState,
        onReconnect: async (c: Client) => {
          log('reconnected; subscribing again')
          await subscribe(c).catch((err: unknown) => log(`re-subscribe failed: ${describeError(err).message}`, 'error'))
        },
      })
      break
    } catch (err) {
      const delay = Math.min(2_000, 200 * 2 ** Math.min(attempt, 4))
      log(`connect failed (${describeError(err).message || 'error'}); retrying in ${delay} ms`, 'warn')
      setState('connecting')
      await new Promise((r) => setTimeout(r, delay))
    }
  }
  setState(client.state as ConnState)
  try {
    await subscribe(client)
  } catch (err) {
    log(`subscribe failed: ${describeError(err).message}`, 'error')
  }
}

// Leave cleanly so the other tabs' client lists update at once.
addEventListener('pagehide', () => void client?.close().catch(() => {}))
// Back from the back/forward cache the closed client cannot be revived: start afresh.
addEventListener('pageshow', (ev) => {
  if (ev.persisted) location.reload()
})

// ---------------------------------------------------------------- forms

interface ErrorView {
  name: string
  message: string
  code?: string
  detail: string
}

function describeError(err: unknown): ErrorView {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; origin?: unknown; data?: unknown }
    const code = typeof e.code === 'string' ? e.code : undefined
    const bits: string[] = []
    if (code) bits.push(`code ${code}`)
    for (const ctor of [RangeError, TypeError] as const) {
      if (err.constructor === ctor) bits.push(`re-raised here as a real ${ctor.name}`)
    }
    if (err instanceof RemoteError) bits.push('arrived as a RemoteError')
    if (typeof e.origin === 'string') bits.push(`thrown by ${e.origin}`)
    return { name: e.name, message: e.message, ...(code ? { code } : {}), detail: bits.join(' · ') }
  }
  return { name: typeof err, message: String(err), detail: 'not an Error' }
}

/** "3" -> 3; anything that is not a number is sent as the raw string, so the server's validation shows. */
function operand(raw: string): number {
  const t = raw.trim()
  const n = Number(t)
  return (t !== '' && Number.isFinite(n) ? n : t) as number
}

function showDivide(kind: 'result' | 'error' | 'pending', result = '', error?: ErrorView): void {
  const out = $('divide-output')
  out.dataset.kind = kind
  $('divide-result').textContent = result
  $('divide-error-name').textContent = error?.name ?? ''
  $('divide-error-message').textContent = error?.message ?? ''
  $('divide-error-detail').textContent = error?.detail ?? ''
}

$<HTMLFormElement>('divide-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const a = operand($<HTMLInputElement>('divide-a').value)
  const b = operand($<HTMLInputElement>('divide-b').value)
  if (!client) return showDivide('error', '', { name: 'NotConnected', message: 'not connected yet', detail: '' })
  showDivide('pending', '…')
  try {
    const q = await client.remote.divide(a, b)
    showDivide('result', `= ${Number.isInteger(q) ? q : q.toPrecision(12).replace(/0+$/, '')}`)
  } catch (err) {
    showDivide('error', '', describeError(err))
  }
})

$<HTMLFormElement>('echo-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const out = $('echo-result')
  const text = $<HTMLInputElement>('echo-input').value
  if (!client) return void (out.textContent = 'not connected yet')
  const t0 = performance.now()
  try {
    const reply = await client.remote.echo(text)
    out.dataset.kind = 'result'
    out.textContent = reply
    out.title = `round trip ${(performance.now() - t0).toFixed(1)} ms`
  } catch (err) {
    const e = describeError(err)
    out.dataset.kind = 'error'
    out.textContent = `${e.name}: ${e.message}`
  }
})

/** The burst button's calls (enough for a rate: with batches a page makes tens of thousands per second), and how many are outstanding at any time (the server allows 1024). */
const BURST_CALLS = 20_000
const BURST_IN_FLIGHT = 256

$<HTMLButtonElement>('burst').addEventListener('click', async (ev) => {
  const button = ev.currentTarget as HTMLButtonElement
  const out = $('burst-result')
  if (!client) return void (out.textContent = 'not connected yet')
  const c = client
  button.disabled = true
  const total = BURST_CALLS
  const t0 = performance.now()
  try {
    let next = 0
    // Pipelined: BURST_IN_FLIGHT workers, each starting its next call as soon as one settles, so the
    // socket never idles between batches (bench/ measures the same loop against a raw WebSocket).
    const worker = async () => {
      while (next < total) {
        const i = next++
        const text = String(i)
        if ((await c.remote.echo(text)) !== text) throw new Error(`echo(${text}) came back wrong`)
      }
    }
    await Promise.all(Array.from({ length: BURST_IN_FLIGHT }, worker))
    const ms = performance.now() - t0
    out.textContent = `${total} calls in ${ms.toFixed(0)} ms (${formatNumber((total / ms) * 1000)}/s, ${BURST_IN_FLIGHT} in flight)`
  } catch (err) {
    const e = describeError(err)
    out.textContent = `${e.name}: ${e.message}`
  } finally {
    button.disabled = false
  }
})

void start()
