// The page of the `page` scenario, bundled by lib/page.mjs. It holds both clients: wirecall's
// browser client, and the floor's raw loop (the browser's WebSocket + @msgpack/msgpack, the same
// frames and id Map as impl/raw.mjs's Node client). Both run the same loops as the Node scenarios,
// against the raw and wirecall servers of one Node process (page/server.mjs).
import { connect, service } from '@wirecall/browser'
import { Encoder, Decoder } from '@msgpack/msgpack'
import { pipelinedLoop, sequentialLoop } from '../lib/loops.mjs'

/**
 * request [0, id, method, params] -> response [1, id, error, result]; one ws.send per message.
 * Answers the server's cb(n) requests with n + 1 and counts its tick notifications.
 */
async function rawClient(url, ticks) {
  const ws = new WebSocket(url)
  ws.binaryType = 'arraybuffer'
  await new Promise((resolve, reject) => {
    ws.onopen = resolve
    ws.onerror = () => reject(new Error(`raw: cannot open ${url}`))
  })
  const encoder = new Encoder()
  const decoder = new Decoder()
  const pending = new Map()
  let nextId = 0
  ws.onmessage = (e) => {
    const msg = decoder.decode(e.data)
    if (msg[0] === 2) return ticks.count++
    if (msg[0] === 0) return ws.send(encoder.encode([1, msg[1], null, msg[3][0] + 1]))
    const [kind, id, error, result] = msg
    if (kind !== 1) return
    const p = pending.get(id)
    if (!p) return
    pending.delete(id)
    if (error != null) p.reject(new Error(error.message ?? String(error)))
    else p.resolve(result)
  }
  ws.onclose = () => {
    for (const p of pending.values()) p.reject(new Error('connection closed'))
    pending.clear()
  }
  const call = (method, params) => new Promise((resolve, reject) => {
    const id = nextId = (nextId + 1) >>> 0
    pending.set(id, { resolve, reject })
    ws.send(encoder.encode([0, id, method, params]))
  })
  return {
    add: (a, b) => call('add', [a, b]),
    echo: (bytes) => call('echo', [bytes]),
    subscribe: () => call('subscribe', []),
    join: (topic) => call('join', [topic]),
    close: async () => ws.close(),
  }
}

async function wirecallClient(url, ticks, batch) {
  const client = await connect(url, { batch, service: service({ tick: () => void ticks.count++ }) })
  return {
    add: (a, b) => client.remote.add(a, b),
    echo: (bytes) => client.remote.echo(bytes),
    subscribe: () => client.remote.subscribe((n) => n + 1),
    join: (topic) => client.remote.join(topic),
    close: () => client.close(),
  }
}

const clients = new Map()
const MiB = new Uint8Array(1 << 20).map((_, i) => i & 0xff)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The page's JS heap after a full GC (Chromium started with --js-flags=--expose-gc --enable-precise-memory-info). */
async function heapAfterGc() {
  if (typeof globalThis.gc !== 'function' || !performance.memory) throw new Error('page heap: needs --expose-gc and precise memory info')
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await sleep(20)
  }
  return performance.memory.usedJSHeapSize
}

window.bench = {
  /** Connect `impl` ('raw' | 'wirecall'), subscribe its callback, join topic `page-<impl>`, check add(1, 2) === 3. */
  async setup(impl, url) {
    const ticks = { count: 0 }
    // 'wirecall-nobatch': wirecall's client with batch: false, for comparing with and without batches.
    const c = impl === 'raw' ? await rawClient(url, ticks) : await wirecallClient(url, ticks, impl !== 'wirecall-nobatch')
    c.ticks = ticks
    const sum = await c.add(1, 2)
    if (sum !== 3) throw new Error(`${impl}: add(1,2) returned ${JSON.stringify(sum)}`)
    await c.subscribe()
    await c.join(`page-${impl}`)
    clients.set(impl, c)
  },
  /** One timed run of `what`: 'pipelined' | 'sequential' | 'echo' (1 MiB, sequential). */
  measure(impl, what, { warmup, duration, inflight }) {
    const c = clients.get(impl)
    if (!c) throw new Error(`${impl} is not set up`)
    if (what === 'pipelined') return pipelinedLoop(() => c.add(1, 2), { warmup, duration, inflight })
    if (what === 'sequential') return sequentialLoop(() => c.add(1, 2), { warmup, duration })
    if (what === 'echo') {
      return sequentialLoop(async () => {
        const back = await c.echo(MiB)
        if (back.byteLength !== MiB.byteLength || back[12345] !== MiB[12345]) throw new Error(`${impl}: echo returned other bytes`)
      }, { warmup, duration })
    }
    throw new Error(`unknown page measure ${what}`)
  },
  /** How many tick notifications `impl` has received, and the page's clock (ms). */
  tickCount(impl) {
    return [clients.get(impl).ticks.count, performance.now()]
  },
  /** Resolves with the page's clock (ms) once `target` tick notifications have arrived in all (bounded by `maxMs`). */
  async ticksReached(impl, target, maxMs) {
    const c = clients.get(impl)
    const t0 = performance.now()
    while (c.ticks.count < target) {
      if (performance.now() - t0 > maxMs) throw new Error(`${impl}: ${target - c.ticks.count} notifications missing after ${maxMs} ms`)
      await sleep(1)
    }
    return performance.now()
  },
  /** Heap growth (bytes, after GC) over `calls` pipelined add calls, 256 in flight. */
  async heapAfter(impl, calls) {
    const c = clients.get(impl)
    const before = await heapAfterGc()
    let left = calls
    const worker = async () => {
      while (left-- > 0) await c.add(1, 2)
    }
    await Promise.all(Array.from({ length: 256 }, worker))
    return (await heapAfterGc()) - before
  },
  async close(impl) {
    await clients.get(impl)?.close()
    clients.delete(impl)
  },
}
