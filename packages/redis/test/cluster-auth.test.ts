/**
 * A Redis that requires a password: the URL with the password joins the
 * cluster; a node without it fails to start with a clear error instead of
 * hanging, and leaves nothing running.
 */
import { afterEach, expect, test } from 'vitest'
import { service } from '@wirecall/core'
import { serve, type WirecallServer } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { useRedis } from './redis-server.js'

const redis = useRedis({ password: 's3cret/pass' })
const quiet = { warn() {}, error() {} }
const open: WirecallServer[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
})

test('a password in the URL (percent-encoded) joins the cluster; presence works', async () => {
  expect(redis().url).toContain('@')
  const a = await serve({ port: 0, service: service({}), logger: quiet, cluster: redisCluster({ url: redis().url, nodeId: 'auth0', logger: quiet }) })
  open.push(a)
  expect(await a.presence()).toEqual([])
})

test('without the password, serve() rejects with the Redis error instead of hanging', async () => {
  const url = redis().url.replace(/\/\/[^@]*@/, '//')
  const started = Date.now()
  const attempt = serve({ port: 0, service: service({}), logger: quiet, cluster: redisCluster({ url, nodeId: 'auth1', logger: quiet }) })
  await expect(attempt).rejects.toThrow(/NOAUTH|auth/i)
  expect(Date.now() - started).toBeLessThan(5000)
})
