/**
 * BrowserWebSocketTransport keeps the core's Transport contract on its own,
 * with a scripted WebSocketLike: frames that arrive before start() are
 * delivered by it in order, and a close is reported exactly once.
 */
import { expect, test } from 'vitest'
import { BrowserWebSocketTransport, type WebSocketLike } from '../src/index.js'

class ScriptedSocket implements WebSocketLike {
  binaryType = 'blob'
  readyState = 1
  bufferedAmount = 0
  readonly listeners = new Map<string, ((event: never) => void)[]>()
  send(): void {}
  close(): void {}
  addEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  emit(type: string, event: unknown): void {
    for (const l of this.listeners.get(type) ?? []) (l as (e: unknown) => void)(event)
  }
}

test('frames that arrive before start() are delivered by start(), in order; the close once', () => {
  const socket = new ScriptedSocket()
  const transport = new BrowserWebSocketTransport(socket, 'ws://example.test/rpc')
  socket.emit('message', { data: 'first' })
  socket.emit('message', { data: new Uint8Array([2]).buffer })
  const got: unknown[] = []
  let closes = 0
  transport.start({ message: (f) => got.push(typeof f === 'string' ? f : [...f]), closed: () => closes++ })
  socket.emit('message', { data: 'third' })
  expect(got).toEqual(['first', [2], 'third'])
  socket.readyState = 3
  socket.emit('close', { code: 1000, reason: '' })
  transport.close()
  expect(closes).toBe(1)
})
