// Scenario: topic fan-out. CONNS (100) client connections, all in one separate client process,
// join a topic; the server then publishes tick(i) to the topic as fast as the slowest member
// allows (bursts of BURST notifications, setImmediate between bursts, no burst while any member
// has more than MAX_BACKLOG bytes queued in user space; see lib/push.mjs) for --duration s.
// The clients count what they receive and check the order; the result is notifications delivered
// per second summed over all members: received / (last receipt - first receipt), client clock.
import { subscriberCounting } from '../lib/subscribers.mjs'

export const id = 'fanout'
export const requires = ['topics']
export const CONNS = 100
const TOPIC = 'bench'
const BURST = 32
const MAX_BACKLOG = 64 * 1024
const CHECK_COUNT = 200
export const legend = `fan-out: the server publishes tick(i) to a topic of ${CONNS} connections (another process) for --duration s, in bursts of ${BURST} with setImmediate between, pausing while any member has > ${MAX_BACKLOG / 1024} KiB queued; notif/s = deliveries summed over all ${CONNS} clients (every one received, in order, checked)`
export const columns = [
  { key: 'deliveredPerSec', header: 'fan-out notif/s', better: 'higher', digits: 0 },
]

const publishArgs = { topic: TOPIC, burst: BURST, maxBacklog: MAX_BACKLOG }

/** Publish (by count or duration), then wait until every client has every notification; returns both sides' numbers. */
async function round(h, { count, duration }) {
  await h.client.call('reset', {}, 10_000)
  const pub = await h.server.call('fanout', { ...publishArgs, count, duration }, (duration ?? 10) * 1000 + 30_000)
  const got = await h.client.call('wait', { expected: pub.sent, timeoutMs: 15_000, idleMs: 3000 }, 30_000)
  const want = pub.sent * CONNS
  if (got.received !== want || got.outOfOrder > 0) {
    throw new Error(`fan-out: clients received ${got.received} of ${want} notifications (${pub.sent} × ${CONNS}), ` +
      `${got.outOfOrder} out of order, per client min ${got.minPerClient} max ${got.maxPerClient}`)
  }
  return { pub, got }
}

export async function open(ctx) {
  const h = { server: null, client: null }
  try {
    h.server = await ctx.startServer(ctx.implId)
    h.client = await ctx.startClient(ctx.implId, ctx.scenarioId)
    await h.client.call('setup', { port: h.server.port, conns: CONNS, topic: TOPIC }, 60_000)
    const members = await h.server.call('topicSize', { topic: TOPIC }, 10_000)
    if (members !== CONNS) throw new Error(`the server sees ${members} topic members, expected ${CONNS}`)
    // Correctness first: a small burst must reach every client, complete and in order.
    await round(h, { count: CHECK_COUNT })
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
  const { pub, got } = await round(h, { duration: o.duration })
  const span = (got.lastAt - got.firstAt) / 1000
  return {
    deliveredPerSec: got.received / span,
    published: pub.sent,
    publishPerSec: pub.sent / pub.seconds,
    delivered: got.received,
    deliverySeconds: span,
    publisherWaits: pub.waits,
    peakBacklogBytes: pub.peakBacklog,
  }
}

export async function close(h) {
  if (!h) return
  if (h.client && !h.client.exited) {
    try { await h.client.call('teardown', {}, 10_000) } catch {}
  }
  await Promise.all([h.client?.stop(), h.server?.stop()])
}

export const client = {
  async setup(impl, { port, conns, topic }) {
    const state = { clients: [], counters: [], firstAt: 0, lastAt: 0 }
    const BATCH = 25
    for (let done = 0; done < conns; done += BATCH) {
      const n = Math.min(BATCH, conns - done)
      await Promise.all(Array.from({ length: n }, async () => {
        const ctr = { count: 0, next: 0, outOfOrder: 0 }
        const onTick = (i) => {
          if (i !== ctr.next) ctr.outOfOrder++
          ctr.next = i + 1
          ctr.count++
          const t = performance.now()
          if (state.firstAt === 0) state.firstAt = t
          state.lastAt = t
        }
        const c = await impl.createClient(port, { onTick })
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
