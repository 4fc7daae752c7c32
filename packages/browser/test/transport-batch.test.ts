/**
 * BrowserWebSocketTransport with batches selected, on a scripted socket:
 * the frames of one task leave as one message at the end of its microtask
 * checkpoint (a lone frame as itself, text frames after what was gathered),
 * received batches are split in order, and a batch over maxFrameBytes or with
 * a malformed rest is reported through `unreadable`, not delivered.
 */
import { expect, test } from 'vitest'
import { BATCH_MARKER, BATCH_PROTOCOL, BatchWriter } from '@wirecall/core/internal'
import { BrowserWebSocketTransport, type WebSocketLike } from '../src/index.js'

class ScriptedSocket implements WebSocketLike {
  binaryType = 'blob'
  readyState = 1
  bufferedAmount = 0
  readonly sent: (number[] | string)[] = []
  readonly listeners = new Map<string, ((event: never) => void)[]>()
  constructor(readonly protocol: string) {}
  send(data: Uint8Array | string): void {
    // Copies at once, as the browser's WebSocket does.
    this.sent.push(typeof data === 'string' ? data : [...data])
  }
  close(): void {}
  addEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  emit(type: string, event: unknown): void {
    for (const l of this.listeners.get(type) ?? []) (l as (e: unknown) => void)(event)
  }
}

function started(protocol = BATCH_PROTOCOL, maxFrameBytes = 1024) {
  const socket = new ScriptedSocket(protocol)
  const transport = new BrowserWebSocketTransport(socket, 'ws://example.test/rpc', { sendCopies: true, maxFrameBytes })
  const got: number[][] = []
  const unreadable: string[] = []
  transport.start({ message: (f) => got.push(typeof f === 'string' ? [-1] : [...f]), unreadable: (r) => unreadable.push(r), closed: () => {} })
  return { socket, transport, got, unreadable }
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

test('the frames of one task leave as one batch after it; a lone frame as itself; text after what was gathered', async () => {
  const { socket, transport } = started()
  expect(transport.copiesFrames).toBe(true)
  transport.send(Uint8Array.of(0x91, 1))
  transport.send(Uint8Array.of(0x91, 2))
  expect(socket.sent).toEqual([]) // not before the end of the task's microtasks
  await tick()
  expect(socket.sent).toEqual([[BATCH_MARKER, 0xc4, 2, 0x91, 1, 0xc4, 2, 0x91, 2]])
  transport.send(Uint8Array.of(0x91, 3))
  await tick()
  expect(socket.sent[1]).toEqual([0x91, 3])
  transport.send(Uint8Array.of(0x91, 4))
  transport.send('{"jsonrpc":"2.0"}')
  expect(socket.sent.slice(2)).toEqual([[0x91, 4], '{"jsonrpc":"2.0"}'])
})

test('without the batch protocol every frame is sent at once, as itself', () => {
  const { socket, transport } = started('')
  transport.send(Uint8Array.of(0x91, 1))
  transport.send(Uint8Array.of(0x91, 2))
  expect(socket.sent).toEqual([[0x91, 1], [0x91, 2]])
})

test('received batches are split in order; oversize and malformed ones are reported, not delivered', () => {
  const { socket, got, unreadable } = started(BATCH_PROTOCOL, 64)
  const batch: Uint8Array[] = []
  const writer = new BatchWriter((m) => batch.push(m.slice()), true, false)
  writer.add(Uint8Array.of(0x91, 7))
  writer.add(Uint8Array.of(0x91, 8))
  writer.flush()
  socket.emit('message', { data: batch[0]!.buffer })
  socket.emit('message', { data: Uint8Array.of(0x91, 9).buffer })
  expect(got).toEqual([[0x91, 7], [0x91, 8], [0x91, 9]])
  const oversize = new Uint8Array(65)
  oversize[0] = BATCH_MARKER
  socket.emit('message', { data: oversize.buffer })
  socket.emit('message', { data: Uint8Array.of(BATCH_MARKER, 0xc4, 1, 0xc0, 0xc4, 9).buffer })
  expect(unreadable).toEqual([expect.stringMatching(/65 bytes exceeds maxFrameBytes \(64\)/), expect.stringMatching(/claims 9 bytes/)])
  expect(got.slice(3)).toEqual([[0xc0]])
})
