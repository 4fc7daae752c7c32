/**
 * Batches from the browser client (docs/protocol.md, "Batches"), in Node with
 * `ws` standing in for the browser's WebSocket, against a real server: the
 * frames of one task leave as one WebSocket message, in both directions, a
 * lone call as itself; `batch: false` offers nothing.
 */
import { describe, expect, test } from 'vitest'
import { WebSocket as WsWebSocket } from 'ws'
import { BATCH_MARKER, BATCH_PROTOCOL } from '@wirecall/core/internal'
import { createClient, service, type BrowserConnectOptions, type WebSocketConstructor } from '../src/index.js'
import { TestServer, closeLater, useLeakCheck, type TestApi } from './helpers.js'

useLeakCheck()

/** `ws` as the page's WebSocket, recording every message each socket sends and receives. */
function recordingWebSocket(): { WebSocket: WebSocketConstructor; sockets: { ws: WsWebSocket; sent: Uint8Array[]; received: number }[] } {
  const sockets: { ws: WsWebSocket; sent: Uint8Array[]; received: number }[] = []
  class Recording extends WsWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols)
      const entry = { ws: this as WsWebSocket, sent: [] as Uint8Array[], received: 0 }
      sockets.push(entry)
      this.on('message', () => entry.received++)
      const send = this.send.bind(this) as (data: Uint8Array | string) => void
      ;(this as { send: (data: Uint8Array | string) => void }).send = (data) => {
        if (typeof data !== 'string') entry.sent.push(data.slice())
        send(data)
      }
    }
  }
  return { WebSocket: Recording as unknown as WebSocketConstructor, sockets }
}

async function open(server: TestServer, options: BrowserConnectOptions<TestApi> = {}) {
  const { WebSocket, sockets } = recordingWebSocket()
  const client = closeLater(createClient<TestApi>(server.url, {
    WebSocket, reconnect: false, service: service({ greet: (name: string) => `hi ${name}` }), ...options,
  }))
  await client.ready
  return { client, socket: sockets[0]! }
}

describe('browser client batches', () => {
  test('selected by a wirecall server; 100 calls of one task leave as one message and all settle', async () => {
    const server = await TestServer.start()
    const { client, socket } = await open(server)
    expect(socket.ws.protocol).toBe(BATCH_PROTOCOL)
    const before = socket.sent.length
    const sums = await Promise.all(Array.from({ length: 100 }, (_, i) => client.remote.add(i, 1)))
    expect(sums).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect(socket.sent.length - before).toBe(1)
    expect(socket.sent.at(-1)![0]).toBe(BATCH_MARKER)
  })

  test('a lone call leaves at once as itself, not as a batch', async () => {
    const server = await TestServer.start()
    const { client, socket } = await open(server)
    const before = socket.sent.length
    expect(await client.remote.add(2, 3)).toBe(5)
    expect(socket.sent.length - before).toBe(1)
    expect(socket.sent.at(-1)![0]).not.toBe(BATCH_MARKER)
  })

  test('callbacks: the server calls the page 20 times in one tick, the page answers in one message', async () => {
    const server = await TestServer.start()
    const { client, socket } = await open(server)
    const sentBefore = socket.sent.length
    const receivedBefore = socket.received
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => client.remote.askClient(`n${i}`)))
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => `hi n${i}`))
    // 20 requests in one message, 20 callback replies in another.
    expect(socket.sent.length - sentBefore).toBe(2)
    // 20 callback requests and 20 replies: batched by the server, far fewer than 40 messages.
    expect(socket.received - receivedBefore).toBeLessThanOrEqual(4)
  })

  test('batch: false offers no subprotocol and sends one message per frame', async () => {
    const server = await TestServer.start()
    const { client, socket } = await open(server, { batch: false })
    expect(socket.ws.protocol).toBe('')
    const before = socket.sent.length
    await Promise.all([client.remote.add(1, 1), client.remote.add(2, 2), client.remote.add(3, 3)])
    expect(socket.sent.length - before).toBe(3)
  })
})
