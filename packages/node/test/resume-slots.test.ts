/**
 * Connection slots with `resume: true` (security review): a link upgraded on
 * `wirecall.resume.v1` holds a slot while it waits for its HELLO, as any
 * handshake does, and `close()` cuts such links at once; parked sessions,
 * which hold a slot without a socket, give the longest-parked one up when a
 * new client would otherwise be refused for `maxConnections`.
 */
import { afterEach, expect, test } from 'vitest'
import { WebSocket } from 'ws'
import { service } from '@wirecall/core'
import { encodeControl, parseControl, RESUME_PROTOCOL, ResumeFrame, type Control } from '@wirecall/core/internal'
import type { WirecallServer } from '../src/index.js'
import { HOST, connectTo, sleep, startServer, until, within } from './helpers.js'

const api = service({ add: (a: number, b: number) => a + b })

/** Every link a test opened; cut after it (before helpers.ts counts the sockets left open). */
const links: WebSocket[] = []
afterEach(async () => {
  const open = links.splice(0).filter((ws) => ws.readyState !== WebSocket.CLOSED)
  await Promise.all(open.map((ws) => new Promise((resolve) => {
    ws.once('close', resolve)
    ws.terminate()
  })))
})

/** A raw link offering `wirecall.resume.v1`, once open; or the HTTP status that refused it. */
async function resumeLink(server: WirecallServer) {
  const ws = new WebSocket(`ws://${HOST}:${server.port}`, [RESUME_PROTOCOL], { perMessageDeflate: false })
  ws.binaryType = 'nodebuffer'
  const frames: Buffer[] = []
  ws.on('message', (data: Buffer) => void frames.push(data))
  ws.on('error', () => {})
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
  const outcome = await new Promise<'open' | number>((resolve, reject) => {
    ws.once('open', () => resolve('open'))
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate()
      resolve(res.statusCode ?? 0)
    })
    ws.once('error', reject)
  })
  links.push(ws)
  return {
    status: outcome,
    closed,
    hello(token: string | null, received = 0) {
      ws.send(encodeControl({ kind: ResumeFrame.HELLO, token, received }))
    },
    async reply(): Promise<Control | undefined> {
      await until(() => frames.length > 0, 3000, 'the server to answer the HELLO')
      return parseControl(frames[0]!)
    },
    /** Drop the TCP connection without a closing handshake. */
    kill: () => ws.terminate(),
  }
}

test('resume links waiting for their HELLO hold connection slots: the next upgrade gets 503 until one says HELLO, leaves or times out', async () => {
  const server = await startServer({ service: api, resume: true, limits: { maxConnections: 4, handshakeTimeoutMs: 10_000 } })
  const silent = await Promise.all(Array.from({ length: 4 }, () => resumeLink(server)))
  expect(silent.map((l) => l.status)).toEqual(['open', 'open', 'open', 'open'])
  expect(server.connections.size).toBe(0)
  // Four links said nothing yet: the server is full, for resume links and plain clients alike.
  expect((await resumeLink(server)).status).toBe(503)
  await expect(connectTo(server)).rejects.toThrow(/503/)
  // A HELLO turns a waiting link into a connection: its slot moves, it is not counted twice nor freed.
  silent[0]!.hello(null)
  expect(await silent[0]!.reply()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: null })
  expect(server.connections.size).toBe(1)
  expect((await resumeLink(server)).status).toBe(503)
  // A waiting link that leaves gives its slot back.
  silent[1]!.kill()
  await silent[1]!.closed
  const client = await within(retryWhile503(() => connectTo<typeof api>(server)), 3000, 'a client after a link left')
  expect(await client.remote.add(2, 3)).toBe(5)
  expect((await resumeLink(server)).status).toBe(503)
})

test('a resume link that never says HELLO gives its slot back at handshakeTimeoutMs', async () => {
  const server = await startServer({ service: api, resume: true, limits: { maxConnections: 2, handshakeTimeoutMs: 300 } })
  const silent = await Promise.all([resumeLink(server), resumeLink(server)])
  expect((await resumeLink(server)).status).toBe(503)
  await within(Promise.all(silent.map((l) => l.closed)), 3000, 'the handshake deadline')
  expect((await resumeLink(server)).status).toBe('open')
})

test('server.close() cuts resume links waiting for their HELLO at once, well before handshakeTimeoutMs', async () => {
  const server = await startServer({ service: api, resume: true, limits: { maxConnections: 4, handshakeTimeoutMs: 10_000 } })
  const silent = await Promise.all(Array.from({ length: 3 }, () => resumeLink(server)))
  const started = Date.now()
  await within(server.close(), 2000, 'server.close()')
  await within(Promise.all(silent.map((l) => l.closed)), 2000, 'the waiting links to be cut')
  expect(Date.now() - started).toBeLessThan(2000)
})

test('a full server evicts its longest-parked session for a new client instead of refusing it; the evicted session cannot be resumed', async () => {
  const server = await startServer({ service: api, resume: true, limits: { maxConnections: 3 } })
  // Three resumable sessions whose sockets drop (a TCP reset): parked, each holding a slot.
  const tokens: string[] = []
  for (let i = 0; i < 3; i++) {
    const link = await resumeLink(server)
    link.hello(null)
    tokens.push(((await link.reply()) as { token: string }).token)
    link.kill()
    await until(() => server.stats().parkedSessions === i + 1, 3000, `session ${i} parked`)
  }
  expect(server.connections.size).toBe(3)
  // A fresh client still gets in: the longest-parked session made room for it.
  const client = await connectTo<typeof api>(server)
  expect(await client.remote.add(1, 2)).toBe(3)
  expect(server.stats()).toMatchObject({ connections: 3, parkedSessions: 2, parkedSessionsClosed: 1 })
  await client.close()
  await until(() => server.connections.size === 2, 3000, 'the client to leave')
  // The evicted (first) session is gone: its token gets a fresh session.
  const first = await resumeLink(server)
  first.hello(tokens[0]!)
  expect(await first.reply()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'unknown' })
  // The last one parked still resumes (the server is full again: the second one makes room).
  const last = await resumeLink(server)
  expect(last.status).toBe('open')
  last.hello(tokens[2]!)
  expect(await last.reply()).toMatchObject({ kind: ResumeFrame.RESUMED })
  expect(server.stats()).toMatchObject({ connections: 2, parkedSessions: 0, resumes: 1, parkedSessionsClosed: 2 })
})

/** Try again while the server answers 503: a freed slot is given back when the socket's close is seen. */
async function retryWhile503<T>(attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (!/503/.test(String((err as Error).message))) throw err
      await sleep(20)
    }
  }
}
