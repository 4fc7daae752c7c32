// socket.io: websocket transport only (no polling upgrade), one event per call, answered by ack.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { io } from 'socket.io-client'
import { toU8 } from '../lib/wsutil.mjs'

export const id = 'socket.io'
export const label = 'socket.io'
export const description = 'socket.io 4, transports:[websocket], emitWithAck; maxHttpBufferSize raised to 8 MiB for the 1 MiB echo'

export async function startServer({ host = '127.0.0.1' } = {}) {
  const http = createServer()
  // Default maxHttpBufferSize is 1e6 bytes < 1 MiB: the echo scenario would be disconnected.
  const ioServer = new Server(http, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 8 * 1024 * 1024 })
  ioServer.on('connection', (socket) => {
    socket.on('add', (a, b, ack) => ack(a + b))
    socket.on('echo', (buf, ack) => ack(buf))
  })
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
  }
}

export async function createClient(port) {
  // forceNew: one Manager (one websocket) per client; otherwise socket.io multiplexes clients to the same URL.
  const socket = io(`ws://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false })
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  return {
    call: (a, b) => socket.emitWithAck('add', a, b),
    echo: async (buf) => toU8(await socket.emitWithAck('echo', buf)),
    close: async () => { socket.disconnect() },
  }
}
