// Scenario: --inflight (default 256) add(1, 2) calls outstanding at all times on one connection.
import { timedScenario } from '../lib/timed.mjs'
import { pipelinedLoop, sanityCheck } from '../lib/loops.mjs'

export const id = 'pipelined'
export const legend = 'pipe: add(1,2) with --inflight calls outstanding at all times on one connection; completed calls/s'
export const columns = [
  { key: 'callsPerSec', header: 'pipe calls/s', better: 'higher', digits: 0 },
]

export const { open, rep, close } = timedScenario({
  setupArgs: (o) => ({ inflight: o.inflight }),
  measureArgs: (o) => ({ inflight: o.inflight }),
})

export const client = {
  async setup(impl, { port, warmup, inflight }) {
    const c = await impl.createClient(port)
    await sanityCheck(c)
    await pipelinedLoop(() => c.call(1, 2), { warmup: 0, duration: warmup, inflight })
    return { c }
  },
  async measure({ c }, { warmup, duration, inflight }) {
    const r = await pipelinedLoop(() => c.call(1, 2), { warmup, duration, inflight })
    return { callsPerSec: r.opsPerSec, calls: r.ops }
  },
  async teardown({ c }) { await c.close() },
}
