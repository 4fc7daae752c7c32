/**
 * Hostile-input review of the Redis scale-out layer: what pages (joining and
 * leaving topics, disconnecting), a misbehaving Redis (gone, frozen) and
 * hostile bytes on the channels must not do to a node. Each test failed
 * before the fix it names. Crash-type tests run the node in a child process
 * (test/child/node.mjs, built packages) with Node's default
 * unhandled-rejection behaviour, where a crash shows as an exit.
 */
import { afterEach, describe, expect, test } from 'vitest'
import { createClient } from '@redis/client'
import { ConnectionClosedError, TimeoutError, service, type Session } from '@wirecall/core'
import { MsgpackCodec } from '@wirecall/core/internal'
import { connect, serve, type WirecallServer } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { startChildNode, type ChildNode } from './child-node.js'
import { useRedis } from './redis-server.js'

const redis = useRedis()

interface Page {
  tick(n: number): void
  hello(name: string): string
}

const quiet = { warn() {}, error() {} }
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  // A test that froze Redis thaws it first, whatever happened.
  resumeRedis()
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {})
})

let prefixCount = 0

/** `n` nodes sharing one fresh prefix, named `<name>0`, `<name>1`... */
async function nodes(n: number, name: string, links = false): Promise<{ servers: WirecallServer<Page>[]; prefix: string }> {
  const prefix = `h${++prefixCount}-${Date.now()}`
  const servers: WirecallServer<Page>[] = []
  for (let i = 0; i < n; i++) {
    const server = await serve<Page>({
      service: service({}), port: 0, logger: quiet,
      cluster: redisCluster({ url: redis().url, prefix, nodeId: `${name}${i}`, heartbeatMs: 200, nodeTtlMs: 600, logger: quiet, links }),
    })
    open.push(server)
    servers.push(server)
  }
  return { servers, prefix }
}

async function page(server: WirecallServer<Page>, name: string) {
  const ticks: number[] = []
  const before = server.connections.size
  const session: Session = await connect(`ws://127.0.0.1:${server.port}`, {
    service: service({ tick: (n: number) => void ticks.push(n), hello: (who: string) => `${name} greets ${who}` }),
  })
  open.push(session)
  await until(() => server.connections.size > before, 'the page is connected')
  const conn = [...server.connections].at(-1)!
  return { session, ticks, conn }
}

async function until(check: () => boolean | Promise<boolean>, what: string, maxMs = 3000): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > maxMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A plain Redis client of the test's own (publishing bytes, reading PUBSUB NUMSUB). */
async function rawClient() {
  const client = createClient({ url: redis().url })
  await client.connect()
  open.push({ close: async () => void (await client.close().catch(() => client.destroy())) })
  return client
}

let frozen = false
/** SIGSTOP redis-server: its sockets stay open, nothing answers (a frozen or overloaded Redis). */
function freezeRedis(): void {
  frozen = true
  process.kill(redis().child.pid!, 'SIGSTOP')
}
function resumeRedis(): void {
  if (!frozen) return
  frozen = false
  process.kill(redis().child.pid!, 'SIGCONT')
}

describe('topic subscriptions', () => {
  test('a topic left while Redis is away is not subscribed again when it comes back; joined again, its members get each notification once', async () => {
    const { servers: [a, b], prefix } = await nodes(2, 'outage')
    const pa = await page(a!, 'pa')
    const pb = await page(b!, 'pb')
    pa.conn.join('news')
    pb.conn.join('news')
    const channel = `${prefix}:t:news`
    const subscribers = async () => {
      const client = createClient({ url: redis().url })
      await client.connect()
      try {
        return (await client.pubSubNumSub(channel))[channel]
      } finally {
        await client.close()
      }
    }
    await until(async () => (await subscribers()) === 2, 'both nodes subscribed to news')

    await redis().stop()
    // The page's member leaves (a page that disconnects does the same) while the subscriber is away;
    // the client's failed reconnections meanwhile refuse the UNSUBSCRIBE it had queued.
    pb.conn.leave('news')
    await sleep(1500)
    await redis().restart()
    await until(async () => (await a!.connection(pb.conn.id).with({ timeout: 300 }).remote.hello('A').catch(() => '')) === 'pb greets A', 'cross-node calls again', 10_000)
    await until(async () => (await subscribers().catch(() => -1)) === 1, 'only node a subscribed to news', 5000)

    // Joined again: one subscription, one delivery per notification.
    pb.conn.join('news')
    await until(async () => (await subscribers()) === 2, 'both nodes subscribed again')
    a!.topic('news').notify.tick(1)
    await until(() => pb.ticks.length >= 1, 'the tick reached node b')
    await sleep(200)
    expect(pb.ticks).toEqual([1])
    pb.conn.leave('news')
    await until(async () => (await subscribers()) === 1, 'node b unsubscribed on leaving')
  }, 30_000)
})

/** A cluster node in a child process with one page (child-node.ts). */
function childNode(prefix: string, nodeId: string): Promise<ChildNode> {
  return startChildNode(redis().url, prefix, nodeId, (closer) => open.push(closer))
}

describe('hostile bytes on a node inbox', () => {
  test('a well-formed call whose return address is not a node id is dropped; the node does not crash', async () => {
    const prefix = `h${++prefixCount}-${Date.now()}`
    const child = await childNode(prefix, 'target')
    const codec = new MsgpackCodec()
    const client = await rawClient()
    const inbox = `${prefix}:n:target`
    // Decoded, `from` is an object that cannot become a string: naming the answer's channel threw inside a
    // promise callback, an unhandled rejection that ended the process.
    const from = { toString: 'not a function' }
    const hostile = [
      [3, 1, from, 'missing', [], 0],                         // a node call (no node service here: it fails, then answers)
      [1, 2, from, 'target:c999', 'hello', ['x'], 1000],     // a call to a page that is not there
      [1, 3, from, child.connectionId, 'hello', ['x'], 1000], // a call to a page that is
      [1, 'id', 'node-x', child.connectionId, 'hello', ['x'], 1000], // a call id that is not a number
      [3, 4, ['a'], 'missing', [], 0],
      [3, 5, 'x'.repeat(100_000), 'missing', [], 0],            // not a node id: nobody to answer
    ]
    for (const message of hostile) expect(await client.publish(inbox, Buffer.from(codec.encode(message, undefined)))).toBe(1)
    const exit = await Promise.race([child.exited, sleep(1000).then(() => 'alive' as const)])
    expect(exit, child.stderr()).toBe('alive')
    // It still answers a real call.
    const { servers: [a] } = await nodesWithPrefix(prefix, 'caller')
    expect(await a!.connection(child.connectionId).remote.hello('A')).toBe('child greets A')
  })
})

/** One node joining an existing prefix. */
async function nodesWithPrefix(prefix: string, nodeId: string) {
  const server = await serve<Page>({
    service: service({}), port: 0, logger: quiet,
    cluster: redisCluster({ url: redis().url, prefix, nodeId, heartbeatMs: 200, nodeTtlMs: 600, logger: quiet }),
  })
  open.push(server)
  return { servers: [server] }
}

describe('a frozen Redis (its sockets open, no reply)', () => {
  test('a call over node links to a node whose address is not known yet times out at its own timeout', async () => {
    const { servers: [a, b] } = await nodes(2, 'frozenlink', true)
    const pb = await page(b!, 'pb')
    freezeRedis()
    const started = Date.now()
    const outcome = await Promise.race([
      a!.connection(pb.conn.id).with({ timeout: 300 }).remote.hello('A').then(() => 'answered', (e: unknown) => e),
      sleep(4000).then(() => 'still waiting'),
    ])
    expect(outcome).toBeInstanceOf(TimeoutError)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  test('presence(), lookup() and a call to any node offering a method reject instead of waiting forever', async () => {
    const { servers: [a] } = await nodes(1, 'frozenread')
    freezeRedis()
    const started = Date.now()
    const outcomes = await Promise.race([
      Promise.all([
        a!.presence().then(() => 'answered', (e: unknown) => e),
        a!.lookup('frozenread0:c1').then(() => 'answered', (e: unknown) => e),
        (a!.node().remote as unknown as { anything(): Promise<unknown> }).anything().then(() => 'answered', (e: unknown) => e),
      ]),
      sleep(9000).then(() => 'still waiting'),
    ])
    expect(Array.isArray(outcomes) ? outcomes.map((o) => o instanceof ConnectionClosedError) : outcomes).toEqual([true, true, true])
    expect(Date.now() - started).toBeLessThan(7000)
  }, 15_000)

  test('server.close() finishes', async () => {
    const { servers: [a] } = await nodes(1, 'frozenclose')
    await page(a!, 'pa')
    freezeRedis()
    const started = Date.now()
    const outcome = await Promise.race([a!.close().then(() => 'closed'), sleep(6000).then(() => 'still closing')])
    expect(outcome).toBe('closed')
    expect(Date.now() - started).toBeLessThan(4000)
  }, 15_000)
})

describe('answers held while the publishing connection is away', () => {
  test('pages that answer large results during an outage cannot make a node hold more than MAX_HELD_ANSWER_BYTES', async () => {
    const prefix = `h${++prefixCount}-${Date.now()}`
    const [a] = (await nodesWithPrefix(prefix, 'bigcaller')).servers
    const cluster = redisCluster({ url: redis().url, prefix, nodeId: 'bigholder', heartbeatMs: 200, nodeTtlMs: 600, logger: quiet })
    const b = await serve({ service: service({}), port: 0, logger: quiet, cluster })
    open.push(b)
    // Six pages, each answering 12 MiB (under the 16 MiB maxFrameBytes, and one answer each: a client
    // sending more than its 32 MiB maxSendBufferBytes at once drops its own connection).
    for (let i = 0; i < 6; i++) {
      open.push(await connect(`ws://127.0.0.1:${b.port}`, {
        service: service({ big: (ms: number) => new Promise((r) => setTimeout(() => r('x'.repeat(12 * 1024 * 1024)), ms)) }),
      }))
    }
    await until(() => b.connections.size === 6, 'the pages are connected')
    const ids = [...b.connections].map((c) => c.id)
    await until(async () => (await a!.lookup(ids[5]!)) !== undefined, 'the pages in presence')
    const calls = ids.map((id) =>
      (a!.connection(id).with({ timeout: 20_000 }).remote as unknown as { big(ms: number): Promise<string> }).big(800).catch((e: unknown) => e))
    await sleep(300) // the calls reached node b's page
    await redis().stop()
    const inbox = (cluster as unknown as { inboxCalls: { held: { message: Buffer }[] } }).inboxCalls
    // Five answers fit under the bound; the sixth is dropped (its caller gets its TimeoutError).
    await until(() => inbox.held.length >= 5, 'node b holds answers', 10_000)
    await sleep(1500)
    const heldBytes = inbox.held.reduce((sum, h) => sum + h.message.length, 0)
    expect(heldBytes).toBeLessThanOrEqual(64 * 1024 * 1024)
    expect(inbox.held.length).toBe(5)
    await redis().restart()
    // The callers settle: answered, or (answers dropped or lost with the outage) rejected at their timeout.
    void calls
  }, 30_000)
})

describe('joining the cluster', () => {
  test('serve() rejects after joinTimeoutMs when Redis accepts the connection and never answers, and leaves nothing running', async () => {
    freezeRedis()
    const started = Date.now()
    const cluster = redisCluster({ url: redis().url, prefix: `h${++prefixCount}-${Date.now()}`, nodeId: 'frozenjoin', joinTimeoutMs: 500, logger: quiet })
    const outcome = await Promise.race([
      serve({ service: service({}), port: 0, logger: quiet, cluster }).then((s) => { open.push(s); return 'served' }, (e: unknown) => e),
      sleep(5000).then(() => 'still joining'),
    ])
    expect(outcome).toBeInstanceOf(Error)
    expect((outcome as Error).message).toMatch(/cannot join the cluster: Redis did not answer within 500 ms/)
    expect(Date.now() - started).toBeLessThan(2500)
    // Its two Redis connections are dropped, not left to retry a Redis nobody uses any more.
    const clients = cluster as unknown as { pub: { isOpen: boolean }; sub: { isOpen: boolean } }
    expect([clients.pub.isOpen, clients.sub.isOpen]).toEqual([false, false])
  }, 10_000)

  test('joinTimeoutMs must be positive', () => {
    expect(() => redisCluster({ url: redis().url, joinTimeoutMs: 0 })).toThrow(RangeError)
  })
})
