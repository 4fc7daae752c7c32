/**
 * Three wirecall servers in one process, each its own cluster node over a
 * real redis-server (started by the test on an ephemeral port), with Node
 * clients connected to each: topics, all and to(ids) across nodes, presence,
 * calls to a page on another node (results, errors, closing mid-call,
 * unknown ids, data-only arguments), and 10,000 cross-node calls.
 */
import { afterEach, describe, expect, test } from 'vitest'
import { ConnectionClosedError, ErrorCode, ParameterError, service, type Session } from '@wirecall/core'
import { connect, serve, type WirecallServer } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { startChildNode as startChild, type ChildNode } from './child-node.js'
import { rawCommands, useRedis } from './redis-server.js'

const redis = useRedis()

interface Page {
  tick(n: number): void
  hello(name: string): string
  fail(): never
  slow(ms: number): Promise<string>
  numbers(): AsyncGenerator<number>
  greeter(): { greet(): string; tag: string }
}

const api = service({ add: (a: number, b: number) => a + b })
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {})
})

let prefixCount = 0
const prefixes = new Map<string, string>()

/** `n` nodes sharing one fresh prefix (tests do not see each other's clusters), named `<name>0`, `<name>1`... */
async function nodes(n: number, name = 'node', links = false): Promise<WirecallServer<Page>[]> {
  const prefix = `t${++prefixCount}-${Date.now()}`
  prefixes.set(name, prefix)
  const servers: WirecallServer<Page>[] = []
  for (let i = 0; i < n; i++) {
    const server = await serve<Page>({
      service: api, port: 0, logger: quiet,
      cluster: redisCluster({ url: redis().url, prefix, nodeId: `${name}${i}`, heartbeatMs: 200, nodeTtlMs: 600, logger: quiet, links }),
      onConnection: (conn) => conn.join('news'),
    })
    open.push(server)
    servers.push(server)
  }
  return servers
}

const quiet = { warn() {}, error() {} }

/** A page on `server`: counts ticks, answers hello, fails on demand. */
async function page(server: WirecallServer<Page>, name: string) {
  const ticks: number[] = []
  /** How many `numbers()` streams ended on the page (their generator's finally ran). */
  const streamsEnded = { count: 0 }
  const session: Session = await connect(`ws://127.0.0.1:${server.port}`, {
    service: service({
      tick: (n: number) => void ticks.push(n),
      hello: (who: string) => `${name} greets ${who}`,
      fail: () => {
        throw new RangeError(`${name} refuses`)
      },
      slow: (ms: number) => new Promise((r) => setTimeout(() => r('late'), ms)),
      greeter: () => ({ greet: () => 'hi', tag: name }),
      numbers: async function* () {
        try {
          for (let i = 0; ; i++) yield i
        } finally {
          streamsEnded.count++
        }
      },
    }),
  })
  open.push(session)
  await until(() => server.connections.size > 0 && [...server.connections].some((c) => c.topics.has('news')), 'the page joined news')
  return { session, ticks, name, streamsEnded }
}

async function until(check: () => boolean | Promise<boolean>, what: string, maxMs = 3000): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > maxMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Let in-flight pub/sub traffic arrive (Redis round trips on loopback take well under this). */
const settle = () => new Promise((r) => setTimeout(r, 150))

describe('topics, all and to(ids) across nodes', () => {
  test('a topic notification published on one node reaches every member on every node exactly once', async () => {
    const [a, b, c] = await nodes(3)
    const pages = [await page(a!, 'pa'), await page(b!, 'pb'), await page(c!, 'pc'), await page(c!, 'pc2')]
    await settle() // subscriptions to the topic channel are in place
    for (let i = 0; i < 20; i++) a!.topic('news').notify.tick(i)
    await until(() => pages.every((p) => p.ticks.length >= 20), 'every page got 20 ticks')
    await settle()
    for (const p of pages) expect(p.ticks).toEqual([...Array(20).keys()])
  })

  test('a node with no member in a topic does not subscribe to it; all reaches everyone once', async () => {
    const [a, b] = await nodes(2)
    const pa = await page(a!, 'pa')
    const pb = await page(b!, 'pb')
    pb.session // b's page leaves the topic on the server side
    for (const conn of b!.connections) conn.leave('news')
    await settle()
    a!.topic('news').notify.tick(1)
    b!.all.notify.tick(2)
    await until(() => pa.ticks.length >= 2 && pb.ticks.length >= 1, 'deliveries')
    await settle()
    expect(pa.ticks).toEqual([1, 2])
    expect(pb.ticks).toEqual([2])
  })

  test('to([ids]) reaches connections on other nodes by id', async () => {
    const [a, b, c] = await nodes(3)
    const pb = await page(b!, 'pb')
    const pc = await page(c!, 'pc')
    const ids = [...b!.connections, ...c!.connections].map((conn) => conn.id)
    expect(ids.every((id) => id.startsWith('node'))).toBe(true)
    a!.to(ids).notify.tick(7)
    a!.connection(ids[1]!).notify.tick(8)
    await until(() => pb.ticks.length >= 1 && pc.ticks.length >= 2, 'deliveries by id')
    await settle()
    expect(pb.ticks).toEqual([7])
    expect(pc.ticks).toEqual([7, 8])
  })
})

describe('presence', () => {
  test('lists every connection of the cluster with its node, identity, topics and start; lookup by id; gone on close', async () => {
    const [a, b] = await nodes(2)
    await page(a!, 'pa')
    const pb = await page(b!, 'pb')
    const idB = [...b!.connections][0]!.id
    await settle()
    const all = await a!.presence()
    expect(all.map((e) => e.node).sort()).toEqual(['node0', 'node1'])
    const entryB = all.find((e) => e.id === idB)!
    expect(entryB).toMatchObject({ id: idB, node: 'node1', topics: ['news'] })
    expect(entryB.since).toBeGreaterThan(Date.now() - 60_000)
    expect(await a!.lookup(idB)).toEqual(entryB)
    expect(await a!.lookup('node1:c999999')).toBeUndefined()
    await pb.session.close()
    await until(async () => (await a!.lookup(idB)) === undefined, 'the closed connection left presence')
    expect((await b!.presence()).map((e) => e.node)).toEqual(['node0'])
  })

  test('a node taken for gone (its liveness key expired, dropped from the node set) lists itself again, connections included, on its next beat', async () => {
    const [a, b] = await nodes(2)
    await page(a!, 'pa')
    await page(b!, 'pb')
    const idB = [...b!.connections][0]!.id
    await until(async () => (await a!.lookup(idB)) !== undefined, 'the page of node1 in presence')
    const prefix = prefixes.get('node')!
    // What a busy node1 (missed beats) looks like to the others, and what their presence() then does.
    await rawCommands(redis().port, [['DEL', `${prefix}:node:{node1}`], ['SREM', `${prefix}:nodes`, 'node1']])
    expect((await a!.presence()).map((e) => e.node)).toEqual(['node0'])
    // Its next beat writes the presence hash, then lists the node in the node set (two steps:
    // the set lives in another hash slot), so presence() is waited for, not read once after lookup().
    await until(async () => (await a!.lookup(idB)) !== undefined, 'node1 listed again with its page', 1000)
    await until(async () => (await a!.presence()).some((e) => e.id === idB), 'node1 in presence again with its page', 1000)
    expect((await a!.presence()).map((e) => e.node).sort()).toEqual(['node0', 'node1'])
    // Only dropped from the set (another node removed it just after a beat refreshed its key).
    await rawCommands(redis().port, [['SREM', `${prefix}:nodes`, 'node1']])
    await until(async () => (await a!.presence()).some((e) => e.id === idB), 'node1 in the node set again', 1000)
  })

  test('a node killed with SIGKILL leaves presence within nodeTtlMs, and calls waiting on it reject', async () => {
    const [a] = await nodes(1, 'kill')
    const child = await startChildNode('kill', 'victim')
    const id = child.connectionId
    await until(async () => (await a!.lookup(id)) !== undefined, 'the child node in presence')
    expect(await a!.connection(id).remote.hello('A')).toBe('child greets A')
    const pending = a!.connection(id).remote.slow(30_000).then(() => undefined, (e: unknown) => e as Error)
    await settle()
    const killedAt = Date.now()
    child.kill()
    const err = await pending
    expect(err).toBeInstanceOf(ConnectionClosedError)
    // Detected by the caller's heartbeat once the node's liveness key expired: nodeTtlMs + heartbeatMs.
    expect(Date.now() - killedAt).toBeLessThan(600 + 200 + 500)
    await until(async () => (await a!.lookup(id)) === undefined, 'the killed node left presence', 1000)
    expect((await a!.presence()).filter((e) => e.node === 'victim')).toEqual([])
    // A call to it now fails at once: nobody listens on its inbox.
    await expect(a!.connection(id).remote.hello('A')).rejects.toBeInstanceOf(ConnectionClosedError)
  })
})

describe.each([['through Redis', false], ['over node links', true]])('calls to a page on another node, %s', (_mode, links) => {
  test('result and remote error (name, code) as for a local call', async () => {
    const [a, , c] = await nodes(3, 'node', links)
    await page(c!, 'pc')
    const id = [...c!.connections][0]!.id
    const remote = a!.connection(id).remote
    expect(await remote.hello('A')).toBe('pc greets A')
    const err = await remote.fail().then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err).toBeInstanceOf(RangeError)
    expect(err?.message).toBe('pc refuses')
    expect(err?.code).toBe(ErrorCode.REMOTE)
  })

  test('a connection that closes during the call, an unknown id and a gone node reject with ConnectionClosedError', async () => {
    const [a, c] = await nodes(2, 'node', links)
    const pc = await page(c!, 'pc')
    const id = [...c!.connections][0]!.id
    const call = a!.connection(id).remote.slow(2000)
    await settle()
    await pc.session.close()
    await expect(call).rejects.toBeInstanceOf(ConnectionClosedError)
    await expect(a!.connection('node1:c424242').remote.hello('x')).rejects.toBeInstanceOf(ConnectionClosedError)
    await expect(a!.connection('nowhere:c1').remote.hello('x')).rejects.toBeInstanceOf(ConnectionClosedError)
    await expect(a!.connection('c1').remote.hello('x')).rejects.toBeInstanceOf(ConnectionClosedError)
    // Ids that server code might pass on from a page, unchecked: each one a clear, quick refusal.
    for (const hostile of ['', ':', '::::', 'node1:', ':c1', 'x'.repeat(1 << 20) + ':c1', 'node1:c1\u0000', 'a:b:c:d']) {
      await expect(a!.connection(hostile).with({ timeout: 1000 }).remote.hello('x')).rejects.toBeInstanceOf(ConnectionClosedError)
    }
    expect(await a!.lookup('x'.repeat(1 << 20))).toBeUndefined()
  })

  test('timeouts and AbortSignal work across nodes; a function argument gets a ParameterError naming the limit', async () => {
    const [a, c] = await nodes(2, 'node', links)
    await page(c!, 'pc')
    const id = [...c!.connections][0]!.id
    const handle = a!.connection(id)
    const timedOut = await handle.with({ timeout: 100 }).remote.slow(1000).then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(timedOut?.code).toBe('WIRECALL_TIMEOUT')
    const ac = new AbortController()
    const aborted = handle.with({ signal: ac.signal }).remote.slow(1000)
    ac.abort()
    await expect(aborted).rejects.toMatchObject({ code: 'WIRECALL_ABORTED' })
    const err = await (handle.remote.hello as unknown as (f: () => void) => Promise<string>)(() => {}).then(() => undefined, (e: unknown) => e as Error)
    expect(err).toBeInstanceOf(ParameterError)
    expect(err?.message).toMatch(/data only/)
  })

  test('a stream or a function returned by a page on another node is refused with a ParameterError (data only), and given back at once', async () => {
    const [a, c] = await nodes(2, 'node', links)
    const pc = await page(c!, 'pc')
    const id = [...c!.connections][0]!.id
    const err = await a!.connection(id).remote.numbers().then(() => undefined, (e: unknown) => e as Error)
    expect(err).toBeInstanceOf(ParameterError)
    expect(err?.message).toMatch(/cannot cross to another node.*data only/)
    // The stream node C received from the page is not kept open: the page's producer ends and
    // neither side holds the stream (no credit was ever granted, so the page never ran it far).
    await until(() => pc.streamsEnded.count === 1 || pc.session.stats().outgoingStreams === 0, 'the page to let go of the stream')
    await until(() => [...c!.connections][0]!.stats().incomingStreams === 0, 'node C to let go of the stream')
    expect(pc.session.stats().outgoingStreams).toBe(0)
    // A result holding a function: refused too, and node C releases its proxy at once.
    const refused = await a!.connection(id).remote.greeter().then(() => undefined, (e: unknown) => e as Error)
    expect(refused).toBeInstanceOf(ParameterError)
    await until(() => pc.session.stats().exportedRefs === 0 && [...c!.connections][0]!.stats().importedRefs === 0, 'the function to be released')
  })

  test('10,000 cross-node calls: none lost, none duplicated, none wrong', async () => {
    const [a, c] = await nodes(2, 'node', links)
    await page(c!, 'pc')
    const id = [...c!.connections][0]!.id
    const remote = a!.connection(id).remote
    const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => remote.hello(String(i))))
    expect(results.every((r, i) => r === `pc greets ${i}`)).toBe(true)
    expect(new Set(results).size).toBe(10_000)
  })
})

describe('services that nodes offer each other', () => {
  test('a given node, any node offering the method (round robin), errors as themselves, never reachable from pages', async () => {
    const prefix = `svc-${Date.now()}`
    const node = async (nodeId: string, offer: boolean) => {
      const server = await serve<Page>({
        service: api, port: 0, logger: quiet,
        cluster: redisCluster({
          url: redis().url, prefix, nodeId, heartbeatMs: 200, nodeTtlMs: 600, logger: quiet,
          ...(offer ? {
            nodeService: service({
              whoami: () => nodeId,
              fail: () => {
                throw new RangeError(`${nodeId} refuses`)
              },
            }),
          } : {}),
        }),
      })
      open.push(server)
      return server
    }
    const a = await node('svc0', false)
    await node('svc1', true)
    await node('svc2', true)
    type NodeApi = { whoami(): string; fail(): never; missing(): void }
    expect(await a.node<NodeApi>('svc2').remote.whoami()).toBe('svc2')
    const anyNode = a.node<NodeApi>().remote
    const seen = [await anyNode.whoami(), await anyNode.whoami(), await anyNode.whoami(), await anyNode.whoami()]
    expect(new Set(seen)).toEqual(new Set(['svc1', 'svc2']))
    const err = await a.node<NodeApi>('svc1').remote.fail().then(() => undefined, (e: unknown) => e as Error)
    expect(err).toBeInstanceOf(RangeError)
    expect(err?.message).toBe('svc1 refuses')
    await expect(anyNode.missing()).rejects.toBeInstanceOf(ConnectionClosedError)
    await expect(a.node<NodeApi>('svc0').remote.whoami()).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND })
    await expect(a.node<NodeApi>('gone').remote.whoami()).rejects.toBeInstanceOf(ConnectionClosedError)
    // A page of svc1 reaches only the page-facing service.
    const client = await connect(`ws://127.0.0.1:${a.port}`)
    open.push(client)
    await expect(client.call('whoami', [])).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND })
  })
})

describe('hostile traffic on the cluster channels', () => {
  test('garbage published on a node inbox, a topic channel and the all channel is logged and dropped; the node goes on', async () => {
    const [a, b] = await nodes(2)
    const pa = await page(a!, 'pa')
    await page(b!, 'pb')
    const idA = [...a!.connections][0]!.id
    await settle()
    const prefix = prefixes.get('node')!
    const garbage = ['', 'x', '\u0000', '\u0091\u00c1', 'node1\u0000\u00ff\u00ff', '\u0093\u0001\u00a1x']
    for (const g of garbage) {
      await rawCommands(redis().port, [
        ['PUBLISH', `${prefix}:n:node0`, g], ['PUBLISH', `${prefix}:t:news`, g], ['PUBLISH', `${prefix}:all`, g],
      ])
    }
    // A well-formed call for a connection that is not there, and one whose arguments are not a list.
    await settle()
    expect(await b!.connection(idA).remote.hello('B')).toBe('pa greets B')
    b!.topic('news').notify.tick(3)
    await until(() => pa.ticks.includes(3), 'the node still delivers')
  })
})

describe('Redis goes away and comes back', () => {
  test('local calls and topics go on; cluster operations fail fast; after the restart presence, calls and topics work again, nothing twice', async () => {
    const [a, b] = await nodes(2)
    const pa = await page(a!, 'pa')
    const pb = await page(b!, 'pb')
    const idB = [...b!.connections][0]!.id
    await settle()
    expect(await a!.connection(idB).remote.hello('A')).toBe('pb greets A')

    await redis().stop()
    // Local: the page's calls to its own server, and a topic's local members.
    expect(await pa.session.call('add', [2, 3])).toBe(5)
    a!.topic('news').notify.tick(1)
    await until(() => pa.ticks.length === 1, 'the local member got the tick')
    // Cluster: fail fast, no hang.
    const started = Date.now()
    await until(async () => (await a!.connection(idB).with({ timeout: 500 }).remote.hello('A').then(() => 'ok', (e: unknown) => e)) instanceof ConnectionClosedError, 'a fast failure')
    await expect(a!.presence()).rejects.toBeInstanceOf(ConnectionClosedError)
    expect(Date.now() - started).toBeLessThan(2000)
    // A node's first member of a topic joins while Redis is away: its subscription is made when Redis is back.
    for (const conn of b!.connections) conn.leave('news')
    for (const conn of b!.connections) conn.join('late')

    await redis().restart()
    // The nodes reconnect (capped backoff) and announce themselves and their connections again.
    await until(async () => (await a!.presence().catch(() => [])).length === 2, 'presence rebuilt', 8000)
    // Both of a node's Redis connections come back on their own backoff: wait for the subscriber too.
    await until(async () => (await a!.connection(idB).with({ timeout: 500 }).remote.hello('again').catch(() => '')) === 'pb greets again', 'cross-node calls again', 8000)
    a!.topic('news').notify.tick(2)
    await until(() => pa.ticks.includes(2), 'the local member', 3000)
    await until(async () => {
      a!.topic('late').notify.tick(3)
      await new Promise((r) => setTimeout(r, 50))
      return pb.ticks.includes(3)
    }, 'the topic joined during the outage reaches the other node', 5000)
    await settle()
    expect(pa.ticks).toEqual([1, 2])
    expect(pb.ticks.filter((t) => t !== 3)).toEqual([])
  }, 30_000)
})

/** A cluster node in a child process with one page (child-node.ts). */
function startChildNode(prefixName: string, nodeId: string): Promise<ChildNode> {
  return startChild(redis().url, prefixes.get(prefixName)!, nodeId, (closer) => open.push(closer))
}
