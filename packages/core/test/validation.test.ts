/**
 * Validated parameters: schemas from zod and valibot on `service({...})`
 * members and on class methods; a call whose arguments fail gets
 * `ParameterError` with the issues, over msgpack and JSON-RPC, and the
 * handler never runs; transforms and defaults reach the handler; result
 * schemas are checked on the way out; by-name JSON-RPC params reach a method
 * declared with one object schema.
 */
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import * as v from 'valibot'
import {
  ErrorCode, MAX_REPORTED_ISSUES, ParameterError, ResultError, expose, jsonRpc, service, validated, withContext,
  type CallContext, type ParameterIssue,
} from '../src/index.js'
import { describeService } from '../src/reflection.js'
import { pair, settle } from './harness.js'

/** Counts every run of a handler, so a test can prove a refused call never ran it. */
function counter() {
  const runs: unknown[][] = []
  return { runs, track: <A extends unknown[]>(...args: A) => void runs.push(args) }
}

async function refusal(call: Promise<unknown>): Promise<ParameterError & { data: { issues: ParameterIssue[]; omitted?: number } }> {
  const err = await call.then(() => { throw new Error('expected the call to be refused') }, (e: unknown) => e)
  expect(err).toBeInstanceOf(ParameterError)
  return err as ParameterError & { data: { issues: ParameterIssue[]; omitted?: number } }
}

describe('service({...}) members', () => {
  for (const [label, num, str] of [
    ['zod', z.number(), z.string()],
    ['valibot', v.number(), v.string()],
  ] as const) {
    test(`${label}: good arguments pass, bad ones are refused with issues and never run the handler`, async () => {
      const { runs, track } = counter()
      const api = service({
        repeat: validated([str, num], (s, n) => {
          track(s, n)
          return s.repeat(n)
        }),
      })
      const { client } = pair<typeof api>({ service: api })
      expect(await client.remote.repeat('ab', 2)).toBe('abab')
      const err = await refusal((client.remote.repeat as (...a: unknown[]) => Promise<string>)(3, 'x'))
      expect(err.code).toBe(ErrorCode.BAD_PARAMETERS)
      expect(err.data.issues.map((i) => i.path)).toEqual([[0], [1]])
      for (const issue of err.data.issues) expect(typeof issue.message).toBe('string')
      expect(err.message).toMatch(/^invalid arguments: \[0\]: .* \(and 1 more\)$/)
      expect(runs).toEqual([['ab', 2]])
    })
  }

  test('paths go into the arguments (zod object, valibot array)', async () => {
    const api = service({
      user: validated([z.object({ name: z.string(), tags: z.array(z.string()) })], (u) => u.name),
      list: validated([v.array(v.object({ id: v.number() }))], (xs) => xs.length),
    })
    const { client } = pair<typeof api>({ service: api })
    const a = await refusal(client.remote.user({ name: 'x', tags: ['ok', 5 as unknown as string] }))
    expect(a.data.issues).toEqual([{ path: [0, 'tags', 1], message: expect.any(String) }])
    const b = await refusal(client.remote.list([{ id: 1 }, { id: 'two' as unknown as number }]))
    expect(b.data.issues[0]!.path).toEqual([0, 1, 'id'])
  })

  test('transforms and defaults reach the handler; missing trailing arguments take defaults', async () => {
    const seen: unknown[] = []
    const api = service({
      zod: validated([z.string().transform((s) => s.length), z.number().default(10)], (len, n) => {
        seen.push([len, n])
        return len * n
      }),
      valibot: validated([v.pipe(v.string(), v.trim(), v.toUpperCase()), v.optional(v.boolean(), true)], (s, flag) => `${s}:${String(flag)}`),
    })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.zod('abc')).toBe(30)
    expect(await client.remote.zod('ab', 2)).toBe(4)
    expect(seen).toEqual([[3, 10], [2, 2]])
    expect(await client.remote.valibot('  hi ')).toBe('HI:true')
  })

  test('too many arguments are refused; too few are validated as undefined', async () => {
    const { runs, track } = counter()
    const api = service({ add: validated([z.number(), z.number()], (a, b) => (track(a, b), a + b)) })
    const { client } = pair<typeof api>({ service: api })
    const call = client.remote.add as (...a: unknown[]) => Promise<number>
    expect((await refusal(call(1, 2, 3))).message).toMatch(/at most 2 arguments, got 3/)
    expect((await refusal(call(1))).data.issues.map((i) => i.path)).toEqual([[1]])
    expect(runs).toEqual([])
  })

  test('async schemas (async refinements) are awaited before the handler runs', async () => {
    const { runs, track } = counter()
    const free = z.string().refine(async (name) => {
      await new Promise((r) => setTimeout(r, 2))
      return name !== 'taken'
    }, 'name taken')
    const api = service({ claim: validated([free], (name) => (track(name), `ok ${name}`)) })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.claim('mine')).toBe('ok mine')
    const err = await refusal(client.remote.claim('taken'))
    expect(err.data.issues).toEqual([{ path: [0], message: 'name taken' }])
    expect(runs).toEqual([['mine']])
  })

  test('with context: the schemas describe the arguments after it', async () => {
    const api = service({
      whoami: validated({ params: [z.string()], context: true }, (ctx, prefix) => `${prefix} ${ctx.path}`),
    })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.whoami('I am')).toBe('I am whoami')
    await refusal((client.remote.whoami as (...a: unknown[]) => Promise<string>)(1))
  })

  test('a contextual handler given to validated keeps its context', async () => {
    const api = service({ path: validated([z.number()], withContext((ctx: CallContext, n: number) => `${ctx.path}:${n}`) as unknown as (n: number) => string) })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.path(4)).toBe('path:4')
  })

  test('a result schema is checked on the way out', async () => {
    const api = service({
      good: validated({ params: [z.number()], result: z.number().int() }, (n) => n * 2),
      bad: validated({ params: [z.number()], result: z.number().int() }, async (n) => n / 3),
      shaped: validated({ params: [], result: z.object({ at: z.string().transform((s) => s.length) }) }, () => ({ at: 'four' })),
    })
    const logged: unknown[][] = []
    const logger = { warn() {}, error: (...args: unknown[]) => void logged.push(args) }
    const { client } = pair<typeof api>({ service: api, logErrors: true, logger })
    expect(await client.remote.good(2)).toBe(4)
    expect(await client.remote.shaped()).toEqual({ at: 4 })
    const err = await client.remote.bad(1).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ResultError)
    expect((err as ResultError).code).toBe(ErrorCode.BAD_RESULT)
    expect((err as ResultError & { data: { issues: ParameterIssue[] } }).data.issues[0]!.path).toEqual([])
    // A result breaking its schema is this side's bug: logged like a handler's throw (a ParameterError is not).
    await (client.remote.good as (...a: unknown[]) => Promise<number>)('x').catch(() => {})
    expect(logged.map((l) => String(l[0]))).toEqual(['[wirecall] handler bad threw:'])
  })

  test('issues are capped at MAX_REPORTED_ISSUES and messages are cut', async () => {
    const { runs, track } = counter()
    const api = service({
      sum: validated([z.array(z.number())], (xs) => (track(xs), 0)),
      name: validated([v.pipe(v.string(), v.maxLength(3))], (s) => (track(s), s)),
    })
    const { client } = pair<typeof api>({ service: api })
    const err = await refusal(client.remote.sum(Array.from({ length: 5000 }, () => 'x') as unknown as number[]))
    expect(err.data.issues).toHaveLength(MAX_REPORTED_ISSUES)
    expect(err.data.omitted).toBe(5000 - MAX_REPORTED_ISSUES)
    // valibot quotes the input in its message: 100 KB of it must not come back.
    const long = await refusal(client.remote.name('y'.repeat(100_000)))
    expect(long.data.issues[0]!.message.length).toBeLessThan(300)
    expect(runs).toEqual([])
  })

  test('definition-time errors: not a schema', () => {
    expect(() => validated([{} as z.ZodNumber], (n) => n)).toThrow(/Standard Schemas/)
    expect(() => validated({ params: [z.number()], result: 5 as unknown as z.ZodNumber }, (n) => n)).toThrow(/result/)
  })
})

describe('class methods', () => {
  class Calculator {
    runs = 0
    @expose({ params: [z.number(), z.number()] }) add(a: number, b: number): number {
      this.runs++
      return a + b
    }
    @expose({ params: [v.pipe(v.string(), v.email())], result: v.string() }) domain(email: string): string {
      this.runs++
      return email.split('@')[1]!
    }
    @expose({ params: [z.string()], context: true }) where(ctx: CallContext, prefix: string): string {
      return `${prefix}${ctx.path}`
    }
    @expose scaled = validated([z.number()], (n) => n * 10)
  }

  test('zod and valibot schemas in @expose({ params }); this is the instance', async () => {
    const calc = new Calculator()
    const { client } = pair<Calculator>({ service: calc })
    expect(await client.remote.add(1, 2)).toBe(3)
    expect(await client.remote.domain('a@b.example')).toBe('b.example')
    expect(await client.remote.where('at ')).toBe('at where')
    expect(await client.remote.scaled(2)).toBe(20)
    expect(calc.runs).toBe(2)
    await refusal((client.remote.add as (...a: unknown[]) => Promise<number>)('1', 2))
    await refusal(client.remote.domain('not an email'))
    expect(calc.runs).toBe(2)
  })

  test('decorator-free form: expose(Class, [name], { params })', async () => {
    class Greeter {
      hello(name: string) { return `hello ${name}` }
    }
    expose(Greeter, ['hello'], { params: [z.string().min(1)] })
    const { client } = pair<Greeter>({ service: new Greeter() })
    expect(await client.remote.hello('you')).toBe('hello you')
    await refusal(client.remote.hello(''))
    expect(() => expose(Greeter, ['hello', 'other'], { params: [z.string()] })).toThrow(/exactly one method/)
  })
})

describe('JSON-RPC', () => {
  function jsonServer() {
    const { runs, track } = counter()
    const api = service({
      add: validated([z.number(), z.number()], (a, b) => (track(a, b), a + b)),
      named: validated([z.object({ a: z.number(), b: z.number().default(1) })], ({ a, b }) => (track(a, b), a * b)),
      plain: (a: number, b: number) => (track(a, b), a + b),
    })
    const p = pair({ service: api, textFrames: jsonRpc }, {}, { filter: (frame, from) => !(typeof frame === 'string' && from === 'b') })
    p.serverTransport.log = true
    const send = async (body: object) => {
      const before = p.serverTransport.sent.length
      p.serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', ...body }))
      await settle(20)
      return p.serverTransport.sent.slice(before).map((f) => JSON.parse(f as string) as Record<string, unknown>)
    }
    return { runs, send }
  }

  test('bad arguments get -32602 with the issues in data; the handler never runs', async () => {
    const s = jsonServer()
    expect(await s.send({ method: 'add', params: [1, 2], id: 1 })).toEqual([{ jsonrpc: '2.0', id: 1, result: 3 }])
    const [answer] = await s.send({ method: 'add', params: ['1', 2], id: 2 })
    expect(answer).toMatchObject({
      id: 2,
      error: { code: -32602, data: { name: 'ParameterError', code: ErrorCode.BAD_PARAMETERS, data: { issues: [{ path: [0], message: expect.any(String) }] } } },
    })
    expect(s.runs).toEqual([[1, 2]])
  })

  test('by-name params reach a method declared with one object schema, and only such a method', async () => {
    const s = jsonServer()
    expect(await s.send({ method: 'named', params: { a: 3, b: 4 }, id: 1 })).toEqual([{ jsonrpc: '2.0', id: 1, result: 12 }])
    expect(await s.send({ method: 'named', params: { a: 3 }, id: 2 })).toEqual([{ jsonrpc: '2.0', id: 2, result: 3 }])
    // Positional, the same object works too (what a wirecall client sends).
    expect(await s.send({ method: 'named', params: [{ a: 2, b: 2 }], id: 3 })).toEqual([{ jsonrpc: '2.0', id: 3, result: 4 }])
    const [bad] = await s.send({ method: 'named', params: { a: 'x' }, id: 4 })
    expect(bad).toMatchObject({ error: { code: -32602, data: { data: { issues: [{ path: [0, 'a'] }] } } } })
    for (const method of ['add', 'plain']) {
      const [refused] = await s.send({ method, params: { a: 1, b: 2 }, id: 5 })
      expect(refused).toMatchObject({ error: { code: -32602, message: expect.stringMatching(/by-name params need/) } })
    }
    // A by-name notification to a positional method is dropped, not run with an object for `a`.
    await s.send({ method: 'plain', params: { a: 1, b: 2 } })
    expect(s.runs).toEqual([[3, 4], [3, 1], [2, 2]])
  })
})

describe('arktype (a third Standard Schema library)', () => {
  test('checked like zod and valibot; its JSON Schema reaches reflection', async () => {
    const { type } = await import('arktype')
    const { runs, track } = counter()
    const api = service({ move: validated([type({ x: 'number', y: 'number' }), type('"up" | "down"')], (p, dir) => (track(p, dir), `${dir}:${p.x},${p.y}`)) })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.move({ x: 1, y: 2 }, 'up')).toBe('up:1,2')
    const err = await refusal((client.remote.move as (...a: unknown[]) => Promise<string>)({ x: 'one', y: 2 }, 'sideways'))
    expect(err.data.issues.map((i) => i.path)).toEqual([[0, 'x'], [1]])
    expect(runs).toHaveLength(1)
    // arktype implements Standard JSON Schema too: reflection shows the arguments' schemas.
    const described = describeService(api).members.move
    expect(described).toMatchObject({ kind: 'method', arity: 2, params: [{ type: 'object', required: ['x', 'y'] }, expect.anything()] })
  })
})
