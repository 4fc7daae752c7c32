/**
 * Regression tests for the defects of the code review, browser client side
 * (one `describe` per item; the numbers are the review's). Each test fails on
 * the code before the fix. `ws` stands in for the browser's WebSocket.
 */
import { describe, expect, test } from 'vitest'
import type { Logger } from '@wirecall/core'
import { connect, createClient, type BrowserConnectOptions, type ConnectionState } from '../src/index.js'
import { TestServer, closeLater, countingWebSocket, sleep, until, useLeakCheck, type TestApi } from './helpers.js'

useLeakCheck()

/** Fast, deterministic backoff for tests (no jitter). */
const FAST = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 } as const

function recordingLogger(): Logger & { errors: unknown[][]; warnings: unknown[][] } {
  const errors: unknown[][] = []
  const warnings: unknown[][] = []
  return { errors, warnings, error: (...a: unknown[]) => void errors.push(a), warn: (...a: unknown[]) => void warnings.push(a) }
}

function client(server: TestServer, options: BrowserConnectOptions<TestApi> = {}) {
  const { WebSocket } = countingWebSocket()
  return closeLater(createClient<TestApi>(server.url, { WebSocket, reconnect: FAST, ...options }))
}

/** Reject if `p` does not settle within `ms` (a regression fails instead of hanging); uses the untracked timer. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => { throw new Error(`${what} did not settle within ${ms} ms`) })])
}

const thrownBy = (logger: { errors: unknown[][] }) => logger.errors.flat().filter((x): x is Error => x instanceof Error).map((e) => e.message)

describe('10: a state listener that throws cannot stall the client', () => {
  test('client.onStateChange(cb) throwing: ready resolves and a call queued while connecting completes; the error is logged', async () => {
    const server = await TestServer.start()
    const logger = recordingLogger()
    const c = client(server, { logger })
    const seen: ConnectionState[] = []
    c.onStateChange(() => {
      throw new Error('listener bug')
    })
    c.onStateChange((s) => void seen.push(s)) // a later listener still runs
    expect(c.state).toBe('connecting')
    const queued = c.remote.add(2, 3)
    await within(c.ready, 1000, 'ready')
    expect(await within(queued, 1000, 'the queued call')).toBe(5)
    expect(c.state).toBe('open')
    expect(seen).toEqual(['open'])
    expect(thrownBy(logger)).toEqual(['listener bug'])
  })

  test('the onStateChange option throwing: connect() resolves; with both throwing, a call queued on a createClient() client completes; both errors logged', async () => {
    const server = await TestServer.start()
    const logger = recordingLogger()
    const { WebSocket } = countingWebSocket()
    const connected = closeLater(await within(connect<TestApi>(server.url, {
      WebSocket,
      reconnect: FAST,
      logger,
      onStateChange: () => {
        throw new Error('option bug')
      },
    }), 1000, 'connect()'))
    expect(await connected.remote.add(4, 4)).toBe(8)
    expect(thrownBy(logger)).toEqual(['option bug'])

    const logger2 = recordingLogger()
    const c = client(server, {
      logger: logger2,
      onStateChange: () => {
        throw new Error('option bug')
      },
    })
    c.onStateChange(() => {
      throw new Error('listener bug')
    })
    const queued = c.remote.add(10, 20)
    expect(await within(queued, 1000, 'the queued call')).toBe(30)
    await until(() => logger2.errors.length >= 2, 'both errors logged', 1000)
    expect(thrownBy(logger2).sort()).toEqual(['listener bug', 'option bug'])
  })
})
