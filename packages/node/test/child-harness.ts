/**
 * Run a wirecall server in a child process (`test/child/server.mjs`) for
 * regressions whose failure is a process exit: the child keeps
 * Node's default unhandled-rejection behaviour (throw → exit 1), so a stray
 * rejection shows as `exited` resolving with a non-zero code instead of
 * being swallowed by the test runner.
 *
 * The child runs the BUILT packages; `startChildServer` refuses to start
 * when a `dist/` file is missing or older than its source, and says to run
 * `npm run build`. Every child started here is killed after the test
 * (vitest `afterEach`), and also when this process exits.
 */
import { afterEach } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Limits, SessionStats } from '@wirecall/core'

/** What `test/child/server.mjs` understands (JSON in WIRECALL_CHILD_OPTIONS). */
export interface ChildServerOptions {
  readonly limits?: Readonly<Partial<Limits>>
  readonly logErrors?: boolean
  readonly exposeErrorStacks?: boolean
  readonly timeout?: number
  /** Sets NODE_ENV in the child before the packages load. */
  readonly nodeEnv?: string
  /** Where the server's logger writes. @default 'stderr' (captured, see `stderr()`) */
  readonly logger?: 'stderr' | 'silent' | 'console'
  /**
   * `token` accepts `?token=secret` only; `throw`/`reject` make the hook fail; `async` resolves after a tick;
   * `hang` is `token`, except that `?token=hang` never gets an answer.
   */
  readonly authenticate?: 'none' | 'token' | 'throw' | 'reject' | 'async' | 'hang'
  /** false: no JSON-RPC text-frame handler. */
  readonly jsonRpc?: boolean
  /** Crash deliberately after READY (to prove a crash is visible). */
  readonly crash?: 'unhandledRejection' | 'uncaughtException'
  readonly crashAfterMs?: number
  /** Expose a `crash()` method that leaves a rejection unhandled. */
  readonly crashMethod?: boolean
  /** Expose validated methods (zod) under `checked`; their handler runs are counted in `validatedRuns`. */
  readonly contracts?: boolean
  /** Passed to serve(). */
  readonly reflection?: boolean
  /** Passed to serve(): resumable sessions. */
  readonly resume?: boolean
  /** Extra node flags (`--expose-gc` is always passed). */
  readonly execArgv?: readonly string[]
  /** How long to wait for READY. @default 10000 */
  readonly startTimeoutMs?: number
}

export interface ChildStats {
  readonly pid: number
  readonly memory: NodeJS.MemoryUsage
  readonly connections: number
  readonly connectionStats: readonly (SessionStats & { id: string })[]
  readonly droppedNotifications: number
  /** Differences of Object/Array/Function/String.prototype from the child's start; empty when untouched. */
  readonly prototypeChanges: readonly string[]
  readonly gcExposed: boolean
  /** Handler runs of the `contracts` methods. */
  readonly validatedRuns: number
  /** `server.stats()`: connections, parked sessions, resumes. */
  readonly server: import('../src/index.js').ServerStats
}

export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** The child's stderr (the last 256 KiB). */
  readonly stderr: string
}

export interface ChildServer {
  readonly port: number
  readonly pid: number
  readonly url: string
  /** Settles when the child exits, for whatever reason (never rejects). */
  readonly exited: Promise<ChildExit>
  isAlive(): boolean
  /** Memory, connections and each connection's `stats()`; rejects if the child died. */
  stats(timeoutMs?: number): Promise<ChildStats>
  /** Run `gc()` twice in the child and return the stats after it. */
  gc(timeoutMs?: number): Promise<ChildStats>
  /** stderr so far. */
  stderr(): string
  /** Close stdin (the child closes its server and exits), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<ChildExit>
}

const here = fileURLToPath(new URL('.', import.meta.url))
export const CHILD_SERVER_PATH = join(here, 'child', 'server.mjs')
const packagesDir = join(here, '..', '..')
const STDERR_KEEP = 256 * 1024

/**
 * Throw (with a clear message) unless every `src/*.ts` of core and node has
 * its `dist/*.js`, at least as new as the source.
 */
export function assertDistFresh(packages: readonly string[] = ['core', 'node']): void {
  const problems: string[] = []
  for (const name of packages) {
    const src = join(packagesDir, name, 'src')
    const dist = join(packagesDir, name, 'dist')
    for (const file of listTs(src)) {
      const built = join(dist, file.replace(/\.ts$/, '.js'))
      if (!existsSync(built)) problems.push(`packages/${name}/dist/${file.replace(/\.ts$/, '.js')} is missing`)
      else if (statSync(built).mtimeMs < statSync(join(src, file)).mtimeMs) {
        problems.push(`packages/${name}/dist/${file.replace(/\.ts$/, '.js')} is older than src/${file}`)
      }
    }
  }
  if (problems.length) {
    throw new Error(
      `the child-process server runs the built packages, and dist is not up to date:\n  ${problems.slice(0, 8).join('\n  ')}` +
        `${problems.length > 8 ? `\n  ... and ${problems.length - 8} more` : ''}\nRun \`npm run build\` at the repository root first.`,
    )
  }
}

function listTs(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...listTs(join(dir, entry.name), `${prefix}${entry.name}/`))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(prefix + entry.name)
  }
  return out
}

const live = new Set<ChildProcess>()

afterEach(async () => {
  const children = [...live]
  live.clear()
  await Promise.all(children.map((child) => killAndWait(child, 2000)))
})

// Last resort when the test process itself goes away between tests.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function killAndWait(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.stdin?.end()
  })
}

/** Start `test/child/server.mjs` and wait for its READY line. */
export async function startChildServer(options: ChildServerOptions = {}): Promise<ChildServer> {
  assertDistFresh()
  const { execArgv = [], startTimeoutMs = 10_000, ...childOptions } = options
  const child = spawn(process.execPath, ['--expose-gc', ...execArgv, CHILD_SERVER_PATH], {
    cwd: packagesDir,
    env: { ...process.env, WIRECALL_CHILD_OPTIONS: JSON.stringify(childOptions) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  live.add(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk
    if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP)
  })
  child.stdin!.on('error', () => {}) // EPIPE when the child died first
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      // stderr may still be draining: give it the close event.
      const done = () => resolve({ code, signal, stderr: stderr.slice(-STDERR_KEEP) })
      if (child.stderr!.readableEnded) done()
      else child.stderr!.once('close', done)
      setTimeout(done, 200).unref()
    })
  })

  // stdout: READY once, then one reply line per STATS/GC command, in order.
  const waiters: { kind: string; resolve: (s: ChildStats) => void; reject: (e: Error) => void }[] = []
  let readyResolve!: (port: number) => void
  const ready = new Promise<number>((resolve) => (readyResolve = resolve))
  let buffered = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      const space = line.indexOf(' ')
      const kind = space < 0 ? line : line.slice(0, space)
      const rest = space < 0 ? '' : line.slice(space + 1)
      if (kind === 'READY') readyResolve(Number(rest))
      else if (kind === 'STATS' || kind === 'GC') {
        const waiter = waiters.shift()
        if (waiter) waiter.resolve(JSON.parse(rest) as ChildStats)
      }
    }
  })
  void exited.then(({ code, signal }) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`child server exited (code ${code}, signal ${signal}) before answering ${w.kind}`))
  })

  let timer: NodeJS.Timeout | undefined
  const port = await Promise.race([
    ready,
    exited.then((e) => {
      throw new Error(`child server exited before READY (code ${e.code}, signal ${e.signal}):\n${e.stderr}`)
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`child server not READY within ${startTimeoutMs} ms:\n${stderr}`)), startTimeoutMs)
    }),
  ]).catch(async (err: unknown) => {
    await killAndWait(child, 500)
    throw err
  }).finally(() => clearTimeout(timer))

  const isAlive = () => child.exitCode === null && child.signalCode === null
  const ask = (kind: 'STATS' | 'GC', timeoutMs: number) =>
    new Promise<ChildStats>((resolve, reject) => {
      if (!isAlive()) {
        reject(new Error(`child server is not running; cannot ask ${kind}`))
        return
      }
      const t = setTimeout(() => reject(new Error(`child server did not answer ${kind} within ${timeoutMs} ms`)), timeoutMs)
      waiters.push({
        kind,
        resolve: (s) => {
          clearTimeout(t)
          resolve(s)
        },
        reject: (e) => {
          clearTimeout(t)
          reject(e)
        },
      })
      child.stdin!.write(`${kind}\n`)
    })

  return {
    port,
    pid: child.pid!,
    url: `ws://127.0.0.1:${port}`,
    exited,
    isAlive,
    stats: (timeoutMs = 5000) => ask('STATS', timeoutMs),
    gc: (timeoutMs = 5000) => ask('GC', timeoutMs),
    stderr: () => stderr,
    stop: async (graceMs = 3000) => {
      await killAndWait(child, graceMs)
      return exited
    },
  }
}
