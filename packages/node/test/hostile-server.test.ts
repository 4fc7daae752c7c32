/**
 * A Node client against a hostile (or broken) server: it must not hang past
 * its deadlines, nor keep memory for links that are gone. The servers here
 * are raw: a TCP server that answers the upgrade one byte at a time, a `ws`
 * server that selects the resume subprotocol and answers every HELLO with a
 * fresh session before dropping the link. Loopback only, bounded loops.
 */
import { afterEach, expect, test } from 'vitest'
import { spawn } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { WebSocketServer } from 'ws'
import { ConnectionClosedError, TimeoutError, type Session } from '@wirecall/core'
import { ResumeFrame, encodeControl } from '@wirecall/core/internal'
import { connect, connectPool, createClient, type ReconnectingConnectOptions } from '../src/index.js'
import { HOST, encode, sleep, until, within } from './helpers.js'
import { assertDistFresh } from './child-harness.js'

const quiet = { warn() {}, error() {} }

/** What each test opened, closed after it whatever happened. */
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/**
 * A TCP server that reads the upgrade request, then sends a valid-looking
 * `101` response one byte every `everyMs`, never reaching its end: each byte
 * resets an idle timer, so only a deadline on the whole handshake stops it.
 */
async function dribblingServer(everyMs = 50): Promise<{ url: string; accepted: () => number }> {
  const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Padding: ${'a'.repeat(4000)}`
  const sockets = new Set<Socket>()
  let accepted = 0
  const server: Server = createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
    let i = 0
    const timer = setInterval(() => {
      if (socket.destroyed || i >= head.length) return clearInterval(timer)
      socket.write(head[i++]!)
    }, everyMs)
    socket.once('close', () => clearInterval(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `ws://${HOST}:${(server.address() as { port: number }).port}`, accepted: () => accepted }
}

test('connect() gives up within handshakeTimeoutMs on a server that sends its upgrade answer one byte at a time', async () => {
  const { url } = await dribblingServer()
  const started = Date.now()
  const err = await within(connect(url, { limits: { handshakeTimeoutMs: 300 } }).then(() => undefined, (e: unknown) => e), 5000, 'connect()')
  expect(err).toBeInstanceOf(ConnectionClosedError)
  expect((err as Error).message).toMatch(/handshake/)
  expect(Date.now() - started).toBeLessThan(2000)
})

test('a reconnecting client does not stay in one dribbled handshake: each attempt ends within handshakeTimeoutMs', async () => {
  const { url, accepted } = await dribblingServer()
  const client = createClient(url, { limits: { handshakeTimeoutMs: 200 }, reconnect: { initialDelayMs: 10, maxDelayMs: 20 }, logger: quiet })
  cleanups.push(() => client.close())
  // Stuck in its first attempt, the client would dial once; bounded, it dials again every ~200 ms.
  await within(until(() => accepted() >= 3, 4000, 'three connection attempts'), 5000, 'attempts')
  expect(client.state).toBe('connecting')
})

test('connectPool() rejects within its timeout when no endpoint can connect, and stops every endpoint', async () => {
  // Every connection is cut at once: each endpoint's client retries without end (maxAttempts: Infinity).
  let attempts = 0
  const refusing = createServer((socket) => {
    attempts++
    socket.destroy()
  })
  await new Promise<void>((resolve) => refusing.listen(0, HOST, resolve))
  cleanups.push(() => new Promise((resolve) => refusing.close(() => resolve())))
  const url = `ws://${HOST}:${(refusing.address() as { port: number }).port}`
  const started = Date.now()
  const err = await within(
    connectPool([url, url], { timeout: 300, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } }).then(() => undefined, (e: unknown) => e),
    3000, 'connectPool()')
  expect(err).toBeInstanceOf(TimeoutError)
  expect(Date.now() - started).toBeLessThan(2000)
  // The pool was closed: its endpoints dial no more.
  const after = attempts
  await sleep(200)
  expect(attempts).toBe(after)
})

/**
 * A server that selects `wirecall.resume.v1`, answers every HELLO with a
 * WELCOME (a fresh session: whatever the client parked is lost) and drops
 * the link `dropAfterMs` later. A real server does the same after a restart
 * or past its grace window.
 */
async function forgetfulResumeServer(dropAfterMs = 5): Promise<{ url: string; welcomes: () => number }> {
  const wss = new WebSocketServer({ host: HOST, port: 0, handleProtocols: () => 'wirecall.resume.v1' })
  await new Promise((resolve) => wss.once('listening', resolve))
  let welcomes = 0
  wss.on('connection', (ws) => {
    ws.on('error', () => {})
    ws.once('message', () => {
      welcomes++
      ws.send(encodeControl({ kind: ResumeFrame.WELCOME, token: `token-${welcomes}`, lost: null }))
      setTimeout(() => ws.terminate(), dropAfterMs)
    })
  })
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  return { url: `ws://${HOST}:${(wss.address() as { port: number }).port}`, welcomes: () => welcomes }
}

test('sessions that could not be resumed are let go: a client that reconnects many times keeps none of them', { timeout: 20_000 }, async () => {
  const gc = (globalThis as { gc?: () => void }).gc
  expect(gc, 'vitest.config.ts runs tests with --expose-gc').toBeTypeOf('function')
  const { url } = await forgetfulResumeServer()
  const options: ReconnectingConnectOptions = { reconnect: { initialDelayMs: 5, maxDelayMs: 10 }, logger: quiet }
  const client = createClient(url, options)
  cleanups.push(() => client.close())
  const sessions: WeakRef<Session<unknown>>[] = []
  client.onStateChange((state) => {
    if (state === 'open' && client.session) sessions.push(new WeakRef(client.session as Session<unknown>))
  })
  await within(until(() => sessions.length >= 30, 10_000, '30 fresh sessions'), 12_000, 'reconnects')
  // Every session but the last few is over (lost, its link gone): nothing of the client should hold it.
  const old = sessions.slice(0, -3)
  let alive = old.length
  for (let i = 0; i < 20 && alive > 0; i++) {
    gc!()
    await sleep(10)
    alive = old.filter((ref) => ref.deref() !== undefined).length
  }
  expect(alive, `${alive} of ${old.length} old sessions still reachable`).toBeLessThanOrEqual(1)
})

/** Cycles through ways of answering a resume HELLO wrongly, one per connection. */
async function wrongResumeServer(): Promise<string> {
  const wss = new WebSocketServer({ host: HOST, port: 0, handleProtocols: () => 'wirecall.resume.v1' })
  await new Promise((resolve) => wss.once('listening', resolve))
  let n = 0
  wss.on('connection', (ws) => {
    ws.on('error', () => {})
    const kind = n++ % 5
    ws.once('message', () => {
      if (kind === 0) ws.send(encodeControl({ kind: ResumeFrame.RESUMED, token: 'never-issued', received: 5 })) // resumes nothing we offered
      else if (kind === 1) ws.send(Buffer.from([0xc1, 0xc1, 0xc1])) // garbage instead of WELCOME
      else if (kind === 2) ws.terminate() // closes mid-handshake
      else if (kind === 3) {
        // A fresh session, then calls that are never answered, then the link drops.
        ws.send(encodeControl({ kind: ResumeFrame.WELCOME, token: `t${n}`, lost: null }))
        setTimeout(() => ws.terminate(), 50)
      }
      // kind 4: never answers (the client's resume handshake deadline ends it)
    })
  })
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  return `ws://${HOST}:${(wss.address() as { port: number }).port}`
}

/** Answers every frame with garbage, replies to unknown and duplicate ids, and calls the client's service badly. */
async function garbageServer(): Promise<string> {
  const wss = new WebSocketServer({ host: HOST, port: 0 })
  await new Promise((resolve) => wss.once('listening', resolve))
  wss.on('connection', (ws) => {
    ws.on('error', () => {})
    // [0, 3, 'f', [[[...]]]]: arguments nested 200 deep, by hand (our encoder refuses past 100).
    const deepCall = Buffer.concat([Buffer.from([0x94, 0x00, 0x03, 0xa1, 0x66]), Buffer.alloc(200, 0x91), Buffer.from([0x90])])
    ws.on('message', () => {
      ws.send(Buffer.from([0xc1, 0xff, 0x00]))
      ws.send('not json')
      ws.send(Buffer.alloc(0))
      ws.send(encode([1, 0xffffffff, null, 1])) // a reply nobody waits for
      ws.send(encode([1, 1, null, 7]))
      ws.send(encode([1, 1, null, 8])) // the same id again
      ws.send(encode([1, 2, { name: 'Error', message: 'x'.repeat(100_000), code: 'X', data: { toJSON: 1 } }, null]))
      ws.send(encode([0, 1, 'f', new Array(100_000).fill(1)]))
      ws.send(encode([0, 2, 'then', []]))
      ws.send(deepCall)
      ws.send(encode([7, 1, 2, 3]))
    })
  })
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  return `ws://${HOST}:${(wss.address() as { port: number }).port}`
}

test('a client process against garbage, wrong resume answers, cut handshakes and dead pools: no crash, every call settles, it exits by itself', { timeout: 30_000 }, async () => {
  assertDistFresh()
  const refusing = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve) => refusing.listen(0, HOST, resolve))
  cleanups.push(() => new Promise((resolve) => refusing.close(() => resolve())))
  const urls = {
    garbage: await garbageServer(),
    resume: await wrongResumeServer(),
    refusing: `ws://${HOST}:${(refusing.address() as { port: number }).port}`,
  }
  const script = fileURLToPath(new URL('./child/hostile-client.mjs', import.meta.url))
  const child = spawn(process.execPath, [script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, WIRECALL_HOSTILE_URLS: JSON.stringify(urls) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Bounded: a hang (a call that never settles, a timer close() left) is killed and fails below.
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000)
  cleanups.push(() => {
    clearTimeout(kill)
    child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])))
  clearTimeout(kill)
  expect({ code, signal, stderr: stderr.slice(-2000) }).toEqual({ code: 0, signal: null, stderr: '' })
  expect(stdout).toMatch(/^DONE /)
  const outcomes = JSON.parse(stdout.slice('DONE '.length)) as string[]
  // add(1, 1) got the server's first reply for id 1 (7); what else could not complete was rejected, not left pending.
  expect(outcomes[0]).toBe('ok')
  expect(outcomes.length).toBe(9)
})
