/**
 * The Node client's own duties: handshake deadline, dead-server detection,
 * and the session it returns.
 */
import { expect, test } from 'vitest'
import { createServer, type Socket } from 'node:net'
import { WebSocketServer } from 'ws'
import { ConnectionClosedError, service } from '@wirecall/core'
import { HOST, connectTo, startServer, within } from './helpers.js'

test('connect() gives up on a server that never completes the handshake (handshakeTimeoutMs)', async () => {
  const sockets = new Set<Socket>()
  const mute = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => mute.listen(0, HOST, resolve))
  try {
    const port = (mute.address() as { port: number }).port
    const started = Date.now()
    const err = await within(
      connectTo(`ws://${HOST}:${port}`, { limits: { handshakeTimeoutMs: 100 } }).then(() => undefined, (e: unknown) => e),
      3000, 'connect()')
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(Date.now() - started).toBeLessThan(2000)
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => mute.close(resolve))
  }
})

test('a server that goes silent (no pings, no frames) is declared dead: pending calls reject', async () => {
  const silent = new WebSocketServer({ host: HOST, port: 0, autoPong: false })
  await new Promise((resolve) => silent.once('listening', resolve))
  try {
    const port = (silent.address() as { port: number }).port
    const client = await connectTo<{ hang(): void }>(`ws://${HOST}:${port}`, {
      limits: { heartbeatIntervalMs: 30, deadPeerTimeoutMs: 60 },
    })
    const started = Date.now()
    const err = await within(client.remote.hang().then(() => undefined, (e: unknown) => e), 3000, 'the hanging call')
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(client.closed).toBe(true)
    expect(Date.now() - started).toBeLessThan(2000)
  } finally {
    for (const ws of silent.clients) ws.terminate()
    await new Promise((resolve) => silent.close(resolve))
  }
})

test('the returned session: peer URL, stats, close() resolving once closed on both ends', async () => {
  const server = await startServer({ service: service({ add: (a: number, b: number) => a + b }) })
  const url = `ws://${HOST}:${server.port}/`
  const client = await connectTo<{ add(a: number, b: number): number }>(url)
  expect(client.peer).toEqual({ url })
  expect(client.peerLabel).toBe(url)
  expect(await client.remote.add(2, 2)).toBe(4)
  expect(client.stats()).toMatchObject({ pendingCalls: 0, inFlightCalls: 0, exportedRefs: 0, importedRefs: 0, lateReplies: 0, malformedFrames: 0 })
  const conn = [...server.connections][0]!
  const onClose = new Promise((resolve) => conn.onClose(resolve))
  await client.close()
  expect(client.closed).toBe(true)
  await within(onClose, 2000, 'server-side onClose')
})

test('close() settles within closeTimeoutMs when the server never answers the closing handshake', async () => {
  // The server stops reading right after the upgrade: our closing frame sits unread, no answer comes
  // (as with a flooding server whose frames we stopped reading). `ws` alone would wait 30 s.
  const deaf = new WebSocketServer({ host: HOST, port: 0 })
  deaf.on('connection', (_ws, req) => req.socket.pause())
  await new Promise((resolve) => deaf.once('listening', resolve))
  try {
    const port = (deaf.address() as { port: number }).port
    const client = await connectTo(`ws://${HOST}:${port}`, { limits: { closeTimeoutMs: 200 } })
    const started = Date.now()
    await within(client.close(), 3000, 'close()')
    expect(client.closed).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(Date.now() - started).toBeLessThan(2000)
  } finally {
    for (const ws of deaf.clients) ws.terminate()
    await new Promise((resolve) => deaf.close(resolve))
  }
})
