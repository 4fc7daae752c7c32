/**
 * A real redis-server for tests: Debian's /usr/bin/redis-server as a child
 * process on an ephemeral port of 127.0.0.1, no persistence, in its own temp
 * dir. It is never daemonized; it is killed when this process exits, and (via
 * `setpriv --pdeathsig`, when present) when this process dies any other way.
 * No npm dependency: readiness is a raw RESP PING over node:net.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'

export const REDIS_SERVER = '/usr/bin/redis-server'
const SETPRIV = '/usr/bin/setpriv'
const HOST = '127.0.0.1'
/** How long a fresh redis-server may take to answer PING. */
const READY_TIMEOUT_MS = 10_000
/** How long stop() waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2_000
const PORT_ATTEMPTS = 5
/** Keep this much of redis-server's output for error messages. */
const OUTPUT_LIMIT = 8_192

export interface RedisServerOptions {
  /** Started with `--requirepass`; clients must AUTH. Also part of `url`. */
  password?: string
  /** Also listen with TLS on a second port (`tlsUrl`), with this certificate (PEM files); clients need not present one. */
  tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string }
}

export interface RedisServer {
  /** `redis://[:password@]127.0.0.1:port` */
  readonly url: string
  /** `rediss://127.0.0.1:tlsPort`, when started with `tls`. */
  readonly tlsUrl?: string
  readonly port: number
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

function ensureInstalled(): void {
  try {
    accessSync(REDIS_SERVER, constants.X_OK)
  } catch {
    throw new Error(
      `${REDIS_SERVER} is missing or not executable: install it with \`apt-get install -y redis-server\` (.ci/run does it)`,
    )
  }
}

function hasSetpriv(): boolean {
  try {
    accessSync(SETPRIV, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A port that was free on 127.0.0.1 a moment ago. */
function pickPort(): Promise<number> {
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
 * Sends `commands` (each a RESP command) on one fresh TCP connection and
 * resolves with the first line of each reply (e.g. `+PONG`, `-NOAUTH ...`).
 * Rejects on connection errors or when the replies do not arrive in `timeoutMs`.
 */
export function rawCommands(port: number, commands: string[][], timeoutMs = 1_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port })
    let buffered = ''
    const timer = setTimeout(() => finish(new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`)), timeoutMs)
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
      // Only simple replies (+OK, +PONG, -ERR...) are expected here.
      if (lines.length >= commands.length) finish(null, lines.slice(0, commands.length))
    })
    socket.once('close', () => finish(new Error(`127.0.0.1:${port} closed the connection; got ${JSON.stringify(buffered)}`)))
  })
}

/** `+PONG` from a raw PING (after AUTH when a password is given), or the error reply/exception. */
export async function rawPing(port: number, password?: string, timeoutMs?: number): Promise<string> {
  const commands = password === undefined ? [['PING']] : [['AUTH', password], ['PING']]
  const lines = await rawCommands(port, commands, timeoutMs)
  const auth = password === undefined ? undefined : lines[0]
  if (auth !== undefined && auth !== '+OK') return auth
  return lines[lines.length - 1] ?? ''
}

class BindError extends Error {}

interface Running {
  child: ChildProcess
  dir: string
  exited: Promise<void>
  hasExited: () => boolean
}

/** Spawns redis-server on `port` and waits until it answers PING; throws BindError when the port was taken. */
async function launch(port: number, password: string | undefined, tls?: { port: number; options: NonNullable<RedisServerOptions['tls']> }): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'wirecall-redis-'))
  const args = [
    '--port', String(port), '--bind', HOST,
    '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--logfile', '',
    ...(password === undefined ? [] : ['--requirepass', password]),
    ...(tls ? [
      '--tls-port', String(tls.port), '--tls-cert-file', tls.options.certFile, '--tls-key-file', tls.options.keyFile,
      '--tls-ca-cert-file', tls.options.caFile, '--tls-auth-clients', 'no',
    ] : []),
  ]
  // setpriv execs redis-server in place (same pid) with "SIGKILL me when my parent dies".
  const child = hasSetpriv()
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', REDIS_SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.set(child, dir)
  installExitHook()
  // A forgotten stop() must not keep this process alive; the exit hook kills the server then.
  child.unref()

  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT)
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
  const running: Running = { child, dir, exited, hasExited: () => exitedFlag }

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
      const message = `redis-server on 127.0.0.1:${port} exited (${exitDescription}) before accepting connections. Its output:\n${output}`
      if (/Address already in use|bind: /i.test(output)) throw new BindError(message)
      throw new Error(message)
    }
    // Not listening yet, or (when the port was taken) someone else's listener: stop waiting when redis-server exits.
    const reply = await Promise.race([rawPing(port, password, 500).catch(() => ''), exited.then(() => '')])
    if (reply === '+PONG') return running
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      await exited
      throw new Error(
        `redis-server on 127.0.0.1:${port} did not answer PING within ${READY_TIMEOUT_MS} ms. Its output:\n${output}`,
      )
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

/** Starts a redis-server for tests; see {@link RedisServer}. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  ensureInstalled()
  const { password } = options
  let running: Running | undefined
  let port = 0
  let tls: { port: number; options: NonNullable<RedisServerOptions['tls']> } | undefined
  for (let attempt = 1; ; attempt++) {
    port = await pickPort()
    tls = options.tls ? { port: await pickPort(), options: options.tls } : undefined
    try {
      running = await launch(port, password, tls)
      break
    } catch (error) {
      if (!(error instanceof BindError) || attempt >= PORT_ATTEMPTS) throw error
    }
  }
  let current: Running = running
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`
  return {
    url: `redis://${auth}${HOST}:${port}`,
    ...(tls ? { tlsUrl: `rediss://${auth}${HOST}:${tls.port}` } : {}),
    port,
    stop: () => terminate(current),
    async restart() {
      await terminate(current)
      current = await launch(port, password, tls)
    },
    kill() {
      if (!current.hasExited()) current.child.kill('SIGKILL')
    },
  }
}

/**
 * One redis-server per test file: started in beforeAll, stopped in afterAll.
 * Call at the top level of a test file; the accessor works inside tests and hooks.
 */
export function useRedis(options?: RedisServerOptions): () => RedisServer {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await startRedis(options)
  }, READY_TIMEOUT_MS * 2)
  afterAll(async () => {
    await server?.stop()
  }, STOP_GRACE_MS * 2)
  return () => {
    if (!server) throw new Error('useRedis(): the server is not started (use the accessor inside tests or hooks)')
    return server
  }
}
