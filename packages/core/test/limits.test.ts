/**
 * Limits are enforced on the receiving side; a peer that goes past one gets
 * a clear error and the session keeps serving.
 */
import { expect, test } from 'vitest'
import { DEFAULT_LIMITS, ErrorCode, OverloadedError, ProtocolError, service } from '../src/index.js'
import { jsonRpc } from '../src/index.js'
import { resolveLimits } from '../src/internal.js'
import { encodeRaw, pair, rejection, settle, until } from './harness.js'

function gated() {
  const gates: (() => void)[] = []
  const api = service({
    wait: () => new Promise<string>((resolve) => gates.push(() => resolve('opened'))),
    echo: (x: unknown) => x,
  })
  return { api, openAll: () => gates.splice(0).forEach((open) => open()) }
}

test('past maxInFlightCalls a call is refused at once with OverloadedError; room comes back', async () => {
  const { api, openAll } = gated()
  const { client, server } = pair<typeof api>({ service: api, limits: { maxInFlightCalls: 2 } })
  const running = [client.remote.wait(), client.remote.wait()]
  await until(() => server.stats().inFlightCalls === 2, 'two handlers running')
  const err = await rejection(client.remote.wait())
  expect(err).toBeInstanceOf(OverloadedError)
  expect(err.code).toBe(ErrorCode.OVERLOADED)
  expect(err.message).toContain('maxInFlightCalls')
  openAll()
  expect(await Promise.all(running)).toEqual(['opened', 'opened'])
  expect(await client.remote.echo('again')).toBe('again')
})

test('maxInFlightCalls also bounds JSON-RPC requests', async () => {
  const { api, openAll } = gated()
  const { server, serverTransport } = pair({ service: api, limits: { maxInFlightCalls: 1 }, textFrames: jsonRpc })
  serverTransport.log = true
  serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'wait', id: 1 }))
  serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'wait', id: 2 }))
  await settle()
  expect(server.stats().inFlightCalls).toBe(1)
  const refused = JSON.parse(serverTransport.sent[0] as string) as { id: number; error: { data: { code: string } } }
  expect(refused.id).toBe(2)
  expect(refused.error.data.code).toBe(ErrorCode.OVERLOADED)
  openAll()
  await until(() => server.stats().inFlightCalls === 0, 'the handler to finish')
})

test('a frame over maxFrameBytes is refused before decoding, answered with ProtocolError for its id', async () => {
  const { api } = gated()
  // The request frame of echo(s) is 8 bytes plus the string: [0, id, "echo", [s]].
  const overhead = encodeRaw([0, 1, 'echo', ['']]).length
  const limit = 64
  const { client, server } = pair<typeof api>({ service: api, limits: { maxFrameBytes: limit } })
  const fits = 'x'.repeat(limit - overhead - 1) // str8 header takes one more byte past 31 chars
  expect(encodeRaw([0, 1, 'echo', [fits]]).length).toBe(limit)
  expect(await client.remote.echo(fits)).toBe(fits)
  const err = await rejection(client.remote.echo(fits + 'x'))
  expect(err).toBeInstanceOf(ProtocolError)
  expect(err.message).toContain('maxFrameBytes')
  expect(server.stats().malformedFrames).toBe(1)
  expect(await client.remote.echo('small')).toBe('small')
})

test('a length header beyond maxFrameBytes is refused by the decoder, without allocating', async () => {
  const { api } = gated()
  const { server, serverTransport } = pair({ service: api, limits: { maxFrameBytes: 1024 } })
  serverTransport.inject(Uint8Array.from([0xdc, 0x08, 0x00, 0x01])) // claims 2048 elements
  await settle()
  expect(server.stats().malformedFrames).toBe(1)
})

test('a text frame over maxFrameBytes gets a JSON-RPC error', async () => {
  const { api } = gated()
  const { serverTransport } = pair({ service: api, limits: { maxFrameBytes: 100 }, textFrames: jsonRpc })
  serverTransport.log = true
  serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'echo', params: ['y'.repeat(200)], id: 1 }))
  await settle()
  const answer = JSON.parse(serverTransport.sent[0] as string) as { error: { code: number; message: string } }
  expect(answer.error.message).toContain('maxFrameBytes')
})

test('a slow consumer (send buffer over sendHighWaterMark) makes new calls fail fast with OverloadedError', async () => {
  const { api } = gated()
  const { client, clientTransport, server } = pair<typeof api>({ service: api }, { limits: { sendHighWaterMark: 1000 } })
  ;(clientTransport as { bufferedAmount: number }).bufferedAmount = 5000
  const err = await rejection(client.remote.echo(1))
  expect(err).toBeInstanceOf(OverloadedError)
  expect(client.stats().pendingCalls).toBe(0)
  ;(clientTransport as { bufferedAmount: number }).bufferedAmount = 0
  expect(await client.remote.echo(2)).toBe(2)
  void server
})

test('limits: defaults are frozen, overrides merge, nonsense is refused early', () => {
  expect(Object.isFrozen(DEFAULT_LIMITS)).toBe(true)
  expect(resolveLimits(undefined)).toBe(DEFAULT_LIMITS)
  const merged = resolveLimits({ maxInFlightCalls: 7 })
  expect(merged.maxInFlightCalls).toBe(7)
  expect(merged.maxFrameBytes).toBe(DEFAULT_LIMITS.maxFrameBytes)
  for (const bad of [0, -1, Number.NaN, '5', null]) {
    expect(() => resolveLimits({ maxFrameBytes: bad as number })).toThrow(TypeError)
  }
  for (const [key, value] of Object.entries(DEFAULT_LIMITS)) {
    expect(value, key).toBeGreaterThan(0)
  }
})
