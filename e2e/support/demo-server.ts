/**
 * Starts, kills and restarts the demo server (demo/server-dist/server.js) as a
 * child process for a test. Every start is bounded by a timeout, every stop
 * waits for the process to exit, and anything still alive when the worker
 * exits is SIGKILLed, so a test run never leaves a server behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const DEMO_DIR = fileURLToPath(new URL('../../demo/', import.meta.url))
export const SERVER_JS = fileURLToPath(new URL('../../demo/server-dist/server.js', import.meta.url))
export const PAGE_HTML = fileURLToPath(new URL('../../demo/dist/index.html', import.meta.url))

const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000

/**
 * Preloaded into the server process: its stdin is a pipe from this process, so
 * when the test worker dies in any way (even SIGKILL) the pipe ends and the
 * server exits too. The demo server itself knows nothing about tests.
 */
const PARENT_WATCHDOG =
  'data:text/javascript,' +
  encodeURIComponent('process.stdin.on("end", () => process.exit(0)).on("error", () => process.exit(0)).resume()')

const alive = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL')
})

export function demoBuilt(): boolean {
  return existsSync(SERVER_JS) && existsSync(PAGE_HTML)
}

export class DemoServer {
  private child: ChildProcess | undefined
  private log: string[] = []
  private _port: number
  private readonly env: Readonly<Record<string, string>>

  private constructor(port: number, env: Readonly<Record<string, string>>) {
    this._port = port
    this.env = env
  }

  /**
   * Start a server; port 0 lets the OS pick a free port (the real one is parsed from its banner).
   * `env` adds to the server's environment, e.g. `{ REDIS_URL, NODE_ID }` for a cluster node.
   */
  static async start(port = 0, env: Readonly<Record<string, string>> = {}): Promise<DemoServer> {
    const server = new DemoServer(port, env)
    await server.start()
    return server
  }

  get port(): number {
    return this._port
  }

  get url(): string {
    return `http://127.0.0.1:${this._port}/`
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Everything the server printed, for failure reports. */
  output(): string {
    return this.log.join('')
  }

  /** (Re)start on the current port (0 only the first time). Retries briefly if the port is still held. */
  async start(): Promise<void> {
    if (this.running) throw new Error('demo server is already running')
    if (!demoBuilt()) {
      throw new Error(`demo is not built (${SERVER_JS} missing): run \`npm run build --workspace=@wirecall/demo\``)
    }
    const deadline = Date.now() + START_TIMEOUT_MS
    for (let attempt = 1; ; attempt++) {
      const mark = this.log.length
      try {
        await this.spawnOnce(deadline)
        return
      } catch (err) {
        const inUse = /EADDRINUSE/.test(this.log.slice(mark).join(''))
        if (!inUse || Date.now() + 250 > deadline) throw err
        await sleep(Math.min(1000, 100 * attempt))
      }
    }
  }

  private spawnOnce(deadline: number): Promise<void> {
    const child = spawn(process.execPath, ['--import', PARENT_WATCHDOG, SERVER_JS], {
      cwd: DEMO_DIR,
      env: { ...process.env, ...this.env, PORT: String(this._port) },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.child = child
    alive.add(child)
    child.once('exit', () => alive.delete(child))

    return new Promise<void>((resolve, reject) => {
      let banner = ''
      const timer = setTimeout(() => {
        cleanup()
        child.kill('SIGKILL')
        reject(new Error(`demo server did not start within ${START_TIMEOUT_MS} ms\n${this.output()}`))
      }, Math.max(0, deadline - Date.now()))
      const onData = (chunk: Buffer) => {
        const text = chunk.toString()
        banner += text
        const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(banner)
        if (m) {
          this._port = Number(m[1])
          cleanup()
          resolve()
        }
      }
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup()
        reject(new Error(`demo server exited during start (code ${code}, signal ${signal})\n${this.output()}`))
      }
      const cleanup = () => {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        child.off('exit', onExit)
      }
      child.stdout?.on('data', (c: Buffer) => this.log.push(c.toString()))
      child.stderr?.on('data', (c: Buffer) => this.log.push(c.toString()))
      child.stdout?.on('data', onData)
      child.once('exit', onExit)
    })
  }

  /** Kill the process (SIGKILL by default: a crash) and wait until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill(signal)
    const timedOut = await Promise.race([exited.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)])
    if (timedOut) {
      child.kill('SIGKILL')
      await Promise.race([exited, sleep(STOP_TIMEOUT_MS)])
    }
  }

  /** Crash the server and start a new process on the same port. */
  async restart(): Promise<void> {
    await this.kill('SIGKILL')
    await this.start()
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM')
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
