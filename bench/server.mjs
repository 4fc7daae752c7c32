// Benchmark server process: `node [--expose-gc] server.mjs <impl>`.
// Starts the implementation's server on 127.0.0.1:0 and prints "PORT <n>" on stdout.
// Over IPC (when forked) it answers: ping, mem (after forced GC), connections, close, and any extra
// method the implementation's server handle exposes (extension point for e.g. topic fan-out).
import { getHeapSpaceStatistics } from 'node:v8'
import { loadImpl } from './impl/index.mjs'
import { serveIpc } from './lib/ipc-child.mjs'

const implId = process.argv[2]
if (!implId) {
  console.error('usage: node server.mjs <impl>')
  process.exit(2)
}

const impl = await loadImpl(implId)
const srv = await impl.startServer({ host: '127.0.0.1' })
process.stdout.write(`PORT ${srv.port}\n`)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function settledMemory() {
  if (typeof globalThis.gc !== 'function') throw new Error('server not started with --expose-gc')
  // Several full GCs with turns of the event loop in between, so finalizers and weak callbacks run.
  for (let i = 0; i < 4; i++) {
    globalThis.gc()
    await sleep(20)
  }
  const m = process.memoryUsage()
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]))
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces }
}

if (process.send) {
  serveIpc(async (fn, args) => {
    switch (fn) {
      case 'ping': return 'pong'
      case 'mem': return settledMemory()
      case 'cpu': return process.cpuUsage()
      case 'connections': return srv.connections?.() ?? null
      case 'close': await srv.close(); setImmediate(() => process.exit(0)); return null
      default:
        if (typeof srv[fn] === 'function') return srv[fn](args)
        throw new Error(`server(${implId}): unknown command ${fn}`)
    }
  })
} else {
  // Standalone use (debugging): stop on Ctrl-C.
  process.on('SIGINT', async () => { await srv.close(); process.exit(0) })
}
