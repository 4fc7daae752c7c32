/**
 * Hostile values inside well-formed frames: what a peer can make the other
 * end do with the values it sends, not with broken bytes (malformed-frames
 * has those). A thenable that would call the peer, an error whose
 * description would call the peer's references or spell out a huge binary,
 * errors by the thousand, more streams in one frame than the limit.
 */
import { ExtData as RawExt } from '@msgpack/msgpack'
import { describe, expect, test } from 'vitest'
import { ErrorCode, ProtocolError, RemoteError, service } from '../src/index.js'
import { MessageType } from '../src/internal.js'
import { allowLiveRefs, encodeRaw, pair, rejection, sentMessages, settle } from './harness.js'

const u32 = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])
/** A function reference the peer claims to export (ext 64). */
const functionRef = (id: number) => new RawExt(64, u32(id))
/** A stream the peer claims to export (ext 73). */
const streamRef = (id: number) => new RawExt(73, u32(id))

const api = service({ add: (a: number, b: number) => a + b, echo: (x: unknown) => x })

/** Requests the client sent (after the test's own call, which is id 1). */
const requestsFrom = (transport: { sent: (Uint8Array | string)[] }) => sentMessages(transport).filter((m) => m[0] === MessageType.REQUEST)

describe('a thenable from the peer is refused, never awaited', () => {
  test('as a result: the call rejects with ProtocolError at once, and nothing is called on the peer', async () => {
    const p = pair<typeof api>({ service: api })
    p.clientTransport.log = true
    const call = p.client.remote.add(1, 2)
    // Our call #1 answered, before the server can, with { then: <the peer's function #1> }.
    p.clientTransport.inject(encodeRaw([MessageType.RESPONSE, 1, null, { then: functionRef(1) }]))
    const err = await rejection(call)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.message).toMatch(/thenable/)
    await settle(10)
    // Resolving with a thenable would have called its `then`: a request to the peer's #1.
    expect(requestsFrom(p.clientTransport).filter((m) => String(m[2]).startsWith('#'))).toEqual([])
    expect(p.client.stats().pendingCalls).toBe(0)
    expect(await p.client.remote.add(20, 22)).toBe(42)
  })

  test('as an argument: the request is refused, the handler never sees it', async () => {
    let seen = 0
    const p = pair({ service: service({ take: (x: unknown) => { seen++; return x } }) })
    p.serverTransport.log = true
    p.serverTransport.inject(encodeRaw([MessageType.REQUEST, 7, 'take', [{ then: functionRef(1) }]]))
    await settle(10)
    expect(seen).toBe(0)
    const answer = sentMessages(p.serverTransport).find((m) => m[0] === MessageType.RESPONSE && m[1] === 7)
    expect(answer?.[2]).toMatchObject({ code: ErrorCode.PROTOCOL })
    expect(p.server.stats().inFlightCalls).toBe(0)
  })

  test('a plain `then` that is data stays data', async () => {
    const p = pair<typeof api>({ service: api })
    expect(await p.client.remote.echo({ then: 'later', n: 1 })).toEqual({ then: 'later', n: 1 })
  })
})

describe('an error from the peer is described without calling anything and within bounds', () => {
  test('an error map without a message, full of references with toJSON: no call leaves', async () => {
    const p = pair<typeof api>({ service: api })
    allowLiveRefs(p.client as never, p.server as never)
    p.clientTransport.log = true
    const call = p.client.remote.add(1, 2)
    const items = Array.from({ length: 2000 }, () => ({ toJSON: functionRef(1) }))
    p.clientTransport.inject(encodeRaw([MessageType.RESPONSE, 1, { name: 'Error', code: 'X', x: items }, null]))
    const err = await rejection(call)
    expect(err).toBeInstanceOf(RemoteError)
    expect(err.message.length).toBeLessThanOrEqual(203)
    expect(err.message).toMatch(/^\{"name":"Error","code":"X","x":\[\{"toJSON":\[function\]\}/)
    await settle(10)
    expect(requestsFrom(p.clientTransport).filter((m) => String(m[2]).startsWith('#'))).toEqual([])
  })

  test('a 4 MiB binary as the error: a short message, quickly', async () => {
    const p = pair<typeof api>({ service: api })
    const call = p.client.remote.add(1, 2)
    const started = performance.now()
    p.clientTransport.inject(encodeRaw([MessageType.RESPONSE, 1, new Uint8Array(4 << 20), null]))
    const err = await rejection(call)
    expect(performance.now() - started).toBeLessThan(200) // JSON.stringify of it took seconds
    expect(err.message).toBe('{"error":[Uint8Array]}')
  })

  test('replies nobody waits for are dropped before their error is rebuilt', async () => {
    const p = pair<typeof api>({ service: api })
    p.clientTransport.log = true
    const items = Array.from({ length: 2000 }, () => ({ toJSON: functionRef(1) }))
    p.clientTransport.inject(encodeRaw([MessageType.RESPONSE, 999, { x: items }, null]))
    p.clientTransport.inject(encodeRaw([MessageType.RESPONSE, 998, new Uint8Array(4 << 20), null]))
    await settle(10)
    expect(p.client.stats().lateReplies).toBe(2)
    expect(requestsFrom(p.clientTransport)).toEqual([])
  })

  test('errors rebuilt from the wire carry the peer\'s stack only, no local one', async () => {
    const p = pair<typeof api>({ service: api })
    const call = p.client.remote.add(1, 2)
    p.clientTransport.inject(encodeRaw([MessageType.RESPONSE, 1, { name: 'TypeError', message: 'bad', code: ErrorCode.REMOTE, stack: 'TypeError: bad\n    at peer.js:1:1' }, null]))
    const err = await rejection(call)
    expect(err).toBeInstanceOf(TypeError)
    expect(err.remoteStack).toMatch(/peer\.js/)
    expect(err.stack ?? '').not.toMatch(/\n\s+at /)
  })
})

describe('streams over maxOpenStreams in one frame', () => {
  test('at most the limit of cancels, then the frame is refused; the session serves on', async () => {
    const p = pair<typeof api>({ service: api, limits: { maxOpenStreams: 2 } })
    p.serverTransport.log = true
    const streamsInFrame = Array.from({ length: 5000 }, (_, i) => streamRef(i + 1))
    p.serverTransport.inject(encodeRaw([MessageType.REQUEST, 5, 'echo', [streamsInFrame]]))
    await settle(10)
    const sent = sentMessages(p.serverTransport)
    // Two accepted then dropped with the frame, two refused over the limit: a cancel each, no more.
    expect(sent.filter((m) => m[0] === MessageType.STREAM_CANCEL).length).toBeLessThanOrEqual(4)
    expect(sent.find((m) => m[0] === MessageType.RESPONSE && m[1] === 5)?.[2]).toMatchObject({ code: ErrorCode.OVERLOADED })
    expect(await p.client.remote.add(20, 22)).toBe(42)
  })
})
