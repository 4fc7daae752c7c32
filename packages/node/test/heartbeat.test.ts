/**
 * Dead-peer detection meets its documented bound on both ends, over real
 * sockets: a peer silent for `deadPeerTimeoutMs` is dropped within
 * deadPeerTimeoutMs + deadPeerTimeoutMs / 20 of the last frame it sent
 * (`livenessTimings` in @wirecall/core), and a healthy idle peer never is.
 *
 * A peer "freezes" by pausing its TCP socket: it reads nothing more, so it
 * answers no ping, while the kernel keeps the connection open.
 */
import { describe, expect, test } from 'vitest'
import { WebSocketServer } from 'ws'
import { ConnectionClosedError, service } from '@wirecall/core'
import { livenessTimings } from '@wirecall/core/internal'
import { HOST, RawClient, connectTo, sleep, startServer, until, urlOf } from './helpers.js'

const api = service({ ping: () => 'pong' })
// The defaults (30 s, 60 s) scaled down by 100.
const limits = { heartbeatIntervalMs: 300, deadPeerTimeoutMs: 600 }
const { deadMs, checkMs } = livenessTimings(limits)
// Timers on a loaded 2-core machine run late by a few ms; the old tick counting was off by a whole interval.
const SLACK_MS = 60

describe('the server drops a frozen client', () => {
  test('within deadPeerTimeoutMs + deadPeerTimeoutMs/20 of its last pong; a healthy idle client stays', async () => {
    const server = await startServer({ service: api, limits })
    const frozen = await RawClient.open(urlOf(server))
    const healthy = await RawClient.open(urlOf(server))
    await until(() => server.connections.size === 2, 1000, 'two connections')
    const conn = [...server.connections].find((c) => c.peer?.port === frozen.socket.localPort)!
    const closedAt = new Promise<number>((resolve) => conn.onClose(() => resolve(Date.now())))
    // Let a few pings go by, then freeze right after answering one.
    let lastPong = 0
    frozen.ws.on('ping', () => (lastPong = Date.now())) // ws answers a ping before emitting it
    await sleep(2 * limits.heartbeatIntervalMs)
    await until(() => lastPong > 0 && Date.now() - lastPong < 20, 2000, 'a fresh ping')
    frozen.socket.pause()
    const pongBeforeFreeze = lastPong

    // The paused socket sees nothing, not even its own end: the server's side is what counts.
    const detectedAfter = (await closedAt) - pongBeforeFreeze
    expect(detectedAfter).toBeGreaterThanOrEqual(deadMs - 5)
    expect(detectedAfter).toBeLessThanOrEqual(deadMs + checkMs + SLACK_MS)

    // The healthy one, idle all along, answered every ping and is still served.
    expect(await healthy.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
    expect(server.connections.size).toBe(1)
  })
})

describe('the Node client drops a frozen server', () => {
  test('within deadPeerTimeoutMs + deadPeerTimeoutMs/20 of the server\'s last frame, whatever the server\'s own heartbeat', async () => {
    // A bare ws server: it never pings on its own, so only the client's pings keep the link checked.
    const wss = new WebSocketServer({ host: HOST, port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    let lastPong = 0
    let socket: import('node:net').Socket | undefined
    wss.on('connection', (ws, req) => {
      socket = req.socket
      ws.on('ping', () => (lastPong = Date.now())) // the pong leaves before 'ping' is emitted
    })
    try {
      const client = await connectTo(`ws://${HOST}:${(wss.address() as { port: number }).port}`, { limits })
      const closedAt = new Promise<number>((resolve) => client.onClose(() => resolve(Date.now())))
      // Healthy for several dead-peer periods: the server answers the client's pings.
      await sleep(2 * deadMs)
      expect(client.closed).toBe(false)
      await until(() => Date.now() - lastPong < 20, 2000, 'a fresh ping')
      const pending = client.call('anything', [], { timeout: 0 })
      socket!.pause()
      const pongBeforeFreeze = lastPong

      const detectedAfter = (await closedAt) - pongBeforeFreeze
      await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError)
      expect(detectedAfter).toBeGreaterThanOrEqual(deadMs - 5)
      expect(detectedAfter).toBeLessThanOrEqual(deadMs + checkMs + SLACK_MS)
    } finally {
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    }
  })
})

describe('any byte from the peer is a sign of life', () => {
  test('a client that answers no ping but is still sending a long frame stays; once it stops, it is dropped in the bound', async () => {
    const server = await startServer({ service: api, limits })
    const slow = await RawClient.open(urlOf(server))
    await until(() => server.connections.size === 1, 1000, 'the connection')
    const conn = [...server.connections][0]!
    const closedAt = new Promise<number>((resolve) => conn.onClose(() => resolve(Date.now())))
    // It reads nothing from now on (so it answers no ping), and writes a masked binary frame of
    // 1,000 bytes by hand, header first, then one byte per half check interval: a slow upload.
    slow.socket.pause()
    slow.socket.write(Buffer.from([0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4]))
    let lastByte = Date.now()
    const until2 = Date.now() + 2 * deadMs
    while (Date.now() < until2) {
      await sleep(checkMs / 2)
      slow.socket.write(Buffer.of(0))
      lastByte = Date.now()
    }
    expect(conn.closed, 'dropped while its frame was still arriving').toBe(false)
    // Silent from here: dropped within the documented bound of its last byte.
    const detectedAfter = (await closedAt) - lastByte
    expect(detectedAfter).toBeGreaterThanOrEqual(deadMs - 5)
    expect(detectedAfter).toBeLessThanOrEqual(deadMs + checkMs + SLACK_MS)
    await slow.terminate()
  })
})
