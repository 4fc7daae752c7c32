/**
 * Node links (`redisCluster({ links: true })`): only nodes of the cluster
 * can open one. A handshake without the cluster's secret, or with a wrong
 * one, is refused before anything runs; pages never see the link methods.
 */
import { afterEach, expect, test } from 'vitest'
import { ConnectionClosedError, ErrorCode, service } from '@wirecall/core'
import { connect, serve, type WirecallServer } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { useRedis } from './redis-server.js'
import { createClient } from '@redis/client'

const redis = useRedis()
const quiet = { warn() {}, error() {} }
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {})
})

/** What the node announced in Redis: its link URL. */
async function linkUrl(prefix: string, node: string): Promise<string> {
  const client = createClient({ url: redis().url })
  await client.connect()
  try {
    const reply = await client.get(`${prefix}:node:{${node}}`)
    const url = reply ? (JSON.parse(reply) as { link?: string }).link : undefined
    if (!url) throw new Error(`no link URL in ${reply}`)
    return url
  } finally {
    await client.close()
  }
}

test('a link is refused without the secret or with a wrong one; a node of the cluster uses it; pages never see it', async () => {
  const prefix = `links-${Date.now()}`
  const server: WirecallServer<{ hi(): string }> = await serve({
    port: 0, service: service({ ping: () => 'pong' }), logger: quiet,
    cluster: redisCluster({ url: redis().url, prefix, nodeId: 'l0', logger: quiet, links: true, nodeService: service({ whoami: () => 'l0' }) }),
  })
  open.push(server)
  const url = await linkUrl(prefix, 'l0')
  expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)

  await expect(connect(url)).rejects.toBeInstanceOf(ConnectionClosedError)
  await expect(connect(url, { headers: { 'x-wirecall-cluster': 'guess', 'x-wirecall-node': 'evil' } })).rejects.toThrow(/401/)

  // Another node of the cluster calls l0's node service over the link.
  const other = await serve({ port: 0, service: service({}), logger: quiet, cluster: redisCluster({ url: redis().url, prefix, nodeId: 'l1', logger: quiet, links: true }) })
  open.push(other)
  expect(await other.node<{ whoami(): string }>('l0').remote.whoami()).toBe('l0')

  // The page-facing server knows nothing of the link methods.
  const page = await connect(`ws://127.0.0.1:${server.port}`)
  open.push(page)
  await expect(page.call('page', ['x', 'hi', [], 1000])).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND })
  await expect(page.call('node', ['whoami', [], 1000])).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND })
})
