// The page of the `page-pipelined` scenario, bundled by lib/page.mjs. It holds both clients:
// wirecall's browser client, and the floor's raw loop (the browser's WebSocket + @msgpack/msgpack,
// the same frames and id Map as impl/raw.mjs's Node client). Both run the same pipelinedLoop as the
// Node scenarios, against the raw and wirecall servers of one Node process (page/server.mjs).
import { connect } from '@wirecall/browser'
import { Encoder, Decoder } from '@msgpack/msgpack'
import { pipelinedLoop } from '../lib/loops.mjs'

/** request [0, id, method, params] -> response [1, id, error, result]; one ws.send per request. */
async function rawClient(url) {
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
    const [kind, id, error, result] = decoder.decode(e.data)
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
  return {
    call: (a, b) => new Promise((resolve, reject) => {
      const id = nextId = (nextId + 1) >>> 0
      pending.set(id, { resolve, reject })
      ws.send(encoder.encode([0, id, 'add', [a, b]]))
    }),
    close: async () => ws.close(),
  }
}

async function wirecallClient(url) {
  const client = await connect(url)
  return { call: (a, b) => client.remote.add(a, b), close: () => client.close() }
}

const clients = new Map()

window.bench = {
  /** Connect `impl` ('raw' | 'wirecall') to its server and check that add(1, 2) === 3. */
  async setup(impl, url) {
    const c = impl === 'raw' ? await rawClient(url) : await wirecallClient(url)
    const sum = await c.call(1, 2)
    if (sum !== 3) throw new Error(`${impl}: add(1,2) returned ${JSON.stringify(sum)}`)
    clients.set(impl, c)
  },
  /** One timed run: `inflight` add(1, 2) calls outstanding at all times. */
  measure(impl, { warmup, duration, inflight }) {
    const c = clients.get(impl)
    if (!c) throw new Error(`${impl} is not set up`)
    return pipelinedLoop(() => c.call(1, 2), { warmup, duration, inflight })
  },
  async close(impl) {
    await clients.get(impl)?.close()
    clients.delete(impl)
  },
}
