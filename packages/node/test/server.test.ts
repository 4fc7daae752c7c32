/**
 * The server's own duties: attach mode on an existing http.Server, origin
 * checks, authentication, handshake deadline, heartbeat, graceful close.
 */
import { describe, expect, test } from 'vitest'
import { createServer, get, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { connect } from 'node:net'
import { WebSocketServer } from 'ws'
import { ConnectionClosedError, service, withContext } from '@wirecall/core'
import { serve, type Connection } from '../src/index.js'
import {
  HOST, RawClient, capture, connectTo, deferred, sleep, startServer, trackHttp, until, urlOf, within,
} from './helpers.js'

const api = service({
  add: (a: number, b: number) => a + b,
  whoami: withContext((ctx) => ({ identity: ctx.identity, address: ctx.peer?.address })),
})

function listen(server: HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, () => resolve((server.address() as { port: number }).port))
  })
}

/** A plain HTTP GET that leaves no keep-alive socket behind. */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: HOST, port, path, agent: false, headers: { connection: 'close' } }, (res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}

/** The error a refused connection attempt rejects with; fails the test if it was accepted. */
/** Send a WebSocket upgrade request with a verbatim request-target; resolves with the HTTP status. */
function rawUpgrade(port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    })
    let head = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      head += chunk
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head)
      if (match) {
        socket.destroy()
        resolve(Number(match[1]))
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`closed without a status line for ${target}`)))
    socket.setTimeout(2000, () => socket.destroy(new Error(`no answer for ${target}`)))
  })
}

const refusal = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(() => {
    throw new Error('the connection was accepted, a refusal was expected')
  }, (e: unknown) => e as Error)

describe('standalone', () => {
  test('plain HTTP requests get 426; serve() needs a service; a busy port is an error', async () => {
    const server = await startServer({ service: api })
    const res = await httpGet(server.port, '/')
    expect(res.status).toBe(426)
    await expect(serve({} as never)).rejects.toBeInstanceOf(TypeError)
    await expect(serve({ service: api, host: HOST, port: server.port })).rejects.toMatchObject({ code: 'EADDRINUSE' })
  })
})

describe('attach mode: serve({ server, path })', () => {
  test('serves /rpc on an existing http.Server, refuses other paths, leaves the http server running', async () => {
    const http = trackHttp(createServer((_req, res) => res.end('hello from http')))
    const port = await listen(http)
    const server = await startServer({ server: http, path: '/rpc', service: api })
    expect(server.port).toBe(port)

    const client = await connectTo<typeof api>(`ws://${HOST}:${port}/rpc`)
    expect(await client.remote.add(3, 4)).toBe(7)
    const withQuery = await connectTo<typeof api>(`ws://${HOST}:${port}/rpc?token=abc`)
    expect(await withQuery.remote.add(1, 1)).toBe(2)

    for (const path of ['/', '/other', '/rpc/x', '/RPC']) {
      const err = await refusal(RawClient.open(`ws://${HOST}:${port}${path}`))
      expect(err, path).toBeInstanceOf(Error)
      expect((err as Error).message, path).toContain('404')
    }
    const err = await refusal(connectTo(`ws://${HOST}:${port}/elsewhere`))
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect((err as Error).message).toContain('404')

    expect(await httpGet(port, '/page')).toEqual({ status: 200, body: 'hello from http' })
    await server.close()
    expect(client.closed).toBe(true)
    // The http server is the caller's: still listening, still serving HTTP, no longer upgrading.
    expect(http.listening).toBe(true)
    expect(await httpGet(port, '/page')).toEqual({ status: 200, body: 'hello from http' })
    expect(http.listenerCount('upgrade')).toBe(0)
  })

  test('an unparsable request path is refused with 404, not thrown out of the upgrade handler', async () => {
    const server = await startServer({ path: '/rpc', service: api })
    for (const target of ['//', '//[', '/rpc']) {
      const status = await rawUpgrade(server.port, target)
      expect(status, target).toBe(target === '/rpc' ? 101 : 404)
    }
    const client = await connectTo<typeof api>(urlOf(server, '/rpc'))
    expect(await client.remote.add(1, 2)).toBe(3)
  })

  test('two wirecall servers on one http.Server: each serves its path, an unknown path gets 404 (not a hang)', async () => {
    const http = trackHttp(createServer())
    const port = await listen(http)
    await startServer({ server: http, path: '/a', service: service({ who: () => 'a' }) })
    await startServer({ server: http, path: '/b', service: service({ who: () => 'b' }) })
    const a = await connectTo<{ who(): string }>(`ws://${HOST}:${port}/a`)
    const b = await connectTo<{ who(): string }>(`ws://${HOST}:${port}/b`)
    expect([await a.remote.who(), await b.remote.who()]).toEqual(['a', 'b'])
    expect(await within(rawUpgrade(port, '/c'), 3000, 'answer for /c')).toBe(404)
  })

  test('other paths are left to another upgrade handler on the same http.Server', async () => {
    const http = trackHttp(createServer())
    const port = await listen(http)
    const echo = new WebSocketServer({ noServer: true })
    echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
    http.on('upgrade', (req, socket, head) => {
      if (req.url === '/echo') echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req))
    })
    const server = await startServer({ server: http, path: '/rpc', service: api })
    try {
      const raw = await RawClient.open(`ws://${HOST}:${port}/echo`)
      raw.sendText('ping')
      const frame = await raw.next()
      expect(frame).toMatchObject({ binary: false, text: 'ping' })
      const client = await connectTo<typeof api>(urlOf(server, '/rpc'))
      expect(await client.remote.add(2, 2)).toBe(4)
      await raw.terminate()
    } finally {
      echo.close()
    }
  })
})

describe('allowedOrigins', () => {
  test('a list: listed origins pass, others get 403 (no Origin: see security.test.ts)', async () => {
    const server = await startServer({ service: api, allowedOrigins: ['http://app.example'] })
    const ok = await connectTo<typeof api>(server, { headers: { origin: 'http://app.example' } })
    expect(await ok.remote.add(1, 2)).toBe(3)
    const refused: Record<string, string>[] = [{ origin: 'http://evil.example' }, { origin: 'http://app.example.evil' }]
    for (const headers of refused) {
      const err = await refusal(connectTo(server, { headers }))
      expect(err, JSON.stringify(headers)).toBeInstanceOf(ConnectionClosedError)
      expect((err as Error).message).toContain('403')
    }
    expect(server.connections.size).toBe(1)
  })

  test('a predicate', async () => {
    const seen: (string | undefined)[] = []
    const server = await startServer({
      service: api,
      allowedOrigins: (origin) => (seen.push(origin), origin?.endsWith('.trusted.example') ?? false),
    })
    await connectTo(server, { headers: { origin: 'https://a.trusted.example' } })
    expect((await refusal(connectTo(server, { headers: { origin: 'https://untrusted.example' } }))).message).toContain('403')
    expect(seen).toEqual(['https://a.trusted.example', 'https://untrusted.example'])
  })
})

test('an allowedOrigins predicate that throws refuses that handshake (403) and harms nothing else', async () => {
  const logger = capture()
  const server = await startServer({
    service: api,
    logger,
    allowedOrigins: (origin) => {
      if (origin === 'http://weird.example') throw new Error('predicate bug')
      return true
    },
  })
  const err = await refusal(connectTo(server, { headers: { origin: 'http://weird.example' } }))
  expect(err.message).toContain('403')
  const ok = await connectTo<typeof api>(server, { headers: { origin: 'http://fine.example' } })
  expect(await ok.remote.add(1, 1)).toBe(2)
  expect(logger.text()).toContain('predicate bug')
})

describe('authenticate', () => {
  const users: Record<string, { user: string }> = { 'Bearer ann-token': { user: 'ann' }, 'Bearer bob-token': { user: 'bob' } }

  test('the identity is visible as conn.identity and ctx.identity; refusals are 401', async () => {
    const conns: Connection[] = []
    const server = await startServer({
      service: api,
      authenticate: (req) => users[req.headers.authorization ?? ''],
      onConnection: (conn) => void conns.push(conn),
    })
    const ann = await connectTo<typeof api>(server, { headers: { authorization: 'Bearer ann-token' } })
    const bob = await connectTo<typeof api>(server, { headers: { authorization: 'Bearer bob-token' } })
    expect(await ann.remote.whoami()).toEqual({ identity: { user: 'ann' }, address: '127.0.0.1' })
    expect(await bob.remote.whoami()).toEqual({ identity: { user: 'bob' }, address: '127.0.0.1' })
    expect(conns.map((c) => c.identity)).toEqual([{ user: 'ann' }, { user: 'bob' }])
    const refused: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }]
    for (const headers of refused) {
      const err = await refusal(connectTo(server, { headers }))
      expect(err).toBeInstanceOf(ConnectionClosedError)
      expect((err as Error).message).toContain('401')
    }
    expect(server.connections.size).toBe(2)
  })

  test('async hooks, false and throwing hooks; the query string is available', async () => {
    const server = await startServer({
      service: api,
      authenticate: async (req) => {
        await sleep(5)
        const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token')
        if (token === 'boom') throw new Error('auth backend down')
        if (token === 'no') return false
        return token ? { token } : undefined
      },
    })
    const client = await connectTo<typeof api>(urlOf(server, '/?token=t1'))
    expect(await client.remote.whoami()).toMatchObject({ identity: { token: 't1' } })
    for (const token of ['boom', 'no', '']) {
      expect((await refusal(connectTo(urlOf(server, `/?token=${token}`)))).message, token).toContain('401')
    }
  })

  test('a handshake that outlives handshakeTimeoutMs gets 408 and is never admitted', async () => {
    const gate = deferred<unknown>()
    let asked = 0
    const server = await startServer({
      service: api,
      limits: { handshakeTimeoutMs: 100 },
      authenticate: () => (++asked, gate.promise),
    })
    const started = Date.now()
    const err = await refusal(RawClient.open(urlOf(server)))
    expect((err as Error).message).toContain('408')
    expect(Date.now() - started).toBeLessThan(2000)
    gate.resolve({ user: 'late' }) // too late: nothing may be admitted now
    await sleep(20)
    expect(asked).toBe(1)
    expect(server.connections.size).toBe(0)
  })
})

describe('heartbeat and shutdown', () => {
  test('a peer that stops answering pings is dropped; a healthy one stays', async () => {
    const closed: string[] = []
    const server = await startServer({
      service: api,
      limits: { heartbeatIntervalMs: 50, deadPeerTimeoutMs: 300 },
      onConnection: (conn) => void conn.onClose(() => closed.push(conn.id)),
    })
    const healthy = await connectTo<typeof api>(server)
    await until(() => server.connections.size === 1)
    const healthyId = [...server.connections][0]!.id
    const silent = await RawClient.open(urlOf(server), { autoPong: false })
    await until(() => server.connections.size === 2)
    const silentId = [...server.connections].find((c) => c.id !== healthyId)!.id
    const { code } = await within(silent.closed, 3000, 'the silent peer being dropped')
    expect(code).toBe(1006)
    await until(() => closed.length === 1, 2000, 'server-side onClose')
    expect(closed).toEqual([silentId])
    await sleep(400)
    expect(healthy.closed).toBe(false)
    expect(await healthy.remote.add(1, 1)).toBe(2)
  })

  test('a client keeps a connection whose server is busy sending, even if server pings are rare', async () => {
    // Server pings every 10 s; the client wants a sign of life every 50+200 ms.
    // Frames are signs of life too (heartbeat.ts): a chatty server must not be dropped.
    const server = await startServer({ service: api, limits: { heartbeatIntervalMs: 10_000 } })
    const got: number[] = []
    const client = await connectTo<typeof api>(server, {
      limits: { heartbeatIntervalMs: 50, deadPeerTimeoutMs: 200 },
      service: service({ tick: (n: number) => void got.push(n) }),
    })
    await until(() => server.connections.size === 1)
    const timer = setInterval(() => server.all.send('tick', [got.length]), 20)
    try {
      await sleep(700)
    } finally {
      clearInterval(timer)
    }
    expect(got.length).toBeGreaterThan(5)
    expect(client.closed).toBe(false)
    expect(await client.remote.add(2, 3)).toBe(5)
  })

  test('server.close() refuses handshakes still waiting in authenticate instead of waiting for their deadline', async () => {
    let asked = 0
    const server = await startServer({
      service: api,
      limits: { handshakeTimeoutMs: 5000 },
      authenticate: () => (++asked, new Promise(() => {})), // an auth backend that never answers
    })
    const attempt = refusal(RawClient.open(urlOf(server)))
    await until(() => asked === 1, 2000, 'authenticate to be called')
    const started = Date.now()
    await within(server.close(), 4000, 'server.close()')
    expect(Date.now() - started).toBeLessThan(1000)
    expect((await within(attempt, 1000, 'the refusal')).message).toContain('503')
  })

  test('server.close() terminates a peer that ignores the closing handshake after closeTimeoutMs', async () => {
    const server = await startServer({ service: api, limits: { closeTimeoutMs: 150 } })
    const stubborn = await RawClient.open(urlOf(server))
    const polite = await connectTo<typeof api>(server)
    await until(() => server.connections.size === 2)
    stubborn.socket.pause() // never reads the close frame
    const port = server.port
    const started = Date.now()
    await within(server.close(), 3000, 'server.close()')
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(140)
    expect(elapsed).toBeLessThan(2000)
    expect(server.connections.size).toBe(0)
    expect(polite.closed).toBe(true)
    stubborn.socket.resume()
    await within(stubborn.closed, 2000, 'stubborn socket closed')
    // Nobody listens there any more.
    await expect(connectTo(urlOf({ port }))).rejects.toBeInstanceOf(ConnectionClosedError)
  })
})

describe('graceful shutdown', () => {
  test('server.close() lets running handlers finish before closing', async () => {
    let finished = 0
    const slow = service({
      work: async (ms: number) => {
        await sleep(ms)
        finished++
        return 'done'
      },
    })
    const server = await startServer({ service: slow, limits: { closeTimeoutMs: 2000 } })
    const client = await connectTo<typeof slow>(server)
    const call = client.remote.work(150)
    await until(() => [...server.connections][0]?.stats().inFlightCalls === 1, 2000, 'the call to start')
    const started = Date.now()
    await within(server.close(), 3000, 'server.close()')
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
    expect(await call).toBe('done')
    expect(finished).toBe(1)
    expect(server.connections.size).toBe(0)
    await until(() => client.closed, 2000, 'the client to see the close')
  })

  test('a handler still running at the deadline is cut off: the caller gets ConnectionClosedError', async () => {
    let aborted = false
    const stuck = service({
      hang: withContext((ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => {
        aborted = true
        resolve('late')
      }))),
    })
    const server = await startServer({ service: stuck, limits: { closeTimeoutMs: 150 } })
    const client = await connectTo<typeof stuck>(server)
    const call = client.remote.hang()
    await until(() => [...server.connections][0]?.stats().inFlightCalls === 1, 2000, 'the call to start')
    const started = Date.now()
    await within(server.close(), 3000, 'server.close()')
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(140)
    expect(elapsed).toBeLessThan(2000)
    await expect(call).rejects.toBeInstanceOf(ConnectionClosedError)
    expect(aborted).toBe(true)
  })
})
