// The floor: hand-written ws + @msgpack/msgpack request/response loop.
// request [0, id, method, params] -> response [1, id, error, result]; notification [2, method, params];
// one ws.send per message; the caller matches ids in a Map. The same code runs in both directions:
// the server calls the client's `cb` (callback round trip) exactly as the client calls `add`.
import { createServer } from 'node:http'
import { WebSocketServer, WebSocket } from 'ws'
import { Encoder, Decoder } from '@msgpack/msgpack'
import { openWs } from '../lib/wsutil.mjs'
import { callbackMethods, fanoutMethods, trackSockets, maxWritable } from '../lib/push.mjs'
import { authOn, identityOf } from '../lib/auth.mjs'

export const id = 'raw'
export const label = 'raw ws+msgpack'
export const description = `hand-written ws + @msgpack/msgpack loop (the floor)${process.env.BENCH_RAW_CORK === '1' ? ', sockets corked per tick (--raw-cork)' : ''}`
export const capabilities = { callback: true, topics: true, browser: true, page: true, streams: true, auth: true, manyConnections: true }

// --raw-cork (BENCH_RAW_CORK=1 from run.mjs): the write coalescing wirecall's Node transport does.
// The first send of a tick on a socket is written at once; a second send in the same tick corks the
// socket, and one process.nextTick uncorks every socket corked in the tick (a burst: two writes).
// Off by default: the floor is one ws.send, hence one write syscall, per message.
const CORK = process.env.BENCH_RAW_CORK === '1'
let wrote = []
const endTick = () => {
  const list = wrote
  wrote = []
  for (const s of list) {
    if (s.benchTick === 2) s.uncork()
    s.benchTick = 0
  }
}
function send(ws, frame) {
  const s = CORK && ws._socket
  if (s) {
    // benchTick: 0 nothing sent in this tick, 1 one frame sent as is, 2 corked.
    if (!s.benchTick) {
      s.benchTick = 1
      if (wrote.push(s) === 1) process.nextTick(endTick)
    } else if (s.benchTick === 1) {
      s.benchTick = 2
      s.cork()
    }
  }
  ws.send(frame)
}

/** One end of a raw msgpack-rpc link over a ws socket: handles requests, responses and notifications. */
function link(ws, handlers, encoder, decoder) {
  const pending = new Map()
  let nextId = 0
  ws.on('message', (data) => {
    const msg = decoder.decode(data)
    switch (msg[0]) {
      case 0: {
        const [, msgid, method, params] = msg
        let frame
        try {
          frame = [1, msgid, null, handlers[method](...params)]
        } catch (err) {
          frame = [1, msgid, { message: String(err?.message ?? err) }, null]
        }
        send(ws, encoder.encode(frame))
        break
      }
      case 1: {
        const [, msgid, error, result] = msg
        const p = pending.get(msgid)
        if (!p) return
        pending.delete(msgid)
        if (error != null) p.reject(new Error(error.message ?? String(error)))
        else p.resolve(result)
        break
      }
      case 2:
        handlers[msg[1]]?.(...msg[2])
        break
    }
  })
  ws.on('close', () => {
    for (const p of pending.values()) p.reject(new Error('connection closed'))
    pending.clear()
  })
  const request = (method, params) => new Promise((resolve, reject) => {
    const msgid = nextId = (nextId + 1) >>> 0
    pending.set(msgid, { resolve, reject })
    send(ws, encoder.encode([0, msgid, method, params]))
  })
  return { request }
}

// ------------------------------------------------------------------ streams (the floor)
// A stream is the bare minimum on its own socket (ws at /stream): the client sends the text
// {"size", "count"} and an initial credit, the server sends every chunk as one binary message of
// just its bytes (no header, no copy), an empty binary message ends it. Credit is wirecall's
// scheme with wirecall's defaults: the client grants 256 items and 1 MiB, and gives back what it
// has taken once it has taken a quarter of either; the server sends while it has item credit and any
// byte credit (the last chunk may overshoot), and waits for credit otherwise.
export const STREAM_WINDOW_ITEMS = 256
export const STREAM_WINDOW_BYTES = 1024 * 1024

/** A credit message: items and bytes, two u32. */
function creditFrame(items, bytes) {
  const frame = Buffer.allocUnsafe(8)
  frame.writeUInt32BE(items, 0)
  frame.writeUInt32BE(bytes, 4)
  return frame
}

function streamServerSocket(ws) {
  let items = 0
  let bytes = 0
  let job // { chunk, left }
  const pump = () => {
    while (job && job.left > 0 && items > 0 && bytes > 0) {
      send(ws, job.chunk)
      items--
      bytes -= job.chunk.byteLength
      job.left--
    }
    if (job && job.left === 0) {
      job = undefined
      send(ws, EMPTY)
    }
  }
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const { size, count } = JSON.parse(String(data))
      job = { chunk: new Uint8Array(size), left: count }
    } else {
      items += data.readUInt32BE(0)
      bytes += data.readUInt32BE(4)
    }
    pump()
  })
}
const EMPTY = new Uint8Array(0)

/** The client end: read one stream of `count` chunks of `size` bytes, granting credit as it reads. */
function readRawStream(ws, size, count) {
  return new Promise((resolve, reject) => {
    let items = 0
    let bytes = 0
    let takenItems = 0
    let takenBytes = 0
    const onMessage = (data) => {
      if (data.byteLength === 0) {
        ws.off('message', onMessage)
        ws.off('close', onClose)
        if (items !== count) reject(new Error(`raw stream: ${items} of ${count} chunks`))
        else resolve({ items, bytes })
        return
      }
      items++
      bytes += data.byteLength
      takenItems++
      takenBytes += data.byteLength
      if (takenItems * 4 >= STREAM_WINDOW_ITEMS || takenBytes * 4 >= STREAM_WINDOW_BYTES) {
        ws.send(creditFrame(takenItems, takenBytes))
        takenItems = 0
        takenBytes = 0
      }
    }
    const onClose = () => reject(new Error('raw stream: connection closed'))
    ws.on('message', onMessage)
    ws.on('close', onClose)
    ws.send(JSON.stringify({ size, count }))
    ws.send(creditFrame(STREAM_WINDOW_ITEMS, STREAM_WINDOW_BYTES))
  })
}

export async function startServer({ host = '127.0.0.1' } = {}) {
  const http = createServer()
  const sockets = trackSockets(http)
  // The handshakes scenario: the same header check as wirecall's authenticate hook, through ws's
  // own verifyClient (refused handshakes get 401).
  const wss = new WebSocketServer({ server: http, ...(authOn() ? { verifyClient: ({ req }) => identityOf(req) !== undefined } : {}) })
  const encoder = new Encoder()
  const decoder = new Decoder()
  const topics = new Map() // name -> Set<ws>
  let subscriber // (n) => Promise: the latest client that subscribed
  wss.on('connection', (ws, req) => {
    if (req.url === '/stream') return streamServerSocket(ws)
    const handlers = {
      add: (a, b) => a + b,
      echo: (buf) => buf,
      subscribe: () => { subscriber = (n) => peer.request('cb', [n]); return true },
      join: (name) => {
        let set = topics.get(name)
        if (!set) topics.set(name, (set = new Set()))
        set.add(ws)
        ws.once('close', () => set.delete(ws))
        return true
      },
    }
    const peer = link(ws, handlers, encoder, decoder)
  })
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, host, resolve)
  })
  return {
    port: http.address().port,
    connections: () => wss.clients.size,
    close: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      http.close(() => resolve())
    }),
    ...callbackMethods(() => subscriber),
    ...fanoutMethods({
      // Encode the frame once, send the same bytes to every member.
      publish: (name, i) => {
        const frame = encoder.encode([2, 'tick', [i]])
        for (const ws of topics.get(name) ?? []) send(ws, frame)
      },
      backlog: () => maxWritable(sockets),
      size: (name) => topics.get(name)?.size ?? 0,
    }),
  }
}

/** handlers: the client's own functions the server may call or notify (tick for fan-out). */
export async function createClient(port, { onTick } = {}) {
  const ws = await openWs(new WebSocket(`ws://127.0.0.1:${port}`))
  let callback
  const handlers = {
    cb: (n) => callback(n),
    tick: onTick,
  }
  const { request } = link(ws, handlers, new Encoder(), new Decoder())
  let streamWs // its own socket, opened on the first stream
  return {
    stream: async (size, count) => {
      streamWs ??= await openWs(new WebSocket(`ws://127.0.0.1:${port}/stream`))
      return readRawStream(streamWs, size, count)
    },
    call: (a, b) => request('add', [a, b]),
    echo: (buf) => request('echo', [buf]),
    /** The server will call cb(n) (a request to this client); raw has no references, so the function is registered under a name. */
    subscribe: (fn) => { callback = fn; return request('subscribe', []) },
    join: (topic) => request('join', [topic]),
    close: async () => {
      ws.close()
      streamWs?.close()
    },
  }
}

/** A tiny page entry for the bundle-size scenario: native WebSocket + @msgpack/msgpack, the same request/notification shapes. */
export const browserEntry = `
import { encode, decode } from '@msgpack/msgpack'
const ws = new WebSocket('ws://127.0.0.1:8080/')
ws.binaryType = 'arraybuffer'
const pending = new Map()
let nextId = 0
const handlers = { tick: (i) => console.log('tick', i), cb: (n) => n + 1 }
ws.onmessage = (e) => {
  const m = decode(e.data)
  if (m[0] === 0) ws.send(encode([1, m[1], null, handlers[m[2]](...m[3])]))
  else if (m[0] === 1) { const p = pending.get(m[1]); pending.delete(m[1]); m[2] == null ? p.resolve(m[3]) : p.reject(new Error(m[2].message)) }
  else if (m[0] === 2) handlers[m[1]]?.(...m[2])
}
const call = (method, params) => new Promise((resolve, reject) => {
  const id = nextId = (nextId + 1) >>> 0
  pending.set(id, { resolve, reject })
  ws.send(encode([0, id, method, params]))
})
ws.onopen = async () => console.log(await call('add', [1, 2]))
`
