/**
 * The Node client with `reconnect`: the core's reconnecting `Client` (the
 * browser client's code) over `ws` and the Node transport.
 */
import { afterEach, expect, test } from 'vitest'
import { Client, ConnectionClosedError, service, type ConnectionState } from '@wirecall/core'
import { connect, createClient, serve, type WirecallServer } from '../src/index.js'
import { HOST, capture, startServer, until, within } from './helpers.js'

type Api = { add(a: number, b: number): number; whoami(): number }

const fast = { initialDelayMs: 20, maxDelayMs: 100 }
const clients: Client<Api>[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
})

test('a reconnecting Node client survives a real server restart on the same port; its remote keeps working', async () => {
  let generation = 1
  const api = () => service({ add: (a: number, b: number) => a + b, whoami: () => generation })
  const first = await startServer({ service: api() })
  const port = first.port
  const states: ConnectionState[] = []
  let reconnects = 0
  const client = await connect<Api>(`ws://${HOST}:${port}`, {
    reconnect: fast,
    logger: capture(),
    onStateChange: (state) => states.push(state),
    onReconnect: () => void reconnects++,
  })
  clients.push(client)
  expect(client).toBeInstanceOf(Client)
  const heard: number[] = []
  client.on('tick', (n: number) => void heard.push(n))
  expect(await client.remote.add(1, 2)).toBe(3)
  expect(await client.remote.whoami()).toBe(1)

  await first.close()
  await until(() => client.state === 'reconnecting', 3000, 'the client to notice the restart')
  generation = 2
  const second = await serve({ host: HOST, port, service: api(), logger: capture() })
  try {
    // A call made while reconnecting waits for the new connection (whileDisconnected: 'wait').
    expect(await within(client.remote.whoami(), 5000, 'a call across the restart')).toBe(2)
    expect(await client.remote.add(20, 22)).toBe(42)
    expect(client.state).toBe('open')
    await until(() => reconnects === 1, 2000, 'onReconnect')
    expect(states).toEqual(['open', 'reconnecting', 'open'])
    // The listener added before the restart is attached to the new connection.
    const conn = [...second.connections][0]! as unknown as { notify: { tick(n: number): void } }
    conn.notify.tick(7)
    await until(() => heard.length === 1, 2000, 'the notification')
    expect(heard).toEqual([7])
  } finally {
    await client.close()
    await second.close()
  }
})

test('whileDisconnected: fail rejects at once while the server is down; close() ends the retries', async () => {
  const server = await startServer({ service: service({ add: (a: number, b: number) => a + b, whoami: () => 0 }) })
  const client = await connect<Api>(`ws://${HOST}:${server.port}`, { reconnect: fast, whileDisconnected: 'fail', logger: capture() })
  clients.push(client)
  await server.close()
  await until(() => client.state === 'reconnecting', 3000, 'reconnecting')
  await expect(client.remote.add(1, 1)).rejects.toBeInstanceOf(ConnectionClosedError)
  await client.close()
  expect(client.state).toBe('closed')
  await expect(client.remote.add(1, 1)).rejects.toBeInstanceOf(ConnectionClosedError)
})

test('a handshake refused with 401 is final: connect() rejects at once instead of retrying until its timeout', async () => {
  const server: WirecallServer = await startServer({ service: service({}), authenticate: () => false })
  const started = Date.now()
  const err = await connect(`ws://${HOST}:${server.port}`, { reconnect: fast, logger: capture(), timeout: 10_000 }).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(ConnectionClosedError)
  expect(String((err as Error).message)).toMatch(/401/)
  expect(Date.now() - started).toBeLessThan(2000)
})

test('createClient() returns at once; calls made before the first connection wait for it', async () => {
  const server = await startServer({ service: service({ add: (a: number, b: number) => a + b, whoami: () => 0 }) })
  const client = createClient<Api>(`ws://${HOST}:${server.port}`, { logger: capture() })
  clients.push(client)
  expect(client.state).toBe('connecting')
  expect(await client.remote.add(2, 3)).toBe(5)
  expect(client.state).toBe('open')
})

test('without reconnect, connect() still resolves to a Session that ends with its connection', async () => {
  const server = await startServer({ service: service({ add: (a: number, b: number) => a + b, whoami: () => 0 }) })
  const session = await connect<Api>(`ws://${HOST}:${server.port}`, { logger: capture() })
  expect(session).not.toBeInstanceOf(Client)
  expect(await session.remote.add(1, 1)).toBe(2)
  const closed = new Promise((resolve) => session.onClose(resolve))
  await server.close()
  await within(closed, 3000, 'the session to close')
  await session.close()
})
