// Scenario: a 1 MiB Uint8Array echoed by the server, one call at a time.
import { timedScenario } from '../lib/timed.mjs'
import { sequentialLoop, sanityCheck } from '../lib/loops.mjs'

export const id = 'echo-1mib'
export const legend = 'echo: a 1 MiB Uint8Array sent and echoed back, sequentially; MiB/s of payload echoed (each MiB crosses the wire twice)'
export const columns = [
  { key: 'mibPerSec', header: 'echo MiB/s', better: 'higher', digits: 1 },
]

const SIZE = 1024 * 1024

function payload() {
  const buf = new Uint8Array(SIZE)
  let x = 0x12345678
  for (let i = 0; i < SIZE; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; buf[i] = x & 0xff }
  return buf
}

export const { open, rep, close } = timedScenario()

export const client = {
  async setup(impl, { port, warmup }) {
    const c = await impl.createClient(port)
    await sanityCheck(c)
    const buf = payload()
    const back = await c.echo(buf)
    if (back.length !== SIZE || back[0] !== buf[0] || back[SIZE - 1] !== buf[SIZE - 1] || back[SIZE >> 1] !== buf[SIZE >> 1]) {
      throw new Error(`echo of 1 MiB came back wrong (length ${back.length})`)
    }
    await sequentialLoop(() => c.echo(buf), { warmup: 0, duration: warmup })
    return { c, buf }
  },
  async measure({ c, buf }, { warmup, duration }) {
    const r = await sequentialLoop(() => c.echo(buf), { warmup, duration })
    return { mibPerSec: (r.ops * SIZE) / (1024 * 1024) / r.seconds, p50ms: r.p50ms, calls: r.ops }
  },
  async teardown({ c }) { await c.close() },
}
