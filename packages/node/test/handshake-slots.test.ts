/**
 * Handshakes under way hold a connection slot (maxConnections counts them)
 * until they end or reach handshakeTimeoutMs. The server no longer listens
 * for each handshaking socket's 'close' (an idle connection would keep the
 * listener array it grew), so a client that leaves in the middle of a slow
 * authentication keeps its slot until the deadline: these tests prove that
 * the slot comes back then, and that a flood of such clients neither
 * crashes the server nor locks anyone out for longer than the deadline.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import { expect, test } from 'vitest'
import { connect } from '../src/index.js'
import { startChildServer } from './child-harness.js'
import { sleep, within } from './helpers.js'

const DEADLINE_MS = 300

/** Send an upgrade request for `path` on a bare TCP socket; resolves once it is written. */
function upgradeRequest(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        () => resolve(socket),
      )
    })
    socket.on('error', reject)
  })
}

/**
 * Connect, trying again while the server answers 503 (its slots not yet given back: the
 * deadline timers of a child process run late on a loaded machine). Bounded by the caller's `within`.
 */
async function admitted(url: string): ReturnType<typeof connect> {
  for (;;) {
    try {
      return await connect(url)
    } catch (err) {
      if (!/503/.test(String((err as Error).message))) throw err
      await sleep(50)
    }
  }
}

test('clients that leave during a stuck authenticate give their slots back at the deadline; the server survives a flood of them', async () => {
  const child = await startChildServer({
    logger: 'silent',
    authenticate: 'hang',
    limits: { maxConnections: 4, handshakeTimeoutMs: DEADLINE_MS },
  })
  // Fill every slot with handshakes whose authentication never answers, and leave at once.
  for (let i = 0; i < 4; i++) (await upgradeRequest(child.port, '/?token=hang')).destroy()
  // While they hold the slots, a legitimate client is refused (503), not left hanging.
  await expect(connect(`${child.url}?token=secret`)).rejects.toThrow(/503/)
  // A flood of the same, bounded: each is refused or parked, none may crash the child.
  const flood: Socket[] = []
  for (let i = 0; i < 200; i++) flood.push(await upgradeRequest(child.port, '/?token=hang'))
  for (const socket of flood) socket.destroy()
  // After the deadline every parked handshake has given its slot back. (On a loaded machine the
  // child's deadline timers fire late: retry while it still answers 503, within a bound.)
  await sleep(DEADLINE_MS + 100)
  const client = await within(admitted(`${child.url}?token=secret`), 5000, 'a legitimate client after the deadline')
  try {
    expect((await child.stats()).connections).toBe(1)
  } finally {
    await client.close()
  }
  expect(child.isAlive()).toBe(true)
  await child.stop()
}, 20_000)

test.each(['throw', 'reject', 'token', 'async'] as const)(
  'authenticate %s: a flood of handshakes, refused or dropped half-way, neither crashes the server nor keeps a slot',
  async (authenticate) => {
    const child = await startChildServer({ logger: 'silent', authenticate, limits: { maxConnections: 4, handshakeTimeoutMs: DEADLINE_MS } })
    // Refused ones (wrong token; or every one, when the hook throws or rejects), and ones dropped
    // right after the request, whatever the hook would have said.
    const sockets: Socket[] = []
    for (let i = 0; i < 100; i++) sockets.push(await upgradeRequest(child.port, i % 2 ? '/?token=wrong' : '/?token=secret'))
    for (const [i, socket] of sockets.entries()) if (i % 4 === 0) socket.destroy()
    await sleep(50)
    for (const socket of sockets) socket.destroy()
    expect(child.isAlive()).toBe(true)
    // ('async' admits anyone: the requests it admitted before their clients left close on their own.)
    for (let i = 0; i < 250 && (await child.stats()).connections > 0; i++) await sleep(20)
    if (authenticate === 'token' || authenticate === 'async') {
      // Nothing is left holding a slot: four legitimate clients fit under maxConnections = 4.
      const clients = await Promise.all(Array.from({ length: 4 }, () => within(admitted(`${child.url}?token=secret`), 5000, 'a legitimate client')))
      expect((await child.stats()).connections).toBe(4)
      await Promise.all(clients.map((c) => c.close()))
    } else {
      await expect(connect(`${child.url}?token=secret`)).rejects.toThrow(/401/)
    }
    expect(child.isAlive()).toBe(true)
    await child.stop()
  },
  20_000,
)
