/**
 * Resumable sessions (issue 12, docs/protocol.md "Resume"): a server with
 * `resume: true` and the Node reconnecting client (the browser client's
 * code). The network is cut by the server destroying the TCP socket.
 */
import { afterEach, expect, test } from 'vitest'
import type { IncomingMessage } from 'node:http'
import { WebSocket } from 'ws'
import { Client, ConnectionClosedError, service, withContext, type CallContext, type ResumeResult } from '@wirecall/core'
import { encodeControl, parseControl, RESUME_PROTOCOL, ResumeFrame } from '@wirecall/core/internal'
import { connect, type Connection, type ServeOptions, type WirecallServer } from '../src/index.js'
import { HOST, capture, deferred, sleep, startServer, until, within } from './helpers.js'

interface Page {
  tick(n: number): void
}
interface Api {
  watch(cb: (n: number) => void): void
  fire(n: number): void
  slow(ms: number): number
  count(): number
  hang(ms: number): number
  join(topic: string): void
}

const fast = { initialDelayMs: 20, maxDelayMs: 50, jitter: 0 }
const clients: Client<Api>[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
})

/** A server whose connections remember their request (to cut the socket) and a callback the page passed. */
async function resumeServer(extra: Partial<ServeOptions<Page>> = {}) {
  const requests = new WeakMap<object, IncomingMessage>()
  let held: ((n: number) => void) | undefined
  let calls = 0
  let hangs = 0
  const server = await startServer<Page>({
    resume: true,
    service: service({
      watch: (cb: (n: number) => void) => void (held = cb),
      fire: (n: number) => held?.(n),
      slow: withContext(async (ctx: CallContext<Connection<Page>>, ms: number) => {
        calls++
        cut(ctx.connection)
        await sleep(ms)
        return 42
      }),
      count: () => ++calls,
      join: withContext((ctx: CallContext<Connection<Page>>, topic: string) => ctx.connection.join(topic)),
      hang: async (ms: number) => {
        hangs++
        await sleep(ms)
        return hangs
      },
    }),
    onConnection: (conn, req) => void requests.set(conn, req),
    ...extra,
  })
  /** Cut the network under `conn`: destroy its TCP socket (no closing handshake). */
  const cut = (conn: Connection<Page>) => requests.get(conn)?.socket.destroy()
  return { server, cut, held: () => held }
}

async function resumingClient(server: WirecallServer<Page>, extra: Record<string, unknown> = {}) {
  const results: ResumeResult[] = []
  let reconnects = 0
  const client = await connect<Api>(`ws://${HOST}:${server.port}`, {
    reconnect: fast,
    logger: capture(),
    onResume: (r) => void results.push(r),
    onReconnect: () => void reconnects++,
    ...extra,
  })
  clients.push(client)
  return { client, results, reconnects: () => reconnects }
}

test('a callback the client passed keeps working across a dropped and resumed connection; same session on both ends', async () => {
  const { server, cut, held } = await resumeServer()
  const { client, results, reconnects } = await resumingClient(server)
  const got: number[] = []
  await client.remote.watch((n) => void got.push(n))
  const conn = [...server.connections][0]!
  const sessionBefore = client.session
  cut(conn)
  await until(() => server.stats().parkedSessions === 1, 3000, 'the server to park the session')
  held()!(1) // a callback call while the link is down: buffered
  await until(() => results.length === 1, 5000, 'the resume')
  expect(results).toEqual([{ resumed: true }])
  expect(client.session).toBe(sessionBefore)
  expect([...server.connections]).toEqual([conn])
  expect(conn.closed).toBe(false)
  await client.remote.fire(2)
  await until(() => got.length === 2, 3000, 'the callback calls')
  expect(got).toEqual([1, 2])
  expect(reconnects()).toBe(0) // the session survived: nothing to re-subscribe
  expect(server.stats()).toMatchObject({ parkedSessions: 0, parkedBytes: 0, resumes: 1, resumeRefusals: 0 })
})

test('500 notifications sent while the link was down arrive once and in order after the resume', async () => {
  const { server, cut } = await resumeServer()
  const { client, results } = await resumingClient(server)
  const got: number[] = []
  client.on('tick', (n: number) => void got.push(n))
  const conn = [...server.connections][0]!
  conn.notify.tick(-1)
  await until(() => got.length === 1, 3000, 'the first notification')
  cut(conn)
  await until(() => server.stats().parkedSessions === 1, 3000, 'the server to park the session')
  for (let i = 0; i < 500; i++) conn.notify.tick(i)
  expect(server.stats().parkedBytes).toBeGreaterThan(500)
  await until(() => got.length === 501, 5000, '500 notifications')
  await sleep(50)
  expect(got).toEqual([-1, ...Array.from({ length: 500 }, (_, i) => i)])
  expect(results).toEqual([{ resumed: true }])
})

test('a response produced while the link was down is delivered on resume', async () => {
  const { server } = await resumeServer()
  const { client, results } = await resumingClient(server, { reconnect: { initialDelayMs: 1000, maxDelayMs: 1000, jitter: 0 } })
  // slow() cuts its own connection, then answers 50 ms later, while the link is down (the client comes back after 1 s).
  const answer = client.remote.slow(50)
  await until(() => server.stats().parkedSessions === 1 && server.stats().parkedBytes > 0, 3000, 'the answer buffered while parked')
  expect(results).toEqual([])
  expect(await within(answer, 5000, 'the call across the drop')).toBe(42)
  expect(results).toEqual([{ resumed: true }])
  expect(await client.remote.count()).toBe(2) // ran once, not re-sent
})

test('a resume after the grace window gets a fresh session: the client is told, onReconnect runs, pending calls reject unless idempotent', async () => {
  const { server } = await resumeServer({ limits: { resumeGraceMs: 50 } })
  const { client, results, reconnects } = await resumingClient(server, { reconnect: { initialDelayMs: 400, maxDelayMs: 400, jitter: 0 } })
  const conn = [...server.connections][0]!
  await client.remote.join('news')
  await client.remote.watch(() => {})
  expect(conn.stats().importedRefs).toBe(1)
  expect(server.topics()).toEqual(['news'])
  // An idempotent call sent first, then slow(), which cuts the link and answers only after 10 s.
  const idem = client.with({ idempotent: true }).remote.hang(200)
  const plain = client.remote.slow(10_000).then(() => 'ok', (e: unknown) => e)
  await until(() => conn.closed, 3000, 'the grace window to end the parked session')
  expect(server.stats()).toMatchObject({ parkedSessions: 0, parkedSessionsClosed: 1 })
  // Closed as if its client had left: references released, topics left.
  expect(conn.stats().importedRefs).toBe(0)
  expect(server.topics()).toEqual([])
  await until(() => results.length === 1, 5000, 'the reconnect')
  expect(results).toEqual([{ resumed: false, reason: 'unknown' }])
  expect(await within(plain, 3000, 'the plain call')).toBeInstanceOf(ConnectionClosedError)
  // Sent again on the fresh session: the second run answers.
  expect(await within(idem, 3000, 'the idempotent call')).toBe(2)
  await until(() => reconnects() === 1, 2000, 'onReconnect')
  expect(server.connections.size).toBe(1)
  expect([...server.connections][0]).not.toBe(conn)
})

/** A raw client that speaks the resume handshake itself. */
async function rawResume(server: WirecallServer<Page>, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`ws://${HOST}:${server.port}`, [RESUME_PROTOCOL], { headers })
  ws.binaryType = 'nodebuffer'
  const frames: Buffer[] = []
  ws.on('message', (data: Buffer) => void frames.push(data))
  ws.on('error', () => {})
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return {
    ws,
    hello(token: string | null, received = 0) {
      ws.send(encodeControl({ kind: ResumeFrame.HELLO, token, received }))
    },
    async reply() {
      await until(() => frames.length > 0, 3000, 'the server to answer the HELLO')
      return parseControl(frames[0]!)
    },
    close: () => ws.terminate(),
  }
}

test('a forged token, a replayed (used) token, and a token from another identity or origin get a fresh session, never the old one', async () => {
  const { server } = await resumeServer({ authenticate: (req) => req.headers['x-user'] ?? false, allowedOrigins: '*' })
  const alice = await rawResume(server, { 'x-user': 'alice', origin: 'https://a.example' })
  alice.hello(null)
  const welcome = await alice.reply()
  expect(welcome).toMatchObject({ kind: ResumeFrame.WELCOME, lost: null })
  const token = (welcome as { token: string }).token
  expect(token.length).toBeGreaterThanOrEqual(32) // 24 random bytes, base64url
  alice.close()
  await until(() => server.stats().parkedSessions === 1, 3000, 'alice parked')

  const forged = await rawResume(server, { 'x-user': 'alice', origin: 'https://a.example' })
  forged.hello('A'.repeat(32))
  expect(await forged.reply()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'unknown' })
  forged.close()

  const mallory = await rawResume(server, { 'x-user': 'mallory', origin: 'https://a.example' })
  mallory.hello(token)
  expect(await mallory.reply()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'refused' })
  mallory.close()

  const otherOrigin = await rawResume(server, { 'x-user': 'alice', origin: 'https://evil.example' })
  otherOrigin.hello(token)
  expect(await otherOrigin.reply()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'refused' })
  otherOrigin.close()

  // The rightful client still resumes (the refused attempts did not spend the token)...
  const back = await rawResume(server, { 'x-user': 'alice', origin: 'https://a.example' })
  back.hello(token)
  const resumed = await back.reply()
  expect(resumed).toMatchObject({ kind: ResumeFrame.RESUMED, received: 0 })
  expect((resumed as { token: string }).token).not.toBe(token)
  // ...and the token is single-use.
  const replay = await rawResume(server, { 'x-user': 'alice', origin: 'https://a.example' })
  replay.hello(token)
  expect(await replay.reply()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'unknown' })
  replay.close()
  back.close()
  expect(server.stats()).toMatchObject({ resumes: 1, resumeRefusals: 4 })
})

test('parked-session memory stays under its limits with 1,000 clients dropping at once', { timeout: 60_000 }, async () => {
  const maxParkedBytes = 200 * 1024
  const { server } = await resumeServer({ limits: { maxParkedBytes, maxParkedSessions: 800, maxConnections: 2000 } })
  const raws: Awaited<ReturnType<typeof rawResume>>[] = []
  for (let i = 0; i < 1000; i++) {
    const raw = await rawResume(server)
    raw.hello(null)
    raws.push(raw)
  }
  await until(() => server.connections.size === 1000, 20_000, '1,000 sessions')
  for (const raw of raws) raw.close()
  await until(() => server.stats().parkedSessions + server.stats().parkedSessionsClosed >= 1000, 20_000, 'every session parked')
  expect(server.stats().parkedSessions).toBeLessThanOrEqual(800)
  // Notifications to every parked session: 1,000 x 100 x ~1 KiB would be 100 MiB unbounded.
  const payload = 'x'.repeat(1000)
  for (let round = 0; round < 100; round++) {
    server.all.notify.tick(payload as unknown as number)
    const stats = server.stats()
    expect(stats.parkedBytes).toBeLessThanOrEqual(maxParkedBytes)
  }
  const stats = server.stats()
  expect(stats.parkedBytes).toBeLessThanOrEqual(maxParkedBytes)
  expect(stats.parkedBytes).toBeGreaterThan(maxParkedBytes / 2)
  expect(stats.parkedSessions).toBeLessThan(800)
  expect(server.connections.size).toBe(stats.parkedSessions)
})

test('resume: false: the Node client offers no resume; a drop gives a fresh session and onReconnect runs', async () => {
  const { server, cut } = await resumeServer()
  const { client, results, reconnects } = await resumingClient(server, { resume: false })
  expect(await client.remote.count()).toBe(1)
  const session = client.session
  cut([...server.connections][0]!)
  await until(() => reconnects() === 1, 3000, 'onReconnect')
  expect(client.session).not.toBe(session)
  expect(results).toEqual([])
  expect(server.stats()).toMatchObject({ resumes: 0, parkedSessions: 0 })
})

test('resume: true is the default spelled out (the session resumes); a resume value that is not one is refused with a clear TypeError', async () => {
  const { server, cut } = await resumeServer()
  const { client, results } = await resumingClient(server, { resume: true })
  const session = client.session
  cut([...server.connections][0]!)
  await until(() => results.length === 1, 5000, 'the resume')
  expect(results).toEqual([{ resumed: true }])
  expect(client.session).toBe(session)
  for (const bad of ['yes', 1, {}]) {
    expect(() => new Client(
      { url: 'ws://unused', dial: () => { throw new Error('not dialled') } } as unknown as ConstructorParameters<typeof Client>[0],
      { resume: bad as never }, {}, false,
    )).toThrow(/resume: expected the `resume` value exported by @wirecall\/browser or @wirecall\/node, or false/)
  }
})

test('a resume that lands on another server (another node, or a restart) gets a fresh session there, cleanly', async () => {
  const { server: first, cut } = await resumeServer()
  const port = first.port
  const { client, results, reconnects } = await resumingClient(first, { reconnect: { initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } })
  const got: number[] = []
  await client.remote.watch((n) => void got.push(n))
  cut([...first.connections][0]!)
  await until(() => first.stats().parkedSessions === 1, 3000, 'parked on the first server')
  await first.close()
  const { server: other } = await resumeServer({ port, host: HOST })
  await until(() => results.length === 1, 5000, 'the reconnect to the other server')
  expect(results).toEqual([{ resumed: false, reason: 'unknown' }])
  await until(() => reconnects() === 1, 2000, 'onReconnect')
  expect(other.stats()).toMatchObject({ connections: 1, resumes: 0, resumeRefusals: 1 })
  expect(await client.remote.count()).toBe(1)
})
