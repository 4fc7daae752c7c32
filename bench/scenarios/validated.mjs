// Scenario: what validated parameters cost on a hot path. One connection keeps --inflight calls
// outstanding, as in `pipelined`, for add(1, 2) without schemas, with zod schemas and with valibot
// schemas ([number, number], through `validated` from @wirecall/core). Each repetition cuts its
// --duration into short slices (SLICE_S) taken round-robin over the three kinds, so that the
// machine's drift (other processes, CPU frequency) falls on all three alike; each kind's rate is
// its completed calls over its measured seconds. Only implementations with the `validated`
// capability run it.
import { timedScenario } from '../lib/timed.mjs'
import { pipelinedLoop } from '../lib/loops.mjs'

export const id = 'validated'
export const requires = ['validated']
export const legend = 'validated: pipelined add(1,2) with --inflight outstanding, without schemas, with zod and with valibot schemas; calls/s, and each ÷ no schemas'
export const columns = [
  { key: 'plainPerSec', header: 'no schema/s', better: 'higher', digits: 0 },
  { key: 'zodPerSec', header: 'zod/s', better: 'higher', digits: 0 },
  { key: 'valibotPerSec', header: 'valibot/s', better: 'higher', digits: 0 },
  { key: 'zodShare', header: 'zod÷none', better: 'higher', digits: 2 },
  { key: 'valibotShare', header: 'valibot÷none', better: 'higher', digits: 2 },
]

export const { open, rep, close } = timedScenario({
  setupArgs: (o) => ({ inflight: o.inflight }),
  measureArgs: (o) => ({ inflight: o.inflight }),
})

const KINDS = ['plain', 'zod', 'valibot']
/** Seconds per measured slice; each slice re-warms for a fifth of it (the loop restarts). */
const SLICE_S = 0.25

export const client = {
  async setup(impl, { port, warmup, inflight }) {
    const c = await impl.createClient(port)
    for (const kind of KINDS) {
      if ((await c.callValidated(kind, 1, 2)) !== 3) throw new Error(`sanity check: ${kind} add(1, 2) did not return 3`)
      // A refused call proves the schemas are really checked (a fast no-op would make the ratio meaningless).
      if (kind !== 'plain') {
        const refused = await c.callValidated(kind, '1', 2).then(() => false, (err) => err?.code === 'WIRECALL_BAD_PARAMETERS')
        if (!refused) throw new Error(`sanity check: ${kind} add('1', 2) was not refused with ParameterError`)
      }
      await pipelinedLoop(() => c.callValidated(kind, 1, 2), { warmup: 0, duration: warmup / KINDS.length, inflight })
    }
    return { c, round: 0 }
  },
  async measure(state, { warmup, duration, inflight }) {
    const { c } = state
    const ops = Object.fromEntries(KINDS.map((k) => [k, 0]))
    const seconds = Object.fromEntries(KINDS.map((k) => [k, 0]))
    const rounds = Math.max(1, Math.round(duration / SLICE_S))
    for (let i = 0; i < rounds; i++) {
      // Rotate the order so that no kind always runs first (or last) in a round.
      const order = KINDS.map((_, j) => KINDS[(j + state.round) % KINDS.length])
      state.round++
      for (const kind of order) {
        const r = await pipelinedLoop(() => c.callValidated(kind, 1, 2), { warmup: Math.min(warmup, SLICE_S / 5), duration: SLICE_S, inflight })
        ops[kind] += r.ops
        seconds[kind] += r.seconds
      }
    }
    const out = {}
    for (const kind of KINDS) out[`${kind}PerSec`] = ops[kind] / seconds[kind]
    out.zodShare = out.zodPerSec / out.plainPerSec
    out.valibotShare = out.valibotPerSec / out.plainPerSec
    return out
  },
  async teardown({ c }) { await c.close() },
}
