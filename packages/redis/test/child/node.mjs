// A cluster node in its own process, for tests that kill it (SIGKILL): a
// server joined to the cluster, with one page (a Node client of its own
// server) whose `slow(ms)` never answers in time. Prints `READY <connection id>`.
// Runs the built packages. Env: REDIS_URL, PREFIX, NODE_ID.
import { service } from '@wirecall/core'
import { serve, connect } from '@wirecall/node'
import { redisCluster } from '@wirecall/redis'

const server = await serve({
  port: 0,
  service: service({}),
  cluster: redisCluster({ url: process.env.REDIS_URL, prefix: process.env.PREFIX, nodeId: process.env.NODE_ID, heartbeatMs: 200, nodeTtlMs: 600 }),
  onConnection: (conn) => conn.join('news'),
})
await connect(`ws://127.0.0.1:${server.port}`, {
  service: service({ slow: (ms) => new Promise((r) => setTimeout(() => r('late'), ms)), hello: (who) => `child greets ${who}` }),
})
while (server.connections.size === 0) await new Promise((r) => setTimeout(r, 5))
process.stdout.write(`READY ${[...server.connections][0].id}\n`)
