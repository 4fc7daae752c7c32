/**
 * A Redis reached over TLS (`rediss://` with the CA that signed its
 * certificate): two nodes join, presence works and a call crosses. The
 * certificate is made here with openssl (a throwaway CA and a server
 * certificate for 127.0.0.1).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest'
import { service } from '@wirecall/core'
import { connect, serve } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { startRedis, type RedisServer } from './redis-server.js'

const dir = mkdtempSync(join(tmpdir(), 'wirecall-tls-'))
const file = (name: string) => join(dir, name)
let redis: RedisServer
const quiet = { warn() {}, error() {} }
const open: { close(): Promise<void> }[] = []

beforeAll(async () => {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' })
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=wirecall test CA', '-keyout', file('ca.key'), '-out', file('ca.crt'))
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('redis.key'), '-out', file('redis.csr'))
  writeExtensions()
  openssl('x509', '-req', '-in', file('redis.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('ext.cnf'), '-out', file('redis.crt'))
  redis = await startRedis({ tls: { certFile: file('redis.crt'), keyFile: file('redis.key'), caFile: file('ca.crt') } })
}, 30_000)
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {})
})
afterAll(async () => {
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The server certificate names 127.0.0.1 (TLS clients check the IP against subjectAltName). */
function writeExtensions(): void {
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > '${file('ext.cnf')}'`])
}

test('rediss:// with the CA: nodes join, presence lists them, a call crosses; without the CA the node refuses to start', async () => {
  const ca = readFileSync(file('ca.crt'))
  const prefix = `tls-${Date.now()}`
  const node = (nodeId: string) => serve<{ hi(): string }>({
    port: 0, service: service({}), logger: quiet,
    cluster: redisCluster({ url: redis.tlsUrl!, prefix, nodeId, logger: quiet, redis: { socket: { tls: true, ca } } }),
  })
  const a = await node('tls0')
  open.push(a)
  const b = await node('tls1')
  open.push(b)
  const page = await connect(`ws://127.0.0.1:${b.port}`, { service: service({ hi: () => 'over tls' }) })
  open.push(page)
  while (b.connections.size === 0) await new Promise((r) => setTimeout(r, 5))
  const id = [...b.connections][0]!.id
  expect((await a.presence()).map((e) => e.id)).toEqual([id])
  expect(await a.connection(id).remote.hi()).toBe('over tls')

  // Without the CA the certificate does not verify: serve() rejects with the reason.
  await expect(serve({
    port: 0, service: service({}), logger: quiet,
    cluster: redisCluster({ url: redis.tlsUrl!, prefix, nodeId: 'tls2', logger: quiet, redis: { socket: { tls: true } } }),
  })).rejects.toThrow(/certificate|self.signed|verify/i)
})
