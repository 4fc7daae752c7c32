// birpc over a plain ws socket, with @msgpack/msgpack as serialize/deserialize.
import { WebSocketServer, WebSocket } from 'ws'
import { createBirpc } from 'birpc'
import { Encoder, Decoder } from '@msgpack/msgpack'
import { wssServer, openWs, toU8 } from '../lib/wsutil.mjs'
import { callbackMethods } from '../lib/push.mjs'

export const id = 'birpc'
export const label = 'birpc'
export const description = 'birpc 4 over ws, msgpack serialize/deserialize (default 60 s per-call timeout kept); callback = the server calls the client\'s cb (birpc is bidirectional, functions do not cross)'
// No topics (birpc has no server-side groups of connections); bidirectional calls, so the callback scenario runs.
export const capabilities = { callback: true, browser: true }

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
  let subscriber // (n) => Promise: the latest client that subscribed
  wss.on('connection', (ws) => {
    // subscribe needs the calling connection: a per-connection functions object.
    const fns = { ...serverFunctions, subscribe: () => { subscriber = (n) => rpc.cb(n); return true } }
    const rpc = createBirpc(fns, channel(ws, encoder, decoder))
    ws.on('close', () => rpc.$close?.())
  })
  return wssServer(wss, { ...callbackMethods(() => subscriber) })
}

export async function createClient(port) {
  const ws = await openWs(new WebSocket(`ws://127.0.0.1:${port}`))
  let callback
  const rpc = createBirpc({ cb: (n) => callback(n) }, channel(ws, new Encoder(), new Decoder()))
  return {
    call: (a, b) => rpc.add(a, b),
    subscribe: (fn) => { callback = fn; return rpc.subscribe() },
    echo: async (buf) => toU8(await rpc.echo(buf)),
    close: async () => { try { rpc.$close?.() } catch {} ws.close() },
  }
}

/** A tiny page entry for the bundle-size scenario: birpc + @msgpack/msgpack over the native WebSocket. */
export const browserEntry = `
import { createBirpc } from 'birpc'
import { Encoder, Decoder } from '@msgpack/msgpack'
const ws = new WebSocket('ws://127.0.0.1:8080/')
ws.binaryType = 'arraybuffer'
const encoder = new Encoder()
const decoder = new Decoder()
const rpc = createBirpc({ tick: (i) => console.log('tick', i), cb: (n) => n + 1 }, {
  post: (data) => ws.send(data),
  on: (fn) => ws.addEventListener('message', (e) => fn(e.data)),
  serialize: (v) => encoder.encode(v),
  deserialize: (d) => decoder.decode(d),
})
ws.onopen = async () => console.log(await rpc.add(1, 2))
`
