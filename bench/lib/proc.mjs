// Child process management for the parent (run.mjs). Every child is tracked and killed on exit,
// on errors and on SIGINT/SIGTERM. Children exit on their own when the IPC channel closes.
import { fork, execFileSync } from 'node:child_process'
import os from 'node:os'
import { dirname, join } from 'node:path'

const benchDir = join(dirname(new URL(import.meta.url).pathname), '..')
const live = new Set()

export function killAllChildren() {
  for (const c of live) {
    try { c.kill('SIGKILL') } catch {}
  }
  live.clear()
}

let handlersInstalled = false
export function installExitHandlers() {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', killAllChildren)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping children\n`)
      killAllChildren()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
}

const tail = (s, n = 1500) => (s.length > n ? '…' + s.slice(-n) : s)

/** A forked helper process speaking a tiny request/response protocol over IPC. */
export class Child {
  constructor(script, args, { gc = false, label = script, verbose = false, env = {} } = {}) {
    this.label = label
    this.stderr = ''
    this.stdout = ''
    this.exited = false
    this.exitInfo = null
    this.pending = new Map()
    this.nextId = 0
    this.lineWaiters = []
    this.cp = fork(join(benchDir, script), args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits (for finding
      // where a scenario's time goes; off by default, it slows the process it profiles).
      execArgv: [...(gc ? ['--expose-gc'] : []), ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
      serialization: 'json',
      // Every implementation masks the same way: by default no process loads bufferutil, ws's native
      // masking add-on (WS_NO_BUFFER_UTIL=1), as in an install without it; with --bufferutil
      // (BENCH_BUFFERUTIL=1) every process may (the floor's and the peers' ws find it in
      // bench/node_modules, wirecall's in the root's, an optional dependency of @wirecall/node).
      env: { ...childEnv(), ...env },
    })
    live.add(this.cp)
    this.cp.stdout.setEncoding('utf8')
    this.cp.stderr.setEncoding('utf8')
    this.cp.stdout.on('data', (d) => {
      this.stdout = tail(this.stdout + d, 8000)
      if (verbose) process.stderr.write(`[${label}] ${d}`)
      for (const w of [...this.lineWaiters]) w()
    })
    this.cp.stderr.on('data', (d) => {
      this.stderr = tail(this.stderr + d, 8000)
      if (verbose) process.stderr.write(`[${label}!] ${d}`)
    })
    this.cp.on('message', (m) => {
      const p = m && this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.ok) p.resolve(m.result)
      else p.reject(new Error(m.error))
    })
    this.cp.on('error', (err) => this._fail(err))
    this.cp.on('exit', (code, signal) => {
      this.exited = true
      live.delete(this.cp)
      this.exitInfo = signal ? `signal ${signal}` : `code ${code}`
      this._fail(new Error(`${label} exited (${this.exitInfo})${this.errTail()}`))
    })
  }

  errTail() {
    const e = this.stderr.trim()
    return e ? `: ${lastLines(e, 4)}` : ''
  }

  _fail(err) {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err) }
    this.pending.clear()
    for (const w of [...this.lineWaiters]) w(err)
  }

  /** Wait until stdout matches re; resolves with the match. */
  waitStdout(re, timeoutMs) {
    return new Promise((resolve, reject) => {
      const check = (err) => {
        const m = this.stdout.match(re)
        if (m) return done(null, m)
        if (err || this.exited) return done(err ?? new Error(`${this.label} exited${this.errTail()}`))
      }
      const timer = setTimeout(() => done(new Error(`${this.label}: no ${re} on stdout after ${timeoutMs} ms${this.errTail()}`)), timeoutMs)
      const done = (err, m) => {
        clearTimeout(timer)
        this.lineWaiters = this.lineWaiters.filter((w) => w !== check)
        err ? reject(err) : resolve(m)
      }
      this.lineWaiters.push(check)
      check()
    })
  }

  /** Call fn(args) in the child; rejects on error, child exit or timeout (and then kills the child). */
  call(fn, args = {}, timeoutMs = 30_000) {
    if (this.exited) return Promise.reject(new Error(`${this.label} is not running (${this.exitInfo})${this.errTail()}`))
    return new Promise((resolve, reject) => {
      const id = ++this.nextId
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.label}: ${fn} timed out after ${Math.round(timeoutMs / 1000)} s${this.errTail()}`))
        this.kill()
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      this.cp.send({ id, fn, args })
    })
  }

  kill() {
    if (!this.exited) { try { this.cp.kill('SIGKILL') } catch {} }
  }

  /** Polite stop: close IPC (the child exits on 'disconnect'), SIGKILL after graceMs. */
  async stop(graceMs = 2000) {
    if (this.exited) return
    const exited = new Promise((r) => this.cp.once('exit', r))
    try { this.cp.disconnect() } catch {}
    const timer = setTimeout(() => this.kill(), graceMs)
    await exited
    clearTimeout(timer)
  }
}

function lastLines(s, n) {
  return s.split('\n').filter((l) => l.trim()).slice(-n).join(' | ')
}

/**
 * Scenarios whose processes allocate and free a large binary per message (64 KiB to 1 MiB). In them,
 * glibc's malloc gives freed memory at the top of its heap back to the system once more than
 * `trim_threshold` (128 KiB by default) is free there, and takes it again (page faults, zeroed pages)
 * for the next messages. Whether a process falls into that cycle depends on its heap's layout when
 * the stream starts, so it comes and goes per process: a 64 KiB stream's reader measured here spent
 * 60 to 90 µs of system time per item in it against 8 to 11 µs outside it (5 page faults per item
 * against none), for the floor and wirecall alike, and one run's ratio swung from 0.5x to 4x with
 * whichever process drew it. A 256 MiB threshold keeps freed memory for reuse; it is set for every
 * implementation, floor included (never for `idle-memory`, where what a process keeps is the
 * figure). glibc ignores it elsewhere; a value already in GLIBC_TUNABLES is kept.
 */
const LARGE_BINARY_SCENARIOS = new Set(['streams', 'echo-1mib'])
const MALLOC_KEEP_FREED = 'glibc.malloc.trim_threshold=268435456'

/** The environment of a scenario's server and client processes. */
function scenarioEnv(scenario) {
  if (!scenario) return {}
  // BENCH_SCENARIO: implementations load what only one scenario needs (the schema libraries) only for it.
  const env = { BENCH_SCENARIO: scenario }
  if (LARGE_BINARY_SCENARIOS.has(scenario) && !process.env.GLIBC_TUNABLES?.includes('trim_threshold')) {
    env.GLIBC_TUNABLES = [process.env.GLIBC_TUNABLES, MALLOC_KEEP_FREED].filter(Boolean).join(':')
  }
  return env
}

/** Start bench/server.mjs for an implementation; resolves once its port is printed. */
export async function startServer(implId, { gc = false, verbose = false, timeoutMs = 20_000, scenario } = {}) {
  const env = scenarioEnv(scenario)
  const child = new Child('server.mjs', [implId], { gc, label: `server(${implId})`, verbose, env })
  try {
    const m = await child.waitStdout(/^PORT (\d+)$/m, timeoutMs)
    child.port = Number(m[1])
    pin(child, 'server')
    return child
  } catch (err) {
    child.kill()
    throw err
  }
}

/** Start bench/client.mjs for (implementation, scenario); resolves once it reports ready. */
export async function startClient(implId, scenarioId, { verbose = false, timeoutMs = 20_000 } = {}) {
  const child = new Child('client.mjs', [implId, scenarioId], { label: `client(${implId})`, verbose, env: scenarioEnv(scenarioId) })
  try {
    await child.call('ping', {}, timeoutMs)
    pin(child, 'client')
    return child
  } catch (err) {
    child.kill()
    throw err
  }
}

// CPU pinning (Linux taskset). 'split': server on CPU 0, client on CPU 1, so every implementation
// gets the same placement instead of whatever the scheduler picks (which made sequential latency
// bimodal, ~22 µs vs ~65 µs, on a 2-core machine). 'same': both on CPU 0. 'none': no pinning.
let pinMode = 'none'
export let pinStatus = 'none'
export function setPinning(mode) {
  pinMode = mode
  pinStatus = mode
  if (mode === 'none') return
  if (os.cpus().length < (mode === 'split' ? 2 : 1)) { pinMode = 'none'; pinStatus = 'none (fewer than 2 CPUs)'; return }
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
  } catch {
    pinMode = 'none'
    pinStatus = 'none (taskset unavailable)'
  }
}
function pin(child, role) {
  pinPid(child.cp.pid, role)
}

/** Pin a process (every thread) to the CPU of its role: the server's or the client's. */
export function pinPid(pid, role) {
  if (pinMode === 'none') return
  const cpu = pinMode === 'same' || role === 'server' ? '0' : '1'
  try {
    // -a: every thread of the process (libuv pool and V8 helpers too)
    execFileSync('taskset', ['-a', '-cp', cpu, String(pid)], { stdio: 'ignore' })
  } catch {
    pinStatus = `${pinMode} (taskset failed for some processes)`
  }
}

/** The environment of a child: the parent's, with ws's native add-on off unless --bufferutil. */
function childEnv() {
  const env = { ...process.env }
  if (env.BENCH_BUFFERUTIL === '1') delete env.WS_NO_BUFFER_UTIL
  else env.WS_NO_BUFFER_UTIL = '1'
  return env
}
