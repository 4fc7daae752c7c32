/**
 * The remote Proxy: `then` and symbols read as undefined, one proxy per path,
 * set/delete throw, a readable toString, and nothing is sent until a call.
 */
import { expect, test } from 'vitest'
import { service } from '../src/index.js'
import { createProxy } from '../src/internal.js'
import { pair } from './harness.js'

const api = service({ a: service({ b: service({ c: (x: number) => x + 1 }) }) })

test('property access builds paths without sending anything; calls send the dotted path', async () => {
  const { client, clientTransport } = pair<typeof api>({ service: api })
  clientTransport.log = true
  const c = client.remote.a.b.c
  expect(clientTransport.sent).toHaveLength(0)
  expect(await c(1)).toBe(2)
  const invoked: [string, unknown[]][] = []
  const remote = createProxy({ invoke: (path, args) => invoked.push([path, args]) }) as Record<string, Record<string, (...a: unknown[]) => unknown>>
  remote.x!.y!(1, 2)
  expect(invoked).toEqual([['x.y', [1, 2]]])
})

test('one proxy per path', () => {
  const { client } = pair<typeof api>({ service: api })
  expect(client.remote.a).toBe(client.remote.a)
  expect(client.remote.a.b.c).toBe(client.remote.a.b.c)
  expect(client.notify.a.b).toBe(client.notify.a.b)
})

test('`then` and symbols are undefined, so a remote is never mistaken for a promise', async () => {
  const { client, clientTransport } = pair<typeof api>({ service: api })
  clientTransport.log = true
  const remote = client.remote as unknown as Record<PropertyKey, unknown>
  expect(remote.then).toBeUndefined()
  expect((client.remote.a as unknown as Record<string, unknown>).then).toBeUndefined()
  expect(remote[Symbol.iterator]).toBeUndefined()
  expect(remote[Symbol.toPrimitive]).toBeUndefined()
  expect(remote[Symbol.asyncIterator]).toBeUndefined()
  // Awaiting a remote (or returning it from an async function) resolves to it, sending nothing.
  expect(await client.remote.a).toBe(client.remote.a)
  expect('then' in remote).toBe(false)
  expect('anything' in remote).toBe(true)
  expect(clientTransport.sent).toHaveLength(0)
})

test('set, delete and defineProperty throw', () => {
  const { client } = pair<typeof api>({ service: api })
  const remote = client.remote as unknown as Record<string, unknown>
  expect(() => { remote.x = 1 }).toThrow(TypeError)
  expect(() => { delete remote.a }).toThrow(TypeError)
  expect(() => Object.defineProperty(remote, 'y', { value: 1 })).toThrow(TypeError)
})

test('toString and JSON say what it is', () => {
  const { client } = pair<typeof api>({ service: api })
  expect(String(client.remote)).toBe('[wirecall remote (root)]')
  expect(String(client.remote.a.b)).toBe('[wirecall remote a.b]')
  expect(`${client.remote.a.b.c}`).toBe('[wirecall remote a.b.c]')
  expect(JSON.stringify({ r: client.remote.a })).toBe('{"r":"[wirecall remote a]"}')
})

test('with(...) gives a separate remote whose calls carry the options', async () => {
  const { client } = pair<typeof api>({ service: api })
  const scoped = client.with({ timeout: 1000 })
  expect(scoped.remote).not.toBe(client.remote)
  expect(await scoped.remote.a.b.c(41)).toBe(42)
})
