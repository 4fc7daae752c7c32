// The floor: hand-written ws + @msgpack/msgpack request/response loop.
// request [0, id, method, params] -> response [1, id, error, result]; one ws.send per message;
// the client matches ids in a Map.
import { WebSocketServer, WebSocket } from 'ws'
import { Encoder, Decoder } from '@msgpack/msgpack'
import { listenWss, openWs } from '../lib/wsutil.mjs'

export const id = 'raw'
export const label = 'raw ws+msgpack'
export const description = 'hand-written ws + @msgpack/msgpack loop (the floor)'

const handlers = {
  add: (a, b) => a + b,
  echo: (buf) => buf,
}

export async function startServer({ host = '127.0.0.1' } = {}) {
  const wss = new WebSocketServer({ host, port: 0 })
  const encoder = new Encoder()
  const decoder = new Decoder()
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const [type, msgid, method, params] = decoder.decode(data)
      if (type !== 0) return
      let frame
      try {
        frame = [1, msgid, null, handlers[method](...params)]
      } catch (err) {
        frame = [1, msgid, { message: String(err?.message ?? err) }, null]
      }
      ws.send(encoder.encode(frame))
    })
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
  const encoder = new Encoder()
  const decoder = new Decoder()
  const pending = new Map()
  let nextId = 0
  ws.on('message', (data) => {
    const [, msgid, error, result] = decoder.decode(data)
    const p = pending.get(msgid)
    if (!p) return
    pending.delete(msgid)
    if (error != null) p.reject(new Error(error.message ?? String(error)))
    else p.resolve(result)
  })
  ws.on('close', () => {
    for (const p of pending.values()) p.reject(new Error('connection closed'))
    pending.clear()
  })
  const request = (method, params) => new Promise((resolve, reject) => {
    const msgid = nextId = (nextId + 1) >>> 0
    pending.set(msgid, { resolve, reject })
    ws.send(encoder.encode([0, msgid, method, params]))
  })
  return {
    call: (a, b) => request('add', [a, b]),
    echo: (buf) => request('echo', [buf]),
    close: async () => { ws.close(); },
  }
}
