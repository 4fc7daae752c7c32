/**
 * Observers on the reconnecting client: a drop and a reconnect are counted
 * (`reconnects`), and each connection is a session of its own in the
 * metrics. In Node with `ws` against a real server.
 */
import { expect, test } from 'vitest'
import { createClient, createMetrics } from '../src/index.js'
import { TestServer, closeLater, countingWebSocket, until, useLeakCheck, type TestApi } from './helpers.js'

useLeakCheck()

test('a reconnect is counted, and calls on the new connection are observed', async () => {
  const server = await TestServer.start()
  const metrics = createMetrics()
  const { WebSocket } = countingWebSocket()
  const client = closeLater(createClient<TestApi>(server.url, { WebSocket, observer: metrics, reconnect: { initialDelayMs: 20, maxDelayMs: 50, jitter: 0 } }))
  await client.ready
  expect(await client.remote.add(1, 2)).toBe(3)
  expect(metrics.snapshot()).toMatchObject({ reconnects: 0, sessionsOpened: 1, sessions: 1 })

  server.terminateAll()
  await until(() => metrics.snapshot().reconnects === 1 && client.state === 'open', 'the client to reconnect')
  expect(await client.remote.add(2, 2)).toBe(4)
  const s = metrics.snapshot()
  expect(s).toMatchObject({ reconnects: 1, sessionsOpened: 2, sessions: 1 })
  expect(s.callsOut.find((m) => m.method === 'add')).toMatchObject({ count: 2, outcomes: { ok: 2 } })
})
