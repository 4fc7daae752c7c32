/**
 * A cluster node in a child process (test/child/node.mjs, built packages) with
 * one page connected, run with Node's default unhandled-rejection behaviour:
 * a crash shows as an exit.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface ChildNode {
  /** The id of the page connected to the child node. */
  readonly connectionId: string
  /** Resolves with the exit code when the child exits. */
  readonly exited: Promise<number | null>
  /** What the child wrote to stderr so far. */
  stderr(): string
  kill(): void
}

/** Start the child node on `prefix` as `nodeId`; `track` receives what closes it (the test's cleanup list). */
export async function startChildNode(
  redisUrl: string, prefix: string, nodeId: string, track: (closer: { close(): Promise<void> }) => void,
): Promise<ChildNode> {
  assertBuilt()
  const child = spawn(process.execPath, [fileURLToPath(new URL('./child/node.mjs', import.meta.url))], {
    env: { ...process.env, REDIS_URL: redisUrl, PREFIX: prefix, NODE_ID: nodeId },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const kill = () => void child.kill('SIGKILL')
  track({ close: async () => kill() })
  const connectionId = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`child node not ready in 10 s: ${stderr}`)), 10_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /READY (\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void exited.then((code) => reject(new Error(`child node exited (${code}): ${stderr}`)))
  })
  return { connectionId, exited, stderr: () => stderr, kill }
}

/** The child runs dist/: refuse stale builds with a clear message. */
function assertBuilt(): void {
  for (const pkg of ['core', 'node', 'redis']) {
    const src = fileURLToPath(new URL(`../../${pkg}/src`, import.meta.url))
    const dist = fileURLToPath(new URL(`../../${pkg}/dist/index.js`, import.meta.url))
    if (!existsSync(dist)) throw new Error(`packages/${pkg}/dist is missing: run npm run build`)
    const newest = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs))
    if (newest > statSync(dist).mtimeMs) throw new Error(`packages/${pkg}/dist is older than its src: run npm run build`)
  }
}
