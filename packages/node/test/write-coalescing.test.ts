/**
 * Write coalescing in the Node transport (src/transport.ts, `coalesce`): the
 * first frame of a tick goes straight to the socket, uncorked, as a plain
 * `ws` send would; a second frame in the same tick corks the socket, and the
 * end of the tick uncorks it once, so a burst leaves in one `writev`.
 * Checked on a stand-in socket that records cork, uncork and the sends, and
 * on a real connection by counting the client socket's write calls.
 */
import { EventEmitter } from 'node:events'
import { Socket } from 'node:net'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { WebSocket } from 'ws'
import { service } from '@wirecall/core'
import { connect, serve, type WirecallServer } from '../src/index.js'
import { WebSocketTransport } from '../src/transport.js'

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve))

/** A stand-in `ws` (open; `send` recorded in order with the socket's cork and uncork) over a stand-in socket. */
function fakes() {
  const events: string[] = []
  const ws = Object.assign(new EventEmitter(), {
    readyState: WebSocket.OPEN,
    bufferedAmount: 0,
    protocol: '',
    send: vi.fn((data: Uint8Array) => events.push(`send ${data[0]}`)),
  })
  const socket = {
    cork: vi.fn(() => events.push('cork')),
    uncork: vi.fn(() => events.push('uncork')),
    write: vi.fn(),
    setNoDelay: vi.fn(),
    once: vi.fn(),
  }
  const transport = new WebSocketTransport(ws as unknown as WebSocket, socket as unknown as Socket, undefined, {
    socket: socket as unknown as Socket,
    server: true,
  })
  return { events, transport }
}

describe('write coalescing on a stand-in socket', () => {
  test('a lone frame in a tick is sent at once, without corking', async () => {
    const { events, transport } = fakes()
    transport.send(Uint8Array.of(1))
    expect(events).toEqual(['send 1'])
    await nextTick()
    expect(events, 'nothing to uncork at the end of the tick').toEqual(['send 1'])
  })

  test('the second frame of a tick corks; the end of the tick uncorks once; the next tick starts afresh', async () => {
    const { events, transport } = fakes()
    transport.send(Uint8Array.of(1))
    transport.send(Uint8Array.of(2))
    transport.send(Uint8Array.of(3))
    expect(events).toEqual(['send 1', 'cork', 'send 2', 'send 3'])
    await nextTick()
    expect(events).toEqual(['send 1', 'cork', 'send 2', 'send 3', 'uncork'])
    events.length = 0
    transport.send(Uint8Array.of(4))
    await nextTick()
    expect(events).toEqual(['send 4'])
  })

  test('a frame in parts corks from the first frame of the tick, so its parts leave together', async () => {
    const { events, transport } = fakes()
    // The stand-in ws has no `_sender`: sendParts falls back to ws.send fragments (one event per part).
    transport.sendParts([Uint8Array.of(5), new Uint8Array(70_000)])
    expect(events).toEqual(['cork', 'send 5', 'send 0'])
    await nextTick()
    expect(events.at(-1)).toBe('uncork')
  })
})

describe('write coalescing on a real connection', () => {
  let server: WirecallServer | undefined
  afterEach(async () => {
    vi.restoreAllMocks()
    await server?.close()
    server = undefined
  })

  test('100 calls made in one tick leave the client in at most two socket writes; a lone call in one', async () => {
    server = await serve({ port: 0, host: '127.0.0.1', service: service({ add: (a: number, b: number) => a + b }) })
    const client = await connect<{ add(a: number, b: number): number }>(`ws://127.0.0.1:${server.port}`)
    try {
      await client.remote.add(0, 0)
      // Every socket write of this process from here on: net's `_writeGeneric` does both a corked
      // batch (from `_writev`) and a single chunk (from `_write`).
      const writes = vi.spyOn(Socket.prototype as unknown as { _writeGeneric(...args: unknown[]): void }, '_writeGeneric')
      const calls = Array.from({ length: 100 }, (_, i) => client.remote.add(i, 1))
      expect(writes, 'the first call is written during the call itself').toHaveBeenCalledTimes(1)
      await nextTick()
      expect(writes, 'the rest of the burst leaves in one writev at the end of the tick').toHaveBeenCalledTimes(2)
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      writes.mockClear()
      const lone = client.remote.add(2, 3)
      expect(writes, 'a lone call is written before call() returns').toHaveBeenCalledTimes(1)
      await nextTick()
      expect(writes, 'and nothing is left for the end of the tick').toHaveBeenCalledTimes(1)
      expect(await lone).toBe(5)
    } finally {
      await client.close()
    }
  })

  test('the frames of a burst after its first are held in one buffer: 100 calls cost the client two socket writes', async () => {
    server = await serve({ port: 0, host: '127.0.0.1', service: service({ add: (a: number, b: number) => a + b }) })
    const client = await connect<{ add(a: number, b: number): number }>(`ws://127.0.0.1:${server.port}`)
    try {
      await client.remote.add(0, 0)
      const writes = vi.spyOn(Socket.prototype, 'write')
      const calls = Array.from({ length: 100 }, (_, i) => client.remote.add(i, 1))
      await nextTick()
      expect(writes, 'the first frame, then the 99 others as one buffer').toHaveBeenCalledTimes(2)
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    } finally {
      await client.close()
    }
  })

  test('bursts larger than one held buffer arrive whole and in order, both ways, and close() sends them before its closing frame', async () => {
    const seen: number[] = []
    const pushed: number[] = []
    let whenAll!: () => void
    const all = new Promise<void>((resolve) => (whenAll = resolve))
    const n = 3000
    // Frames of about 140 bytes: a burst of 3,000 is about 420 KB, many held buffers of at most 32 KiB.
    const filler = 'x'.repeat(120)
    server = await serve({
      port: 0,
      host: '127.0.0.1',
      service: service({
        record: (i: number, text: string) => {
          if (text !== filler) throw new Error('damaged')
          seen.push(i)
          if (seen.length === n) whenAll()
        },
      }),
      onConnection: (conn) => {
        // The server's burst: n notifications to the client in one tick.
        for (let i = 0; i < n; i++) (conn.notify as unknown as { push(i: number, text: string): void }).push(i, filler)
      },
    })
    const client = await connect(`ws://127.0.0.1:${server.port}`, { service: service({ push: (i: number, text: string) => { if (text === filler) pushed.push(i) } }) })
    await vi.waitFor(() => expect(pushed).toHaveLength(n))
    for (let i = 0; i < n; i++) (client.notify as unknown as { record(i: number, text: string): void }).record(i, filler)
    await client.close()
    await all
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i))
    expect(pushed).toEqual(Array.from({ length: n }, (_, i) => i))
  })
})
