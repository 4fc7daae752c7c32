/**
 * The test helper itself: a real redis-server answers a raw RESP PING,
 * comes back on the same port after restart() (also after kill()), leaves
 * nothing listening after stop(), and enforces AUTH with a password.
 */
import { createServer } from 'node:net'
import { describe, expect, test } from 'vitest'
import { rawCommands, rawPing, startRedis, useRedis } from './redis-server.js'

/** Resolves with the error code of a connection attempt to 127.0.0.1:port (e.g. ECONNREFUSED), or 'connected'. */
async function connectOutcome(port: number): Promise<string> {
  try {
    await rawCommands(port, [['PING']], 1_000)
    return 'connected'
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error)
  }
}

/** Whether a plain TCP server can listen on 127.0.0.1:port. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

describe('useRedis()', () => {
  const redis = useRedis()

  test('starts a server on 127.0.0.1 that answers a raw PING with +PONG', async () => {
    const { port, url } = redis()
    expect(port).toBeGreaterThan(0)
    expect(url).toBe(`redis://127.0.0.1:${port}`)
    expect(await rawPing(port)).toBe('+PONG')
  })

  test('restart() comes back on the same port and answers again; nothing listens while it is down', async () => {
    const server = redis()
    const { port } = server
    await rawCommands(port, [['SET', 'k', 'v']])
    await server.stop()
    expect(await connectOutcome(port)).toBe('ECONNREFUSED')
    await server.restart()
    expect(server.port).toBe(port)
    expect(await rawPing(port)).toBe('+PONG')
    // No persistence: the restarted server is empty.
    expect(await rawCommands(port, [['EXISTS', 'k']])).toEqual([':0'])
  })

  test('kill() drops it at once; restart() brings it back on the same port', async () => {
    const server = redis()
    server.kill()
    await server.stop() // waits for the exit of the killed process
    expect(await connectOutcome(server.port)).toBe('ECONNREFUSED')
    await server.restart()
    expect(await rawPing(server.port)).toBe('+PONG')
  })
})

describe('startRedis()', () => {
  test('stop() leaves nothing listening on the port, and is idempotent', async () => {
    const server = await startRedis()
    const { port } = server
    expect(await rawPing(port)).toBe('+PONG')
    await server.stop()
    expect(await connectOutcome(port)).toBe('ECONNREFUSED')
    expect(await canListen(port)).toBe(true)
    await server.stop()
  })

  test('two servers get different ports', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()])
    try {
      expect(a.port).not.toBe(b.port)
      expect(await rawPing(a.port)).toBe('+PONG')
      expect(await rawPing(b.port)).toBe('+PONG')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  test('with a password, PING without AUTH gets -NOAUTH; with AUTH it gets +PONG; the url carries it', async () => {
    const password = 's3cret/pw'
    const server = await startRedis({ password })
    try {
      expect(server.url).toBe(`redis://:s3cret%2Fpw@127.0.0.1:${server.port}`)
      const [reply] = await rawCommands(server.port, [['PING']])
      expect(reply).toMatch(/^-NOAUTH /)
      expect(await rawPing(server.port, 'wrong')).toMatch(/^-WRONGPASS /)
      expect(await rawPing(server.port, password)).toBe('+PONG')
      // restart() keeps the password.
      await server.restart()
      expect((await rawCommands(server.port, [['PING']]))[0]).toMatch(/^-NOAUTH /)
      expect(await rawPing(server.port, password)).toBe('+PONG')
    } finally {
      await server.stop()
    }
  })
})
