// Cap'n Web (capnweb 0.12) over a `ws` socket, as its README shows for Node: a ws WebSocketServer
// whose connections each start `newWebSocketRpcSession(ws, new Api())`, and a client
// `newWebSocketRpcSession(webSocket)` that gets a stub of the server's main RpcTarget.
// The wire format is capnweb's own JSON text frames; a Uint8Array is a by-value type (sent as base64
// inside the JSON), so `echo` needs no conversion in this file. Each awaited call is a `push` plus a
// `pull` message (a call that is not awaited is never sent back), answered by `resolve`.
import { WebSocketServer, WebSocket as WS } from 'ws'
import { RpcTarget, newWebSocketRpcSession } from 'capnweb'
import { wssServer, openWs, toU8 } from '../lib/wsutil.mjs'
import { callbackMethods } from '../lib/push.mjs'

// capnweb's WebSocket transport reads the global `WebSocket` (for `WebSocket.CONNECTING`, and to
// construct one when given a URL). Node 20 has none: the `ws` class stands in. The client below
// always passes a `ws` instance, so it uses `ws` even where a global WebSocket exists.
globalThis.WebSocket ??= WS

export const id = 'capnweb'
export const label = "Cap'n Web"
export const description = "capnweb 0.12, newWebSocketRpcSession on ws (server and client), RpcTarget main; JSON text frames, Uint8Array by value (base64 inside capnweb's JSON); callback = a function passed by reference, kept with dup(), called by the server; fan-out n/a: no server-side groups or broadcast"
// No topics: capnweb has no server-side groups or broadcast (fan-out would be a hand-kept set of
// callback stubs and one RPC call per member).
export const capabilities = { callback: true, browser: true }

let subscriber // stub of the latest client's callback (dup()ed: params are disposed after the call)

class BenchApi extends RpcTarget {
  add(a, b) { return a + b }
  echo(bytes) { return bytes }
  subscribe(cb) {
    subscriber?.[Symbol.dispose]()
    subscriber = cb.dup()
    return true
  }
}

export async function startServer({ host = '127.0.0.1' } = {}) {
  const wss = new WebSocketServer({ host, port: 0 })
  wss.on('connection', (ws) => {
    newWebSocketRpcSession(ws, new BenchApi())
  })
  return wssServer(wss, { ...callbackMethods(() => subscriber && ((n) => subscriber(n))) })
}

export async function createClient(port) {
  const ws = await openWs(new WS(`ws://127.0.0.1:${port}`))
  const api = newWebSocketRpcSession(ws)
  return {
    // Promise.resolve() calls then() on the RpcPromise at once, which sends the pull: the call is in
    // flight until its result arrives, whatever the caller does with the promise.
    call: (a, b) => Promise.resolve(api.add(a, b)),
    echo: async (buf) => toU8(await api.echo(buf)),
    subscribe: (fn) => Promise.resolve(api.subscribe(fn)),
    close: async () => {
      try { api[Symbol.dispose]() } catch {}
      ws.close()
    },
  }
}

/** A tiny page entry for the bundle-size scenario: capnweb's client over the native WebSocket. */
export const browserEntry = `
import { newWebSocketRpcSession } from 'capnweb'
const api = newWebSocketRpcSession('ws://127.0.0.1:8080/')
console.log(await api.add(1, 2))
await api.subscribe((n) => n + 1)
`
