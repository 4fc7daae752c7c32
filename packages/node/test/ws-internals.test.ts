/**
 * The `ws` internals that the transport's direct frame write reads
 * (`WS_INTERNALS` in src/transport.ts) still have the shape and the meaning
 * it relies on, on the exact `ws` version package.json pins. When one of
 * these tests fails, `ws` changed under the transport: check `sendParts`
 * against the new `ws` sender before moving the pin (until then it falls
 * back to `ws.send` fragments when the fields are missing, but a field that
 * keeps its name and changes its meaning would corrupt the stream).
 */
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { WebSocketTransport } from '../src/transport.js'
import { WS_INTERNALS, wsInternalsProblem } from '../src/frames.js'

const require = createRequire(import.meta.url)
const installed = (require('ws/package.json') as { version: string }).version
const pinned = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies['ws']!

/** The failure message: what changed, and which internals the transport reads. */
const loud = (what: string) =>
  `ws ${installed} (package.json pins ${pinned}): ${what}. The Node transport's direct frame write ` +
  `(sendParts in packages/node/src/transport.ts) reads the ws internals ${WS_INTERNALS.join(' and ')}; ` +
  'check it against this ws version before using it'

interface Sender { _state: number; _firstFragment: boolean }
const senderOf = (ws: WebSocket) => (ws as unknown as { _sender: Sender })._sender

const cleanup: (() => void)[] = []
afterEach(() => {
  for (const f of cleanup.splice(0)) f()
})

/** A connected pair over 127.0.0.1: the server's end and the client's end. */
async function pair(perMessageDeflate = false): Promise<{ server: WebSocket; serverSocket: Socket; client: WebSocket; clientSocket: Socket; received: Buffer[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate })
  await new Promise((resolve) => wss.once('listening', resolve))
  const received: Buffer[] = []
  let serverSocket!: Socket
  const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', (ws, req) => {
    serverSocket = req.socket
    ws.on('message', (data: Buffer) => received.push(data))
    resolve(ws)
  }))
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate })
  let clientSocket!: Socket
  client.once('upgrade', (res) => (clientSocket = res.socket as Socket))
  await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject))
  const server = await serverSide
  cleanup.push(() => {
    client.terminate()
    wss.close()
  })
  return { server, serverSocket, client, clientSocket, received }
}

describe('the ws internals the transport reads', () => {
  test('ws is installed at the exact version package.json pins', () => {
    expect(pinned, loud('the ws dependency is a range, not an exact version')).toMatch(/^\d+\.\d+\.\d+$/)
    expect(installed, loud('the installed ws is not the pinned version')).toBe(pinned)
  })

  test('ws._sender._state is a number and ws._sender._firstFragment a boolean, on both ends', async () => {
    const { server, client } = await pair()
    for (const ws of [server, client]) expect(wsInternalsProblem(ws), loud(wsInternalsProblem(ws) ?? '')).toBeUndefined()
    expect(senderOf(server)._state, loud('ws._sender._state of an idle sender is not 0')).toBe(0)
    expect(senderOf(server)._firstFragment, loud('ws._sender._firstFragment is not true between messages')).toBe(true)
  })

  test('_firstFragment is false mid-way through a fragmented message, true again after it', async () => {
    const { server, client, received } = await pair()
    server.send(Buffer.from('ab'), { binary: true, fin: false })
    expect(senderOf(server)._firstFragment, loud('ws._sender._firstFragment stays true after a fragment with fin: false')).toBe(false)
    server.send(Buffer.from('cd'), { binary: true, fin: true })
    expect(senderOf(server)._firstFragment, loud('ws._sender._firstFragment is not true after the final fragment')).toBe(true)
    // And the client sees one message (the other direction, for the transport's own fragments).
    client.send(Buffer.from('ef'), { binary: true, fin: false })
    client.send(Buffer.from('gh'), { binary: true, fin: true })
    await vi.waitFor(() => expect(received.map(String)).toEqual(['efgh']))
  })

  test('ws answers a peer\'s closing frame through ws._sender.close', async () => {
    const { server, client } = await pair()
    const sender = (server as unknown as { _sender: { close: (...args: unknown[]) => void } })._sender
    const close = vi.spyOn(sender, 'close')
    const closed = new Promise((resolve) => server.once('close', resolve))
    client.close(1000)
    await closed
    expect(close, loud('ws did not write its answering closing frame through ws._sender.close')).toHaveBeenCalledTimes(1)
  })

  test('_state is not 0 while a compressed message is queued, and 0 once it is written', async () => {
    const { server } = await pair(true)
    const sent = new Promise<void>((resolve, reject) =>
      server.send(Buffer.alloc(64 * 1024, 1), { binary: true, compress: true }, (err) => (err ? reject(err) : resolve())))
    expect(senderOf(server)._state, loud('ws._sender._state is 0 while a compression is in progress')).not.toBe(0)
    await sent
    expect(senderOf(server)._state, loud('ws._sender._state is not back to 0 after the compressed message')).toBe(0)
  })
})

describe('frames written directly', () => {
  test('a server whose ws sender is idle writes its binary frames itself, in order with ws\'s own frames', async () => {
    const { server, serverSocket, client } = await pair()
    const transport = new WebSocketTransport(server, serverSocket, undefined, { socket: serverSocket, server: true })
    const messages: [Buffer, boolean][] = []
    client.on('message', (data: Buffer, isBinary: boolean) => messages.push([data, isBinary]))
    const send = vi.spyOn(server, 'send')
    transport.send(Uint8Array.of(1))
    transport.send('text goes through ws')
    transport.sendParts([Uint8Array.of(2, 3), new Uint8Array(100_000).fill(4), Uint8Array.of(5)])
    transport.send(Uint8Array.of(6))
    // A shared Buffer (a fan-out's) large enough to go after its header uncopied, and a small one copied.
    const shared = Buffer.alloc(5000, 8)
    transport.send(shared)
    transport.send(Buffer.of(9, 9))
    expect(send, 'only the text frame goes through ws.send').toHaveBeenCalledTimes(1)
    await vi.waitFor(() => expect(messages).toHaveLength(6))
    expect(messages.map(([, binary]) => binary)).toEqual([true, false, true, true, true, true])
    expect([...messages[0]![0]]).toEqual([1])
    expect(messages[1]![0].toString()).toBe('text goes through ws')
    expect(messages[2]![0].length).toBe(100_003)
    expect([...messages[2]![0].subarray(0, 3)]).toEqual([2, 3, 4])
    expect(messages[2]![0][100_002]).toBe(5)
    expect([...messages[3]![0]]).toEqual([6])
    expect(Buffer.compare(messages[4]![0], shared)).toBe(0)
    expect([...messages[5]![0]]).toEqual([9, 9])
    expect(shared.every((b) => b === 8), 'the shared frame is left as it was').toBe(true)
  })

  test('every header length: 125, 126, 65,535 and 65,536 bytes of payload, from a server and from a client', async () => {
    const { server, serverSocket, client, clientSocket, received } = await pair()
    const fromServer = new WebSocketTransport(server, serverSocket, undefined, { socket: serverSocket, server: true })
    const fromClient = new WebSocketTransport(client, { url: 'test' }, undefined, { socket: clientSocket })
    const atClient: Buffer[] = []
    client.on('message', (data: Buffer) => atClient.push(data))
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 70_001]
    const payload = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 13 + size) & 0xff)
    for (const size of sizes) {
      fromServer.send(payload(size))
      fromClient.send(payload(size))
    }
    await vi.waitFor(() => expect([atClient.length, received.length]).toEqual([sizes.length, sizes.length]))
    sizes.forEach((size, i) => {
      expect(Buffer.compare(atClient[i]!, payload(size)), `server to client, ${size} bytes`).toBe(0)
      expect(Buffer.compare(received[i]!, payload(size)), `client to server, ${size} bytes`).toBe(0)
    })
  })

  test('a client whose ws sender is idle writes masked frames itself, in order with ws\'s own frames, bytes intact', async () => {
    const { client, clientSocket, received } = await pair()
    const transport = new WebSocketTransport(client, { url: 'test' }, undefined, { socket: clientSocket })
    const send = vi.spyOn(client, 'send')
    // Odd part lengths, so that every part starts at another position of the masking key.
    const big = Uint8Array.from({ length: 100_001 }, (_, i) => (i * 7) & 0xff)
    transport.send(Uint8Array.of(1))
    transport.sendParts([Uint8Array.of(2, 3, 4), big, new Uint8Array(0), Uint8Array.of(5, 6)])
    transport.send('text')
    transport.send(Uint8Array.of(7))
    expect(send, 'only the text frame goes through ws.send').toHaveBeenCalledTimes(1)
    await vi.waitFor(() => expect(received).toHaveLength(4))
    expect([...received[0]!]).toEqual([1])
    const message = received[1]!
    expect(message.length).toBe(3 + big.length + 2)
    expect([...message.subarray(0, 3)]).toEqual([2, 3, 4])
    expect(Buffer.compare(message.subarray(3, 3 + big.length), big)).toBe(0)
    expect([...message.subarray(3 + big.length)]).toEqual([5, 6])
    expect(received[2]!.toString()).toBe('text')
    expect([...received[3]!]).toEqual([7])
  })

  test('a small shared frame (a fan-out\'s) is framed once and the same bytes written to every member', async () => {
    const ends = [await pair(), await pair(), await pair()]
    const writes = ends.map(({ serverSocket }) => vi.spyOn(serverSocket, 'write'))
    const got: Buffer[][] = ends.map(() => [])
    ends.forEach(({ client }, i) => client.on('message', (data: Buffer) => got[i]!.push(data)))
    const transports = ends.map(({ server, serverSocket }) => new WebSocketTransport(server, serverSocket, undefined, { socket: serverSocket, server: true }))
    const first = Buffer.from('tick 1')
    const second = Buffer.from('tick 2')
    // One frame per member per tick, as a fan-out publishes (later frames of a tick are held, copied).
    for (const frame of [first, second]) {
      for (const transport of transports) transport.send(frame)
      await new Promise<void>((resolve) => process.nextTick(resolve))
    }
    for (const frame of [0, 1]) {
      const written = writes.map((write) => write.mock.calls[frame]![0])
      expect(written[1], 'every member is written the same buffer').toBe(written[0])
      expect(written[2]).toBe(written[0])
    }
    expect(writes[0]!.mock.calls[1]![0], 'the next frame is framed anew').not.toBe(writes[0]!.mock.calls[0]![0])
    await vi.waitFor(() => expect(got.map((messages) => messages.map(String))).toEqual(ends.map(() => ['tick 1', 'tick 2'])))
  })

  test('frames held in a tick go before a text frame, a frame in parts and a ping sent after them', async () => {
    const { server, serverSocket, client } = await pair()
    const transport = new WebSocketTransport(server, serverSocket, undefined, { socket: serverSocket, server: true })
    const messages: string[] = []
    client.on('message', (data: Buffer, isBinary: boolean) => messages.push(isBinary ? `bin ${data[0]} x${data.length}` : `text ${data}`))
    const writes = vi.spyOn(serverSocket, 'write')
    transport.send(Uint8Array.of(1))
    transport.send(Uint8Array.of(2)) // held
    transport.send('t') // through ws.send: the held frame goes first
    transport.send(Uint8Array.of(3)) // held again
    transport.sendParts([Uint8Array.of(4), new Uint8Array(70_000)])
    transport.send(Uint8Array.of(5)) // held
    transport.ping()
    const firstBytes = writes.mock.calls.map(([chunk]) => (chunk as Buffer)[0])
    expect(firstBytes.at(-2), 'the held frame 5 goes before the ping').toBe(0x82)
    expect(firstBytes.at(-1), 'the ping, last').toBe(0x89)
    await vi.waitFor(() => expect(messages).toHaveLength(6))
    expect(messages).toEqual(['bin 1 x1', 'bin 2 x1', 'text t', 'bin 3 x1', 'bin 4 x70001', 'bin 5 x1'])
  })

  test('frames held when ws writes a closing frame itself go before it, and reach the peer', async () => {
    const { server, serverSocket, client } = await pair()
    const transport = new WebSocketTransport(server, serverSocket, undefined, { socket: serverSocket, server: true })
    const messages: number[] = []
    client.on('message', (data: Buffer) => messages.push(data[0]!))
    const closed = new Promise<number>((resolve) => client.once('close', resolve))
    const writes = vi.spyOn(serverSocket, 'write')
    transport.send(Uint8Array.of(1))
    transport.send(Uint8Array.of(2)) // held until the end of the tick
    transport.send(Uint8Array.of(3)) // held
    // As when ws answers a peer's closing frame read in this same tick (through ws._sender.close).
    server.close(1000)
    // (ws writes its closing frame as a header, then the code: 0x03e8.)
    const firstBytes = writes.mock.calls.map(([chunk]) => (chunk as Buffer)[0])
    expect(firstBytes, 'frame 1, then the held frames 2 and 3 in one write, then the closing frame').toEqual([0x82, 0x82, 0x88, 0x03])
    expect(await closed).toBe(1000)
    expect(messages).toEqual([1, 2, 3])
  })

  test('while ws has a compressed message queued, frames go through ws.send, after it', async () => {
    const { server, serverSocket, client } = await pair(true)
    const transport = new WebSocketTransport(server, serverSocket, undefined, { socket: serverSocket, server: true })
    const messages: Buffer[] = []
    client.on('message', (data: Buffer) => messages.push(data))
    server.send(Buffer.alloc(64 * 1024, 1), { binary: true, compress: true })
    const send = vi.spyOn(server, 'send')
    transport.send(Uint8Array.of(2))
    expect(send, 'the frame was written directly while ws had a message queued').toHaveBeenCalledTimes(1)
    await vi.waitFor(() => expect(messages).toHaveLength(2))
    expect(messages[0]!.length).toBe(64 * 1024)
    expect([...messages[1]!]).toEqual([2])
  })

  test('each frame the client writes itself has its own random masking key, across refills of the key pool', async () => {
    const { client, clientSocket, received } = await pair()
    const transport = new WebSocketTransport(client, { url: 'test' }, undefined, { socket: clientSocket })
    const write = vi.spyOn(clientSocket, 'write')
    // More frames than one pool of keys holds (8 KiB of random bytes, 2,048 keys).
    const frames = 2_100
    const body = new Uint8Array(100).fill(9)
    for (let i = 0; i < frames; i++) transport.sendParts([Uint8Array.of(i & 0xff), body])
    // The headers this client wrote: FIN + binary, masked, 101 bytes of payload, then the 4-byte key.
    const keys = write.mock.calls.map(([chunk]) => chunk as Buffer)
      .filter((chunk) => chunk.length === 6 && chunk[0] === 0x82 && chunk[1] === (0x80 | 101))
      .map((head) => head.readUInt32BE(2))
    expect(keys).toHaveLength(frames)
    // 2,100 random 32-bit keys: a repeat has odds of about 1 in 2,000, two repeats far less.
    expect(new Set(keys).size).toBeGreaterThanOrEqual(frames - 1)
    await vi.waitFor(() => expect(received).toHaveLength(frames))
    received.forEach((message, i) => {
      expect(message.length).toBe(101)
      expect(message[0]).toBe(i & 0xff)
      expect(message.subarray(1).every((b) => b === 9)).toBe(true)
    })
  })
})

describe('sendParts without the internals', () => {
  /** A stand-in ws that is OPEN, records `send`, and has no `_sender` (as if a ws release renamed it). */
  function fakes() {
    const ws = Object.assign(new EventEmitter(), { readyState: WebSocket.OPEN, bufferedAmount: 0, send: vi.fn() })
    const socket = { cork: vi.fn(), uncork: vi.fn(), write: vi.fn(), setNoDelay: vi.fn(), once: vi.fn() }
    const transport = new WebSocketTransport(ws as unknown as WebSocket, socket as unknown as Socket, undefined, {
      socket: socket as unknown as Socket,
      server: true,
    })
    return { ws, socket, transport }
  }

  test('wsInternalsProblem names what is missing', () => {
    expect(wsInternalsProblem({} as WebSocket)).toBe('ws._sender is missing')
    expect(wsInternalsProblem({ _sender: { _firstFragment: true } } as unknown as WebSocket)).toBe('ws._sender._state is not a number (undefined)')
    expect(wsInternalsProblem({ _sender: { _state: 0 } } as unknown as WebSocket)).toBe('ws._sender._firstFragment is not a boolean (undefined)')
  })

  test('a server falls back to ws.send fragments, and writes nothing on the socket itself', () => {
    const { ws, socket, transport } = fakes()
    const parts = [Uint8Array.of(1), new Uint8Array(70_000), Uint8Array.of(2)]
    transport.sendParts(parts)
    transport.send(Uint8Array.of(3))
    expect(socket.write).not.toHaveBeenCalled()
    expect(ws.send.mock.calls.slice(0, 3)).toEqual([
      [parts[0], { binary: true, fin: false }],
      [parts[1], { binary: true, fin: false }],
      [parts[2], { binary: true, fin: true }],
    ])
    expect(ws.send.mock.calls).toHaveLength(4)
    expect([...ws.send.mock.calls[3]![0] as Uint8Array], 'a single frame goes through ws.send too').toEqual([3])
    transport.flush()
  })
})
