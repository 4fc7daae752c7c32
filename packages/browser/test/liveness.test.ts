/**
 * The browser client finds a frozen server within the documented bound
 * (deadPeerTimeoutMs + deadPeerTimeoutMs / 20 of its last frame,
 * `livenessTimings`), although page JS can neither send WebSocket pings nor
 * see the server's: after heartbeatIntervalMs of silence it sends a probe
 * call (`LIVENESS_PROBE`), and any answer proves the server alive.
 *
 * The server here is a bare `ws` server on 127.0.0.1 that answers every
 * msgpack-rpc request with an error, as a wirecall server answers an unknown
 * method; it "freezes" by pausing its socket (it reads nothing more).
 */
import { describe, expect, test } from 'vitest'
import { WebSocket as WsWebSocket, WebSocketServer, type WebSocket } from 'ws'
import { ConnectionClosedError } from '@wirecall/core'
import { MsgpackCodec, livenessTimings } from '@wirecall/core/internal'
import { LIVENESS_PROBE, createClient, type WebSocketConstructor } from '../src/index.js'
import { closeLater, onCleanup, sleep, until, useLeakCheck } from './helpers.js'

useLeakCheck()

const codec = new MsgpackCodec()
// The defaults (30 s, 60 s) scaled down by 100.
const limits = { heartbeatIntervalMs: 300, deadPeerTimeoutMs: 600 }
const { deadMs, checkMs, probeMs } = livenessTimings(limits)
// Timer lateness allowed on top of the bound: a 2-core CI machine under load delays timers by tens of ms.
const SLACK_MS = 120

describe('a browser client and a server that stops answering', () => {
  test('an idle healthy server is probed and kept; a frozen one is dropped within the bound and pending calls reject', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    onCleanup(async () => {
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    })
    const probes: number[] = []
    let lastAnswer = 0
    let socket: WebSocket | undefined
    wss.on('connection', (ws) => {
      socket = ws
      ws.on('message', (data: Buffer) => {
        const frame = codec.decode(data, undefined, 1 << 20) as unknown[]
        if (frame[0] !== 0) return
        if (frame[2] === LIVENESS_PROBE) probes.push(Date.now())
        ws.send(codec.encode([1, frame[1], { name: 'NotFoundError', message: 'no such method', code: 'WIRECALL_NOT_FOUND' }, null], undefined))
        lastAnswer = Date.now()
      })
    })

    const states: string[] = []
    const client = closeLater(createClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, {
      WebSocket: WsWebSocket as unknown as WebSocketConstructor,
      reconnect: false,
      limits,
      onStateChange: (state) => states.push(state),
    }))
    await client.ready

    // Idle for several dead-peer periods: the client probes about every probeMs and stays open.
    await sleep(3 * deadMs)
    expect(client.state).toBe('open')
    expect(probes.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < probes.length; i++) expect(probes[i]! - probes[i - 1]!).toBeLessThanOrEqual(probeMs + 2 * checkMs + SLACK_MS)

    // Freeze right after an answer.
    await until(() => Date.now() - lastAnswer < 20, 'a fresh probe answer')
    ;(socket as unknown as { _socket: import('node:net').Socket })._socket.pause()
    const answerBeforeFreeze = lastAnswer
    const pending = (client.remote as unknown as { work(): Promise<unknown> }).work()
    const failure = pending.catch((e: unknown) => e)

    await until(() => client.state === 'closed', 'the client to give up', 3 * deadMs)
    const detectedAfter = Date.now() - answerBeforeFreeze
    expect(await failure).toBeInstanceOf(ConnectionClosedError)
    expect(String((await failure as Error).message)).toContain('presumed dead')
    expect(detectedAfter).toBeGreaterThanOrEqual(deadMs - 5)
    expect(detectedAfter).toBeLessThanOrEqual(deadMs + checkMs + SLACK_MS)
    expect(states).toEqual(['open', 'closed'])
  })
})
