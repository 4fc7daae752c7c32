// Build the workspace packages the wirecall adapter imports (@wirecall/core, @wirecall/node export
// from dist/), @wirecall/browser when the bundle-size scenario runs, and @wirecall/redis when
// cluster-fanout runs. Failure is tolerated: the
// wirecall row then shows "skipped: <import error>".
import { spawn } from 'node:child_process'
import { existsSync, createWriteStream, readFileSync } from 'node:fs'
import { join } from 'node:path'

export async function buildWirecall({ root, logFile, browser = false, redis = false, timeoutMs = 180_000 }) {
  const hasPkgs = ['packages/core', 'packages/node'].every((p) => existsSync(join(root, p, 'package.json')))
  if (!hasPkgs) return { status: 'absent', detail: 'packages/core or packages/node missing' }
  const withBrowser = browser && existsSync(join(root, 'packages/browser/package.json'))
  const withRedis = redis && existsSync(join(root, 'packages/redis/package.json'))
  const turbo = join(root, 'node_modules/.bin/turbo')
  const [cmd, args] = existsSync(turbo)
    ? [turbo, ['run', 'build', '--filter=@wirecall/node...', ...(withBrowser ? ['--filter=@wirecall/browser...'] : []), ...(withRedis ? ['--filter=@wirecall/redis...'] : []), '--output-logs=errors-only']]
    : ['npm', ['run', 'build', '--if-present', '--workspace', '@wirecall/core', '--workspace', '@wirecall/node', ...(withBrowser ? ['--workspace', '@wirecall/browser'] : []), ...(withRedis ? ['--workspace', '@wirecall/redis'] : [])]]
  const log = createWriteStream(logFile)
  log.write(`$ ${cmd} ${args.join(' ')}\n`)
  const t0 = Date.now()
  const code = await new Promise((resolve) => {
    const cp = spawn(cmd, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', FORCE_COLOR: '0', NO_COLOR: '1' },
      detached: true, // own process group, so a timeout can kill tsc too
    })
    cp.stdout.pipe(log, { end: false })
    cp.stderr.pipe(log, { end: false })
    const timer = setTimeout(() => {
      log.write(`\n[bench] build timed out after ${timeoutMs / 1000} s\n`)
      try { process.kill(-cp.pid, 'SIGKILL') } catch {}
    }, timeoutMs)
    const onExit = () => { try { process.kill(-cp.pid, 'SIGKILL') } catch {} }
    process.once('exit', onExit)
    cp.on('error', (err) => { log.write(String(err)); clearTimeout(timer); process.off('exit', onExit); resolve(-1) })
    cp.on('close', (c) => { clearTimeout(timer); process.off('exit', onExit); resolve(c ?? -1) })
  })
  await new Promise((r) => log.end(r))
  const secs = ((Date.now() - t0) / 1000).toFixed(1)
  return code === 0
    ? { status: 'ok', detail: `${secs} s` }
    : { status: 'failed', detail: `exit ${code} after ${secs} s${firstError(logFile)}` }
}

/** First compiler-looking error line of the log, e.g. "error TS5058: ...", for the one-line summary. */
function firstError(logFile) {
  try {
    const line = readFileSync(logFile, 'utf8').split('\n')
      .map((l) => l.replace(/^@wirecall\/[\w-]+:build:\s*/, '').trim())
      .find((l) => /error TS\d+|error:|Error:/.test(l) && !/^npm error/.test(l))
    return line ? `: ${line.length > 90 ? line.slice(0, 89) + '…' : line}` : ''
  } catch {
    return ''
  }
}
