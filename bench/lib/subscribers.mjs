// What the fan-out scenarios' client processes share: counting the ticks each subscriber got,
// waiting until every one has them all, and closing the clients. Each scenario's `client.setup`
// builds `state` ({ clients, counters: [{ count, next, outOfOrder }], firstAt, lastAt }).
import { sleep } from './stats.mjs'

export const subscriberCounting = {
  reset(state) {
    for (const ctr of state.counters) { ctr.count = 0; ctr.next = 0; ctr.outOfOrder = 0 }
    state.firstAt = 0
    state.lastAt = 0
  },
  /** Wait until every client has `expected` notifications; give up after timeoutMs, or idleMs without progress. */
  async wait(state, { expected, timeoutMs, idleMs }) {
    const total = () => state.counters.reduce((s, c) => s + c.count, 0)
    const want = expected * state.counters.length
    const t0 = Date.now()
    let last = -1
    let lastChange = t0
    for (;;) {
      const got = total()
      if (got >= want) break
      const t = Date.now()
      if (got !== last) { last = got; lastChange = t }
      if (t - t0 > timeoutMs || t - lastChange > idleMs) break
      await sleep(10)
    }
    const counts = state.counters.map((c) => c.count)
    return {
      received: total(),
      outOfOrder: state.counters.reduce((s, c) => s + c.outOfOrder, 0),
      minPerClient: Math.min(...counts),
      maxPerClient: Math.max(...counts),
      firstAt: state.firstAt,
      lastAt: state.lastAt,
    }
  },
  async teardown(state) {
    await Promise.allSettled(state.clients.map((c) => c.close()))
  },
}
