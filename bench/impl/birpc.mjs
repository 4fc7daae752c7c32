// birpc over a plain ws socket, with @msgpack/msgpack as serialize/deserialize.
import { WebSocketServer, WebSocket } from 'ws'
import { createBirpc } from 'birpc'
import { Encoder, Decoder } from '@msgpack/msgpack'
import { listenWss, openWs, toU8 } from '../lib/wsutil.mjs'

export const id = 'birpc'
export const label = 'birpc'
export const description = 'birpc 4 over ws, msgpack serialize/deserialize (default 60 s per-call timeout kept)'

const serverFunctions = {
  add: (a, b) => a + b,
  echo: (buf) => buf,
}

function channel(ws, encoder, decoder) {
  return {
    post: (data) => ws.send(data),
    on: (fn) => ws.on('message', fn),
    off: (fn) => ws.off('message', fn),
    serialize: (v) => encoder.encode(v),
    deserialize: (d) => decoder.decode(d),
  }
}

export async function startServer({ host = '127.0.0.1' } = {}) {
  const wss = new WebSocketServer({ host, port: 0 })
  const encoder = new Encoder()
  const decoder = new Decoder()
  wss.on('connection', (ws) => {
    const rpc = createBirpc(serverFunctions, channel(ws, encoder, decoder))
    ws.on('close', () => rpc.$close?.())
  })
  const port = await listenWss(wss)
  return {
    port,
    connections: () => wss.clients.size,
    close: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate()
      wss.close(() => resolve())
    }),
  }
}

export async function createClient(port) {
  const ws = await openWs(new WebSocket(`ws://127.0.0.1:${port}`))
  const rpc = createBirpc({}, channel(ws, new Encoder(), new Decoder()))
  return {
    call: (a, b) => rpc.add(a, b),
    echo: async (buf) => toU8(await rpc.echo(buf)),
    close: async () => { try { rpc.$close?.() } catch {} ws.close() },
  }
}
