// Scenario: one call at a time. add(1, 2) awaited before the next one is sent.
import { timedScenario } from '../lib/timed.mjs'
import { sequentialLoop, sanityCheck } from '../lib/loops.mjs'

export const id = 'sequential'
export const legend = 'seq: add(1,2) awaited one after another for --duration s (after warm-up); calls/s, median and 99th-percentile round-trip latency in µs'
export const columns = [
  { key: 'callsPerSec', header: 'seq calls/s', better: 'higher', digits: 0 },
  { key: 'p50us', header: 'seq p50 µs', better: 'lower', digits: 0 },
  { key: 'p99us', header: 'seq p99 µs', better: 'lower', digits: 0 },
]

export const { open, rep, close } = timedScenario()

export const client = {
  async setup(impl, { port, warmup }) {
    const c = await impl.createClient(port)
    await sanityCheck(c)
    await sequentialLoop(() => c.call(1, 2), { warmup: 0, duration: warmup })
    return { c }
  },
  async measure({ c }, { warmup, duration }) {
    const r = await sequentialLoop(() => c.call(1, 2), { warmup, duration })
    return { callsPerSec: r.opsPerSec, p50us: r.p50ms * 1000, p99us: r.p99ms * 1000, calls: r.ops }
  },
  async teardown({ c }) { await c.close() },
}
