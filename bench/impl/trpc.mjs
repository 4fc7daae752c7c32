// tRPC 11 over WebSockets, as its docs set it up for Node: a router served on a `ws`
// WebSocketServer by the official adapter (applyWSSHandler from '@trpc/server/adapters/ws'), and a
// client createTRPCClient + wsLink + createWSClient, given the `ws` class through its `WebSocket`
// option. JSON text frames (the default encoder, no transformer); the client sends the requests
// queued in one tick as one JSON array. JSON has no binary type, so `echo` sends base64, and both
// ends convert (as for rpc-websockets). Inputs are checked by small hand-written validators.
import { WebSocketServer, WebSocket as WS } from 'ws'
import { initTRPC } from '@trpc/server'
import { applyWSSHandler } from '@trpc/server/adapters/ws'
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client'
import { wssServer, toU8 } from '../lib/wsutil.mjs'

export const id = 'trpc'
export const label = 'tRPC'
export const description = 'tRPC 11, applyWSSHandler on ws, createTRPCClient + wsLink + createWSClient({ WebSocket: ws }); JSON text frames; the client batches the requests of one setTimeout(0) tick (≥ 1 ms in Node) into one array, which sets its sequential latency; add/echo are queries with hand-written input validators; binary echo as base64; callback and fan-out n/a: the server cannot call a client, its only push is a subscription stream, not request/response'
// Callback and fan-out are n/a: the server cannot call the client; its only push is a subscription
// (a stream the client opened), not a request/response call or a server-side group.
export const capabilities = { browser: true, streams: true }

const t = initTRPC.create()

const isNum = (v) => typeof v === 'number' && Number.isFinite(v)
/** add's input: { a: number, b: number }. */
function addInput(raw) {
  if (raw === null || typeof raw !== 'object' || !isNum(raw.a) || !isNum(raw.b)) throw new TypeError('add: expected { a: number, b: number }')
  return { a: raw.a, b: raw.b }
}
/** echo's input: a base64 string. */
function base64Input(raw) {
  if (typeof raw !== 'string') throw new TypeError('echo: expected a base64 string')
  return raw
}

/** chunks' input: { size, count }. */
function streamInput(raw) {
  if (raw === null || typeof raw !== 'object' || !isNum(raw.size) || !isNum(raw.count)) throw new TypeError('chunks: expected { size: number, count: number }')
  return { size: raw.size, count: raw.count }
}

const router = t.router({
  add: t.procedure.input(addInput).query(({ input }) => input.a + input.b),
  echo: t.procedure.input(base64Input).query(({ input }) => {
    const bytes = Buffer.from(input, 'base64') // what the handler would really work with
    return bytes.toString('base64')
  }),
  // The streams scenario: an async-generator subscription (tRPC 11's way to stream) yielding `count`
  // chunks of `size` bytes, as base64 (JSON frames), encoded once. No flow control: the server
  // pushes as fast as its generator and the socket go.
  chunks: t.procedure.input(streamInput).subscription(async function* ({ input }) {
    const chunk = Buffer.alloc(input.size).toString('base64')
    for (let i = 0; i < input.count; i++) yield chunk
  }),
})

export async function startServer({ host = '127.0.0.1' } = {}) {
  const wss = new WebSocketServer({ host, port: 0 })
  applyWSSHandler({ wss, router })
  return wssServer(wss)
}

export async function createClient(port) {
  let opened, failed
  const ready = new Promise((resolve, reject) => { opened = resolve; failed = reject })
  const wsClient = createWSClient({
    url: `ws://127.0.0.1:${port}`,
    WebSocket: WS,
    onOpen: () => opened(),
    onError: () => failed(new Error('tRPC websocket failed to connect')),
  })
  try {
    await ready
  } catch (err) {
    await wsClient.close()
    throw err
  }
  const trpc = createTRPCClient({ links: [wsLink({ client: wsClient })] })
  return {
    call: (a, b) => trpc.add.query({ a, b }),
    echo: async (buf) => {
      const u8 = toU8(buf)
      const b64 = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')
      const res = await trpc.echo.query(b64)
      return new Uint8Array(Buffer.from(res, 'base64'))
    },
    /** Subscribe to `count` chunks of `size` bytes; each decoded from base64 (the bytes the application gets). */
    stream: (size, count) => new Promise((resolve, reject) => {
      let items = 0
      let bytes = 0
      const sub = trpc.chunks.subscribe({ size, count }, {
        onData: (b64) => {
          items++
          bytes += Buffer.from(b64, 'base64').byteLength
        },
        onComplete: () => (items === count ? resolve({ items, bytes }) : reject(new Error(`tRPC stream: ${items} of ${count} chunks`))),
        onError: (err) => {
          sub.unsubscribe()
          reject(err)
        },
      })
    }),
    close: () => wsClient.close(),
  }
}

/** A tiny page entry for the bundle-size scenario: the tRPC client with wsLink over the native WebSocket. */
export const browserEntry = `
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client'
const trpc = createTRPCClient({ links: [wsLink({ client: createWSClient({ url: 'ws://127.0.0.1:8080/' }) })] })
console.log(await trpc.add.query({ a: 1, b: 2 }))
`
