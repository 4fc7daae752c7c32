/**
 * Reflection: opt-in `rpc.describe` answers the tree of exposed paths (arity,
 * JSON Schema where schemas exist); hidden members never appear; refused
 * when off; a caller's arguments cannot choose what is described.
 */
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import * as v from 'valibot'
import { toStandardJsonSchema } from '@valibot/to-json-schema'
import {
  DESCRIBE_METHOD, MAX_DESCRIBED_METHODS, NotFoundError, Router, describeRemote, describeService, expose, jsonRpc, service, validated, withContext,
  type CallContext, type ServiceDescription,
} from '../src/index.js'
import { pair, settle } from './harness.js'

class Account {
  balance = 100
  secretKey = 'never listed'
  @expose deposit(amount: number) { return (this.balance += amount) }
  @expose({ context: true }) owner(ctx: CallContext) { return String(ctx.identity) }
  @expose({ params: [z.number().positive()] }) withdraw(amount: number) { return (this.balance -= amount) }
  internal() { return 'not exposed' }
}

function api() {
  const admin = new Router().add('stats', (verbose: boolean) => (verbose ? {} : null))
  const root = service({
    math: service({
      add: (a: number, b: number) => a + b,
      sum: validated({ params: [z.array(z.number())], result: z.number() }, (xs) => xs.reduce((s, x) => s + x, 0)),
    }),
    account: new Account(),
    greet: validated([toStandardJsonSchema(v.object({ name: v.string() }))], ({ name }) => `hi ${name}`),
    plainValibot: validated([v.string()], (s) => s),
    who: withContext((ctx, greeting: string) => `${greeting} ${String(ctx.identity)}`),
    version: '1.2.3',
    'dotted.name': () => 'unreachable by a dotted path',
    admin,
  })
  return root
}

const members = (node: unknown) => Object.keys((node as ServiceDescription).members).sort()

describe('rpc.describe', () => {
  test('lists exposed paths with arity and JSON Schemas; hidden members never appear', async () => {
    const { client } = pair({ service: api(), reflection: describeService })
    const tree = await describeRemote(client)
    expect(members(tree)).toEqual(['account', 'admin', 'greet', 'math', 'plainValibot', 'who'])
    expect(members(tree.members.account)).toEqual(['deposit', 'owner', 'withdraw'])
    expect(members(tree.members.admin)).toEqual(['stats'])
    const math = tree.members.math as ServiceDescription
    expect(math.members.add).toEqual({ kind: 'method', arity: 2, validated: false })
    expect(math.members.sum).toMatchObject({
      kind: 'method', arity: 1, validated: true,
      params: [{ type: 'array', items: { type: 'number' } }], result: { type: 'number' },
    })
    expect(tree.members.who).toEqual({ kind: 'method', arity: 1, validated: false }) // the context is not counted
    expect((tree.members.account as ServiceDescription).members.owner).toMatchObject({ arity: 0 })
    expect((tree.members.account as ServiceDescription).members.withdraw).toMatchObject({ params: [{ type: 'number', exclusiveMinimum: 0 }] })
    expect(tree.members.greet).toMatchObject({ params: [{ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }] })
    // A schema library without Standard JSON Schema: listed, schema null.
    expect(tree.members.plainValibot).toEqual({ kind: 'method', arity: 1, validated: true, params: [null] })
    const text = JSON.stringify(tree)
    for (const hidden of ['secretKey', 'internal', 'balance', 'version', 'constructor', '__proto__', 'dotted']) expect(text).not.toContain(hidden)
  })

  test('refused when off (the default): NotFoundError', async () => {
    const { client } = pair({ service: api() })
    await expect(describeRemote(client)).rejects.toBeInstanceOf(NotFoundError)
  })

  test('reflects routers as they change', async () => {
    const root = new Router().add('a', () => 1)
    const { client } = pair({ service: root, reflection: describeService })
    expect(members(await describeRemote(client))).toEqual(['a'])
    root.add('b', service({ c: () => 2 })).remove('a')
    expect(members(await describeRemote(client))).toEqual(['b'])
  })

  test('arguments cannot choose what is described', async () => {
    const { client } = pair({ service: service({ only: () => 1 }), reflection: describeService })
    const tree = (await client.call(DESCRIBE_METHOD, [{ injected: { kind: 'method' } }, 'x'])) as ServiceDescription
    expect(members(tree)).toEqual(['only'])
  })

  test('cycles are cut; a huge tree is truncated at MAX_DESCRIBED_METHODS', async () => {
    const loop = service<Record<string, unknown>>({ ping: () => 'pong' })
    loop.self = loop
    const big = service(Object.fromEntries(Array.from({ length: MAX_DESCRIBED_METHODS + 5 }, (_, i) => [`m${i}`, () => i])))
    const { client } = pair({ service: service({ loop, big }), reflection: describeService })
    const tree = await describeRemote(client)
    expect(members(tree.members.loop)).toEqual(['ping'])
    expect(tree.truncated).toBe(true)
    expect(Object.keys((tree.members.big as ServiceDescription).members)).toHaveLength(MAX_DESCRIBED_METHODS - 1)
  })

  test('over JSON-RPC', async () => {
    const p = pair({ service: api(), reflection: describeService, textFrames: jsonRpc }, {}, { filter: (frame, from) => !(typeof frame === 'string' && from === 'b') })
    p.serverTransport.log = true
    p.serverTransport.inject(JSON.stringify({ jsonrpc: '2.0', method: 'rpc.describe', id: 1 }))
    await settle(20)
    const answer = JSON.parse(p.serverTransport.sent.at(-1) as string) as { result: ServiceDescription }
    expect(members(answer.result)).toContain('math')
  })
})
