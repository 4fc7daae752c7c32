/**
 * Per-call context: the calling connection, peer, identity, path, and an
 * AbortSignal that fires on cancel, timeout and disconnect; explicit first
 * argument, so it survives awaits with no AsyncLocalStorage.
 */
import { expect, test } from 'vitest'
import {
  AbortError, ConnectionClosedError, TimeoutError, expose, service, withContext, type CallContext, type Session,
} from '../src/index.js'
import { pair, until } from './harness.js'

const tick = () => new Promise((r) => setTimeout(r, 1))

test('withContext: connection, peer, identity and path', async () => {
  const seen: CallContext[] = []
  const api = service({
    whoami: withContext((ctx, suffix: string) => {
      seen.push(ctx)
      return `${String(ctx.peer?.address)}${suffix}`
    }),
    nested: service({ deeper: service({ where: withContext((ctx) => ctx.path) }) }),
  })
  const { client, server } = pair<typeof api>({ service: api, identity: { user: 'ann' } })
  expect(await client.remote.whoami('!')).toBe('memory-a!')
  const ctx = seen[0]!
  expect(ctx.connection).toBe(server)
  expect(ctx.peer).toEqual({ address: 'memory-a' })
  expect(ctx.identity).toEqual({ user: 'ann' })
  expect(ctx.path).toBe('whoami')
  expect(ctx.signal.aborted).toBe(false)
  expect(await client.remote.nested.deeper.where()).toBe('nested.deeper.where')
  // Identity can be set after the session exists (the server's authenticate hook does).
  server.identity = 'bob'
  await client.remote.whoami('')
  expect(seen[1]!.identity).toBe('bob')
})

test('an explicit peer option wins over what the transport knows', async () => {
  const api = service({ peer: withContext((ctx) => ctx.peer) })
  const { client } = pair<typeof api>({ service: api, peer: { address: '10.0.0.1', port: 4242 } })
  expect(await client.remote.peer()).toEqual({ address: '10.0.0.1', port: 4242 })
})

test('@expose({ context: true }) and expose(Class, [...], { context: true }); `this` is the instance', async () => {
  class Decorated {
    greeting = 'hi'
    @expose({ context: true }) hello(ctx: CallContext, name: string): string {
      return `${this.greeting} ${name} via ${ctx.path}`
    }
    @expose plain(first: unknown): string {
      return typeof first
    }
  }
  class Legacy {
    prefix = 'legacy'
    hello(ctx: CallContext, name: string): string {
      return `${this.prefix} ${name} via ${ctx.path}`
    }
  }
  expose(Legacy, ['hello'], { context: true })
  const api = service({ d: new Decorated(), l: new Legacy() })
  const { client } = pair<typeof api>({ service: api })
  expect(await client.remote.d.hello('ann')).toBe('hi ann via d.hello')
  expect(await client.remote.l.hello('bob')).toBe('legacy bob via l.hello')
  // A handler without the context option gets the caller's arguments only.
  expect(await client.remote.d.plain(5 as never)).toBe('number')
})

test('the context survives awaits, and concurrent calls each keep their own', async () => {
  const api = service({
    slow: withContext(async (ctx, label: string, steps: number) => {
      const paths: string[] = []
      for (let i = 0; i < steps; i++) {
        await tick()
        paths.push(`${label}:${ctx.path}:${ctx.signal.aborted}`)
      }
      return paths
    }),
  })
  const { client } = pair<typeof api>({ service: api })
  const [a, b] = await Promise.all([client.remote.slow('a', 3), client.remote.slow('b', 5)])
  expect(a).toEqual(['a:slow:false', 'a:slow:false', 'a:slow:false'])
  expect(b).toHaveLength(5)
})

function watcher() {
  const signals: AbortSignal[] = []
  const aborted: unknown[] = []
  const api = service({
    watch: withContext(async (ctx) => {
      signals.push(ctx.signal)
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
      await tick() // still has its context after an await
      aborted.push(ctx.signal.reason)
      return 'unreachable'
    }),
  })
  return { api, signals, aborted }
}

test('the signal fires when the caller cancels, and only for that call', async () => {
  const { api, signals, aborted } = watcher()
  const { client } = pair<typeof api>({ service: api })
  const controller = new AbortController()
  const other = new AbortController()
  const cancelled = client.with({ signal: controller.signal }).remote.watch()
  const kept = client.with({ signal: other.signal }).remote.watch()
  await until(() => signals.length === 2, 'both handlers to start')
  controller.abort()
  await expect(cancelled).rejects.toBeInstanceOf(AbortError)
  await until(() => aborted.length === 1, 'the cancelled handler to notice')
  expect(aborted[0]).toBeInstanceOf(AbortError)
  expect(signals[1]!.aborted).toBe(false)
  other.abort()
  await expect(kept).rejects.toBeInstanceOf(AbortError)
  await until(() => aborted.length === 2, 'the second handler to notice')
})

test('the signal fires when the call times out on the caller\'s side', async () => {
  const { api, aborted } = watcher()
  const { client } = pair<typeof api>({ service: api }, { timeout: 15 })
  await expect(client.remote.watch()).rejects.toBeInstanceOf(TimeoutError)
  await until(() => aborted.length === 1, 'the handler to notice the timeout')
  expect(aborted[0]).toBeInstanceOf(AbortError)
})

test('the signal fires when the caller disconnects', async () => {
  const { api, signals, aborted } = watcher()
  const { client } = pair<typeof api>({ service: api })
  const call = client.remote.watch().catch((e: unknown) => e)
  await until(() => signals.length === 1, 'the handler to start')
  await client.close()
  expect(await call).toBeInstanceOf(ConnectionClosedError)
  await until(() => aborted.length === 1, 'the handler to notice the disconnect')
  expect(aborted[0]).toBeInstanceOf(ConnectionClosedError)
})

test('a handler calls back into the caller through ctx.connection.remote', async () => {
  const page = service({ name: () => 'page-1' })
  const api = service({
    greet: withContext(async (ctx: CallContext<Session<typeof page>>) => `hello ${await ctx.connection.remote.name()}`),
  })
  const { client } = pair<typeof api>({ service: api }, { service: page })
  expect(await client.remote.greet()).toBe('hello page-1')
})

test('withContext refuses non-functions', () => {
  expect(() => withContext(5 as never)).toThrow(TypeError)
})
