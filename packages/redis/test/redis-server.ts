/**
 * A real redis-server for tests: `startRedisServer` from the package's
 * `testing` entry (src/testing.ts, shared with the e2e suite, the demo and
 * the benchmark), plus `useRedis()`, one server per test file.
 */
import { afterAll, beforeAll } from 'vitest'
import { startRedisServer, type RedisServerOptions, type RedisServerProcess } from '../src/testing.js'

export { rawCommands, rawPing, respCommand, REDIS_SERVER } from '../src/testing.js'
export type { RedisServerOptions } from '../src/testing.js'
export type RedisServer = RedisServerProcess

/** How long beforeAll may take to start the server, and afterAll to stop it. */
const START_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 4_000

/** Starts a redis-server for tests; see {@link RedisServerProcess}. */
export function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  return startRedisServer(options)
}

/**
 * One redis-server per test file: started in beforeAll, stopped in afterAll.
 * Call at the top level of a test file; the accessor works inside tests and hooks.
 */
export function useRedis(options?: RedisServerOptions): () => RedisServer {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await startRedis(options)
  }, START_TIMEOUT_MS)
  afterAll(async () => {
    await server?.stop()
  }, STOP_TIMEOUT_MS)
  return () => {
    if (!server) throw new Error('useRedis(): the server is not started (use the accessor inside tests or hooks)')
    return server
  }
}
