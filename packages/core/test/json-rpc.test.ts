/**
 * Text frames speak JSON-RPC 2.0: requests, notifications, batches, and
 * errors with the standard codes, so any JSON-RPC client can call a peer.
 */
import { describe, expect, test } from 'vitest'
import { ErrorCode, service, withContext } from '../src/index.js'
import { jsonRpc } from '../src/index.js'
import { pair, settle } from './harness.js'

function server(extra: Record<string, unknown> = {}) {
  const notes: unknown[] = []
  const api = service({
    add: (a: number, b: number) => a + b,
    note: (x: unknown) => void notes.push(x),
    nothing: () => undefined,
    big: () => 2n ** 70n,
    when: () => new Date(0),
    fails: () => {
      throw Object.assign(new RangeError('out of range'), { limit: 10 })
    },
    slow: async (x: number) => {
      await new Promise((r) => setTimeout(r, 5 * x))
      return x
    },
    ctx: withContext((ctx) => ({ path: ctx.path, aborted: ctx.signal.aborted })),
    math: service({ mul: (a: number, b: number) => a * b }),
    ...extra,
  })
  // Answers are read from the server's log; the client session never needs them (and a JSON
  // answer reaching a peer must not loop: covered on its own at the end of this file).
  const p = pair({ service: api, textFrames: jsonRpc }, {}, { filter: (frame, from) => !(typeof frame === 'string' && from === 'b') })
  p.serverTransport.log = true
  /** Send one text frame; resolve with every text frame the server answered (parsed). */
  const send = async (text: string) => {
    const before = p.serverTransport.sent.length
    p.serverTransport.inject(text)
    await settle(5 * 6 + 5)
    return p.serverTransport.sent.slice(before).map((f) => {
      expect(typeof f).toBe('string') // a text request is answered in text
      return JSON.parse(f as string) as unknown
    })
  }
  return { ...p, send, notes }
}

const request = (method: string, params?: unknown, id: unknown = 1) => JSON.stringify({ jsonrpc: '2.0', method, params, id })

describe('requests', () => {
  test('a request gets a result with the same id (number or string)', async () => {
    const s = server()
    expect(await s.send(request('add', [3, 4], 7))).toEqual([{ jsonrpc: '2.0', id: 7, result: 7 }])
    expect(await s.send(request('math.mul', [3, 4], 'abc'))).toEqual([{ jsonrpc: '2.0', id: 'abc', result: 12 }])
    expect(await s.send(request('add', [1, 1], null))).toEqual([{ jsonrpc: '2.0', id: null, result: 2 }])
  })

  test('params may be omitted; an undefined result is null', async () => {
    const s = server()
    expect(await s.send(JSON.stringify({ jsonrpc: '2.0', method: 'nothing', id: 1 }))).toEqual([{ jsonrpc: '2.0', id: 1, result: null }])
  })

  test('BigInt results are decimal strings, Dates ISO strings', async () => {
    const s = server()
    expect(await s.send(request('big', []))).toEqual([{ jsonrpc: '2.0', id: 1, result: (2n ** 70n).toString() }])
    expect(await s.send(request('when', []))).toEqual([{ jsonrpc: '2.0', id: 1, result: '1970-01-01T00:00:00.000Z' }])
  })

  test('contextual handlers work over JSON-RPC', async () => {
    const s = server()
    expect(await s.send(request('ctx', []))).toEqual([{ jsonrpc: '2.0', id: 1, result: { path: 'ctx', aborted: false } }])
  })
})

describe('notifications', () => {
  test('a request without id is a notification: the handler runs, nothing is sent', async () => {
    const s = server()
    expect(await s.send(JSON.stringify({ jsonrpc: '2.0', method: 'note', params: ['hi'] }))).toEqual([])
    expect(s.notes).toEqual(['hi'])
  })

  test('a failing or unknown notification is not answered either', async () => {
    const s = server()
    expect(await s.send(JSON.stringify({ jsonrpc: '2.0', method: 'fails' }))).toEqual([])
    expect(await s.send(JSON.stringify({ jsonrpc: '2.0', method: 'missing' }))).toEqual([])
  })
})

describe('batches', () => {
  test('a batch is answered with one array holding the responses of its requests only', async () => {
    const s = server()
    const out = await s.send(JSON.stringify([
      { jsonrpc: '2.0', method: 'slow', params: [3], id: 'a' },
      { jsonrpc: '2.0', method: 'note', params: ['in batch'] },
      { jsonrpc: '2.0', method: 'slow', params: [1], id: 'b' },
      { jsonrpc: '2.0', method: 'missing', id: 'c' },
      1,
    ]))
    expect(out).toHaveLength(1)
    const answers = out[0] as { id: unknown; result?: unknown; error?: { code: number } }[]
    expect(answers).toHaveLength(4)
    const byId = new Map(answers.map((a) => [a.id, a]))
    expect(byId.get('a')!.result).toBe(3)
    expect(byId.get('b')!.result).toBe(1)
    expect(byId.get('c')!.error!.code).toBe(-32601)
    expect(byId.get(null)!.error!.code).toBe(-32600)
    expect(s.notes).toEqual(['in batch'])
  })

  test('a batch of notifications only gets no answer at all', async () => {
    const s = server()
    expect(await s.send(JSON.stringify([{ jsonrpc: '2.0', method: 'note', params: [1] }, { jsonrpc: '2.0', method: 'note', params: [2] }]))).toEqual([])
    expect(s.notes).toEqual([1, 2])
  })

  test('an empty batch is an invalid request', async () => {
    const s = server()
    expect(await s.send('[]')).toEqual([{ jsonrpc: '2.0', id: null, error: expect.objectContaining({ code: -32600 }) }])
  })
})

describe('errors use the standard codes', () => {
  test.each<[string, string, number]>([
    ['parse error', '{"jsonrpc": "2.0", "method": "add", "params": [1, 2', -32700],
    ['not an object', '"hello"', -32600],
    ['missing jsonrpc', JSON.stringify({ method: 'add', params: [1, 2], id: 1 }), -32600],
    ['wrong version', JSON.stringify({ jsonrpc: '1.0', method: 'add', params: [1, 2], id: 1 }), -32600],
    ['method not a string', JSON.stringify({ jsonrpc: '2.0', method: 5, id: 1 }), -32600],
    ['bad id type', JSON.stringify({ jsonrpc: '2.0', method: 'add', params: [1, 2], id: { x: 1 } }), -32600],
    ['method not found', request('missing', []), -32601],
    ['unexposed member', request('constructor', []), -32601],
    ['named params', request('add', { a: 1, b: 2 }), -32602],
    ['handler threw', request('fails', []), -32000],
  ])('%s', async (_label, text, code) => {
    const s = server()
    const [answer] = (await s.send(text)) as { jsonrpc: string; error: { code: number; message: string; data: { code: string } } }[]
    expect(answer!.jsonrpc).toBe('2.0')
    expect(answer!.error.code).toBe(code)
    expect(typeof answer!.error.message).toBe('string')
    expect(typeof answer!.error.data.code).toBe('string')
    expect(s.server.closed).toBe(false)
  })

  test('the error data carries name, message and fields of the thrown error; ids are kept', async () => {
    const s = server()
    const [answer] = await s.send(request('fails', [], 99))
    expect(answer).toEqual({
      jsonrpc: '2.0', id: 99,
      error: { code: -32000, message: 'out of range', data: { name: 'RangeError', message: 'out of range', code: ErrorCode.REMOTE, data: { limit: 10 } } },
    })
    const [notFound] = (await s.send(request('missing', [], 'x'))) as { id: unknown }[]
    expect(notFound!.id).toBe('x')
    const [badParams] = (await s.send(request('add', { a: 1 }, 'y'))) as { id: unknown }[]
    expect(badParams!.id).toBe('y')
  })

  test('malformed text frames are counted', async () => {
    const s = server()
    await s.send('not json')
    await s.send('[1, 2]')
    expect(s.server.stats().malformedFrames).toBe(3)
  })
})

test('a JSON-RPC response arriving at a peer is not answered (no ping-pong between two peers)', async () => {
  // Garbage makes the server answer with an error object; that answer reaches the client session,
  // which must not answer it in turn, or the two would bounce errors forever (in microtasks, so
  // nothing else would ever run). The filter cuts any such loop after 20 frames so the test ends.
  let textFrames = 0
  const { client, clientTransport, serverTransport } = pair({ service: service({}), textFrames: jsonRpc }, { textFrames: jsonRpc }, {
    filter: (frame) => typeof frame !== 'string' || ++textFrames <= 20,
  })
  serverTransport.inject('garbage')
  await settle(5)
  expect(textFrames).toBe(1)
  // Well-formed response objects, single or batched, are not requests either.
  clientTransport.log = true
  clientTransport.inject(JSON.stringify({ jsonrpc: '2.0', id: 1, result: 3 }))
  clientTransport.inject(JSON.stringify([{ jsonrpc: '2.0', id: 1, result: 3 }, { jsonrpc: '2.0', id: 2, error: { code: -1, message: 'x' } }]))
  await settle(5)
  expect(clientTransport.sent).toHaveLength(0)
  expect(client.closed).toBe(false)
})

test('without a text protocol, text frames are counted as malformed and not answered', async () => {
  const { server, serverTransport } = pair({ service: service({ add: (a: number, b: number) => a + b }) })
  serverTransport.log = true
  serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'add', params: [1, 2], id: 1 }))
  await settle()
  expect(server.stats().malformedFrames).toBe(1)
  expect(serverTransport.sent).toEqual([])
})
