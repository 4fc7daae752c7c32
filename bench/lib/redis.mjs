// A throwaway redis-server for the cluster scenario: Debian's /usr/bin/redis-server as a child
// process on an ephemeral port of 127.0.0.1, no persistence, in its own temp dir, never daemonized.
// It is killed (SIGKILL) when this process exits for any reason Node sees, and, through
// `setpriv --pdeathsig KILL` when present, also when this process dies any other way (SIGKILL).
// The logic follows packages/redis/test/redis-server.ts (not imported: bench/ never loads test files).
// No npm dependency: readiness and the few queries the scenario needs are raw RESP over node:net.
import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
const SETPRIV = '/usr/bin/setpriv'
const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 10_000
const STOP_GRACE_MS = 2_000
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const live = new Map() // child -> temp dir
let hookInstalled = false
function installExitHook() {
  if (hookInstalled) return
  hookInstalled = true
  process.on('exit', () => {
    for (const [child, dir] of live) {
      try { child.kill('SIGKILL') } catch {}
      try { rmSync(dir, { recursive: true, force: true }) } catch {}
    }
    live.clear()
  })
}

const executable = (p) => { try { accessSync(p, constants.X_OK); return true } catch { return false } }

function pickPort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, HOST, () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

const resp = (args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`

/** Parse one RESP2 reply at `buf[pos]`: returns [value, next] or undefined when incomplete. */
function parseReply(buf, pos = 0) {
  const eol = buf.indexOf('\r\n', pos)
  if (eol < 0) return undefined
  const type = buf[pos]
  const line = buf.slice(pos + 1, eol)
  const next = eol + 2
  switch (type) {
    case '+': return [line, next]
    case '-': return [new Error(line), next]
    case ':': return [Number(line), next]
    case '$': {
      const n = Number(line)
      if (n < 0) return [null, next]
      if (buf.length < next + n + 2) return undefined
      return [buf.slice(next, next + n), next + n + 2]
    }
    case '*': {
      const n = Number(line)
      if (n < 0) return [null, next]
      const out = []
      let p = next
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p)
        if (!r) return undefined
        out.push(r[0])
        p = r[1]
      }
      return [out, p]
    }
    default: throw new Error(`unexpected RESP reply ${JSON.stringify(buf.slice(pos, pos + 40))}`)
  }
}

/** One command on a fresh connection (ASCII replies only); resolves with the parsed reply. */
export function redisCommand(port, args, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port })
    let buf = ''
    const finish = (err, value) => { clearTimeout(timer); socket.destroy(); err ? reject(err) : resolve(value) }
    const timer = setTimeout(() => finish(new Error(`redis ${args[0]}: no reply from ${HOST}:${port} in ${timeoutMs} ms`)), timeoutMs)
    socket.setEncoding('latin1')
    socket.on('error', (e) => finish(e))
    socket.once('connect', () => socket.write(resp(args)))
    socket.on('data', (d) => {
      buf += d
      let r
      try { r = parseReply(buf) } catch (e) { return finish(e) }
      if (r) r[0] instanceof Error ? finish(r[0]) : finish(null, r[0])
    })
    socket.once('close', () => finish(new Error(`redis ${args[0]}: ${HOST}:${port} closed the connection`)))
  })
}

/**
 * Start a redis-server; resolves with { url, port, pid, command(args), stop() } once it answers PING.
 * `extraArgs` go on its command line (e.g. ['--client-output-buffer-limit', 'pubsub 0 0 0']).
 */
export async function startRedis({ extraArgs = [] } = {}) {
  if (!executable(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: apt-get install -y redis-server (or set REDIS_SERVER)`)
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort()
    try {
      return await launch(port, extraArgs)
    } catch (err) {
      if (!err.bind || attempt >= 5) throw err
    }
  }
}

async function launch(port, extraArgs) {
  const dir = mkdtempSync(join(tmpdir(), 'wirecall-bench-redis-'))
  const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--logfile', '', ...extraArgs]
  const child = executable(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', REDIS_SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.set(child, dir)
  installExitHook()
  let output = ''
  const keep = (d) => { output = (output + d).slice(-8192) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exitInfo = null
  let spawnError = null
  child.once('error', (e) => { spawnError = e })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    exitInfo = signal ? `signal ${signal}` : `code ${code}`
    live.delete(child)
    rmSync(dir, { recursive: true, force: true })
    resolve()
  }))
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (spawnError) { child.kill('SIGKILL'); await exited; throw new Error(`could not spawn ${REDIS_SERVER}: ${spawnError.message}`) }
    if (exitInfo) {
      const err = new Error(`redis-server on port ${port} exited (${exitInfo}) before accepting connections: ${output.trim().split('\n').slice(-3).join(' | ')}`)
      err.bind = /Address already in use|bind: /i.test(output)
      throw err
    }
    const pong = await Promise.race([redisCommand(port, ['PING'], 500).catch(() => ''), exited.then(() => '')])
    if (pong === 'PONG') break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      await exited
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms: ${output.trim().slice(-300)}`)
    }
    await sleep(20)
  }
  return {
    url: `redis://${HOST}:${port}`,
    port,
    pid: child.pid, // setpriv execs redis-server in place: the same pid
    command: (a, timeoutMs) => redisCommand(port, a, timeoutMs),
    async stop() {
      if (exitInfo) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
    },
  }
}
