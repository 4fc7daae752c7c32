/**
 * The Node endpoint pool: the core's `ClientPool` over Node's reconnecting
 * clients, against three real servers on 127.0.0.1 that require a
 * handshake header (which only a Node client can send): calls spread over
 * the endpoints; one server killed and restarted on its port: no call
 * hangs, at most once for the calls it had, calls spread again after.
 */
import { afterEach, expect, test } from 'vitest'
import { ConnectionClosedError, service, type ClientPool } from '@wirecall/core'
import { connectPool, createPool, serve, type WirecallServer } from '../src/index.js'
import { HOST, capture, until, within } from './helpers.js'

type Api = { add(a: number, b: number): number; slow(ms: number): Promise<number> }

const fast = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 }
const TOKEN = 'Bearer pool-secret'
const closeAfter: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const c of closeAfter.splice(0).reverse()) await c.close().catch(() => {})
})

/** A server that admits only the pool's bearer token, counting the calls it served. */
async function server(port = 0): Promise<{ server: WirecallServer; served: { n: number } }> {
  const served = { n: 0 }
  const s = await serve({
    host: HOST, port, logger: capture(),
    authenticate: ({ headers }) => (headers.authorization === TOKEN ? { user: 'pool' } : undefined),
    service: service({
      add: (a: number, b: number) => (served.n++, a + b),
      slow: (ms: number) => new Promise<number>((r) => setTimeout(() => (served.n++, r(ms)), ms)),
    }),
  })
  closeAfter.push(s)
  return { server: s, served }
}

test('spreads calls over three servers that require a handshake header; a missing header is refused', async () => {
  const all = await Promise.all([server(), server(), server()])
  const urls = all.map((s) => `ws://${HOST}:${s.server.port}`)
  const pool: ClientPool<Api> = await connectPool<Api>(urls, { headers: { authorization: TOKEN }, reconnect: fast, logger: capture() })
  closeAfter.push(pool)
  await until(() => pool.openEndpoints().length === 3, 3000, 'every endpoint to open')
  for (let i = 0; i < 30; i++) expect(await pool.remote.add(i, 1)).toBe(i + 1)
  expect(all.map((s) => s.served.n)).toEqual([10, 10, 10])
  // Without the header every endpoint's handshake is refused (401 is final): the pool gives up.
  await expect(connectPool<Api>(urls, { reconnect: fast, logger: capture() })).rejects.toBeInstanceOf(ConnectionClosedError)
})

test('one server killed and restarted on its port: no call hangs, calls spread again after recovery', async () => {
  const all = await Promise.all([server(), server(), server()])
  const urls = all.map((s) => `ws://${HOST}:${s.server.port}`)
  const pool = createPool<Api>(urls, { headers: { authorization: TOKEN }, reconnect: fast, timeout: 5_000, logger: capture() })
  closeAfter.push(pool)
  await until(() => pool.openEndpoints().length === 3, 3000, 'every endpoint to open')

  const outcomes = { ok: 0, closed: 0, other: [] as unknown[] }
  let stop = false
  const worker = async () => {
    while (!stop) {
      try {
        await pool.remote.slow(5)
        outcomes.ok++
      } catch (err) {
        if (err instanceof ConnectionClosedError) outcomes.closed++
        else outcomes.other.push(err)
      }
    }
  }
  const workers = Array.from({ length: 20 }, worker)
  await until(() => outcomes.ok > 50, 5000, 'traffic')
  const port = all[1]!.server.port
  await all[1]!.server.close()
  await until(() => pool.openEndpoints().length === 2, 3000, 'the pool to drop the dead endpoint')
  const okBefore = outcomes.ok
  await until(() => outcomes.ok > okBefore + 50, 5000, 'calls to go on over the other two')
  const back = await server(port)
  await until(() => pool.openEndpoints().length === 3, 5000, 'the restarted endpoint to come back')
  const servedBefore = back.served.n
  await until(() => back.served.n > servedBefore + 10, 5000, 'calls to reach the restarted server')
  stop = true
  await within(Promise.all(workers), 5000, 'every call to settle')
  expect(outcomes.other).toEqual([])
})
