/**
 * `redisCluster({ url, sharded: true })` against a real Redis Cluster: three
 * redis-server masters in cluster mode on ephemeral ports of 127.0.0.1,
 * created with `redis-cli --cluster create` (src/testing.ts). Three wirecall
 * nodes with pages on each: topics, all and to(ids) across nodes, presence
 * (kept alive by heartbeats whose MULTI must stay in one hash slot), calls to
 * a page on another node through the node inboxes, and proof that the
 * channels are sharded ones on the shard that owns them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { ErrorCode, service, type Session } from '@wirecall/core'
import { connect, serve, type WirecallServer } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { createConnection } from 'node:net'
import { respCommand, startRedisCluster, type RedisClusterProcesses } from '../src/testing.js'

interface Page {
  tick(n: number): void
  hello(name: string): string
  fail(): never
}

const quiet = { warn() {}, error() {} }
let cluster: RedisClusterProcesses | undefined
beforeAll(async () => {
  cluster = await startRedisCluster(3)
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
}, 10_000)
const masters = () => cluster!.masters

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {})
})

let prefixCount = 0

/** `n` nodes on the Redis Cluster, each seeded with a different master (the client finds the rest). */
async function nodes(n: number): Promise<{ servers: WirecallServer<Page>[]; prefix: string }> {
  const prefix = `s${++prefixCount}-${Date.now()}`
  const servers: WirecallServer<Page>[] = []
  for (let i = 0; i < n; i++) {
    const server = await serve<Page>({
      service: service({ add: (a: number, b: number) => a + b }), port: 0, logger: quiet,
      cluster: redisCluster({
        url: masters()[i % masters().length]!.url, sharded: true, prefix, nodeId: `node${i}`,
        heartbeatMs: 250, nodeTtlMs: 1000, logger: quiet,
      }),
      onConnection: (conn) => conn.join('news'),
    })
    open.push(server)
    servers.push(server)
  }
  return { servers, prefix }
}

async function page(server: WirecallServer<Page>, name: string) {
  const ticks: number[] = []
  const session: Session = await connect(`ws://127.0.0.1:${server.port}`, {
    logger: quiet,
    service: service({
      tick: (n: number) => void ticks.push(n),
      hello: (who: string) => `${name} greets ${who}`,
      fail: () => {
        throw new RangeError(`${name} refuses`)
      },
    }),
  })
  open.push(session)
  await until(() => [...server.connections].some((c) => c.topics.has('news')), 'the page joined news')
  return { session, ticks }
}

async function until(check: () => boolean | Promise<boolean>, what: string, maxMs = 5000): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > maxMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Subscribers of `channel` over all masters: sharded (PUBSUB SHARDNUMSUB) and classic (PUBSUB NUMSUB). */
async function subscribers(channel: string): Promise<{ sharded: number; classic: number }> {
  let sharded = 0
  let classic = 0
  for (const m of masters()) {
    const [s] = await rawLines(m.port, ['PUBSUB', 'SHARDNUMSUB', channel])
    const [c] = await rawLines(m.port, ['PUBSUB', 'NUMSUB', channel])
    sharded += s!
    classic += c!
  }
  return { sharded, classic }
}

/** The count in a `PUBSUB NUMSUB`/`SHARDNUMSUB` reply for one channel (`*2 $n <channel> :<count>`). */
function rawLines(port: number, command: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let buffered = ''
    const timer = setTimeout(() => done(new Error(`no reply from ${port}`)), 1000)
    function done(error: Error | null, value?: number[]) {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value!)
    }
    socket.setEncoding('utf8')
    socket.on('error', (e) => done(e))
    socket.once('connect', () => socket.write(respCommand(...command)))
    socket.on('data', (chunk: string) => {
      buffered += chunk
      const m = /^\*2\r\n\$\d+\r\n[^\r]*\r\n:(\d+)\r\n/.exec(buffered)
      if (m) done(null, [Number(m[1])])
    })
  })
}

describe('sharded pub/sub on a Redis Cluster', () => {
  test('a topic notification reaches every member on every node exactly once, over a sharded channel on one shard', async () => {
    const { servers: [a, b, c], prefix } = await nodes(3)
    const pages = [await page(a!, 'pa'), await page(b!, 'pb'), await page(c!, 'pc'), await page(c!, 'pc2')]
    await until(async () => (await subscribers(`${prefix}:t:news`)).sharded === 3, 'three nodes subscribed to the topic')
    // Sharded subscriptions only: no classic subscriber anywhere; the channel lives on one shard.
    expect((await subscribers(`${prefix}:t:news`)).classic).toBe(0)
    for (let i = 0; i < 20; i++) a!.topic('news').notify.tick(i)
    await until(() => pages.every((p) => p.ticks.length >= 20), 'every page got 20 ticks')
    await new Promise((r) => setTimeout(r, 150))
    for (const p of pages) expect(p.ticks).toEqual([...Array(20).keys()])

    // all and to(ids) (node inboxes, sharded too).
    b!.all.notify.tick(100)
    const idC = [...c!.connections].map((conn) => conn.id)
    a!.to(idC).notify.tick(200)
    await until(() => pages.every((p) => p.ticks.includes(100)) && pages.slice(2).every((p) => p.ticks.includes(200)), 'all and to(ids)')
    await new Promise((r) => setTimeout(r, 150))
    // Two publishers (b and a): no order between them, but each exactly once.
    for (const p of pages) expect(p.ticks.filter((t) => t >= 100).sort()).toEqual(p === pages[0] || p === pages[1] ? [100] : [100, 200])
  })

  test('presence lists every connection and stays (heartbeats refresh keys of one slot); lookup; calls through the inboxes', async () => {
    const { servers: [a, b, c] } = await nodes(3)
    await page(a!, 'pa')
    await page(b!, 'pb')
    await page(c!, 'pc')
    // Several heartbeats (250 ms) past the liveness TTL (1 s): presence is still whole.
    await new Promise((r) => setTimeout(r, 1500))
    const all = await a!.presence()
    expect(all.map((e) => e.node).sort()).toEqual(['node0', 'node1', 'node2'])
    const idC = [...c!.connections][0]!.id
    expect(await b!.lookup(idC)).toMatchObject({ id: idC, node: 'node2', topics: ['news'] })

    expect(await a!.connection(idC).remote.hello('A')).toBe('pc greets A')
    await expect(a!.connection(idC).remote.fail()).rejects.toMatchObject({ name: 'RangeError', message: 'pc refuses', code: ErrorCode.REMOTE })
    // 500 calls from every node to the others' pages: none lost, none wrong.
    const targets = [a!, b!, c!].map((s) => [...s.connections][0]!.id)
    const calls = []
    for (let i = 0; i < 500; i++) {
      const from = [a!, b!, c!][i % 3]!
      calls.push(from.connection(targets[(i + 1) % 3]!).remote.hello(String(i)))
    }
    const results = await Promise.all(calls)
    results.forEach((r, i) => expect(r).toBe(`${['pa', 'pb', 'pc'][(i + 1) % 3]} greets ${i}`))

    // A node that leaves is gone from presence at once.
    await c!.close()
    await until(async () => (await a!.presence()).every((e) => e.node !== 'node2'), 'node2 left presence')
  })
})
