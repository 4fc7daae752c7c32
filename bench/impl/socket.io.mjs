// socket.io: websocket transport only (no polling upgrade), one event per call, answered by ack.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { io } from 'socket.io-client'
import { toU8 } from '../lib/wsutil.mjs'
import { callbackMethods, fanoutMethods, clusterCallMethods } from '../lib/push.mjs'

export const id = 'socket.io'
export const label = 'socket.io'
export const description = 'socket.io 4, transports:[websocket], emitWithAck; maxHttpBufferSize raised to 8 MiB for the 1 MiB echo; callback = server emitWithAck(\'cb\'); topics = rooms, io.to(room).emit'
export const capabilities = { callback: true, topics: true, browser: true, cluster: true }

// The fan-out backlog: the ws socket's queue (TCP write queue included) plus the packets engine.io
// holds in its own writeBuffer while the websocket transport is not writable, counted at the
// size of one tick packet ('42["tick",N]').
const TICK_PACKET_BYTES = 16
const backlogOf = (ioServer) => () => {
  let max = 0
  for (const c of Object.values(ioServer.engine.clients)) {
    const b = (c.writeBuffer?.length ?? 0) * TICK_PACKET_BYTES + (c.transport?.socket?.bufferedAmount ?? 0)
    if (b > max) max = b
  }
  return max
}

export async function startServer({ host = '127.0.0.1' } = {}) {
  const http = createServer()
  // Default maxHttpBufferSize is 1e6 bytes < 1 MiB: the echo scenario would be disconnected.
  const ioServer = new Server(http, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 8 * 1024 * 1024 })
  let subscriber // (n) => Promise: the latest client that subscribed
  ioServer.on('connection', (socket) => {
    socket.on('add', (a, b, ack) => ack(a + b))
    socket.on('echo', (buf, ack) => ack(buf))
    socket.on('subscribe', (ack) => { subscriber = (n) => socket.emitWithAck('cb', n); ack(true) })
    socket.on('join', (room, ack) => { socket.join(room); ack(true) })
  })
  const backlog = backlogOf(ioServer)
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, host, resolve)
  })
  return {
    port: http.address().port,
    connections: () => ioServer.engine.clientsCount,
    close: () => new Promise((resolve) => {
      ioServer.disconnectSockets(true)
      ioServer.close(() => resolve())
      http.closeAllConnections?.()
    }),
    ...callbackMethods(() => subscriber),
    ...fanoutMethods({
      publish: (room, i) => ioServer.to(room).emit('tick', i),
      backlog,
      size: (room) => ioServer.of('/').adapter.rooms.get(room)?.size ?? 0,
    }),
  }
}

/**
 * A cluster node for the cluster-fanout scenario: socket.io with the Redis adapter
 * (@socket.io/redis-adapter's createAdapter, default options) over the official `redis` client's
 * pub/sub pair (a client and its duplicate), as in the adapter's README.
 */
export async function startClusterServer({ host = '127.0.0.1', url, prefix }) {
  const { createClient: createRedis } = await import('redis')
  const { createAdapter } = await import('@socket.io/redis-adapter')
  const pubClient = createRedis({ url })
  const subClient = pubClient.duplicate()
  pubClient.on('error', (e) => console.error('redis pub:', e.message))
  subClient.on('error', (e) => console.error('redis sub:', e.message))
  await Promise.all([pubClient.connect(), subClient.connect()])
  const http = createServer()
  const ioServer = new Server(http, {
    transports: ['websocket'], serveClient: false,
    adapter: createAdapter(pubClient, subClient, { key: prefix }),
  })
  ioServer.on('connection', (socket) => {
    socket.on('add', (a, b, ack) => ack(a + b))
    socket.on('join', (room, ack) => { socket.join(room); ack(true) })
  })
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, host, resolve)
  })
  return {
    port: http.address().port,
    close: async () => {
      await new Promise((resolve) => {
        ioServer.disconnectSockets(true)
        ioServer.close(() => resolve())
        http.closeAllConnections?.()
      })
      await Promise.allSettled([pubClient.quit(), subClient.quit()])
    },
    ...fanoutMethods({
      publish: (room, i) => ioServer.to(room).emit('tick', i),
      backlog: backlogOf(ioServer), // this node's own members only
      size: (room) => ioServer.of('/').adapter.rooms.get(room)?.size ?? 0,
    }),
    ...clusterCallMethods({
      ids: () => [...ioServer.of('/').sockets.keys()],
      // A socket of this node: its own emitWithAck. Elsewhere: addressed by id through the adapter
      // (io.to(id), a broadcast with acks over Redis), which resolves with one ack per socket.
      callPage: async (id, n) => {
        const local = ioServer.of('/').sockets.get(id)
        if (local) return local.timeout(10_000).emitWithAck('inc', n)
        return (await ioServer.to(id).timeout(10_000).emitWithAck('inc', n))[0]
      },
    }),
  }
}

/**
 * Cluster-fanout: true once every node's adapter has subscribed. Each adapter psubscribes
 * `<key>#/#*` (broadcasts) and then subscribes `<key>-request#/#` in the same go; NUMPAT counts
 * distinct patterns, not subscribers, so the request channel's subscriber count is what tells.
 */
export async function clusterSubscribed(command, { prefix, nodes }) {
  const [, count] = await command(['PUBSUB', 'NUMSUB', `${prefix}-request#/#`])
  return count >= nodes
}

export async function createClient(port, { onTick, methods } = {}) {
  // forceNew: one Manager (one websocket) per client; otherwise socket.io multiplexes clients to the same URL.
  const socket = io(`ws://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false })
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  if (onTick) socket.on('tick', onTick)
  // Page methods called by the server (cluster-fanout's inc): answered through the ack.
  for (const [name, fn] of Object.entries(methods ?? {})) socket.on(name, (...args) => { const ack = args.pop(); ack(fn(...args)) })
  return {
    call: (a, b) => socket.emitWithAck('add', a, b),
    subscribe: (fn) => {
      socket.on('cb', (n, ack) => ack(fn(n)))
      return socket.emitWithAck('subscribe')
    },
    join: (room) => socket.emitWithAck('join', room),
    echo: async (buf) => toU8(await socket.emitWithAck('echo', buf)),
    close: async () => { socket.disconnect() },
  }
}

/** A tiny page entry for the bundle-size scenario. */
export const browserEntry = `
import { io } from 'socket.io-client'
const socket = io('ws://127.0.0.1:8080', { transports: ['websocket'] })
socket.on('tick', (i) => console.log('tick', i))
socket.on('cb', (n, ack) => ack(n + 1))
socket.on('connect', async () => console.log(await socket.emitWithAck('add', 1, 2)))
`
