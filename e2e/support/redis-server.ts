/**
 * A real redis-server for the cluster specs: Debian's /usr/bin/redis-server as
 * a child process on an ephemeral port of 127.0.0.1, no persistence, in its own
 * temp dir, never daemonized. Killed when the test worker exits, and (via
 * `setpriv --pdeathsig`, when present) when the worker dies any other way.
 * Readiness is a raw RESP PING over node:net (no npm dependency).
 *
 * Adapted from packages/redis/test/redis-server.ts (test files are not
 * imported across packages).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
const SETPRIV = '/usr/bin/setpriv'
const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 10_000
const STOP_GRACE_MS = 2_000
const PORT_ATTEMPTS = 5

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export function redisInstalled(): boolean {
  return executable(REDIS_SERVER)
}

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** `+PONG` when a Redis answers on `port`, '' when nothing does. */
export function ping(port: number, timeoutMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port })
    let buffered = ''
    const done = (reply: string) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reply)
    }
    const timer = setTimeout(() => done(''), timeoutMs)
    socket.setEncoding('utf8')
    socket.on('error', () => done(''))
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'))
    socket.on('data', (chunk: string) => {
      buffered += chunk
      if (buffered.includes('\r\n')) done(buffered.split('\r\n')[0] ?? '')
    })
  })
}

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Everything redis-server printed (for failure reports). */
  output(): string
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>
}

class BindError extends Error {}

async function launch(port: number): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'wirecall-e2e-redis-'))
  const args = [
    '--port', String(port), '--bind', HOST,
    '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--logfile', '',
  ]
  const child = executable(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', REDIS_SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8192)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true
      live.delete(child)
      rmSync(dir, { recursive: true, force: true })
      resolve()
    }),
  )
  child.once('error', () => {})

  const stop = async () => {
    if (exited) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    await exit
    clearTimeout(timer)
  }

  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (exited) {
      await sleep(100) // the rest of its output
      const message = `redis-server on ${HOST}:${port} exited before accepting connections:\n${output}`
      throw /Address already in use|bind: /i.test(output) ? new BindError(message) : new Error(message)
    }
    if ((await Promise.race([ping(port), exit.then(() => '')])) === '+PONG') break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      await exit
      throw new Error(`redis-server on ${HOST}:${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output}`)
    }
    await sleep(20)
  }
  return { url: `redis://${HOST}:${port}`, port, output: () => output, stop }
}

/** A fresh redis-server on a free port; throws with a hint when it is not installed. */
export async function startRedis(): Promise<RedisServer> {
  if (!redisInstalled()) {
    throw new Error(`${REDIS_SERVER} is missing: apt-get install -y redis-server`)
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(await pickPort())
    } catch (err) {
      if (!(err instanceof BindError) || attempt >= PORT_ATTEMPTS) throw err
    }
  }
}
