// Scenario: streams. The server streams `count` chunks of 1 KiB, then of 64 KiB, to the client,
// which reads them one by one; items/s and MB/s (10^6 bytes) of payload the client received.
// wirecall: an async generator returned by a method, read with `for await` (credit: 256 items,
// 1 MiB, the defaults); raw: the floor under the same credit scheme, every chunk one binary ws
// message of just its bytes on a socket of its own (impl/raw.mjs); tRPC: an async-generator
// subscription over its wsLink (JSON, so base64, decoded by the client; no flow control).
import { timedScenario } from '../lib/timed.mjs'

export const id = 'streams'
export const requires = ['streams']
export const legend = 'streams: the server streams chunks to the client (wirecall: async generator + for await; raw: one ws message per chunk under the same credit, 256 items / 1 MiB; tRPC: async-generator subscription, base64); items/s and MB/s received, 1 KiB and 64 KiB chunks'
export const columns = [
  { key: 'smallItemsPerSec', header: '1 KiB items/s', better: 'higher', digits: 0 },
  { key: 'smallMBps', header: '1 KiB MB/s', better: 'higher', digits: 1 },
  { key: 'bigItemsPerSec', header: '64 KiB items/s', better: 'higher', digits: 0 },
  { key: 'bigMBps', header: '64 KiB MB/s', better: 'higher', digits: 1 },
]

const SMALL = { size: 1024, count: 20_000 }
const BIG = { size: 64 * 1024, count: 1_000 }

/** Read whole streams of `count` chunks back to back for `seconds`; totals over the time taken. */
async function streamLoop(c, { size, count }, seconds) {
  let items = 0
  let bytes = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  do {
    const r = await c.stream(size, count)
    if (r.items !== count || r.bytes !== size * count) throw new Error(`stream of ${count} x ${size} B came back as ${r.items} items, ${r.bytes} bytes`)
    items += r.items
    bytes += r.bytes
  } while (performance.now() < end)
  const s = (performance.now() - t0) / 1000
  return { itemsPerSec: items / s, mbps: bytes / 1e6 / s, items }
}

export const { open, rep, close } = timedScenario()

export const client = {
  async setup(impl, { port, warmup }) {
    const c = await impl.createClient(port)
    const check = await c.stream(16, 10)
    if (check.items !== 10 || check.bytes !== 160) throw new Error(`sanity check: a stream of 10 x 16 B came back as ${JSON.stringify(check)}`)
    await streamLoop(c, SMALL, warmup / 2)
    await streamLoop(c, BIG, warmup / 2)
    return { c }
  },
  async measure({ c }, { warmup, duration }) {
    await streamLoop(c, SMALL, warmup / 2)
    const small = await streamLoop(c, SMALL, duration / 2)
    await streamLoop(c, BIG, warmup / 2)
    const big = await streamLoop(c, BIG, duration / 2)
    return {
      smallItemsPerSec: small.itemsPerSec,
      smallMBps: small.mbps,
      bigItemsPerSec: big.itemsPerSec,
      bigMBps: big.mbps,
    }
  },
  async teardown({ c }) { await c.close() },
}
