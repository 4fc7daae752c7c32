// Scenario: --inflight (default 256) add(1, 2) calls outstanding at all times on one connection.
import { timedScenario } from '../lib/timed.mjs'
import { pipelinedLoop, sanityCheck } from '../lib/loops.mjs'

export const id = 'pipelined'
export const legend = 'pipe: add(1,2) with --inflight calls outstanding at all times on one connection; completed calls/s, and CPU µs per call of the server and of the client process over the same window (far steadier than calls/s on a busy machine)'
export const columns = [
  { key: 'callsPerSec', header: 'pipe calls/s', better: 'higher', digits: 0 },
  { key: 'serverCpuUs', header: 'pipe srv CPU µs/call', better: 'lower', digits: 2 },
  { key: 'clientCpuUs', header: 'pipe cli CPU µs/call', better: 'lower', digits: 2 },
]

const scenario = timedScenario({
  setupArgs: (o) => ({ inflight: o.inflight }),
  measureArgs: (o) => ({ inflight: o.inflight }),
})
export const { close } = scenario
/** The client reads the server's CPU time from /proc, so it needs the server's pid. */
export async function open(ctx) {
  const h = await scenario.open(ctx)
  h.serverPid = h.server.cp.pid
  return h
}
export function rep(h, ctx) {
  const o = ctx.opts
  const rewarm = Math.min(0.25, o.warmup)
  return h.client.call('measure', { duration: o.duration, warmup: rewarm, inflight: o.inflight, serverPid: h.serverPid }, (o.duration + rewarm) * 1000 + 30_000)
}

export const client = {
  async setup(impl, { port, warmup, inflight }) {
    const c = await impl.createClient(port)
    await sanityCheck(c)
    await pipelinedLoop(() => c.call(1, 2), { warmup: 0, duration: warmup, inflight })
    return { c }
  },
  async measure({ c }, { warmup, duration, inflight, serverPid }) {
    const r = await pipelinedLoop(() => c.call(1, 2), { warmup, duration, inflight, serverPid })
    return { callsPerSec: r.opsPerSec, calls: r.ops, serverCpuUs: r.serverCpuUs, clientCpuUs: r.clientCpuUs }
  },
  async teardown({ c }) { await c.close() },
}
