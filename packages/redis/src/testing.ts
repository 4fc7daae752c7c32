/**
 * `@wirecall/redis/testing`: throwaway redis-server processes for tests,
 * demos and benchmarks. Not part of the main entry (`@wirecall/redis` never
 * imports it) and it needs nothing but Node's own modules.
 *
 * Debian's `/usr/bin/redis-server` (or `REDIS_SERVER`) runs as a child
 * process on 127.0.0.1, without persistence, in its own temp dir, never
 * daemonized. It is killed when this process exits, and (through
 * `setpriv --pdeathsig KILL`, when present) when this process dies any other
 * way. Readiness is a raw RESP `PING` over node:net.
 *
 * `startRedisCluster()` starts a Redis Cluster of such processes (cluster mode,
 * every master on its own ephemeral port and bus port) and creates it with
 * `redis-cli --cluster create`.
 *
 * @module
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The redis-server binary: `REDIS_SERVER` from the environment, else Debian's. */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
/** The redis-cli binary (for `startRedisCluster`): `REDIS_CLI`, else Debian's (package redis-tools). */
export const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli'
const SETPRIV = '/usr/bin/setpriv'
const HOST = '127.0.0.1'
/** How long a fresh redis-server may take to answer PING. */
const READY_TIMEOUT_MS = 10_000
/** How long stop() waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2_000
/** Tries with a new ephemeral port when another process took the one picked. */
const PORT_ATTEMPTS = 5
/** Keep this much of redis-server's output for error messages. */
const OUTPUT_LIMIT = 8_192
/** How long a new Redis Cluster may take to agree on its slots (`cluster_state:ok` on every node). */
const CLUSTER_READY_TIMEOUT_MS = 20_000

/** How to start a redis-server. */
export interface RedisServerOptions {
  /** Listen on this port of 127.0.0.1. @default an ephemeral port (another one is tried when it was taken meanwhile) */
  readonly port?: number
  /** Started with `--requirepass`; clients must AUTH. Also part of `url`. */
  readonly password?: string
  /** Also listen with TLS on a second port (`tlsUrl`), with this certificate (PEM files); clients need not present one. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string }
  /** More command-line arguments for redis-server (e.g. `['--client-output-buffer-limit', 'pubsub 0 0 0']`). */
  readonly args?: readonly string[]
  /** In its own process group, so that a Ctrl-C in the terminal reaches only this process (which can stop it last). @default false */
  readonly detached?: boolean
}

/** A running redis-server started by `startRedisServer`. */
export interface RedisServerProcess {
  /** `redis://[:password@]127.0.0.1:port` */
  readonly url: string
  /** `rediss://127.0.0.1:tlsPort`, when started with `tls`. */
  readonly tlsUrl?: string
  readonly port: number
  /** The current process (a new one after `restart()`). */
  readonly child: ChildProcess
  /** The end of what redis-server printed (for failure reports). */
  output(): string
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>
  /** stop(), then start again on the same port (Redis going away and coming back). Data is not kept. */
  restart(): Promise<void>
  /** SIGKILL at once, like a crash. Use stop() or restart() afterwards to wait for the exit. */
  kill(): void
}

/** Processes still running, killed on exit of this process. */
const live = new Map<ChildProcess, string>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const [child, dir] of live) {
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
    live.clear()
  })
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Whether `REDIS_SERVER` is there to start. */
export function redisServerInstalled(): boolean {
  return executable(REDIS_SERVER)
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('could not read an ephemeral port'))))
    })
  })
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** RESP array of bulk strings. */
export function respCommand(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`
}

/**
 * Sends `commands` on one fresh TCP connection to `host:port` and resolves
 * with the first line of each reply (`+PONG`, `-NOAUTH ...`, `$12` for a
 * bulk string). Rejects on connection errors or when the replies do not
 * arrive within `timeoutMs`.
 */
export function rawCommands(port: number, commands: string[][], timeoutMs = 1_000, host = HOST): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port })
    let buffered = ''
    const timer = setTimeout(() => finish(new Error(`no reply from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs)
    function finish(error: Error | null, lines?: string[]) {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(lines ?? [])
    }
    socket.setEncoding('utf8')
    socket.on('error', (error) => finish(error))
    socket.once('connect', () => socket.write(commands.map((c) => respCommand(...c)).join('')))
    socket.on('data', (chunk: string) => {
      buffered += chunk
      const lines = buffered.split('\r\n').slice(0, -1)
      // Simple replies (+OK, +PONG, -ERR...) are one line each.
      if (lines.length >= commands.length) finish(null, lines.slice(0, commands.length))
    })
    socket.once('close', () => finish(new Error(`${host}:${port} closed the connection; got ${JSON.stringify(buffered)}`)))
  })
}

/** `+PONG` from a raw PING (after AUTH when a password is given), or the error reply; rejects when nothing answers. */
export async function rawPing(port: number, password?: string, timeoutMs?: number, host = HOST): Promise<string> {
  const commands = password === undefined ? [['PING']] : [['AUTH', password], ['PING']]
  const lines = await rawCommands(port, commands, timeoutMs, host)
  const auth = password === undefined ? undefined : lines[0]
  if (auth !== undefined && auth !== '+OK') return auth
  return lines[lines.length - 1] ?? ''
}

class BindError extends Error {}

interface Running {
  child: ChildProcess
  exited: Promise<void>
  hasExited: () => boolean
  output: () => string
}

/** Spawns redis-server on `port` and waits until it answers PING; throws BindError when the port was taken. */
async function launch(port: number, options: RedisServerOptions, tlsPort: number | undefined): Promise<Running> {
  const { password, tls } = options
  const dir = mkdtempSync(join(tmpdir(), 'wirecall-redis-'))
  const args = [
    '--port', String(port), '--bind', HOST,
    '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--logfile', '',
    ...(password === undefined ? [] : ['--requirepass', password]),
    ...(tls && tlsPort ? [
      '--tls-port', String(tlsPort), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
      '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no',
    ] : []),
    ...(options.args ?? []),
  ]
  const spawnOptions = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false }
  // setpriv execs redis-server in place (same pid) with "SIGKILL me when my parent dies".
  const child = executable(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', REDIS_SERVER, ...args], spawnOptions)
    : spawn(REDIS_SERVER, args, spawnOptions)
  live.set(child, dir)
  installExitHook()
  // A forgotten stop() must not keep this process alive; the exit hook kills the server then.
  child.unref()

  let output = ''
  const keep = (chunk: Buffer | string) => {
    output = (output + chunk.toString()).slice(-OUTPUT_LIMIT)
  }
  // Both pipes are net.Sockets, which unref() so they do not keep this process alive either.
  for (const stream of [child.stdout, child.stderr] as (Socket | null)[]) {
    stream?.on('data', keep)
    stream?.unref()
  }
  let exitedFlag = false
  let exitDescription = ''
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true
      exitDescription = signal ? `signal ${signal}` : `code ${code}`
      live.delete(child)
      rmSync(dir, { recursive: true, force: true })
      resolve()
    })
  })
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()))
  let spawnError: Error | undefined
  child.once('error', (error) => {
    spawnError = error
  })
  const running: Running = { child, exited, hasExited: () => exitedFlag, output: () => output }

  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (spawnError) {
      child.kill('SIGKILL')
      live.delete(child)
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`could not spawn ${REDIS_SERVER}: ${spawnError.message}`)
    }
    if (exitedFlag) {
      // redis-server logs to stdout with --logfile ''; both streams are in `output`.
      await Promise.race([closed, sleep(200)]) // the rest of its output
      const message = `redis-server on ${HOST}:${port} exited (${exitDescription}) before accepting connections. Its output:\n${output}`
      if (/Address already in use|bind: /i.test(output)) throw new BindError(message)
      throw new Error(message)
    }
    // Not listening yet, or (when the port was taken) someone else's listener: stop waiting when redis-server exits.
    const reply = await Promise.race([rawPing(port, password, 500).catch(() => ''), exited.then(() => '')])
    if (reply === '+PONG') return running
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      await exited
      throw new Error(`redis-server on ${HOST}:${port} did not answer PING within ${READY_TIMEOUT_MS} ms. Its output:\n${output}`)
    }
    await sleep(20)
  }
}

async function terminate(running: Running): Promise<void> {
  if (running.hasExited()) return running.exited
  running.child.kill('SIGTERM')
  const timer = setTimeout(() => running.child.kill('SIGKILL'), STOP_GRACE_MS)
  try {
    await running.exited
  } finally {
    clearTimeout(timer)
  }
}

/** Starts a redis-server; resolves once it answers PING. See {@link RedisServerProcess}. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
  if (!redisServerInstalled()) {
    throw new Error(`${REDIS_SERVER} is missing or not executable: install it with \`apt-get install -y redis-server\` (.ci/run does it)`)
  }
  let running: Running | undefined
  let port = 0
  let tlsPort: number | undefined
  for (let attempt = 1; ; attempt++) {
    port = options.port ?? (await freePort())
    tlsPort = options.tls ? await freePort() : undefined
    try {
      running = await launch(port, options, tlsPort)
      break
    } catch (error) {
      // A port given by the caller is not ours to change.
      if (!(error instanceof BindError) || options.port !== undefined || attempt >= PORT_ATTEMPTS) throw error
    }
  }
  let current: Running = running
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`
  return {
    url: `redis://${auth}${HOST}:${port}`,
    ...(tlsPort ? { tlsUrl: `rediss://${auth}${HOST}:${tlsPort}` } : {}),
    port,
    get child() {
      return current.child
    },
    output: () => current.output(),
    stop: () => terminate(current),
    async restart() {
      await terminate(current)
      current = await launch(port, options, tlsPort)
    },
    kill() {
      if (!current.hasExited()) current.child.kill('SIGKILL')
    },
  }
}

/** A Redis Cluster started by `startRedisCluster`. */
export interface RedisClusterProcesses {
  /** Its masters, each `{ url, port }`; any of them is a valid seed for a cluster client. */
  readonly masters: readonly RedisServerProcess[]
  /** Stops every master. */
  stop(): Promise<void>
}

/** Whether `REDIS_SERVER` and `REDIS_CLI` are there to start a Redis Cluster. */
export function redisClusterInstalled(): boolean {
  return executable(REDIS_SERVER) && executable(REDIS_CLI)
}

/**
 * Starts `masters` redis-servers in cluster mode (each on its own ephemeral
 * port and cluster bus port, `--cluster-port`), creates the cluster with
 * `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and
 * resolves once every master reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcesses> {
  if (!redisClusterInstalled()) {
    throw new Error(`${REDIS_SERVER} or ${REDIS_CLI} is missing: install them with \`apt-get install -y redis-server redis-tools\``)
  }
  const started: RedisServerProcess[] = []
  const stop = async () => {
    await Promise.all(started.map((m) => m.stop()))
  }
  try {
    for (let i = 0; i < masters; i++) {
      // The bus port must be free too; redis-server reports a taken one as a bind error, and then both are picked again.
      let server: RedisServerProcess | undefined
      for (let attempt = 1; !server; attempt++) {
        try {
          server = await startRedisServer({
            args: ['--cluster-enabled', 'yes', '--cluster-port', String(await freePort()), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
          })
        } catch (error) {
          if (attempt >= PORT_ATTEMPTS) throw error
        }
      }
      started.push(server)
    }
    await new Promise<void>((resolve, reject) => {
      execFile(REDIS_CLI, ['--cluster', 'create', ...started.map((m) => `${HOST}:${m.port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { timeout: CLUSTER_READY_TIMEOUT_MS }, (error, stdout, stderr) => {
          if (error) reject(new Error(`redis-cli --cluster create failed: ${error.message}\n${stdout}\n${stderr}`))
          else resolve()
        })
    })
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS
    for (;;) {
      const states = await Promise.all(started.map((m) => clusterState(m.port)))
      if (states.every((s) => s === 'ok')) break
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within ${CLUSTER_READY_TIMEOUT_MS} ms (${states.join(', ')})`)
      await sleep(50)
    }
    return { masters: started, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** `ok` or `fail` from CLUSTER INFO, '' when it cannot be read. */
function clusterState(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port })
    let buffered = ''
    const done = (state: string) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(state)
    }
    const timer = setTimeout(() => done(''), 1_000)
    socket.setEncoding('utf8')
    socket.on('error', () => done(''))
    socket.once('connect', () => socket.write(respCommand('CLUSTER', 'INFO')))
    socket.on('data', (chunk: string) => {
      buffered += chunk
      const match = /cluster_state:(\w+)/.exec(buffered)
      if (match) done(match[1]!)
    })
  })
}
