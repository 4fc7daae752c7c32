/**
 * wirecall live dashboard — the server.
 *
 * One Node process on 127.0.0.1 serves the Vite-built page (demo/dist) with
 * node:http and the wirecall WebSocket on the same port at /rpc.
 *
 *   node server-dist/server.js               (port 5173, or the next free one up to 5192)
 *   PORT=8080 node server-dist/server.js     (exactly 8080; exits with a message if it is taken)
 *   PORT=0 node server-dist/server.js        (any free port)
 *   PORT_FROM=5180 node server-dist/server.js (5180, or the next free one up to 5199)
 *
 * As one node of a cluster (see cluster.ts, `npm run demo:cluster`):
 *
 *   REDIS_URL=redis://127.0.0.1:6379 NODE_ID=node1 node server-dist/server.js
 *
 * joins the other demo servers on that Redis with `@wirecall/redis`: the client
 * list then shows every node's pages (each labelled with its node), and
 * `pingClient(id)` reaches a page wherever it is connected.
 *
 * The page subscribes and gets a stream of process metrics (an async generator
 * on this side, `for await` in the page), one sample every 500 ms, with
 * backpressure: a page that reads slowly stops the generator instead of making
 * the server buffer (it then skips the samples it was not asked for; see
 * `metricsStream`). The server also
 * calls each page's own service: `getName()` when it connects and
 * `clientsChanged(list)` whenever the client list changes, and `ping()` when
 * another page asks for it (`pingClient`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createReadStream, statSync } from 'node:fs'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createMetrics, service, withContext, type CallContext } from '@wirecall/core'
import { serve, type Cluster, type Connection } from '@wirecall/node'
import {
  INVALID_OPERAND,
  type ClientInfo,
  type Metrics,
  type OperatorView,
  type PageApi,
  type PingResult,
  type ProducerState,
  type SubscribeResult,
} from './src/shared.js'

const HOST = '127.0.0.1'
const DEFAULT_PORT = 5173
/**
 * Without PORT, a taken 5173 (another demo, a Vite dev server) moves the demo up to the next free
 * port. An explicit PORT is kept exactly: a restarted server must come back where its pages are.
 */
const PORT_ATTEMPTS = 20
const PORT_IS_EXPLICIT = process.env.PORT !== undefined && process.env.PORT !== ''
/** PORT exactly, or the first port to try (PORT_FROM, else 5173) when it is unset. */
const PORT = PORT_IS_EXPLICIT ? parsePort(process.env.PORT, DEFAULT_PORT) : parsePort(process.env.PORT_FROM, DEFAULT_PORT)
/** Set: this server is one node of a cluster over that Redis (`@wirecall/redis`). */
const REDIS_URL = process.env.REDIS_URL || undefined
const NODE_ID = process.env.NODE_ID || undefined
const INTERVAL_MS = 500
/** demo/dist, relative to demo/server-dist/server.js (DEMO_DIST overrides). */
const DIST = resolve(
  process.env.DEMO_DIST ??
    fileURLToPath(new URL(import.meta.url.includes('/server-dist/') ? '../dist/' : './dist/', import.meta.url)),
)
const startedAt = Date.now()

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`PORT must be 0..65535, got ${raw}`)
  return n
}

// ---------------------------------------------------------------- static files

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
  })
  res.end(body)
}

/** Map a URL path to a file inside DIST, or null when it is not allowed / not there. */
function resolveStatic(urlPath: string): { file: string; size: number } | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath)
  } catch {
    return null
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null
  // Refuse any dot-segment instead of trying to be clever about it.
  if (decoded.split('/').some((seg) => seg === '..' || seg === '.')) return null
  let rel = normalize(decoded).replace(/^[/]+/, '')
  if (rel === '' || rel.endsWith('/')) rel += 'index.html'
  const file = join(DIST, rel)
  if (file !== DIST && !file.startsWith(DIST + sep)) return null
  try {
    const st = statSync(file)
    if (!st.isFile()) return null
    return { file, size: st.size }
  } catch {
    return null
  }
}

function handleHttp(req: IncomingMessage, res: ServerResponse): void {
  const method = req.method ?? 'GET'
  let pathname: string
  try {
    pathname = new URL(req.url ?? '/', 'http://localhost').pathname
  } catch {
    return send(res, 400, 'bad request\n')
  }
  // new URL() resolves dot segments; look at the raw path too so that encoded or
  // literal traversal attempts are refused outright rather than silently remapped.
  const rawPath = (req.url ?? '/').split('?')[0] ?? '/'
  if (/(^|\/|%2f|\\|%5c)(\.|%2e){1,2}(\/|%2f|\\|%5c|$)/i.test(rawPath)) return send(res, 403, 'forbidden\n')

  if (pathname === '/healthz') return send(res, 200, 'ok\n')
  if (pathname === '/rpc') return send(res, 426, 'WebSocket upgrade required\n')
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    return send(res, 405, 'method not allowed\n')
  }
  const found = resolveStatic(pathname)
  if (!found) {
    return send(res, 404, pathname === '/' ? 'demo/dist is missing: run `npm run build` in demo/\n' : 'not found\n')
  }
  const ext = extname(found.file).toLowerCase()
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'content-length': found.size,
    'x-content-type-options': 'nosniff',
    // Vite puts content hashes in asset names; the HTML must always be revalidated.
    'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
  })
  if (method === 'HEAD') return void res.end()
  createReadStream(found.file)
    .on('error', () => res.destroy())
    .pipe(res)
}

// ---------------------------------------------------------------- metrics

/** A custom error class: not a JS built-in, so the page sees it as a RemoteError carrying this name. */
class InvalidOperandError extends Error {
  override name = INVALID_OPERAND
  readonly code = 'INVALID_OPERAND'
  constructor(
    message: string,
    readonly operand: string,
  ) {
    super(message)
  }
}

let callsHandled = 0
let seq = 0
/** Node's histogram records the whole timer interval (resolution + delay), so the resolution is subtracted. */
const LOOP_RESOLUTION_MS = 10
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
loopDelay.enable()
let lastCpu = process.cpuUsage()
let lastTick = process.hrtime.bigint()
let lastCalls = 0

function sample(): Metrics {
  const now = process.hrtime.bigint()
  const elapsedUs = Number(now - lastTick) / 1000
  const cpu = process.cpuUsage(lastCpu)
  lastCpu = process.cpuUsage()
  lastTick = now
  const mem = process.memoryUsage()
  const calls = callsHandled - lastCalls
  lastCalls = callsHandled
  const m: Metrics = {
    seq: ++seq,
    t: Date.now(),
    cpu: elapsedUs > 0 ? round(((cpu.user + cpu.system) / elapsedUs) * 100, 1) : 0,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    loopP50: loopMs(50),
    loopP99: loopMs(99),
    callsPerSec: elapsedUs > 0 ? round(calls / (elapsedUs / 1e6), 1) : 0,
    clients: clients.size,
    pid: process.pid,
    startedAt,
  }
  loopDelay.reset()
  return m
}

function loopMs(percentile: number): number {
  if (loopDelay.count === 0) return 0
  return round(Math.max(0, loopDelay.percentile(percentile) / 1e6 - LOOP_RESOLUTION_MS), 2)
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

// ---------------------------------------------------------------- clients

type PageConn = Connection<PageApi>

/** What the metrics generator of one page is doing (see `metricsStream`). */
interface Producer {
  /** Samples handed to the stream. */
  sent: number
  /** Samples taken while this page's generator was paused (not pulled): skipped, never buffered. */
  skipped: number
  /** When the generator yielded a sample that has not been pulled on yet (0: it is not waiting at a yield). */
  yieldedAt: number
}

interface ClientEntry {
  info: ClientInfo
  conn: PageConn
  /** The metrics stream's generator, while the page reads one. */
  producer?: Producer
}

/** This server's own pages (in a cluster: this node's). */
const clients = new Map<string, ClientEntry>()

/** This server's pages, oldest first. */
function clientList(): ClientInfo[] {
  return [...clients.values()].map((c) => ({ ...c.info }))
}

function pushToPages(list: ClientInfo[]): void {
  for (const c of clients.values()) {
    try {
      c.conn.notify.clientsChanged(list)
    } catch {
      // closing; its onClose will tidy up
    }
  }
}

/** The client list changed here: tell this server's pages (and, in a cluster, every node). */
function broadcastClients(): void {
  if (!cluster) return pushToPages(clientList())
  refreshCluster()
  // Every other node that holds pages recomputes the list for its own pages.
  void wc
    .presence()
    .then((entries) => {
      for (const node of new Set(entries.map((e) => e.node))) {
        if (node !== wc.nodeId) wc.node<typeof nodeApi>(node).with({ timeout: NODE_CALL_TIMEOUT_MS }).remote.refresh().catch(() => {})
      }
    })
    .catch(() => {})
}

// ---------------------------------------------------------------- the cluster's client list

/**
 * In a cluster the list is the whole cluster's. Presence (`server.presence()`)
 * says which connections exist and on which node; each node answers for the
 * names of its own pages (its node service's `clients()`), since only it asked
 * them. A node whose list changes asks every node to recompute (`refresh()`);
 * each recomputes for its own pages, one run at a time, so the newest run wins.
 * A slow periodic recompute covers nodes that vanished without a word.
 */
const NODE_CALL_TIMEOUT_MS = 3000
const CLUSTER_REFRESH_MS = 5000

/** Offered to the other nodes, never to pages. */
const nodeApi = service({
  /** This node's pages, with the names they gave. */
  clients: (): ClientInfo[] => clientList(),
  /** Some node's list changed: recompute ours. */
  refresh: (): true => {
    refreshCluster()
    return true
  },
})

async function clusterList(): Promise<ClientInfo[]> {
  const entries = await wc.presence()
  const byNode = new Map<string, typeof entries>()
  for (const e of entries) {
    if (e.node === wc.nodeId) continue
    let list = byNode.get(e.node)
    if (!list) byNode.set(e.node, (list = []))
    list.push(e)
  }
  const remote = await Promise.all(
    [...byNode].map(async ([node, present]): Promise<ClientInfo[]> => {
      try {
        const infos = (await wc.node<typeof nodeApi>(node).with({ timeout: NODE_CALL_TIMEOUT_MS }).remote.clients()) as ClientInfo[]
        return infos.map((c) => ({ ...c, node }))
      } catch {
        // The node did not answer (stopping, or gone and not yet expired): show what presence knows.
        return present.map((e) => ({ id: e.id, name: null, connectedAt: e.since, node }))
      }
    }),
  )
  const here = clientList().map((c) => ({ ...c, node: wc.nodeId }))
  return [...here, ...remote.flat()].sort((a, b) => a.connectedAt - b.connectedAt || (a.id < b.id ? -1 : 1))
}

let refreshing = false
let refreshAgain = false
/** What this node's pages were last sent (pushes of an unchanged list are skipped). */
let lastPushed = ''

/** Recompute the cluster's list and push it to this node's pages; runs one at a time, and again if asked meanwhile. */
function refreshCluster(): void {
  if (refreshing) {
    refreshAgain = true
    return
  }
  refreshing = true
  void (async () => {
    do {
      refreshAgain = false
      try {
        const list = await clusterList()
        const json = JSON.stringify(list)
        if (json !== lastPushed) {
          lastPushed = json
          pushToPages(list)
        }
      } catch {
        // Redis is away: the list stays as it was; the next change or the periodic refresh retries.
      }
    } while (refreshAgain)
    refreshing = false
  })()
}

function entryFor(ctx: CallContext<PageConn>): ClientEntry {
  const entry = clients.get(ctx.connection.id)
  if (!entry) throw new Error('connection is not registered (closing?)')
  return entry
}

/** The newest sample, taken every INTERVAL_MS whether or not anyone reads it. */
let latest: Metrics | undefined
let sampleWaiters: (() => void)[] = []

function takeSample(): void {
  latest = sample()
  const waiters = sampleWaiters
  sampleWaiters = []
  for (const wake of waiters) wake()
}

/** Resolves at the next sample, or when `signal` fires. */
function nextSample(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const wake = () => {
      signal.removeEventListener('abort', wake)
      resolve()
    }
    sampleWaiters.push(wake)
    signal.addEventListener('abort', wake, { once: true })
  })
}

/** A generator paused at its yield for longer than this is held back by the page (its credit is used up). */
const PAUSED_AFTER_MS = 100

/**
 * The metrics stream of one page: the next sample each time the page's
 * credit lets wirecall pull, never a queue. While the page reads slowly its
 * credit runs out, wirecall stops pulling, and this generator sits at its
 * `yield`: it produces nothing and holds nothing. When it is pulled again it
 * yields the newest sample, and counts the ones that went by as skipped.
 */
async function* metricsStream(ctx: CallContext<PageConn>, entry: ClientEntry): AsyncGenerator<Metrics> {
  const producer: Producer = { sent: 0, skipped: 0, yieldedAt: 0 }
  entry.producer = producer
  let lastSeq = latest?.seq ?? 0
  try {
    while (!ctx.signal.aborted) {
      if (!latest || latest.seq === lastSeq) await nextSample(ctx.signal)
      if (ctx.signal.aborted || !latest) return
      const m = latest
      if (producer.sent > 0) producer.skipped += Math.max(0, m.seq - lastSeq - 1)
      lastSeq = m.seq
      producer.sent++
      producer.yieldedAt = Date.now()
      yield { ...m, skipped: producer.skipped }
      producer.yieldedAt = 0
    }
  } finally {
    if (entry.producer === producer) entry.producer = undefined
  }
}

// ---------------------------------------------------------------- the service

/** What every connection does, for the operator panel (operator.html): the server's observer. */
const serverMetrics = createMetrics()

const api = service({
  operator: (): OperatorView => ({
    metrics: serverMetrics.snapshot(),
    names: Object.fromEntries([...clients].map(([id, c]) => [id, c.info.name ?? '…'])),
    ...(wc.nodeId ? { node: wc.nodeId } : {}),
  }),
  subscribe: withContext((ctx: CallContext<PageConn>): SubscribeResult => {
    callsHandled++
    const entry = entryFor(ctx)
    return {
      clientId: entry.info.id,
      intervalMs: INTERVAL_MS,
      pid: process.pid,
      startedAt,
      ...(wc.nodeId ? { node: wc.nodeId } : {}),
      // A stream nested in the result: the page reads it with `for await`.
      metrics: metricsStream(ctx, entry),
    }
  }),
  /** What this page's metrics generator is doing right now (a plain call: a paused stream never holds calls back). */
  producerState: withContext((ctx: CallContext<PageConn>): ProducerState => {
    const producer = clients.get(ctx.connection.id)?.producer
    if (!producer) return { streaming: false, paused: false, pausedForMs: 0, sent: 0, skipped: 0 }
    const waited = producer.yieldedAt ? Date.now() - producer.yieldedAt : 0
    return { streaming: true, paused: waited > PAUSED_AFTER_MS, pausedForMs: waited, sent: producer.sent, skipped: producer.skipped }
  }),
  async clients(): Promise<ClientInfo[]> {
    callsHandled++
    return cluster ? clusterList() : clientList()
  },
  async pingClient(id: string): Promise<PingResult> {
    callsHandled++
    if (typeof id !== 'string' || id === '') throw new TypeError('pingClient(id): id must be a connection id')
    const t0 = performance.now()
    const answer = await wc.connection(id).with({ timeout: 5000 }).remote.ping()
    const rttMs = round(performance.now() - t0, 2)
    const node = cluster ? id.slice(0, id.lastIndexOf(':')) : undefined
    return { answer: String(answer), rttMs, ...(node ? { node } : {}) }
  },
  divide(a: number, b: number): number {
    callsHandled++
    for (const [label, v] of [
      ['a', a],
      ['b', b],
    ] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new InvalidOperandError(`operand ${label} must be a finite number, got ${JSON.stringify(v)}`, label)
      }
    }
    if (b === 0) throw new RangeError(`cannot divide ${a} by zero`)
    return a / b
  },
  echo(text: string): string {
    callsHandled++
    return String(text)
  },
})

export type DemoServerApi = typeof api

// ---------------------------------------------------------------- wiring

const httpServer = createServer(handleHttp)

/** With REDIS_URL, this server is one node of a cluster (loaded only then). */
const cluster: Cluster | undefined = REDIS_URL
  ? (await import('@wirecall/redis')).redisCluster({
      url: REDIS_URL,
      ...(NODE_ID ? { nodeId: NODE_ID } : {}),
      nodeService: nodeApi,
    })
  : undefined

const wc = await serve<PageApi>({
  server: httpServer,
  path: '/rpc',
  service: api,
  observer: serverMetrics,
  ...(cluster ? { cluster } : {}),
  onConnection(conn) {
    const entry: ClientEntry = {
      info: { id: conn.id, name: null, address: conn.peer?.address, connectedAt: Date.now() },
      conn,
    }
    clients.set(conn.id, entry)
    conn.onClose(() => {
      clients.delete(conn.id)
      broadcastClients()
    })
    broadcastClients()
    // The server calls into the page: ask it for its name.
    conn
      .with({ timeout: 5000 })
      .remote.getName()
      .then((name: unknown) => {
        entry.info.name = String(name).slice(0, 60) || 'anonymous'
      })
      .catch((err: unknown) => {
        entry.info.name = `(getName failed: ${err instanceof Error ? err.name : 'error'})`
      })
      .finally(() => {
        if (clients.has(conn.id)) broadcastClients()
      })
  },
})

function listen(port: number): Promise<void> {
  return new Promise<void>((ok, fail) => {
    httpServer.once('error', fail)
    httpServer.listen(port, HOST, () => {
      httpServer.off('error', fail)
      ok()
    })
  })
}

/** Listen on PORT, or (PORT unset) on the first free port of DEFAULT_PORT .. DEFAULT_PORT + PORT_ATTEMPTS - 1. */
async function listenOnFreePort(): Promise<void> {
  const last = PORT_IS_EXPLICIT ? PORT : PORT + PORT_ATTEMPTS - 1
  for (let port = PORT; ; port++) {
    try {
      return await listen(port)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err
      const why = code === 'EADDRINUSE' ? 'is already in use' : 'is not allowed for this user'
      if (PORT_IS_EXPLICIT) {
        console.error(`wirecall demo: port ${port} on ${HOST} ${why} (${code}).`)
        console.error('  Stop the other process, or pick another port: PORT=8080 npm run demo (PORT=0: any free port).')
        process.exit(1)
      }
      if (port >= last) {
        console.error(`wirecall demo: ports ${PORT}..${last} on ${HOST} are all taken (${code}).`)
        console.error('  Pick a port yourself: PORT=8080 npm run demo (PORT=0: any free port).')
        process.exit(1)
      }
      console.warn(`wirecall demo: port ${port} ${why} (${code}); trying ${port + 1}. Set PORT to choose one.`)
    }
  }
}

await listenOnFreePort()

const addr = httpServer.address()
const port = typeof addr === 'object' && addr ? addr.port : PORT
const timer = setInterval(takeSample, INTERVAL_MS)
const clusterTimer = cluster ? setInterval(() => clients.size > 0 && refreshCluster(), CLUSTER_REFRESH_MS) : undefined
const clusterNote = cluster ? `, cluster node ${wc.nodeId} on ${redactUrl(REDIS_URL!)}` : ''
console.log(`wirecall demo listening on http://${HOST}:${port}/  (WebSocket at ws://${HOST}:${port}/rpc, pid ${process.pid}${clusterNote})`)

/** The Redis URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable REDIS_URL)'
  }
}

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  console.log(`${signal}: shutting down`)
  clearInterval(timer)
  clearInterval(clusterTimer)
  loopDelay.disable()
  const force = setTimeout(() => process.exit(1), 3000)
  force.unref()
  try {
    await wc.close()
  } catch (err) {
    console.error('wirecall close failed:', err)
  }
  httpServer.closeAllConnections?.()
  httpServer.close(() => process.exit(0))
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
