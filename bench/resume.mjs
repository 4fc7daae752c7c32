// Resumable sessions (issue 12): what a resume saves, and what it costs.
//
//   node --expose-gc bench/resume.mjs [--rounds=40] [--sessions=400] [--notifications=100]
//
// 1. Recovery: time from link loss (the server destroys the client's TCP socket) to a working
//    session again, i.e. the client has a subscription that delivers: a topic notification sent
//    after the loss reaches the client's callback. `resume`: serve({ resume: true }), the session
//    (and its subscription) resumes. `fresh`: no resume, the client reconnects and re-subscribes in
//    onReconnect (one call). Both use the Node reconnecting client with a 1 ms reconnect delay, so
//    the figure is the protocol's work, not the backoff. Median of --rounds drops each.
// 2. Cost: server heap per idle session with resume on vs off (after forced GC, --sessions
//    sessions), and replay-buffer bytes a parked session holds per notification vs the
//    notification's frame size (--notifications sent while parked).
// One process, 127.0.0.1, ephemeral ports; quote the ratios, not the times. Every wait is bounded.
import net from 'node:net'
import { connect, serve } from '@wirecall/node'
import { Session, service, withContext } from '@wirecall/core'
import { numberArg } from './lib/number-arg.mjs'

const arg = numberArg
const ROUNDS = arg('rounds', 40)
const SESSIONS = arg('sessions', 400)
const NOTIFICATIONS = arg('notifications', 100)
const silent = { info() {}, warn() {}, error() {} }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const gc = async () => {
  if (!globalThis.gc) throw new Error('run with node --expose-gc')
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await sleep(20)
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function until(condition, ms, what) {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** A TCP relay to `port` whose links can all be cut at once (both ends see the socket die, no close frame). */
async function relay(port) {
  const pairs = new Set()
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1')
    const pair = [inbound, outbound]
    pairs.add(pair)
    for (const s of pair) {
      s.setNoDelay(true)
      s.on('error', () => {})
      s.on('close', () => {
        pairs.delete(pair)
        inbound.destroy()
        outbound.destroy()
      })
    }
    inbound.pipe(outbound)
    outbound.pipe(inbound)
  })
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  return {
    port: proxy.address().port,
    cut: () => {
      for (const [a, b] of pairs) {
        a.destroy()
        b.destroy()
      }
    },
    close: () => new Promise((resolve) => proxy.close(resolve)),
  }
}

async function recovery(resume) {
  const server = await serve({
    host: '127.0.0.1', port: 0, resume, logger: silent,
    service: service({ subscribe: withContext((ctx, topic) => ctx.connection.join(topic)) }),
    // The relay's connections come from 127.0.0.1 with the relay's Host header: allow it.
    allowedHosts: 'all',
  })
  const link = await relay(server.port)
  let last = -1
  const client = await connect(`ws://127.0.0.1:${link.port}`, {
    reconnect: { initialDelayMs: 1, maxDelayMs: 1, jitter: 0 }, logger: silent,
    service: service({ tick: (n) => void (last = n) }),
    onReconnect: (c) => c.remote.subscribe('t'),
  })
  await client.remote.subscribe('t')
  const times = []
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now()
      link.cut()
      // Notify until the subscription delivers again (a resumed session gets the ones sent while
      // parked too; a fresh one only after its re-subscribe).
      for (let n = round * 1_000_000; last < round * 1_000_000; n++) {
        server.topic('t').notify.tick(n)
        await new Promise((resolve) => setImmediate(resolve))
        if (performance.now() - started > 10_000) throw new Error('no recovery within 10 s')
      }
      times.push(performance.now() - started)
      await sleep(5)
    }
  } finally {
    await client.close()
    await server.close()
    await link.close()
  }
  return median(times)
}

async function heapPerSession(resume) {
  const server = await serve({ host: '127.0.0.1', port: 0, resume, logger: silent, limits: { maxConnections: SESSIONS + 100 }, service: service({ add: (a, b) => a + b }) })
  const clients = []
  const open = async () => {
    // Both offer batches (a resumable link has them too), so the difference is the resume layer.
    const c = await connect(`ws://127.0.0.1:${server.port}`, { reconnect: { initialDelayMs: 1000 }, resume, batch: true, logger: silent })
    await c.remote.add(1, 2)
    clients.push(c)
  }
  try {
    // Warm up first: code compiled for the first sessions is not a per-session cost.
    for (let i = 0; i < 20; i++) await open()
    await sleep(400)
    await gc()
    const before = process.memoryUsage()
    // Each client's own session lives in this process too: count the server's Connection side by
    // measuring both modes the same way; the ratio is what matters.
    for (let i = 0; i < SESSIONS; i++) await open()
    await sleep(400) // acks settle
    await gc()
    const after = process.memoryUsage()
    return (after.heapUsed + after.external - before.heapUsed - before.external) / SESSIONS
  } finally {
    for (const c of clients) await c.close()
    await server.close()
  }
}

async function parkedBytesPerNotification() {
  const requests = new WeakMap()
  const server = await serve({
    host: '127.0.0.1', port: 0, resume: true, logger: silent, service: service({}),
    onConnection: (conn, req) => void requests.set(conn, req),
  })
  const client = await connect(`ws://127.0.0.1:${server.port}`, { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 }, logger: silent })
  try {
    const conn = [...server.connections][0]
    await sleep(400)
    requests.get(conn).socket.destroy()
    await until(() => server.stats().parkedSessions === 1, 5000, 'the session to park')
    const base = server.stats().parkedBytes
    const payload = { symbol: 'ACME', price: 12.5, at: 1_700_000_000_000 }
    for (let i = 0; i < NOTIFICATIONS; i++) conn.notify.tick(payload)
    const frameBytes = Session.encodeBroadcast('tick', [payload], {}).byteLength
    return { perNotification: (server.stats().parkedBytes - base) / NOTIFICATIONS, frameBytes }
  } finally {
    await client.close()
    await server.close()
  }
}

const fresh = await recovery(false)
const resumed = await recovery(true)
const plainHeap = await heapPerSession(false)
const resumeHeap = await heapPerSession(true)
const parked = await parkedBytesPerNotification()
console.log(`recovery, link loss to a delivering subscription (median of ${ROUNDS}):`)
console.log(`  resume ${resumed.toFixed(2)} ms, fresh connect + re-subscribe ${fresh.toFixed(2)} ms: resume takes ${(resumed / fresh).toFixed(2)}x the time of a fresh session`)
console.log(`heap+external per idle session, client and server end (${SESSIONS} sessions):`)
console.log(`  resume ${plainHeap > 0 ? (resumeHeap / plainHeap).toFixed(2) : 'n/a'}x of plain (${Math.round(resumeHeap)} vs ${Math.round(plainHeap)} B)`)
console.log(`replay buffer while parked: ${parked.perNotification.toFixed(1)} B per notification for a ${parked.frameBytes} B frame (${(parked.perNotification / parked.frameBytes).toFixed(2)}x)`)
