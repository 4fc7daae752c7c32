// Scenario: cross-node topic fan-out. One redis-server (ephemeral port, no persistence) for the
// scenario; per implementation, NODES (3) server processes joined through it
// (impl.startClusterServer: wirecall = serve({ cluster: redisCluster({ url, prefix }) }),
// socket.io = @socket.io/redis-adapter over the `redis` client's pub/sub pair), and one client
// process per node holding PER_NODE (100) connections to that node, all members of one topic/room.
// Node 0 publishes tick(i) as fast as it can, with the `fanout` scenario's publisher
// (lib/push.mjs: bursts of BURST, setImmediate between, no burst while one of ITS OWN members has
// more than MAX_BACKLOG bytes queued) for --duration s. Every client checks it got every tick once
// and in order; the result is deliveries per second summed over all NODES × PER_NODE clients,
// received / (last receipt anywhere - first receipt anywhere), on the wall clock of one machine.
// wirecall also gets a cross-node call column: node 0 awaits inc(n) on a page of node 1
// (server.connection(id).remote.inc(n)), one call after another, next to the same call on a page
// of node 0 itself; socket.io gets the same through io.to(socketId).timeout().emitWithAck().
import { Child, pinPid } from '../lib/proc.mjs'
import { startRedis } from '../lib/redis.mjs'
import { loadImpl } from '../impl/index.mjs'
import { sleep } from '../lib/stats.mjs'
import { subscriberCounting } from '../lib/subscribers.mjs'

export const id = 'cluster-fanout'
export const requires = ['cluster']
/** The implementation the Nx ratios of this scenario's columns compare to (raw has no cluster). */
export const ratioTo = 'socket.io'
const NODES = 3
const PER_NODE = 100
const TOPIC = 'bench'
const BURST = 32
const MAX_BACKLOG = 64 * 1024
const CHECK_COUNT = 200
/** How long node 0 times the calls of one repetition (cross-node, local and Redis PING, round robin). */
const CALL_SECONDS = 1
/** Call rounds before timing in each repetition (and at least 0.1 s): cold code would be timed otherwise. */
const CALL_WARMUP_ROUNDS = 300
export const legend = `cluster fan-out: ${NODES} server processes joined through one redis-server (7.x, no persistence, pub/sub output buffers unlimited), ${PER_NODE} clients per node ` +
  `(one client process per node) in one topic/room; node 0 publishes tick(i) for --duration s like fan-out (pausing only while one of its own members has > ${MAX_BACKLOG / 1024} KiB queued); ` +
  `notif/s = deliveries summed over all ${NODES * PER_NODE} clients (every one received, in order, checked). raw has no cluster (n/a): Nx in these columns = impl ÷ socket.io with its Redis adapter (aim: wirecall ≥ 2x). ` +
  `x-node/local call µs: node 0 awaits inc(n) on a page of node 1 / of node 0 and a Redis PING (raw RESP from node 0's process), one at a time, round robin for ${CALL_SECONDS} s after ${CALL_WARMUP_ROUNDS} warm-up rounds ` +
  `(all three under the same load); aim µs = 2 × local p50 + PING p50 (the issue's aim for a cross-node call), x-node ÷ aim ≤ 1.00 when it holds`
export const columns = [
  { key: 'deliveredPerSec', header: 'cluster notif/s', better: 'higher', digits: 0 },
  { key: 'remoteP50us', header: 'x-node call p50 µs', better: 'lower', digits: 0 },
  { key: 'remoteP99us', header: 'x-node p99 µs', better: 'lower', digits: 0 },
  { key: 'localP50us', header: 'local call p50 µs', better: 'lower', digits: 0 },
  { key: 'localP99us', header: 'local p99 µs', better: 'lower', digits: 0 },
  { key: 'redisPingP50us', header: 'Redis PING p50 µs', better: 'lower', digits: 0 },
  { key: 'aimUs', header: 'aim µs', better: 'lower', digits: 0 },
  { key: 'remoteOverAim', header: 'x-node ÷ aim', better: 'lower', digits: 2 },
]

const publishArgs = { topic: TOPIC, burst: BURST, maxBacklog: MAX_BACKLOG }

// One redis-server for the whole scenario, shared by the implementations (each under its own
// prefix), started by the first open() and stopped by the last close(); lib/redis.mjs also kills
// it when this process exits.
let redis = null
let redisUsers = 0
async function acquireRedis(ctx) {
  redisUsers++
  if (!redis) {
    // No disconnect of a subscriber that falls behind (default pubsub limit 32 MB hard / 8 MB for
    // 60 s): a publisher that outruns the other nodes is then measured by what is delivered and when.
    redis = startRedis({ extraArgs: ['--client-output-buffer-limit', 'pubsub 0 0 0'] })
    redis.then((r) => pinPid(r.pid, 'server'), () => {})
  }
  try {
    return await redis
  } catch (err) {
    redis = null
    throw err
  }
}
async function releaseRedis() {
  if (--redisUsers > 0 || !redis) return
  const r = redis
  redis = null
  try { await (await r).stop() } catch {}
}

/** Publish on node 0 (by count or duration), then wait until every client everywhere has every tick. */
async function round(h, { count, duration }) {
  await Promise.all(h.clients.map((c) => c.call('reset', {}, 10_000)))
  const pub = await h.servers[0].call('fanout', { ...publishArgs, count, duration }, (duration ?? 10) * 1000 + 30_000)
  const got = await Promise.all(h.clients.map((c) => c.call('wait', { expected: pub.sent, timeoutMs: 30_000, idleMs: 5000 }, 45_000)))
  const received = got.reduce((s, g) => s + g.received, 0)
  const outOfOrder = got.reduce((s, g) => s + g.outOfOrder, 0)
  const want = pub.sent * NODES * PER_NODE
  if (received !== want || outOfOrder > 0) {
    throw new Error(`cluster fan-out: clients received ${received} of ${want} notifications (${pub.sent} × ${NODES * PER_NODE}), ` +
      `${outOfOrder} out of order; per node ${got.map((g) => `${g.received} (min ${g.minPerClient}, max ${g.maxPerClient})`).join(', ')}`)
  }
  const firstAt = Math.min(...got.map((g) => g.firstAt))
  const lastAt = Math.max(...got.map((g) => g.lastAt))
  return { pub, received, span: (lastAt - firstAt) / 1000, perNode: got.map((g) => g.received) }
}

export async function open(ctx) {
  const h = { servers: [], clients: [], redisHeld: false, prefix: `bench-${ctx.implId.replace(/\W/g, '')}-${process.pid}` }
  try {
    const r = await acquireRedis(ctx)
    h.redisHeld = true
    h.redisPort = r.port
    const impl = await loadImpl(ctx.implId)
    for (let n = 0; n < NODES; n++) {
      const child = new Child('cluster-server.mjs', [ctx.implId, r.url, h.prefix, `n${n}`], { label: `cluster-server(${ctx.implId} n${n})`, verbose: ctx.opts.verbose })
      h.servers.push(child)
      const m = await child.waitStdout(/^PORT (\d+)$/m, 20_000)
      child.port = Number(m[1])
      pinPid(child.cp.pid, 'server')
    }
    for (let n = 0; n < NODES; n++) h.clients.push(await ctx.startClient(ctx.implId, ctx.scenarioId))
    await Promise.all(h.clients.map((c, n) => c.call('setup', { port: h.servers[n].port, conns: PER_NODE, topic: TOPIC }, 60_000)))
    const sizes = await Promise.all(h.servers.map((s) => s.call('topicSize', { topic: TOPIC }, 10_000)))
    if (sizes.some((s) => s !== PER_NODE)) throw new Error(`the nodes see ${sizes.join('/')} local topic members, expected ${PER_NODE} each`)
    // Every node's subscription must be in place before the first tick, or the check below misses some.
    const t0 = Date.now()
    while (!(await impl.clusterSubscribed(r.command, { prefix: h.prefix, topic: TOPIC, nodes: NODES }))) {
      if (Date.now() - t0 > 10_000) throw new Error('the nodes did not all subscribe to the topic in Redis within 10 s')
      await sleep(20)
    }
    // Correctness first: a small burst must reach every client on every node, complete and in order.
    await round(h, { count: CHECK_COUNT })
    h.remoteId = (await h.servers[1].call('pageIds', {}, 10_000))[0]
    h.localId = (await h.servers[0].call('pageIds', {}, 10_000))[0]
    if (!h.remoteId || !h.localId) throw new Error('no page ids for the call columns')
    if (ctx.opts.warmup > 0) await round(h, { duration: ctx.opts.warmup })
    return h
  } catch (err) {
    await close(h)
    throw err
  }
}

export async function rep(h, ctx) {
  const o = ctx.opts
  const rewarm = Math.min(0.25, o.warmup)
  if (rewarm > 0) await round(h, { duration: rewarm })
  const { pub, received, span, perNode } = await round(h, { duration: o.duration })
  const calls = await h.servers[0].call('callCompare', { remoteId: h.remoteId, localId: h.localId, redisPort: h.redisPort, warmup: 0.1, warmupRounds: CALL_WARMUP_ROUNDS, duration: CALL_SECONDS }, 30_000)
  const aimUs = 2 * calls.localP50us + calls.redisPingP50us
  return {
    deliveredPerSec: received / span,
    remoteP50us: calls.remoteP50us,
    remoteP99us: calls.remoteP99us,
    localP50us: calls.localP50us,
    localP99us: calls.localP99us,
    redisPingP50us: calls.redisPingP50us,
    redisPingP99us: calls.redisPingP99us,
    aimUs,
    remoteOverAim: calls.remoteP50us / aimUs,
    callRounds: calls.rounds,
    published: pub.sent,
    publishPerSec: pub.sent / pub.seconds,
    delivered: received,
    deliveredPerNode: perNode,
    deliverySeconds: span,
    publisherWaits: pub.waits,
    peakBacklogBytes: pub.peakBacklog,
  }
}

export async function close(h) {
  if (!h) return
  await Promise.all(h.clients.filter((c) => !c.exited).map((c) => c.call('teardown', {}, 10_000).catch(() => {})))
  await Promise.all([...h.clients, ...h.servers].map((c) => c.stop()))
  if (h.redisHeld) { h.redisHeld = false; await releaseRedis() }
}

// The client half (client.mjs <impl> cluster-fanout): the fan-out scenario's, with a wall clock
// (the receipts of three processes are compared) and a page method inc(n) for the call columns.
export const client = {
  async setup(impl, { port, conns, topic }) {
    const state = { clients: [], counters: [], firstAt: 0, lastAt: 0 }
    const wall = () => performance.timeOrigin + performance.now()
    const BATCH = 25
    for (let done = 0; done < conns; done += BATCH) {
      const n = Math.min(BATCH, conns - done)
      await Promise.all(Array.from({ length: n }, async () => {
        const ctr = { count: 0, next: 0, outOfOrder: 0 }
        const onTick = (i) => {
          if (i !== ctr.next) ctr.outOfOrder++
          ctr.next = i + 1
          ctr.count++
          const t = wall()
          if (state.firstAt === 0) state.firstAt = t
          state.lastAt = t
        }
        const c = await impl.createClient(port, { onTick, methods: { inc: (x) => x + 1 } })
        state.clients.push(c)
        state.counters.push(ctr)
        const r = await c.call(1, 2)
        if (r !== 3) throw new Error(`add(1,2) returned ${r}`)
        await c.join(topic)
      }))
    }
    return state
  },
  ...subscriberCounting,
}
