// Cluster node process for the cluster-fanout scenario: `node cluster-server.mjs <impl> <redis url> <prefix> <node id>`.
// Starts the implementation's server joined to the other nodes through Redis
// (impl.startClusterServer) on 127.0.0.1:0 and prints "PORT <n>". Over IPC it answers ping and
// every method of the server handle (fanout, topicSize, pageIds, callLoop, ...), like server.mjs.
import { loadImpl } from './impl/index.mjs'
import { serveIpc } from './lib/ipc-child.mjs'

const [implId, url, prefix, nodeId] = process.argv.slice(2)
if (!implId || !url || !prefix || !nodeId) {
  console.error('usage: node cluster-server.mjs <impl> <redis url> <prefix> <node id>')
  process.exit(2)
}
const impl = await loadImpl(implId)
if (typeof impl.startClusterServer !== 'function') throw new Error(`${implId} has no startClusterServer`)
const srv = await impl.startClusterServer({ host: '127.0.0.1', url, prefix, nodeId })
process.stdout.write(`PORT ${srv.port}\n`)

serveIpc(async (fn, args) => {
  switch (fn) {
    case 'ping': return 'pong'
    case 'close': await srv.close(); setImmediate(() => process.exit(0)); return null
    default:
      if (typeof srv[fn] === 'function') return srv[fn](args)
      throw new Error(`cluster-server(${implId}): unknown command ${fn}`)
  }
})
