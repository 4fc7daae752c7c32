/**
 * wirecall live dashboard as a cluster: `npm run demo:cluster`.
 *
 * Starts two demo servers (server.ts) in two processes, joined into one
 * cluster over Redis by `@wirecall/redis`, and prints both URLs: open a tab
 * on each and they see each other in the client list, each entry labelled with
 * its node, and can ping each other through the cluster.
 *
 *   node server-dist/cluster.js                              own redis-server on a free port; nodes on 5173 and the next free port
 *   REDIS_URL=redis://127.0.0.1:6379 node server-dist/cluster.js   that Redis if it answers (nodes then get a random
 *                                                            suffix, node1-x7k2: ids must be unique in a cluster); if not (and it is local), start one there
 *   PORT=8080 node server-dist/cluster.js                    nodes on exactly 8080 and 8081 (PORT=0: any free ports)
 *
 * A redis-server started here runs without persistence in a temp dir and is
 * stopped on exit and on Ctrl-C, after both nodes have stopped. Children die
 * with this process (setpriv --pdeathsig) even if it is killed outright.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { REDIS_SERVER, rawPing, redisServerInstalled, startRedisServer, type RedisServerProcess } from '@wirecall/redis/testing'

const HOST = '127.0.0.1'
const SETPRIV = '/usr/bin/setpriv'
const SERVER_JS = fileURLToPath(new URL('./server.js', import.meta.url))
const NODE_NAMES = ['node1', 'node2'] as const
const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000

const children = new Set<ChildProcess>()
let stopping = false
let redis: { url: string; server?: RedisServerProcess } | undefined

function say(line: string): void {
  console.log(`[cluster] ${line}`)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Spawn in its own process group (Ctrl-C in the terminal reaches only this
 * launcher, which then stops the nodes before Redis), and with
 * `--pdeathsig` so the child goes when this process dies without cleaning up.
 */
function launch(command: string, args: string[], env: NodeJS.ProcessEnv, deathSignal: 'TERM' | 'KILL'): ChildProcess {
  const [file, argv] = executable(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', deathSignal, '--', command, ...args]]
    : [command, args]
  const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Print a child's output line by line under a label. */
function relay(child: ChildProcess, label: string, onLine?: (line: string) => void): void {
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    let rest = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        out.write(`[${label}] ${line}\n`)
        onLine?.(line)
      }
    })
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill(signal)
  if (await Promise.race([exited.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)])) {
    child.kill('SIGKILL')
    await Promise.race([exited, sleep(STOP_TIMEOUT_MS)])
  }
}

// ---------------------------------------------------------------- Redis

/** The first reply line of PING (after AUTH when there is a password), or undefined when nothing answers. */
function redisPing(host: string, port: number, password: string | undefined, timeoutMs = 1000): Promise<string | undefined> {
  return rawPing(port, password, timeoutMs, host).catch(() => undefined)
}

/**
 * A redis-server of our own on `port` (`@wirecall/redis/testing`, the same
 * starter as the tests use): no persistence, temp dir, never daemonized, in its
 * own process group (Ctrl-C reaches only this launcher, which stops it after
 * the nodes), and SIGKILLed if this process dies. Resolves once it answers PING.
 */
async function startRedis(port: number | undefined, password: string | undefined): Promise<RedisServerProcess> {
  if (!redisServerInstalled()) {
    throw new Error(
      `${REDIS_SERVER} is missing: install it (apt-get install -y redis-server), or point REDIS_URL at a running Redis.`,
    )
  }
  return startRedisServer({ ...(port === undefined ? {} : { port }), ...(password === undefined ? {} : { password }), detached: true })
}

/** The Redis to use: REDIS_URL when something answers there, else one started here. */
async function ensureRedis(): Promise<{ url: string; server?: RedisServerProcess }> {
  const given = process.env.REDIS_URL
  if (!given) {
    // Any free port (another one is tried when someone takes it between the probe and redis-server's bind).
    const server = await startRedis(undefined, undefined)
    return { url: server.url, server }
  }
  const url = new URL(given)
  const host = url.hostname.replace(/^\[|\]$/g, '') || HOST
  const port = Number(url.port || 6379)
  const password = url.password ? decodeURIComponent(url.password) : undefined
  const reply = await redisPing(host, port, password)
  if (reply !== undefined) {
    if (reply !== '+PONG') say(`warning: ${redactUrl(given)} answered PING with ${reply}`)
    say(`using the Redis already running at ${redactUrl(given)}`)
    return { url: given }
  }
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) || url.protocol !== 'redis:' || (url.pathname && url.pathname !== '/' && url.pathname !== '/0')) {
    throw new Error(`nothing answers at ${redactUrl(given)}, and it is not a plain local Redis this script can start`)
  }
  say(`nothing answers at ${redactUrl(given)}: starting redis-server on ${HOST}:${port}`)
  const server = await startRedis(port, password)
  return { url: given, server }
}

function redactUrl(raw: string): string {
  try {
    const u = new URL(raw)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable URL)'
  }
}

// ---------------------------------------------------------------- nodes

/** Start one demo server as node `nodeId`; resolves with its port once it prints its banner. */
function startNode(nodeId: string, redisUrl: string, portEnv: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redisUrl, NODE_ID: nodeId, ...portEnv }
  if (!('PORT' in portEnv)) delete env.PORT
  const child = launch(process.execPath, [SERVER_JS], env, 'TERM')
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${nodeId} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
    const onExit = (code: number | null, signal: string | null) => fail(new Error(`${nodeId} exited during start (code ${code}, signal ${signal})`))
    const fail = (err: Error) => {
      clearTimeout(timer)
      child.off('exit', onExit)
      void stopChild(child, 'SIGKILL')
      reject(err)
    }
    child.once('exit', onExit)
    relay(child, nodeId, (line) => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(line)
      if (!m) return
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve({ child, port: Number(m[1]) })
    })
  })
}

async function shutdown(code: number, why: string): Promise<never> {
  if (!stopping) {
    stopping = true
    say(`${why}: stopping the nodes${redis?.server ? ', then Redis' : ''}`)
    await Promise.all([...children].map((c) => stopChild(c, 'SIGTERM')))
    await redis?.server?.stop()
    say('stopped')
  }
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0, 'SIGINT'))
process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'))
process.on('SIGHUP', () => void shutdown(0, 'SIGHUP'))
// Last resort (an exception on the way out): no child outlives the launcher.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

try {
  redis = await ensureRedis()
  if (redis.server) {
    const child = redis.server.child
    say(`started redis-server at ${redis.url} (pid ${child.pid}, no persistence; stopped on exit)`)
    relay(child, 'redis')
    child.once('exit', (code, signal) => {
      if (!stopping) void shutdown(1, `redis-server exited (code ${code}, signal ${signal})`)
    })
  }

  const explicit = process.env.PORT !== undefined && process.env.PORT !== ''
  const base = explicit ? Number(process.env.PORT) : Number(process.env.PORT_FROM || 5173)
  if (!Number.isInteger(base) || base < 0 || base > 65534) throw new Error(`PORT must be 0..65534, got ${process.env.PORT ?? process.env.PORT_FROM}`)
  // On a Redis of our own the nodes are node1 and node2. A shared Redis may hold other demo
  // nodes (another demo:cluster): node ids must be unique in a cluster, so add a random tag.
  const tag = redis.server ? '' : `-${Math.random().toString(36).slice(2, 6)}`
  const NODES = NODE_NAMES.map((n) => `${n}${tag}`)
  const urls: string[] = []
  let next = base
  for (const nodeId of NODES) {
    // PORT: exactly PORT and PORT+1 (0: any). Otherwise the demo's own fallback, the second node after the first.
    const portEnv: Record<string, string> = explicit ? { PORT: String(base === 0 ? 0 : next) } : { PORT_FROM: String(next) }
    const { child, port } = await startNode(nodeId, redis.url, portEnv)
    child.once('exit', (code, signal) => {
      if (!stopping) void shutdown(1, `${nodeId} exited (code ${code}, signal ${signal})`)
    })
    urls.push(`http://${HOST}:${port}/`)
    next = explicit ? next + 1 : port + 1
  }

  console.log('')
  say(`wirecall demo cluster: ${NODES.length} nodes over ${redactUrl(redis.url)}${redis.server ? ' (started here)' : ''}`)
  NODES.forEach((nodeId, i) => say(`  ${nodeId}: ${urls[i]}`))
  say('open a tab on each node; Ctrl-C stops everything')
  console.log('')
} catch (err) {
  console.error(`[cluster] ${err instanceof Error ? err.message : String(err)}`)
  await shutdown(1, 'start failed')
}
