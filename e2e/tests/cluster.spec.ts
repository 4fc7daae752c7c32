/**
 * The dashboard as a cluster: two demo server processes joined over a real
 * redis-server (`@wirecall/redis`), one tab on each. The tabs see each other
 * in the client list, labelled with their nodes, and ping each other across
 * nodes (page -> its server -> Redis -> the other node -> the other page and
 * back). Also: `npm run demo:cluster`'s launcher starts and stops everything.
 */
import { test as base, expect, type Browser, type BrowserContext, type Page } from '@playwright/test'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DemoServer } from '../support/demo-server.js'
import { startRedisServer as startRedis, type RedisServerProcess as RedisServer } from '@wirecall/redis/testing'

const CLUSTER_JS = fileURLToPath(new URL('../../demo/server-dist/cluster.js', import.meta.url))

interface Cluster {
  redis: RedisServer
  node1: DemoServer
  node2: DemoServer
}

const test = base.extend<{ pageErrors: string[]; cluster: Cluster }>({
  // eslint-disable-next-line no-empty-pattern
  pageErrors: async ({}, use) => {
    const errors: string[] = []
    await use(errors)
    expect(errors, 'uncaught errors in the pages').toEqual([])
  },
  // eslint-disable-next-line no-empty-pattern
  cluster: async ({}, use, testInfo) => {
    const redis = await startRedis()
    const started: DemoServer[] = []
    try {
      const env = (node: string) => ({ REDIS_URL: redis.url, NODE_ID: node })
      started.push(await DemoServer.start(0, env('node1')))
      started.push(await DemoServer.start(0, env('node2')))
      await use({ redis, node1: started[0]!, node2: started[1]! })
    } finally {
      await Promise.all(started.map((s) => s.stop()))
      await redis.stop()
      if (testInfo.status !== testInfo.expectedStatus) {
        for (const [i, s] of started.entries()) await testInfo.attach(`node${i + 1}.log`, { body: s.output(), contentType: 'text/plain' })
        await testInfo.attach('redis.log', { body: redis.output(), contentType: 'text/plain' })
      }
    }
  },
})

async function open(browser: Browser, url: string, name: string, errors: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.on('pageerror', (err) => errors.push(`${name}: ${err.name}: ${err.message}`))
  await page.goto(`${url}?name=${encodeURIComponent(name)}`)
  await expect(page.getByTestId('conn-state')).toHaveAttribute('data-state', 'open')
  return { context, page }
}

const item = (page: Page, name: string) => page.getByTestId('client-item').filter({ has: page.getByTestId('client-name').getByText(name, { exact: true }) })

test.describe('dashboard cluster (two nodes over Redis)', () => {
  test('tabs on two nodes see each other, labelled with their nodes, and ping each other', async ({ browser, cluster, pageErrors }) => {
    const alice = await open(browser, cluster.node1.url, 'alice', pageErrors)
    const bob = await open(browser, cluster.node2.url, 'bob', pageErrors)
    const contexts = [alice.context, bob.context]
    try {
      await expect(alice.page.getByTestId('my-node')).toHaveText('on node node1')
      await expect(bob.page.getByTestId('my-node')).toHaveText('on node node2')
      // Both lists are the whole cluster's, oldest first, each entry labelled with its node.
      for (const { page } of [alice, bob]) {
        await expect(page.getByTestId('client-name')).toHaveText(['alice', 'bob'])
        await expect(page.getByTestId('client-node')).toHaveText(['node1', 'node2'])
        await expect(page.getByTestId('client-count')).toHaveText('2')
      }
      await expect(alice.page.locator('[data-me="true"]').getByTestId('client-name')).toHaveText('alice')
      await expect(bob.page.locator('[data-me="true"]').getByTestId('client-name')).toHaveText('bob')

      // Alice (node1) pings Bob (node2): node1 calls bob's page through Redis.
      const bobInAlice = item(alice.page, 'bob')
      await bobInAlice.getByTestId('client-ping').click()
      const result = bobInAlice.getByTestId('client-ping-result')
      await expect(result).toHaveAttribute('data-kind', 'result')
      await expect(result).toHaveText(/^pong from bob · [\d.,]+ ms$/)
      await expect(result).toHaveAttribute('title', /server ⇄ that page \(node node2\): [\d.]+ ms/)

      // And the other way round.
      const aliceInBob = item(bob.page, 'alice')
      await aliceInBob.getByTestId('client-ping').click()
      await expect(aliceInBob.getByTestId('client-ping-result')).toHaveText(/^pong from alice · [\d.,]+ ms$/)

      // A third tab on node2 joins: node1's page hears of it.
      const carol = await open(browser, cluster.node2.url, 'carol', pageErrors)
      contexts.push(carol.context)
      await expect(alice.page.getByTestId('client-name')).toHaveText(['alice', 'bob', 'carol'])
      await expect(alice.page.getByTestId('client-node')).toHaveText(['node1', 'node2', 'node2'])

      // Bob and Carol leave (node2 is left without pages): Alice's list shrinks without a reload.
      await bob.context.close()
      await expect(alice.page.getByTestId('client-name')).toHaveText(['alice', 'carol'])
      await carol.context.close()
      await expect(alice.page.getByTestId('client-name')).toHaveText(['alice'])
      await expect(alice.page.getByTestId('client-count')).toHaveText('1')
    } finally {
      await Promise.all(contexts.map((c) => c.close().catch(() => {})))
    }
  })

  test('without a cluster (npm run demo) ping works too and no node labels show', async ({ browser, pageErrors }) => {
    const demo = await DemoServer.start()
    const contexts: BrowserContext[] = []
    try {
      const a = await open(browser, demo.url, 'solo-a', pageErrors)
      const b = await open(browser, demo.url, 'solo-b', pageErrors)
      contexts.push(a.context, b.context)
      await expect(a.page.getByTestId('client-name')).toHaveText(['solo-a', 'solo-b'])
      await expect(a.page.getByTestId('client-node')).toHaveCount(0)
      await expect(a.page.getByTestId('my-node')).toHaveText('')
      const other = item(a.page, 'solo-b')
      await other.getByTestId('client-ping').click()
      await expect(other.getByTestId('client-ping-result')).toHaveText(/^pong from solo-b · [\d.,]+ ms$/)
    } finally {
      await Promise.all(contexts.map((c) => c.close().catch(() => {})))
      await demo.stop()
    }
  })

  test('the demo:cluster launcher starts Redis and two nodes, and stops them all on SIGINT', async ({ browser, pageErrors }) => {
    // PORT=0: both nodes on free ports; no REDIS_URL: the launcher starts its own redis-server.
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
    delete env.REDIS_URL
    delete env.PORT_FROM
    const launcher = spawn(process.execPath, [CLUSTER_JS], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    launcher.stdout.on('data', (c: Buffer) => (output += c.toString()))
    launcher.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const exited = new Promise<number | null>((r) => launcher.once('exit', (code) => r(code)))
    const contexts: BrowserContext[] = []
    try {
      await expect.poll(() => /open a tab on each node/.test(output), { timeout: 20_000, message: output }).toBe(true)
      const url = (node: string) => new RegExp(`\\[cluster\\]\\s+${node}: (http://127\\.0\\.0\\.1:\\d+/)`).exec(output)?.[1]
      const urls = [url('node1'), url('node2')]
      expect(urls[0] && urls[1] && urls[0] !== urls[1], output).toBeTruthy()
      // Every process the launcher started, by pid: redis-server and both node servers.
      const pids = [...new Set([...output.matchAll(/\bpid (\d+)/g)].map((m) => Number(m[1])))]
      expect(pids, output).toHaveLength(3)

      const a = await open(browser, urls[0]!, 'dora', pageErrors)
      const b = await open(browser, urls[1]!, 'emil', pageErrors)
      contexts.push(a.context, b.context)
      await expect(a.page.getByTestId('client-node')).toHaveText(['node1', 'node2'])
      await expect(b.page.getByTestId('client-name')).toHaveText(['dora', 'emil'])
      await Promise.all(contexts.map((c) => c.close()))

      launcher.kill('SIGINT')
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))])
      expect(code, output).toBe(0)
      expect(output).toContain('[cluster] stopped')
      for (const pid of pids) expect(alive(pid), `pid ${pid} is still running\n${output}`).toBe(false)
    } finally {
      await Promise.all(contexts.map((c) => c.close().catch(() => {})))
      if (launcher.exitCode === null && launcher.signalCode === null) {
        launcher.kill('SIGKILL') // its children die with it (setpriv --pdeathsig)
        await exited
      }
    }
  })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
