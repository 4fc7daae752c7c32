/**
 * Contracts over real sockets: validated methods refuse bad arguments from
 * a wirecall client and from a raw JSON-RPC client with `ParameterError`
 * (issues in its data) without running the handler; reflection answers the
 * Node client when on and is refused when off; and a hostile client flooding
 * validated methods and `rpc.describe` leaves a server in a child process
 * alive, responsive, with nothing in flight and its prototypes untouched.
 */
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import { ErrorCode, NotFoundError, ParameterError, describeRemote, service, validated, type ServiceDescription } from '@wirecall/core'
import { startChildServer } from './child-harness.js'
import { RawClient, connectTo, startServer } from './helpers.js'

type Checked = {
  checked: {
    add(a: number, b: number): Promise<number>
    named(o: { a: number; b?: number }): Promise<number>
  }
}

describe('validated methods over a socket', () => {
  test('a wirecall client gets ParameterError with issues; a raw JSON-RPC client gets -32602; the handler never runs', async () => {
    const child = await startChildServer({ logger: 'silent', contracts: true })
    const client = await connectTo<Checked>(child.url)
    expect(await client.remote.checked.add(3, 4)).toBe(7)
    expect(await client.remote.checked.named({ a: 3, b: 4 })).toBe(12)
    const err = await (client.remote.checked.add as (...a: unknown[]) => Promise<number>)('3', 4).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ParameterError)
    expect((err as ParameterError).data).toEqual({ issues: [{ path: [0], message: expect.any(String) }] })

    const raw = await RawClient.open(child.url)
    raw.sendText(JSON.stringify({ jsonrpc: '2.0', method: 'checked.add', params: [1, 'two'], id: 1 }))
    expect(await raw.nextValue()).toMatchObject({
      id: 1, error: { code: -32602, data: { name: 'ParameterError', code: ErrorCode.BAD_PARAMETERS, data: { issues: [{ path: [1] }] } } },
    })
    raw.sendText(JSON.stringify({ jsonrpc: '2.0', method: 'checked.named', params: { a: 5 }, id: 2 }))
    expect(await raw.nextValue()).toEqual({ jsonrpc: '2.0', id: 2, result: 5 })
    expect((await child.stats()).validatedRuns).toBe(3)
  })
})

describe('reflection', () => {
  const api = service({
    math: service({ add: validated([z.number(), z.number()], (a, b) => a + b), hidden: undefined }),
    echo: (x: unknown) => x,
  })

  test('the Node client lists exposed paths when the server has reflection on', async () => {
    const server = await startServer({ service: api, reflection: true })
    const client = await connectTo(server)
    const tree = await describeRemote(client)
    expect(Object.keys(tree.members).sort()).toEqual(['echo', 'math'])
    expect((tree.members.math as ServiceDescription).members).toEqual({
      add: { kind: 'method', arity: 2, validated: true, params: [expect.objectContaining({ type: 'number' }), expect.objectContaining({ type: 'number' })] },
    })
  })

  test('refused when off', async () => {
    const server = await startServer({ service: api })
    const client = await connectTo(server)
    await expect(describeRemote(client)).rejects.toBeInstanceOf(NotFoundError)
  })
})

describe('hostile client', () => {
  test('floods of bad arguments and rpc.describe: the child survives, answers, runs no refused handler, keeps its prototypes', async () => {
    const child = await startChildServer({ logger: 'silent', contracts: true, reflection: true })
    const before = await child.gc()
    const raw = await RawClient.open(child.url, { maxPayload: 64 * 1024 * 1024 })
    let deep: unknown = 'leaf'
    for (let i = 0; i < 90; i++) deep = { user: deep } // near the codec's depth limit (100)
    const hostile: [string, unknown[]][] = [
      ['checked.add', ['1', 2]],
      ['checked.add', Array.from({ length: 5000 }, (_, i) => i)], // far too many arguments
      ['checked.add', []],
      ['checked.sum', [Array.from({ length: 50_000 }, () => 'x')]], // 50,000 issues, reported capped
      ['checked.sum', [Array.from({ length: 200_000 }, () => 1)]], // over the schema's max
      ['checked.named', [JSON.parse('{"__proto__": {"polluted": 1}, "a": "x", "constructor": {"prototype": {"isAdmin": true}}}')]],
      ['checked.deep', [deep]],
      ['checked.deep', [{ user: { tags: Array.from({ length: 10_000 }, () => ({})) } }]],
      ['checked.slowCheck', ['no']],
      ['rpc.describe', [{ checked: 'not a root' }]],
    ]
    const ids = new Map<number, string>()
    let id = 0
    for (let round = 0; round < 5; round++) {
      for (const [method, params] of hostile) {
        ids.set(++id, method)
        raw.send([0, id, method, params])
      }
      // The same by JSON-RPC, by-name params included.
      // (Text, not JSON.stringify: in an object literal `__proto__` would set the prototype, not a key.)
      raw.sendText(`[{"jsonrpc":"2.0","method":"checked.named","params":{"a":"x","__proto__":{"isAdmin":true}},"id":"j${round}"},`
        + `{"jsonrpc":"2.0","method":"checked.add","params":{"a":1,"b":2},"id":"k${round}"},`
        + `{"jsonrpc":"2.0","method":"checked.named","params":{"a":[[[[]]]]}}]`)
    }
    // Every binary request is answered; only rpc.describe succeeds.
    const answered = new Map<number, unknown[]>()
    const deadline = Date.now() + 30_000
    while (answered.size < ids.size && Date.now() < deadline) {
      const frame = await raw.next(Math.max(1, deadline - Date.now()))
      if (frame.binary && Array.isArray(frame.value) && frame.value[0] === 1) answered.set(frame.value[1] as number, frame.value)
    }
    expect(answered.size).toBe(ids.size)
    // Each JSON-RPC batch got its answer: two refusals (-32602), the notification nothing.
    const batches = raw.frames.filter((f) => !f.binary).map((f) => f.value as { error: { code: number } }[])
    expect(batches).toHaveLength(5)
    for (const batch of batches) expect(batch.map((a) => a.error.code)).toEqual([-32602, -32602])
    for (const [key, reply] of answered) {
      const method = ids.get(key)!
      if (method === 'rpc.describe') {
        expect(reply[2]).toBeNull()
        expect(Object.keys((reply[3] as ServiceDescription).members)).toContain('checked')
      } else {
        // The codec itself refuses a `__proto__` key before any schema sees it.
        const codes = method === 'checked.named' ? [ErrorCode.BAD_PARAMETERS, ErrorCode.PROTOCOL] : [ErrorCode.BAD_PARAMETERS]
        expect(codes, `${method}: ${JSON.stringify(reply[2]).slice(0, 200)}`).toContain((reply[2] as { code: string }).code)
        // Capped: an error frame never carries tens of thousands of issues.
        expect(JSON.stringify(reply[2]).length).toBeLessThan(16_000)
      }
    }
    const client = await connectTo<Checked>(child.url)
    expect(await client.remote.checked.add(2, 2)).toBe(4)
    const after = await child.gc()
    expect(child.isAlive()).toBe(true)
    expect(after.validatedRuns).toBe(1) // only the last, good call ran a handler
    expect(after.prototypeChanges).toEqual([])
    expect(after.connectionStats.every((c) => c.inFlightCalls === 0)).toBe(true)
    expect(after.memory.heapUsed - before.memory.heapUsed).toBeLessThan(64 * 1024 * 1024)
    await raw.terminate()
  }, 60_000)
})
