/**
 * Streams are opt-in in a page (`connect(url, { streams })`), so that a page
 * that does not use them does not bundle them. A page without them must
 * still never hang on a stream: whichever way one crosses, the call fails
 * with `WIRECALL_STREAMS_NOT_ENABLED` (its message names the option), and
 * the server's producer is stopped. `ws` stands in for the WebSocket, against
 * a real Node server on 127.0.0.1 (which has streams on by default).
 */
import { describe, expect, test } from 'vitest'
import { WebSocket as WsWebSocket } from 'ws'
import { ErrorCode, service, withContext, type CallContext, type Session } from '@wirecall/core'
import { serve, type WirecallServer } from '@wirecall/node'
import { connect, streams, type BrowserConnectOptions, type WebSocketConstructor } from '../src/index.js'
import { closeLater, onCleanup, quiet, sleep, until, useLeakCheck } from './helpers.js'

useLeakCheck()

interface PageApi {
  read(items: AsyncIterable<number>): Promise<number>
}

/** A server whose `numbers` generator reports how far it got and whether its `finally` ran. */
async function streamingServer() {
  const state = { pulled: 0, finallyRan: false, aborted: false, uploadFinallyRan: false }
  let lastConnection: Session<PageApi> | undefined
  const api = service({
    numbers: withContext(async function* (ctx: CallContext, n: number) {
      ctx.signal.addEventListener('abort', () => (state.aborted = true))
      try {
        for (let i = 0; i < n; i++) {
          state.pulled++
          yield i
        }
      } finally {
        state.finallyRan = true
      }
    }),
    add: (a: number, b: number) => a + b,
    /** The server hands the page a stream as an argument of a callback. */
    pushStream: async () => {
      async function* upload() {
        try {
          for (let i = 0; ; i++) yield i
        } finally {
          state.uploadFinallyRan = true
        }
      }
      return await lastConnection!.remote.read(upload())
    },
  })
  const server: WirecallServer<PageApi> = await serve<PageApi>({
    host: '127.0.0.1', port: 0, service: api, logger: quiet,
    onConnection: (conn) => void (lastConnection = conn),
  })
  onCleanup(() => server.close())
  const url = `ws://127.0.0.1:${server.port}/`
  return { server, state, url }
}

/** What the page calls on the server. */
interface ServerApi {
  numbers(n: number): AsyncIterable<number>
  add(a: number, b: number): number
  pushStream(): number
}

function page(url: string, options: BrowserConnectOptions<ServerApi> = {}) {
  return connect<ServerApi>(url, {
    WebSocket: WsWebSocket as unknown as WebSocketConstructor, reconnect: false, logger: quiet,
    service: service({ read: async (items: AsyncIterable<number>) => { let n = 0; for await (const _ of items) n++; return n } }),
    ...options,
  }).then((c) => closeLater(c))
}

const outgoing = (server: WirecallServer<PageApi>) => [...server.connections].reduce((n, c) => n + c.stats().outgoingStreams, 0)

describe('a page without `streams`', () => {
  test('a stream result: the call rejects with STREAMS_NOT_ENABLED, the server forgets the stream and its generator never runs', async () => {
    const { server, state, url } = await streamingServer()
    const client = await page(url)
    const err = await client.remote.numbers(1_000_000).then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err?.code).toBe(ErrorCode.STREAMS_NOT_ENABLED)
    expect(err?.message).toMatch(/pass `streams`.*@wirecall\/browser/)
    await until(() => outgoing(server) === 0, 'the server to drop the cancelled stream')
    await sleep(50)
    expect(state.pulled).toBe(0)
    // The connection goes on.
    expect(await client.remote.add(2, 3)).toBe(5)
    expect(client.session!.stats()).toMatchObject({ pendingCalls: 0, incomingStreams: 0, outgoingStreams: 0 })
  })

  test('a stream handed to a page callback: the server\'s call rejects with STREAMS_NOT_ENABLED and its producer stops', async () => {
    const { server, state, url } = await streamingServer()
    const client = await page(url)
    const err = await client.remote.pushStream().then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err?.code).toBe(ErrorCode.STREAMS_NOT_ENABLED)
    await until(() => outgoing(server) === 0, 'the server to drop the refused upload')
    expect(state.pulled).toBe(0)
    expect(await client.remote.add(1, 1)).toBe(2)
  })

  test('a page that sends a stream: the call rejects at once with STREAMS_NOT_ENABLED, nothing is sent', async () => {
    const { url } = await streamingServer()
    const client = await page(url)
    async function* items() {
      yield 1
    }
    const remote = client.remote as unknown as { add(a: unknown, b: number): Promise<number> }
    const err = await remote.add(items(), 1).then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err?.code).toBe(ErrorCode.STREAMS_NOT_ENABLED)
    expect(client.session!.stats()).toMatchObject({ pendingCalls: 0, outgoingStreams: 0 })
  })
})

describe('a page with `streams`', () => {
  test('reads a stream result, and a stream handed to its callback, as before', async () => {
    const { state, url } = await streamingServer()
    const client = await page(url, { streams })
    const seen: number[] = []
    for await (const n of await client.remote.numbers(5)) seen.push(n)
    expect(seen).toEqual([0, 1, 2, 3, 4])
    expect(state.finallyRan).toBe(true)
    const stream = await client.remote.numbers(1_000_000)
    for await (const n of stream) if (n === 9) break
    await until(() => state.aborted, 'the generator to be stopped by break')
    expect(state.pulled).toBeLessThan(1_000_000)
  })
})
